"""The HTTP service as `postinterview run` serves it (the intake's app with the task API and the
inbox mounted), on a free loopback port, over a real store."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client

from domain.follow_through import Assignee, TaskKind, TaskRequest
from inbox.desk import TaskDesk
from service.embedded_http import embedded_server
from service.http import http_app
from service.settings import Settings
from store.access_store import AccessStore
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.harness import eventually, free_port
from tests.intake.test_service import config


@dataclass
class InboxService:
    url: str
    tasks: TaskStore
    access: AccessStore

    def client(self) -> httpx.AsyncClient:
        """A browser-like client: keeps cookies, sends this site's Origin on its posts."""
        return httpx.AsyncClient(base_url=self.url, headers={"origin": self.url}, timeout=30)


async def _no_temporal() -> Client:
    raise RuntimeError("no Temporal in this test")


@asynccontextmanager
async def inbox_service(
    store_url: str, temporal: Callable[[], Awaitable[Client]] = _no_temporal, settings: Settings | None = None
) -> AsyncIterator[InboxService]:
    """`settings` beyond the store's (e.g. PUBLIC_BASE_URL, HTTP_MAX_BODY_BYTES); its database_url is `store_url`."""
    intake_store = IntakeStore(store_url)
    tasks = TaskStore(store_url)
    desk = TaskDesk(tasks, AccessStore(tasks.engine), temporal)
    settings = settings.model_copy(update={"database_url": store_url}) if settings else Settings(database_url=store_url)
    # The service as `run` and `intake` compose it: the intake's app, the inbox, the body limit.
    app, close = http_app(settings, config(), intake_store, desk=desk)
    port = free_port()
    server = embedded_server(app, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the service to listen")
    try:
        yield InboxService(f"http://127.0.0.1:{port}", tasks, desk.access)
    finally:
        server.should_exit = True
        await serving
        close()
        intake_store.close()


def give_task(
    tasks: TaskStore,
    assignee: str,
    lead: str | None = None,
    kind: TaskKind = TaskKind.SEND_FEEDBACK,
    due_in: timedelta = timedelta(hours=4),
    title: str | None = None,
    application_id: str = "app-1",
) -> int:
    """A task as the process's activity creates it (its assignee becomes a user, with their lead)."""
    title = title or f"{kind.value} for {assignee} ({application_id})"
    stored = tasks.create_task(
        TaskRequest(
            key=f"post-interview-api-{application_id}/{kind.value}/{title}",
            process_id=f"post-interview-api-{application_id}",
            application_id=application_id,
            kind=kind,
            assignee=Assignee(id=assignee, name=f"Name of {assignee}", lead_id=lead),
            due_at=datetime.now(UTC) + due_in,
            context={"round": "1"},
        ),
        title,
        f"Why {title} matters.",
    )
    assert stored.id is not None
    return stored.id


async def sign_in(client: httpx.AsyncClient, access: AccessStore, user_id: str) -> httpx.Response:
    token = access.issue_token(user_id, "test")
    answer = await client.post("/inbox/login", data={"token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/inbox", answer.text
    return answer


def form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, "no form token on the page"
    return found.group(1)


def task_ids(page: str) -> list[int]:
    """The tasks on a page, in the order shown."""
    return [int(i) for i in re.findall(r'data-task-id="(\d+)"', page)]
