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
from sqlalchemy import insert, select
from temporalio.client import Client

from domain.follow_through import Assignee, TaskKind, TaskRequest
from inbox.desk import TaskDesk
from service.embedded_http import embedded_server
from service.http import http_app
from service.settings import Settings
from store.access_store import AccessStore
from store.intake_store import IntakeStore
from store.schema import tasks as schema_tasks
from store.schema import users
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


CLIENTS = ("Acme Bank", "Globex Insurance", "Initech", "Umbrella Health", "Stark Industries")
KINDS = (TaskKind.BOOK_DEBRIEF, TaskKind.SEND_FEEDBACK, TaskKind.BRIEF_CANDIDATE, TaskKind.REFEREE_OVERDUE, TaskKind.CHECK_IN)


def many_tasks(tasks: TaskStore, assignee: str, count: int, lead: str | None = None, overdue_every: int = 7) -> list[int]:
    """`count` open tasks for one person, as the activities write them but in one transaction
    (thousands through create_task take seconds): kinds and clients in turn, due one every 10
    minutes from an hour ago, every `overdue_every`-th already overdue by a day."""
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        kind, client = KINDS[i % len(KINDS)], CLIENTS[i % len(CLIENTS)]
        due = now - timedelta(days=1, minutes=i) if overdue_every and i % overdue_every == 0 else now + timedelta(hours=1, minutes=10 * i)
        application = f"vol-{assignee}-{i}"
        rows.append({
            "key": f"post-interview-api-{application}/{kind.value}",
            "process_id": f"post-interview-api-{application}",
            "application_id": application,
            "kind": kind.value,
            "title": f"{kind.value.replace('_', ' ').capitalize()} for candidate {i} at {client}",
            "instructions": f"Why task {i} matters.",
            "assignee_id": assignee,
            "due_at": due,
            "status": "open",
            "created_at": now - timedelta(seconds=count - i),
            "context": {"client": client, "round": "1"},
            "client": client,
        })
    with tasks.engine.begin() as connection:
        existing = {row[0] for row in connection.execute(select(users.c.id))}
        for person, role, person_lead in ((lead, "lead", None), (assignee, "recruiter", lead)):
            if person and person not in existing:
                connection.execute(insert(users).values(id=person, name=f"Name of {person}", role=role, lead_id=person_lead, created_at=now))
        connection.execute(insert(schema_tasks), rows)
        keys = [row["key"] for row in rows]
        found = dict(connection.execute(select(schema_tasks.c.key, schema_tasks.c.id).where(schema_tasks.c.assignee_id == assignee)).all())
    return [found[key] for key in keys]


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
