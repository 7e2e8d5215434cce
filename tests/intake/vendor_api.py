"""A stand-in of the vendors' list endpoints the intake reads names from, on loopback: Lever
(`GET /v1/stages`, `/v1/archive_reasons`: `{"data": [...], "hasNext", "next"}`, the offset token
passed back), Ashby (`POST /interviewPlan.list`, `/interviewStage.list`, `/archiveReason.list`:
`{"success", "results", "moreDataAvailable", "nextCursor"}`) and Greenhouse Harvest
(`GET /v1/job_stages`, `/v1/rejection_reasons`, pages linked by `Link: <...>; rel="next"`), each
behind the vendor's basic auth (the key as user name).

Lever's archive reasons are the response its documentation shows for `GET /archive_reasons`.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response

from service.embedded_http import embedded_server
from tests.harness import free_port

KEY = "vendor-api-test-key"

LEVER_STAGES = [
    {"id": "lead-new", "text": "New lead"},
    {"id": "7c2690d8-6308-4ed9-ae2a-cbfe7db26593", "text": "Phone screen"},
    {"id": "00000000-0000-4000-8000-00000000a001", "text": "Phone interview done"},
    {"id": "00000000-0000-4000-8000-00000000a003", "text": "On-site done"},
]
# As Lever's documentation answers GET /archive_reasons.
LEVER_ARCHIVE_REASONS = [
    {"id": "63dd55b2-a99f-4e7b-985f-22c7bf80ab42", "text": "Underqualified", "status": "active", "type": "non-hired"},
    {"id": "41f98875-06c7-4cb1-b3d0-07f7ae192c0c", "text": "Culture Fit", "status": "active", "type": "non-hired"},
    {"id": "737b8899-7f32-42a5-954f-e199b0306fcb", "text": "Timing", "status": "active", "type": "non-hired"},
    {"id": "3274b963-c37c-4465-abeb-1113896e2aa3", "text": "Withdrew", "status": "active", "type": "non-hired"},
    {"id": "1fdbfaac-4c73-45f7-af32-369054426364", "text": "Offer declined", "status": "active", "type": "non-hired"},
    {"id": "16308515-dc77-4aa7-b3af-96161b2b4e9b", "text": "Hired", "status": "active", "type": "hired"},
    {"id": "9b6f482e-0399-4ba4-9a2f-1e1d9e3da15b", "text": "Position filled", "status": "inactive", "type": "non-hired"},
]
ASHBY_PLANS = [{"id": "plan-eng", "title": "Engineering"}, {"id": "plan-sales", "title": "Sales"}]
ASHBY_STAGES = {
    "plan-eng": [
        {"id": "stage-review", "title": "Application Review", "type": "PreInterviewScreen", "interviewPlanId": "plan-eng"},
        {"id": "00000000-0000-4000-8000-00000000c001", "title": "Onsite", "type": "Active", "interviewPlanId": "plan-eng"},
        {"id": "stage-tech", "title": "Technical Interview", "type": "Active", "interviewPlanId": "plan-eng"},
    ],
    "plan-sales": [{"id": "stage-client", "title": "Client Review", "type": "Active", "interviewPlanId": "plan-sales"}],
}
ASHBY_ARCHIVE_REASONS = [
    {"id": "reason-skills", "text": "Lacks skills", "reasonType": "RejectedByOrg", "isArchived": False},
    {"id": "reason-other-offer", "text": "Took another offer", "reasonType": "RejectedByCandidate", "isArchived": False},
]
GREENHOUSE_STAGES = [
    {"id": 1, "name": "Application Review", "job_id": 10, "interviews": []},
    {"id": 2, "name": "Preliminary Phone Screen", "job_id": 10, "interviews": [{"id": 21, "name": "Phone"}]},
    {"id": 3, "name": "Face to Face", "job_id": 10, "interviews": [{"id": 31, "name": "Onsite"}]},
    {"id": 4, "name": "Take Home Test", "job_id": 10, "interviews": [{"id": 41, "name": "Test"}]},
    {"id": 5, "name": "Face to Face", "job_id": 11, "interviews": [{"id": 51, "name": "Onsite"}]},
    {"id": 6, "name": "Offer", "job_id": 11, "interviews": []},
]
GREENHOUSE_REJECTION_REASONS = [
    {"id": 14, "name": "Too Junior", "type": {"id": 3, "name": "Wrong skill set"}},
    {"id": 15, "name": "Accepted another offer", "type": {"id": 2, "name": "They rejected us"}},
]


# Lever's interview object (GET /opportunities/:opportunity/interviews/:interview), by interview id.
LEVER_INTERVIEWS = {
    "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d": {
        "id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
        "panel": "9f8e7d6c-5b4a-4c3b-9a2b-1c0d9e8f7a6b",
        "subject": "On-site interview",
        "interviewers": [{"email": "grace.lin@acme.example", "id": "2be9a3b5-0d2f-4b4c-8e8a-9f1b3d5f7c0e", "name": "Grace Lin", "feedbackTemplate": None}],
        "timezone": "Europe/London",
        "createdAt": 1795866200000,
        "date": 1796040000000,
        "duration": 60,
        "location": "London office",
        "stage": "00000000-0000-4000-8000-00000000a002",
        "canceledAt": None,
    },
}


class VendorApi:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lever_stages = list(LEVER_STAGES)
        self.lever_interviews = dict(LEVER_INTERVIEWS)
        self.down = False  # Lever's API answering 500 to everything
        self.app = FastAPI()
        self._routes()

    def _authorised(self, request: Request) -> None:
        self.calls.append(f"{request.method} {request.url.path}")
        if self.down:
            raise HTTPException(500, "down")
        if request.headers.get("authorization") != "Basic " + base64.b64encode(f"{KEY}:".encode()).decode():
            raise HTTPException(401, "bad key")

    def _routes(self) -> None:
        api = self.app

        def lever_page(items: list[dict[str, Any]], offset: str | None) -> dict[str, Any]:
            start = int(offset or 0)
            page = items[start : start + 2]  # two a page: the client must follow `next`
            more = start + 2 < len(items)
            return {"data": page, "hasNext": more, **({"next": str(start + 2)} if more else {})}

        @api.get("/v1/stages")
        async def lever_stages(request: Request, offset: str | None = None) -> dict[str, Any]:
            self._authorised(request)
            return lever_page(self.lever_stages, offset)

        @api.get("/v1/opportunities/{opportunity_id}/interviews/{interview_id}")
        async def lever_interview(opportunity_id: str, interview_id: str, request: Request) -> dict[str, Any]:
            self._authorised(request)
            if interview_id not in self.lever_interviews:
                raise HTTPException(404, "not found")
            return {"data": self.lever_interviews[interview_id]}

        @api.get("/v1/archive_reasons")
        async def lever_reasons(request: Request, offset: str | None = None) -> dict[str, Any]:
            self._authorised(request)
            return lever_page(LEVER_ARCHIVE_REASONS, offset)

        def ashby(results: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
            start = int(cursor or 0)
            more = start + 1 < len(results)
            return {"success": True, "results": results[start : start + 1], "moreDataAvailable": more, **({"nextCursor": str(start + 1)} if more else {})}

        @api.post("/interviewPlan.list")
        async def ashby_plans(request: Request) -> dict[str, Any]:
            self._authorised(request)
            return ashby(ASHBY_PLANS, (await request.json()).get("cursor"))

        @api.post("/interviewStage.list")
        async def ashby_stages(request: Request) -> dict[str, Any]:
            self._authorised(request)
            body = await request.json()
            if body.get("interviewPlanId") not in ASHBY_STAGES:
                return {"success": False, "errors": ["interviewPlanId is required"]}
            return {"success": True, "results": ASHBY_STAGES[body["interviewPlanId"]], "moreDataAvailable": False}

        @api.post("/archiveReason.list")
        async def ashby_reasons(request: Request) -> dict[str, Any]:
            self._authorised(request)
            return ashby(ASHBY_ARCHIVE_REASONS, (await request.json()).get("cursor"))

        def harvest(items: list[dict[str, Any]], request: Request, page: int) -> Response:
            import json

            per = 2
            chunk = items[(page - 1) * per : page * per]
            headers = {}
            if page * per < len(items):
                headers["link"] = f'<{request.url.replace_query_params(page=page + 1, per_page=per)}>; rel="next"'
            return Response(json.dumps(chunk), media_type="application/json", headers=headers)

        @api.get("/v1/job_stages")
        async def gh_stages(request: Request, page: int = 1) -> Response:
            self._authorised(request)
            return harvest(GREENHOUSE_STAGES, request, page)

        @api.get("/v1/rejection_reasons")
        async def gh_reasons(request: Request, page: int = 1) -> Response:
            self._authorised(request)
            return harvest(GREENHOUSE_REJECTION_REASONS, request, page)


@contextmanager
def vendor_api() -> Iterator[tuple[VendorApi, str]]:
    """The stand-in, served from a thread (so sync tests and the CLI can call it): (api, base URL)."""
    api = VendorApi()
    port = free_port()
    server = embedded_server(api.app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the stand-in vendor API did not start")
        time.sleep(0.02)
    try:
        yield api, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
