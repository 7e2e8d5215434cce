"""The worker: runs the post-interview, referee-check and relationship workflows and their
activities on the `post-interview` task queue.

`python worker.py` (or `postinterview worker`) connects to TEMPORAL_ADDRESS and serves until
SIGINT/SIGTERM, letting running activities finish. `build_worker` is what tests and the
`postinterview run` command use to run the same worker in-process.
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.enrichment import EnrichmentActivities
from activities.follow_through import FollowThroughActivities
from activities.policy import PolicyActivities
from activities.relationship import RelationshipActivities
from codec.encryption import describe as describe_encryption
from domain.contract import TASK_QUEUE
from domain.policy import PolicyBook, load_policy_book
from inbox.links import LinkSigner
from logging_setup import configure_logging
from process_client import connect
from settings import Settings
from store.task_store import TaskStore
from workflows.post_interview import PostInterviewProcess
from workflows.referee_check import RefereeCheck
from workflows.relationship import RelationshipProcess

WORKFLOWS = [PostInterviewProcess, RefereeCheck, RelationshipProcess]

# Deterministic libraries the workflows use, shared with the sandbox instead of re-imported for
# every run: our own domain models and rules, and the holiday tables (which import lazily).
PASSTHROUGH_MODULES = ("domain", "holidays", "dateutil", "pydantic", "pydantic_core", "annotated_types")

log = structlog.get_logger()


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the workflows run in; the replay check uses the same one."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES))


def build_worker(
    client: Client,
    store: TaskStore,
    policy_book: PolicyBook,
    task_queue: str = TASK_QUEUE,
    activity_executor: ThreadPoolExecutor | None = None,
    links: LinkSigner | None = None,
) -> Worker:
    follow_through = FollowThroughActivities(store, links)
    policy = PolicyActivities(policy_book)
    relationship = RelationshipActivities(client, task_queue)
    enrichment = EnrichmentActivities()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=[
            follow_through.create_recruiter_task,
            follow_through.escalate_to_lead,
            follow_through.resolve_tasks,
            follow_through.cancel_process_tasks,
            follow_through.message_candidate,
            follow_through.contact_referee,
            follow_through.remind_recruiter,
            policy.load_timing_policy,
            relationship.hand_over_to_relationship,
            enrichment.enrich_application,
        ],
        # The store activities are synchronous (SQLAlchemy); they run in this pool.
        activity_executor=activity_executor or ThreadPoolExecutor(max_workers=16),
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def serve(settings: Settings, client: Client | None = None, stop: asyncio.Event | None = None) -> None:
    """Run the worker until `stop` is set, by default on SIGINT or SIGTERM."""
    client = client or await connect(settings.temporal_address, settings.temporal_namespace)
    store = TaskStore(settings.database_url)
    book = load_policy_book(settings.policy_file)
    # Answer links in messages to referees and candidates; without LINK_SIGNING_KEYS, none (it warns).
    links = LinkSigner.from_env()
    worker = build_worker(client, store, book, settings.task_queue, links=links)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        temporal=settings.temporal_address,
        namespace=settings.temporal_namespace,
        policy_file=str(settings.policy_file) if settings.policy_file else None,
        payload_encryption=describe_encryption(client.data_converter.payload_codec),
        answer_links=links.base_url if links else "off",
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping: letting running activities finish")
    log.info("worker stopped")


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
