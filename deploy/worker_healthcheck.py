"""Container health check for the worker (Dockerfile HEALTHCHECK).

Healthy means: this container's worker has polled its task queue recently. The check asks the
Temporal frontend (DescribeTaskQueue) for the pollers of the task queue and looks for one whose
identity is this container's: the SDK's default identity is `<pid>@<hostname>`, and in a
container the hostname is the container's own, so every replica checks itself.

A check of the frontend's TCP port alone would say "Temporal is up", not "this worker works";
polling is what a worker does, and the server records it. A worker whose workflow and activity
slots are all busy stops polling the matching queue, so either queue counts, and the window
(POLL_WINDOW) is three long polls wide.

Reads the worker's own settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, the Temporal profile and TLS
variables, TASK_QUEUE). Exit status
0 healthy, 1 unhealthy; the one line printed is what `docker inspect` shows.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from service.settings import Settings

POLL_WINDOW = timedelta(minutes=3)
TIMEOUT_SECONDS = 8.0
QUEUE_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


async def last_polls(client: Client, namespace: str, task_queue: str, hostname: str) -> dict[str, datetime | None]:
    """The latest poll of each task-queue type by a worker on `hostname` (None: no poll known)."""
    latest: dict[str, datetime | None] = {}
    for label, queue_type in QUEUE_TYPES.items():
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=queue_type,
            )
        )
        times = [
            poller.last_access_time.ToDatetime(tzinfo=UTC)
            for poller in response.pollers
            if poller.identity.rpartition("@")[2] == hostname and poller.HasField("last_access_time")
        ]
        latest[label] = max(times, default=None)
    return latest


async def check(settings: Settings, hostname: str, now: datetime | None = None) -> tuple[bool, str]:
    # The worker's own connection settings (profile, TLS, API key), so the check reaches the
    # cluster the way the worker does.
    connection = settings.temporal_connection()
    client = await Client.connect(**settings.temporal_client_options())
    polls = await last_polls(client, connection.namespace, settings.task_queue, hostname)
    now = now or datetime.now(UTC)
    recent = {label: at for label, at in polls.items() if at is not None and now - at <= POLL_WINDOW}
    seen = ", ".join(f"{label} {at:%H:%M:%S}Z" if at else f"{label} never" for label, at in polls.items())
    where = f"task queue {settings.task_queue!r} on {connection.address}"
    if recent:
        return True, f"healthy: worker on {hostname} polls {where} (last polls: {seen})"
    return False, f"unhealthy: no poll from {hostname} on {where} within {POLL_WINDOW} (last polls: {seen})"


def main() -> int:
    try:
        settings = Settings.from_env()
        healthy, message = asyncio.run(asyncio.wait_for(check(settings, socket.gethostname()), TIMEOUT_SECONDS))
    except Exception as error:  # unreachable server, unknown namespace, timeout: all unhealthy
        healthy, message = False, f"unhealthy: {type(error).__name__}: {error}"
    print(message)
    return 0 if healthy else 1


if __name__ == "__main__":
    status = main()
    # Leave at once: the interpreter can crash at exit after a Temporal runtime shut down
    # (sdk-python#300), which would turn a clear answer into a signal.
    sys.stdout.flush()
    os._exit(status)
