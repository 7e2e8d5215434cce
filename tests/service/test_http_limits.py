"""What a stranger can make the HTTP service read (issue 12, finding 5): no more than
HTTP_MAX_BODY_BYTES on any route, and on the task API nothing at all without a valid token.

Over real HTTP on loopback, with raw sockets: a client sends its headers (and maybe part of a
body) and then stalls. An answer that arrives while it stalls is one the service gave without
waiting for the rest of the body; a service that reads first would leave the client waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from intake.signing import greenhouse_headers
from service.settings import DEFAULT_MAX_BODY_BYTES, Settings, SettingsError
from tests.inbox.service import InboxService, give_task, inbox_service
from tests.intake.test_service import GREENHOUSE_SECRET, PAYLOADS

# Longer than a healthy answer on a loaded machine takes, far shorter than a stalled read.
ANSWER_WITHIN = 10.0
HUGE = 64 * 1024 * 1024


@asynccontextmanager
async def stalled_request(url: str, head: str, body: bytes = b"") -> AsyncIterator[asyncio.StreamReader]:
    """Send `head` (request line and headers) and `body`, then send nothing more, keeping the
    connection open; yields the reader of the answer."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = head.replace("host: ?", f"host: {parts.netloc}")
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        yield reader
    finally:
        writer.close()


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the answer, which must come within ANSWER_WITHIN seconds."""

    async def read() -> tuple[int, dict[str, str], bytes]:
        status = int((await reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    try:
        return await asyncio.wait_for(read(), ANSWER_WITHIN)
    except TimeoutError:
        pytest.fail(f"no answer within {ANSWER_WITHIN}s: the service is waiting for the rest of the body")


def head(method: str, path: str, *headers: str) -> str:
    return "\n".join([f"{method} {path} HTTP/1.1", "host: ?", *headers]) + "\n"


def chunked(total: int, size: int = 16 * 1024) -> bytes:
    """`total` bytes of a chunked body, without the final chunk: the client has more to send."""
    out = bytearray()
    while total > 0:
        n = min(size, total)
        out += f"{n:x}\r\n".encode() + b"a" * n + b"\r\n"
        total -= n
    return bytes(out)


async def signed_in_task(service: InboxService) -> tuple[int, str]:
    task_id = give_task(service.tasks, "rita")
    return task_id, service.access.issue_token("rita", "test")


# --- the bearer token before the body --------------------------------------------------------


async def test_the_task_api_answers_401_from_the_headers_alone(database_url):
    async with inbox_service(database_url) as service:
        task_id, _ = await signed_in_task(service)
        # A body within the limit, announced and never sent: the 401 does not wait for it.
        for credentials in ([], ["authorization: Bearer not-a-token"], ["cookie: postinterview_session=forged"]):
            request = head("POST", f"/api/tasks/{task_id}/complete", "content-type: application/json", "content-length: 100000", *credentials)
            async with stalled_request(service.url, request) as reader:
                status, headers, body = await answer(reader)
            assert status == 401, body
            assert headers["www-authenticate"] == "Bearer" and b"a valid token is required" in body
        # The same without a body at all, through an ordinary client.
        async with httpx.AsyncClient(base_url=service.url) as http:
            refused = await http.get("/api/tasks")
            assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        assert service.tasks.task_by_id(task_id).status == "open"


async def test_a_valid_token_still_completes_a_task_through_the_whole_service(database_url):
    async with inbox_service(database_url) as service:
        task_id, token = await signed_in_task(service)
        async with httpx.AsyncClient(base_url=service.url, headers={"authorization": f"Bearer {token}"}) as http:
            assert (await http.get("/api/me")).json()["id"] == "rita"
            snoozed = await http.post(f"/api/tasks/{task_id}/snooze", json={"hours": 2})
            assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed", snoozed.text
            invalid = await http.post(f"/api/tasks/{task_id}/snooze", json={"hours": -1})
            assert invalid.status_code == 422


# --- the body limit, on every route ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/tasks/1/complete", "/inbox/login", "/inbox/tasks/1/complete", "/r/some-link", "/webhooks/greenhouse", "/events", "/nowhere"],
)
async def test_a_declared_length_over_the_limit_is_413_before_the_body(database_url, path):
    async with inbox_service(database_url) as service:
        request = head("POST", path, "content-type: application/json", f"content-length: {HUGE}")
        async with stalled_request(service.url, request) as reader:
            status, headers, body = await answer(reader)
        assert status == 413, body
        assert headers["connection"] == "close"
        assert f"larger than {DEFAULT_MAX_BODY_BYTES} bytes (HTTP_MAX_BODY_BYTES)".encode() in body


async def test_a_chunked_body_is_refused_as_it_passes_the_limit(database_url):
    """No length announced: the service counts what it reads, and answers 413 as soon as the body
    passes the limit, although the client has not finished (a route that read to the end would
    wait)."""
    async with inbox_service(database_url) as service:
        task_id, token = await signed_in_task(service)
        for path, credentials, content_type in (
            (f"/api/tasks/{task_id}/complete", [f"authorization: Bearer {token}"], "application/json"),
            ("/inbox/login", [f"origin: {service.url}"], "application/x-www-form-urlencoded"),
            ("/webhooks/greenhouse", [], "application/json"),
        ):
            request = head("POST", path, f"content-type: {content_type}", "transfer-encoding: chunked", *credentials)
            async with stalled_request(service.url, request, chunked(DEFAULT_MAX_BODY_BYTES + 1)) as reader:
                status, _, body = await answer(reader)
            assert status == 413, (path, body)
            assert b"payload_too_large" in body
        assert service.tasks.task_by_id(task_id).status == "open"


async def test_the_limit_is_a_setting_and_real_deliveries_fit_the_default(database_url):
    body = (PAYLOADS / "greenhouse_reject_candidate.json").read_bytes()  # the largest vendor fixture
    headers = {"content-type": "application/json", **greenhouse_headers(body, GREENHOUSE_SECRET, "gh-limit-1")}
    async with inbox_service(database_url) as service, httpx.AsyncClient(base_url=service.url) as http:
        accepted = await http.post("/webhooks/greenhouse", content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text
    small = Settings.from_env({"DATABASE_URL": database_url, "HTTP_MAX_BODY_BYTES": "2048"})
    async with inbox_service(database_url, settings=small) as service, httpx.AsyncClient(base_url=service.url) as http:
        refused = await http.post("/webhooks/greenhouse", content=body, headers={**headers, "greenhouse-event-id": "gh-limit-2"})
        assert refused.status_code == 413 and "2048 bytes" in refused.json()["message"]
        login = await http.post("/inbox/login", data={"token": "x" * 4000}, headers={"origin": service.url})
        assert login.status_code == 413


@pytest.mark.parametrize("value", ["0", "-5", "1MB", "1.5"])
def test_an_unusable_limit_names_the_variable(value):
    with pytest.raises(SettingsError, match="HTTP_MAX_BODY_BYTES"):
        Settings.from_env({"HTTP_MAX_BODY_BYTES": value}).http.body_limit()
    assert Settings.from_env({}).http.body_limit() == DEFAULT_MAX_BODY_BYTES
    assert Settings.from_env({"HTTP_MAX_BODY_BYTES": "4_194_304"}).http.body_limit() == 4 * 1024 * 1024


def _too_large(metrics: str, vendor: str) -> float:
    line = f'postinterview_webhook_deliveries_total{{outcome="too_large",vendor="{vendor}"}} '
    return next(float(row.removeprefix(line)) for row in metrics.splitlines() if row.startswith(line))


async def test_the_body_limits_413s_are_counted_in_the_intake_metrics(database_url):
    # The limit answers before the intake's own code runs, so it must report its refusals: an
    # integrator whose deliveries grew past the limit shows in the metrics, not only in a log.
    async with inbox_service(database_url) as service:
        for path in ("/webhooks/greenhouse", "/events", "/api/tasks/1/complete"):
            async with stalled_request(service.url, head("POST", path, "content-type: application/json", f"content-length: {HUGE}")) as reader:
                assert (await answer(reader))[0] == 413
        async with stalled_request(
            service.url, head("POST", "/webhooks/ashby", "content-type: application/json", "transfer-encoding: chunked"), chunked(DEFAULT_MAX_BODY_BYTES + 1)
        ) as reader:
            assert (await answer(reader))[0] == 413
        async with httpx.AsyncClient(base_url=service.url) as http:
            metrics = (await http.get("/metrics")).text
    assert [_too_large(metrics, vendor) for vendor in ("greenhouse", "lever", "ashby", "events")] == [1, 0, 1, 1]
