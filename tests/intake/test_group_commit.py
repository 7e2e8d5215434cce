"""Group commit of the intake table: requests that arrive together share one transaction, and
each is answered only once the transaction holding it has committed; one delivery that cannot
be stored never costs the others theirs. On SQLite and PostgreSQL, and over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake.store_writer import StoreWriter
from store.intake_store import Accepted, IntakeStore, NewDelivery
from tests.events import Application
from tests.intake.test_service import intake_service, signed_event


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url_any(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    return request.getfixturevalue("postgres_schema_url")


def delivery(key: str | None = None, events: list | None = None) -> NewDelivery:
    app = Application(source="api")
    return NewDelivery(
        source="api",
        idempotency_key=key or f"msg_{uuid.uuid4().hex}",
        action="canonical",
        application_key=f"api:{app.application_id}",
        events=[json.loads(app.interview(1).model_dump_json())] if events is None else events,
        ignored_reason=None,
        received_at=datetime.now(UTC),
    )


class GatedStore(IntakeStore):
    """The real store, whose first group commit waits until the test opens the gate."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.groups: list[int] = []

    def accept_many(self, batch: Sequence[NewDelivery]) -> list[Accepted | Exception]:
        if not self.groups:
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        self.groups.append(len(batch))
        return super().accept_many(batch)


@pytest.fixture
def gated(store_url_any: str) -> Iterator[GatedStore]:
    store = GatedStore(store_url_any)
    yield store
    store.gate.set()
    store.close()


async def test_requests_arriving_during_a_commit_share_the_next_one_and_each_waits_for_it(gated: GatedStore):
    writer = StoreWriter(gated)
    try:
        first = asyncio.create_task(writer.accept(delivery()))
        assert await asyncio.to_thread(gated.entered.wait, 10)
        # While the first commit is held up, 20 more arrive, one of them twice.
        later = [delivery() for _ in range(19)]
        later.append(later[3])
        waiting = [asyncio.create_task(writer.accept(new)) for new in later]
        await asyncio.sleep(0.2)
        assert not first.done() and not any(task.done() for task in waiting), "answered before its commit"
        assert gated.counts() == {}, "nothing is visible before the commit"

        gated.gate.set()
        answers = await asyncio.gather(*waiting)
        assert (await first).duplicate is False
        assert gated.groups == [1, 20], "the 20 that arrived meanwhile went in one transaction"
        assert [a.duplicate for a in answers] == [False] * 19 + [True]
        assert answers[-1].delivery_id == answers[3].delivery_id
        assert len({a.delivery_id for a in answers[:19]}) == 19
        for new, answer in zip(later, answers, strict=True):
            stored = gated.delivery("api", new.idempotency_key)
            assert stored is not None and stored["id"] == answer.delivery_id and stored["status"] == "pending"
        assert gated.counts() == {"pending": 1 + 19}
    finally:
        writer.close()


async def test_one_delivery_that_cannot_be_stored_does_not_cost_its_neighbours_theirs(store_url_any: str):
    store = IntakeStore(store_url_any)
    writer = StoreWriter(store)
    try:
        good = [delivery() for _ in range(3)]
        unstorable = delivery(events=[{"not json": {1, 2}}])  # a set: the JSON column refuses it
        answers = await asyncio.gather(
            *(writer.accept(new) for new in (good[0], unstorable, good[1], good[2])), return_exceptions=True
        )
        assert isinstance(answers[1], Exception)
        assert all(isinstance(answer, Accepted) and not answer.duplicate for i, answer in enumerate(answers) if i != 1)
        assert store.counts() == {"pending": 3}
        assert store.delivery("api", unstorable.idempotency_key) is None
    finally:
        writer.close()
        store.close()


async def test_every_acknowledged_webhook_is_already_committed_when_the_answer_arrives(store_url_any: str):
    """100 webhooks at once over HTTP: the moment each 200 (accepted) arrives, another connection to the
    database (another process, as far as the store can tell) already finds the delivery."""
    observer = IntakeStore(store_url_any)
    async with intake_service(store_url_any) as (http, _):

        async def post_and_look() -> None:
            body, headers = signed_event(Application(source="api").interview(1))
            answer = await http.post("/events", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            stored = observer.delivery("api", headers["webhook-id"])
            assert stored is not None and stored["id"] == answer.json()["delivery_id"]

        await asyncio.gather(*(post_and_look() for _ in range(100)))
        assert observer.counts() == {"pending": 100}
    observer.close()
