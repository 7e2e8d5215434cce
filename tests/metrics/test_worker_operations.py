"""Running workers: tuning from the WORKER_* settings, and a graceful shutdown on SIGTERM that
lets a running activity finish, shown on the real `postinterview worker` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState

from domain.policy import PolicyBook
from domain import business_metrics as business
from process_client import deliver_event, process_handle
from service.settings import Settings, SettingsError, WorkerOptions
from store.task_store import TaskStore
from tests.events import Application
from tests.harness import CONTINUOUS, eventually, free_port
from tests.metrics.scrape import scrape
from worker import build_worker

ROOT = Path(__file__).resolve().parents[2]


# --- settings ----------------------------------------------------------------------------------


def test_worker_options_default_to_a_fixed_tuner_sized_to_the_activity_pool():
    options = Settings.from_env({}).worker.options()
    assert options == WorkerOptions()
    assert (options.tuner, options.max_concurrent_activities, options.max_cached_workflows) == ("fixed", 16, 1000)
    assert options.metrics_address is None and options.shutdown_grace == timedelta(seconds=30)


def test_worker_options_are_read_from_the_environment():
    options = Settings.from_env(
        {
            "WORKER_TUNER": "resource-based",
            "WORKER_MAX_CONCURRENT_ACTIVITIES": "40",
            "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20",
            "WORKER_MAX_CACHED_WORKFLOWS": "0",
            "WORKER_TARGET_CPU_USAGE": "0.7",
            "WORKER_TARGET_MEMORY_USAGE": "0.75",
            "WORKER_SHUTDOWN_GRACE_SECONDS": "120",
            "WORKER_METRICS_ADDRESS": "0.0.0.0:9464",
        }
    ).worker.options()
    assert options == WorkerOptions(
        metrics_address="0.0.0.0:9464",
        tuner="resource-based",
        max_concurrent_activities=40,
        max_concurrent_workflow_tasks=20,
        max_cached_workflows=0,
        target_cpu_usage=0.7,
        target_memory_usage=0.75,
        shutdown_grace=timedelta(seconds=120),
    )


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("WORKER_TUNER", "adaptive", "use one of fixed, resource-based"),
        ("WORKER_MAX_CONCURRENT_ACTIVITIES", "many", "not a whole number"),
        ("WORKER_MAX_CONCURRENT_ACTIVITIES", "0", "at least 1"),
        ("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "1", "at least 2"),
        ("WORKER_MAX_CACHED_WORKFLOWS", "-1", "at least 0"),
        ("WORKER_TARGET_CPU_USAGE", "80", "at most 1"),
        ("WORKER_TARGET_MEMORY_USAGE", "lots", "not a number"),
        ("WORKER_SHUTDOWN_GRACE_SECONDS", "30s", "not a whole number"),
        ("WORKER_METRICS_ADDRESS", "9464", "expected host:port"),
    ],
)
def test_an_unusable_worker_option_is_refused_naming_the_variable(name, value, expected):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value}).worker.options()
    assert name in str(refused.value) and expected in str(refused.value)


def test_the_worker_command_refuses_a_bad_option_before_connecting():
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=ROOT,
        env={**os.environ, "WORKER_MAX_CONCURRENT_ACTIVITIES": "lots", "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "WORKER_MAX_CONCURRENT_ACTIVITIES='lots' is not a whole number" in result.stderr


# --- the resource-based tuner ------------------------------------------------------------------


async def test_a_worker_with_the_resource_based_tuner_runs_processes(dev_env, store_url, task_queue, activity_pool):
    options = WorkerOptions(tuner="resource-based", max_concurrent_activities=16, max_concurrent_workflow_tasks=10, max_cached_workflows=50)
    app = Application(source="api")
    store = TaskStore(store_url)
    async with build_worker(dev_env.client, store, PolicyBook(default=CONTINUOUS), task_queue, activity_executor=activity_pool, options=options):
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        tasks = await eventually(lambda: store.tasks(process_id=app.workflow_id), what="the book-the-call task")
    assert [t.kind for t in tasks] == ["book_debrief"]


# --- graceful shutdown ---------------------------------------------------------------------------


async def test_sigterm_lets_the_running_activity_finish_then_the_worker_exits(dev_env, tmp_path: Path, task_queue):
    """The store is locked by this test, so the worker's first store activity hangs in its write;
    SIGTERM arrives while it runs; the lock is released; the activity completes on its first
    attempt, its task is in the store, and the worker exits 0."""
    database = tmp_path / "store.sqlite3"
    TaskStore(f"sqlite:///{database}")  # the tables, before the lock
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PAYLOAD_ENCRYPTION_KEYS"}
    env.update(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=dev_env.client.namespace,
        TASK_QUEUE=task_queue,
        DATABASE_URL=f"sqlite:///{database}",
        WORKER_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
        WORKER_SHUTDOWN_GRACE_SECONDS="60",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    stderr_path = tmp_path / "worker.stderr"
    with open(stderr_path, "wb") as stderr:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "worker", cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )  # fmt: skip
    lock = sqlite3.connect(database, isolation_level=None)
    try:

        async def started() -> bool:
            text = (await scrape(f"http://127.0.0.1:{metrics_port}/metrics")).text
            return f'task_queue="{task_queue}"' in text and "temporal_worker_start{" in text

        await eventually(started, timeout=60, what="the worker to start (its metrics endpoint)")
        lock.execute("BEGIN IMMEDIATE")  # no writer gets in until this ends

        app = Application(source="api")
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        handle = process_handle(dev_env.client, app.source, app.application_id)

        async def store_activity_running() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(a.activity_type.name == "create_recruiter_task" and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending)

        await eventually(store_activity_running, timeout=30, what="the store activity to be running")
        # The command's endpoint carries the SDK's metrics and the workflows' business metrics.
        running = await scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert running.value(business.PROCESSES_STARTED, source="api", task_queue=task_queue) == 1
        assert running.value("temporal_worker_task_slots_used", worker_type="ActivityWorker", task_queue=task_queue) == 1
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.5)
        assert worker.returncode is None, "the worker left without waiting for its running activity"
        lock.execute("ROLLBACK")
        code = await asyncio.wait_for(worker.wait(), 30)
    finally:
        lock.close()
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    log = [json.loads(line) for line in stderr_path.read_text().splitlines() if line.startswith("{")]
    assert code == 0, stderr_path.read_text()
    messages = [entry["event"] for entry in log]
    assert "worker stopping: letting running activities finish" in messages and messages[-1] == "worker stopped"
    assert any(entry.get("activity_type") == "create_recruiter_task" and entry["event"] == "recruiter task recorded" for entry in log)

    history = [event async for event in handle.fetch_history_events()]
    started_events = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    completed = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    done = {scheduled[e.activity_task_completed_event_attributes.scheduled_event_id] for e in completed}
    assert "create_recruiter_task" in done, "the running activity did not complete"
    assert all(e.activity_task_started_event_attributes.attempt == 1 for e in started_events), "an activity was retried"
    tasks = TaskStore(f"sqlite:///{database}").tasks(process_id=app.workflow_id)
    assert [t.kind for t in tasks] == ["book_debrief"]
