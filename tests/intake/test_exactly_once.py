"""Exactly one `event` signal per event, however often it is sent (#12): the signal-with-start's
request id is derived from the event, and Temporal takes a request id a run has seen as done.

The case the fault bench found: a forwarder signals, then cannot mark the delivery (PostgreSQL
down) and dies; its replacement sends the delivery again. No worker runs here: the signals are
in the history as soon as Temporal accepted them, whether a worker took them or not.
"""

from __future__ import annotations

import asyncio

from intake.forwarder import Forwarder
from process_client import Delivery, deliver_event, signal_request_id
from store.intake_store import IntakeStore
from tests.events import Application
from tests.harness import eventually
from tests.intake.test_forwarder import accept, signalled_event_ids


async def test_the_same_event_sent_again_is_not_a_second_signal(dev_env, task_queue):
    app = Application(source="api")
    first, second = app.interview(1), app.references("ref-1")
    for event in (first, first, second, first, second):
        assert await deliver_event(dev_env.client, event, task_queue) is Delivery.DELIVERED
    assert await signalled_event_ids(dev_env, app.workflow_id) == [first.event_id, second.event_id]


def test_request_ids_are_the_events_own():
    app, other = Application(source="api"), Application(source="api")
    event = app.interview(1)
    again = event.model_copy()
    assert signal_request_id(event) == signal_request_id(again)
    # Another event of the same process, or the same event id in another process: another request.
    assert signal_request_id(event) != signal_request_id(app.interview(1))
    assert signal_request_id(event) != signal_request_id(other.event("interview.completed", event.data.model_dump(mode="json"), event_id=event.event_id))


class _MarksLost(IntakeStore):
    """The store goes away after the signals went out: nothing can be marked delivered."""

    def settle(self, delivered, failed):  # type: ignore[no-untyped-def]
        raise OSError("connection to the intake table lost")


async def test_a_delivery_sent_again_after_a_crash_between_signal_and_mark_is_one_signal(dev_env, database_url, task_queue):
    store = IntakeStore(database_url)
    apps = [Application(source="api") for _ in range(3)]
    events = {app.workflow_id: [app.interview(1), app.references("ref-1"), app.offer()] for app in apps}
    for app in apps:
        for event in events[app.workflow_id]:
            accept(store, event)

    async def same_client():
        return dev_env.client

    # The first forwarder signals everything, cannot mark it, and is gone (its rows stay pending).
    crashed = Forwarder(_MarksLost(database_url), same_client, task_queue, max_backoff=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(crashed.run(stop, poll_interval=0.1))
    await eventually(lambda: crashed.stats.delivered == 9, timeout=30, what="every event signalled once")
    stop.set()
    await running
    assert store.counts() == {"pending": 9}

    # Its replacement finds them pending and sends every one again.
    replacement = Forwarder(IntakeStore(database_url), same_client, task_queue, max_backoff=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(replacement.run(stop, poll_interval=0.1))
    try:
        await eventually(lambda: store.counts() == {"delivered": 9}, timeout=30, what="every delivery marked")
    finally:
        stop.set()
        await running
    assert replacement.stats.delivered == 9
    for workflow_id, sent in events.items():
        assert await signalled_event_ids(dev_env, workflow_id) == [event.event_id for event in sent], workflow_id
    store.close()
