"""SIGKILL of the worker inside an activity, after the task's row is committed but before the
activity reports: the retry on a new worker finds the task and does not create a second one.

In a file of its own because it waits about 35 s in real time (Temporal notices a dead worker's
activity only when its 30 s start-to-close timeout passes, and the time-skipping server does not
skip time while an activity is outstanding), so that the parallel suite runs it beside the rest.
PostgreSQL only, the production store (bench/faults.py kills workers on it with 500 events in
flight; tests/store/test_insert_once.py covers insert-once on both backends).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections import Counter

from sqlalchemy import create_engine, func, select
from temporalio.api.enums.v1 import EventType

from process_client import deliver_event, process_status
from store.schema import tasks
from tests.events import Application
from tests.harness import eventually
from tests.service.test_faults import _env, _kill, _start

# The worker, with its store's create_task slowed down after the write: the row is committed, a
# flag file says so, and the activity then hangs until it is killed (a test double, in the
# subprocess only; the new worker runs the real code).
_SLOW_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import store.task_store as task_store

    flag = Path(sys.argv[1])
    real = task_store.TaskStore.create_task

    def committed_then_hang(self, *args, **kwargs):
        stored = real(self, *args, **kwargs)
        flag.write_text(stored.key)
        time.sleep(600)
        return stored

    task_store.TaskStore.create_task = committed_then_hang
    from cli.main import app
    app(["worker"])
    """
)


async def test_a_worker_killed_inside_an_activity_after_its_write_creates_no_task_twice(dev_env, postgres_schema_url, task_queue, tmp_path):
    database_url = postgres_schema_url
    time_env = dev_env
    address = time_env.client.service_client.config.target_host
    env = _env(database_url, address, task_queue)
    flag = tmp_path / "task-written"
    app = Application(source="api")
    slow = _start([sys.executable, "-c", _SLOW_WORKER, str(flag)], env, tmp_path / "worker-1.log")
    second = None
    table = create_engine(database_url)
    try:
        await deliver_event(time_env.client, app.interview(1), task_queue)
        await eventually(lambda: flag.exists() or slow.poll() is not None, timeout=60, what="the first task's row written")
        assert slow.poll() is None, (tmp_path / "worker-1.log").read_text()[-3000:]
        _kill(slow)  # the row is committed; the activity never reported
        with table.connect() as connection:
            assert connection.execute(select(func.count()).select_from(tasks).where(tasks.c.process_id == app.workflow_id)).scalar_one() == 1

        second = _start([sys.executable, "-m", "cli.main", "worker"], env, tmp_path / "worker-2.log")
        # The killed attempt times out (30 s start-to-close); the retry runs on the new worker.
        async def retried_and_done() -> bool:
            attempts = []
            async for entry in time_env.client.get_workflow_handle(app.workflow_id).fetch_history_events():
                if entry.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    attempts.append(entry.activity_task_started_event_attributes.attempt)
            status = await process_status(time_env.client, "api", app.application_id)
            return max(attempts, default=0) >= 2 and len(status.open_tasks) >= 1

        await eventually(retried_and_done, timeout=90, interval=0.5, what="the activity retried on the new worker")
        with table.connect() as connection:
            rows = connection.execute(select(tasks.c.key, tasks.c.kind, tasks.c.title).where(tasks.c.process_id == app.workflow_id)).all()
        assert len({row.key for row in rows}) == len(rows)
        assert not [k for k, n in Counter((row.kind, row.title) for row in rows).items() if n > 1], rows
        assert [row.key for row in rows].count(flag.read_text()) == 1
    finally:
        _kill(slow)
        if second is not None:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _kill(second)
        table.dispose()
