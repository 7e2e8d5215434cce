"""Deliveries on task queues of their own: with a mail server that never answers (a stand-in that
accepts the connection and says nothing), every email slot hangs, and the processes' own
activities still run at once. On one shared queue the hung sends held the activity slots the
processes need; now they hold only email's. The settings of the channels' queues are checked
below too."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import pytest

from activities.channel_settings import ChannelSettings, ChannelSettingsError
from domain.contract import channel_task_queue, delivery_task_queue
from domain.policy import PolicyBook
from process_client import deliver_event, process_status
from service.settings import Settings, WorkerOptions
from store.task_store import TaskStore
from tests.channel_servers import smtp_settings
from tests.events import Application
from tests.harness import CONTINUOUS, eventually
from worker import build_delivery_workers, build_worker


@asynccontextmanager
async def silent_mail_server():
    """Accepts SMTP connections and never answers (not even the greeting): a send hangs until
    its timeout. Yields the connections open on it and its port; closing it drops them."""
    open_connections: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_connections.append(writer)
        await reader.read()  # until the client gives up or the server closes

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield open_connections, port
    finally:
        server.close()
        for writer in open_connections:
            writer.close()  # the hung sends fail now, so the workers can stop


async def test_a_mail_server_that_never_answers_holds_no_slot_of_the_processes(dev_env, store_url, task_queue):
    options = WorkerOptions(max_concurrent_activities=2, shutdown_grace=timedelta(seconds=1))
    async with AsyncExitStack() as stack:
        connections, port = await stack.enter_async_context(silent_mail_server())
        channels = ChannelSettings(smtp=smtp_settings(port), timeout=120, slots=2)
        store = TaskStore(store_url)
        stack.callback(store.close)
        workers = [build_worker(dev_env.client, store, PolicyBook(default=CONTINUOUS), task_queue, options=options, channels=channels)]
        workers += build_delivery_workers(dev_env.client, store, channels, task_queue, options)
        for worker in workers:
            await stack.enter_async_context(worker)
        # Before the workers stop: drop the hung connections, so that the sends end.
        stack.callback(lambda: [writer.close() for writer in connections])

        # Three applications: their recruiters' task emails take both email slots, and hang.
        for _ in range(3):
            app = Application(source="api")
            await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: len(connections) == 2, timeout=30, what="both email slots hanging on the silent server")

        # A new interview: its process's activities (the task, the candidate's message) run at once.
        late = Application(source="api")
        await deliver_event(dev_env.client, late.interview(1), task_queue)

        async def task_given():
            status = await process_status(dev_env.client, late.source, late.application_id)
            return status if status.open_tasks else None

        status = await eventually(task_given, timeout=10, what="the new process's task, while every email send hangs")
        assert [task.kind for task in status.open_tasks] == ["book_debrief"]
        assert len(connections) == 2, "the email slots were still hanging: only the processes' own slots ran it"


def test_the_channels_queues_sit_beside_the_processes_queue():
    assert delivery_task_queue("post-interview") == "post-interview-deliveries"
    assert channel_task_queue("post-interview", "email") == "post-interview-deliveries-email"
    # A Notify run reads its own queue, the processes' (from before) or the deliveries': the same queue.
    assert channel_task_queue("post-interview-deliveries", "slack") == channel_task_queue("post-interview", "slack")


def test_rate_limits_and_slots_per_channel_come_from_the_environment():
    channels = Settings.from_env(
        {"DELIVERY_SLACK_PER_SECOND": "0.5", "DELIVERY_EMAIL_PER_SECOND": "20", "DELIVERY_ATS_NOTE_PER_SECOND": "none", "DELIVERY_MAX_CONCURRENT": "8"}
    ).channels()
    # Bullhorn's Tasks go to the API its notes do, at the notes' pace.
    assert channels.per_second == {"email": 20.0, "slack": 0.5, "ats_note": None, "ats_task": None, "teams": 0.5} and channels.slots == 8
    defaults = Settings.from_env({}).channels()
    assert defaults.per_second == {"email": None, "slack": 1.0, "ats_note": 2.0, "ats_task": 2.0, "teams": 1.0} and defaults.slots == 4


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("DELIVERY_SLACK_PER_SECOND", "fast", "DELIVERY_SLACK_PER_SECOND must be a number"),
        ("DELIVERY_EMAIL_PER_SECOND", "0", "DELIVERY_EMAIL_PER_SECOND must be above 0"),
        ("DELIVERY_MAX_CONCURRENT", "0", "DELIVERY_MAX_CONCURRENT must be a whole number of at least 1"),
    ],
)
def test_unusable_rate_limits_are_refused_naming_the_variable(name, value, expected):
    with pytest.raises(ChannelSettingsError, match=expected):
        Settings.from_env({name: value}).channels()
