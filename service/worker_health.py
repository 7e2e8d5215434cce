"""The worker's health over HTTP, for orchestrators: `/healthz` (liveness) and `/readyz` (readiness)
on WORKER_HEALTH_ADDRESS, beside the Prometheus endpoint (which the SDK's runtime serves and we
cannot add routes to).

- Liveness: the process and its event loop answer. Nothing outside the process counts: a
  Temporal outage must not get every worker restarted in a loop.
- Readiness: this worker runs and polls its task queue, as the Temporal frontend has seen it
  (DescribeTaskQueue lists the pollers of the workflow and activity queues, each with the
  identity of the worker that polled). Exactly what "connected and working" means for a worker:
  a connection that the server refuses, a wrong namespace or task queue, a worker that has
  stopped, all show as "no poll". A worker whose slots are all busy stops polling one queue for a
  while, so either queue counts, within POLL_WINDOW (a few long polls).

The answer is cached for CACHE_SECONDS, so probes of many replicas stay a trickle of RPCs.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

POLL_WINDOW = timedelta(minutes=3)
CACHE_SECONDS = 5.0
# Within a probe's usual timeout.
RPC_TIMEOUT_SECONDS = 3.0
QUEUE_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


class RunningWorker(Protocol):
    @property
    def is_running(self) -> bool: ...


async def last_polls(client: Client, namespace: str, task_queue: str, identity: str) -> dict[str, datetime | None]:
    """The latest poll of each task-queue type by the worker whose identity is `identity` (None: no poll known)."""
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
            if poller.identity == identity and poller.HasField("last_access_time")
        ]
        latest[label] = max(times, default=None)
    return latest


class WorkerHealth:
    """Answers the probes of one worker process."""

    def __init__(self, client: Client, task_queue: str, worker: RunningWorker, poll_window: timedelta = POLL_WINDOW) -> None:
        self.client = client
        self.task_queue = task_queue
        self.worker = worker
        self.poll_window = poll_window
        self._cached: tuple[float, bool, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        async with self._lock:  # concurrent probes share one look at the server
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1], self._cached[2]
            ready, details = await self._look()
            self._cached = (time.monotonic(), ready, details)
            return ready, details

    async def _look(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {"task_queue": self.task_queue, "namespace": self.client.namespace, "identity": self.client.identity}
        if not self.worker.is_running:
            return False, {**details, "worker": "not running"}
        try:
            async with asyncio.timeout(RPC_TIMEOUT_SECONDS):
                polls = await last_polls(self.client, self.client.namespace, self.task_queue, self.client.identity)
        except Exception as error:  # unreachable, refused credentials, unknown namespace, timeout
            return False, {**details, "worker": "running", "temporal": f"unreachable: {type(error).__name__}"}
        now = datetime.now(UTC)
        details["last_polls"] = {label: at.isoformat() if at else None for label, at in polls.items()}
        polling = any(at is not None and now - at <= self.poll_window for at in polls.values())
        return polling, {**details, "worker": "running", "polling": polling}


def health_app(health: WorkerHealth) -> Starlette:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        ready, details = await health.readiness()
        return JSONResponse({"status": "ready" if ready else "not ready", **details}, status_code=200 if ready else 503)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])
