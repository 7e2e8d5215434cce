"""The worker: runs the post-interview, referee-check and relationship workflows and their
activities on the `post-interview` task queue, and, beside them in the same process, the
deliveries: the `Notify` workflows on `post-interview-deliveries` and each channel's activities on
a queue of its own (`build_delivery_workers`), with slots of their own and a rate limit per
channel, so a slow mail server or a throttling API never holds up a process.
`postinterview worker --deliveries-only` runs the deliveries alone, `--no-deliveries` the rest.

`python worker.py` (or `postinterview worker`) connects to TEMPORAL_ADDRESS and serves until
SIGINT/SIGTERM, letting running activities finish. `build_worker` is what tests and the
`postinterview run` command use to run the same worker in-process. How many tasks it runs at
once, how many runs it caches, how long it lets activities finish and where it serves its
metrics come from service.settings.WorkerOptions (WORKER_* variables). The settings are read
once, in main(), and passed down: nothing below reads the environment.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import ResourceBasedSlotConfig, Worker, WorkerTuner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.ats_api.bullhorn_mapping import BullhornConfig
from activities.bullhorn import BullhornActivities
from activities.channel_settings import ChannelSettings
from activities.delivery import DeliveryActivities, DeliveryStarter
from activities.enrichment import EnrichmentActivities
from activities.follow_through import FollowThroughActivities
from activities.greenhouse_harvest_poll import GreenhouseHarvestPoll
from activities.policy import PolicyActivities
from activities.relationship import RelationshipActivities
from codec.encryption import EncryptionCodec
from codec.encryption import describe as describe_encryption
from codec.sealing import SecretSealer
from domain.contract import TASK_QUEUE, channel_task_queue, delivery_task_queue
from domain.delivery import Channel
from domain.policy import PolicyBook, load_policy_book
from inbox.links import LinkSigner
from metrics.runtime import MetricsEndpointError, install_default
from process_client.greenhouse_interviews import ensure_poller
from service.embedded_http import serve_until
from service import asyncio_wait_for_311, tracing
from service.log_setup import configure_logging
from service.settings import Settings, SettingsError, WorkerOptions
from service.worker_health import WorkerHealth, health_app
from store.migrations import set_automatic_upgrade
from store.bullhorn_store import BullhornStore
from store.intake_store import IntakeStore
from store.notification_store import NotificationStore
from store.task_store import TaskStore
from workflows.bullhorn_poller import BullhornPoller
from workflows.delivery import Notify
from workflows.greenhouse_interviews import GreenhouseInterviewPoller
from workflows.post_interview import PostInterviewProcess
from workflows.referee_check import RefereeCheck
from workflows.relationship import RelationshipProcess

WORKFLOWS = [PostInterviewProcess, RefereeCheck, RelationshipProcess, Notify, GreenhouseInterviewPoller, BullhornPoller]

# Deterministic libraries the workflows use, shared with the sandbox instead of re-imported for
# every run: our own domain models and rules, and the holiday tables (which import lazily).
PASSTHROUGH_MODULES = ("domain", "holidays", "dateutil", "pydantic", "pydantic_core", "annotated_types")

log = structlog.get_logger()


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the workflows run in; the replay check uses the same one. Timed waits run on
    Python 3.11's asyncio.wait_for on every Python, so histories replay alike on each
    (service/asyncio_wait_for_311.py)."""
    asyncio_wait_for_311.install()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES))


def build_worker(
    client: Client,
    store: TaskStore,
    policy_book: PolicyBook,
    task_queue: str = TASK_QUEUE,
    activity_executor: ThreadPoolExecutor | None = None,
    options: WorkerOptions | None = None,
    channels: ChannelSettings | None = None,
    links: LinkSigner | None = None,
    vendor_settings: Mapping[str, str] | None = None,
    greenhouse_poll: GreenhouseHarvestPoll | None = None,
    bullhorn: BullhornActivities | None = None,
) -> Worker:
    """The worker; without `channels`, nothing is delivered (the inbox alone), without `links`,
    messages carry no answer links, and enrichment reads the vendors' APIs with `vendor_settings`
    (their keys and URLs by variable name; none: no enrichment); with `greenhouse_poll`, it runs the
    Greenhouse interview poller's activities. Call it from the event loop the
    worker will run on: deliveries are started on it."""
    options = options or WorkerOptions()
    channels = ChannelSettings() if channels is None else channels
    deliveries = None
    if channels.configured:
        deliveries = DeliveryStarter(client, task_queue, channels, NotificationStore(store.engine), asyncio.get_running_loop())
    follow_through = FollowThroughActivities(store, deliveries=deliveries, links=links)
    # The Bullhorn pollers' activities: connected accounts and the intake table share the store.
    bullhorn = bullhorn or bullhorn_activities(
        client, store.engine.url.render_as_string(hide_password=False), tasks=store, outcome_notes="bullhorn" in channels.ats_notes
    )
    delivery = DeliveryActivities(
        store,
        channels,
        note_writers={"bullhorn": bullhorn.write_note},
        task_writers={"bullhorn": bullhorn.write_task},
        text_note_writers={"bullhorn": bullhorn.write_text_note},
    )
    policy = PolicyActivities(policy_book)
    relationship = RelationshipActivities(client, task_queue)
    enrichment = EnrichmentActivities(vendor_settings or {})
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
            follow_through.check_contact_preference,
            policy.load_timing_policy,
            relationship.hand_over_to_relationship,
            relationship.reopen_relationship,
            follow_through.update_open_tasks,
            follow_through.update_recruiter_task,
            delivery.write_debrief_note,
            enrichment.enrich_application,
            delivery.deliver_email,
            delivery.post_to_slack,
            delivery.post_to_teams,
            delivery.write_ats_note,
            *([greenhouse_poll.poll_greenhouse_interviews, greenhouse_poll.sweep_greenhouse_cancellations] if greenhouse_poll else []),
            delivery.write_ats_task,
            bullhorn.bullhorn_subscribe,
            bullhorn.bullhorn_poll,
        ],
        # The store activities are synchronous (SQLAlchemy); they run in this pool, one thread
        # per activity slot, so an activity never waits for a thread while its timeout runs.
        activity_executor=activity_executor or ThreadPoolExecutor(max_workers=options.max_concurrent_activities),
        max_cached_workflows=options.max_cached_workflows,
        # After SIGTERM the worker stops polling and gives running activities this long to
        # finish; only then are they cancelled (and retried by another worker).
        graceful_shutdown_timeout=options.shutdown_grace,
        **slots(options),
    )


def bullhorn_activities(
    client: Client, database_url: str, config: BullhornConfig | None = None, tasks: TaskStore | None = None, outcome_notes: bool = False
) -> BullhornActivities:
    """The Bullhorn activities on the store at `database_url`; stored secrets sealed with the
    client's payload keys (PAYLOAD_ENCRYPTION_KEYS), the mapping of config/bullhorn.toml. Call it
    on the worker's event loop: a Task ticked off in Bullhorn completes ours through the client."""
    codec = client.data_converter.payload_codec
    sealer = SecretSealer(codec if isinstance(codec, EncryptionCodec) else None)
    return BullhornActivities(
        BullhornStore(database_url, sealer),
        IntakeStore(database_url),
        config or BullhornConfig.load(),
        tasks=tasks or TaskStore(database_url),
        temporal=(client, asyncio.get_running_loop()),
        outcome_notes=outcome_notes,
    )


def build_delivery_workers(
    client: Client,
    store: TaskStore,
    channels: ChannelSettings,
    task_queue: str = TASK_QUEUE,
    options: WorkerOptions | None = None,
    bullhorn: BullhornActivities | None = None,
) -> list[Worker]:
    """The deliveries' workers: the `Notify` workflows on the deliveries' queue, and one worker
    per channel on that channel's queue, each with `channels.slots` activity slots (and threads)
    of its own and Temporal's limit of `channels.per_second[channel]` activities a second on
    its queue, which holds across every worker polling it. (The main worker still serves `Notify`
    runs started on the processes' queue before deliveries had their own, and the activities
    those had already scheduled there.)"""
    options = options or WorkerOptions()
    # Bullhorn's notes and Tasks are written with its connected account (no API key setting).
    bullhorn = bullhorn or bullhorn_activities(
        client, store.engine.url.render_as_string(hide_password=False), tasks=store, outcome_notes="bullhorn" in channels.ats_notes
    )
    delivery = DeliveryActivities(store, channels, note_writers={"bullhorn": bullhorn.write_note}, task_writers={"bullhorn": bullhorn.write_task})
    activity_of = {
        Channel.EMAIL: delivery.deliver_email,
        Channel.SLACK: delivery.post_to_slack,
        Channel.ATS_NOTE: delivery.write_ats_note,
        Channel.ATS_TASK: delivery.write_ats_task,
        Channel.TEAMS: delivery.post_to_teams,
    }
    workers = [
        Worker(
            client,
            task_queue=delivery_task_queue(task_queue),
            workflows=[Notify],
            workflow_runner=workflow_runner(),
            max_cached_workflows=options.max_cached_workflows,
            graceful_shutdown_timeout=options.shutdown_grace,
        )
    ]
    for channel, activity in activity_of.items():
        workers.append(
            Worker(
                client,
                task_queue=channel_task_queue(task_queue, channel.value),
                activities=[activity],
                activity_executor=ThreadPoolExecutor(max_workers=channels.slots, thread_name_prefix=f"deliver-{channel.value}"),
                max_concurrent_activities=channels.slots,
                max_task_queue_activities_per_second=channels.per_second.get(channel.value),
                graceful_shutdown_timeout=options.shutdown_grace,
            )
        )
    return workers


def slots(options: WorkerOptions) -> dict[str, Any]:
    """The Worker arguments that say how many workflow and activity tasks run at once."""
    if options.tuner == "resource-based":
        return {
            "tuner": WorkerTuner.create_resource_based(
                target_memory_usage=options.target_memory_usage,
                target_cpu_usage=options.target_cpu_usage,
                workflow_config=ResourceBasedSlotConfig(
                    minimum_slots=min(5, options.max_concurrent_workflow_tasks), maximum_slots=options.max_concurrent_workflow_tasks
                ),
                activity_config=ResourceBasedSlotConfig(minimum_slots=1, maximum_slots=options.max_concurrent_activities),
            )
        }
    return {
        "max_concurrent_activities": options.max_concurrent_activities,
        "max_concurrent_workflow_tasks": options.max_concurrent_workflow_tasks,
    }


PARTS = ("all", "processes", "deliveries")


async def serve(
    settings: Settings,
    client: Client | None = None,
    stop: asyncio.Event | None = None,
    options: WorkerOptions | None = None,
    part: str = "all",
) -> None:
    """Run the worker until `stop` is set, by default on SIGINT or SIGTERM: the processes and
    the deliveries (`part` "all"; the deliveries only when channels are configured), only the
    processes ("processes"), or only the deliveries ("deliveries").

    With options.metrics_address, the client must have been connected after
    metrics.runtime.install_default (the worker reports through its client's runtime)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
    options = options or settings.worker.options()
    connection = settings.temporal_connection()
    client = client or await Client.connect(**settings.temporal_client_options())
    # With OTEL_* tracing on, the workflows, activities and the Notify starts carry the trace.
    client = tracing.traced(client)
    store = TaskStore(settings.database_url)
    book = load_policy_book(settings.policy_file)
    channels = settings.channels()
    # Answer links in messages to referees and candidates; without LINK_SIGNING_KEYS, none (it warns).
    links = settings.links.signer()
    # The Greenhouse interview poller, when GREENHOUSE_INTERVIEW_POLL_SECONDS asks for one: its
    # events belong to the client and stand-in recruiter the intake maps Greenhouse to.
    poller = settings.ats.greenhouse_poller() if part != "deliveries" else None
    greenhouse_poll = None
    if poller is not None:
        intake = settings.intake.config()
        greenhouse_poll = GreenhouseHarvestPoll(
            settings.ats.vendor_settings(), settings.database_url, intake.client_for("greenhouse"), intake.recruiter_for("greenhouse")
        )
    bullhorn = bullhorn_activities(
        client, settings.database_url, BullhornConfig.load(settings.bullhorn.config), tasks=store, outcome_notes="bullhorn" in channels.ats_notes
    )
    workers: list[Worker] = []
    if part != "deliveries":
        workers.append(
            build_worker(
                client,
                store,
                book,
                settings.task_queue,
                options=options,
                channels=channels,
                links=links,
                vendor_settings=settings.ats.vendor_settings(),
                greenhouse_poll=greenhouse_poll,
                bullhorn=bullhorn,
            )
        )
    if part == "deliveries" or (part == "all" and channels.configured):
        workers.extend(build_delivery_workers(client, store, channels, settings.task_queue, options, bullhorn=bullhorn))
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        temporal=connection.address,
        namespace=client.namespace,
        temporal_security=connection.security(),
        temporal_profile=connection.profile,
        policy_file=str(settings.policy_file) if settings.policy_file else None,
        payload_encryption=describe_encryption(client.data_converter.payload_codec),
        tuner=options.tuner,
        max_concurrent_activities=options.max_concurrent_activities,
        max_concurrent_workflow_tasks=options.max_concurrent_workflow_tasks,
        max_cached_workflows=options.max_cached_workflows,
        metrics=f"http://{options.metrics_address}/metrics" if options.metrics_address else None,
        health=f"http://{options.health_address}/readyz" if options.health_address else None,
        delivery_channels=channels.describe() or "none: the inbox alone",
        deliveries=(
            {"task_queue": delivery_task_queue(settings.task_queue), "slots_per_channel": channels.slots, "per_second": dict(channels.per_second)}
            if part == "deliveries" or (part == "all" and channels.configured)
            else "not in this process"
        ),
        serves=part,
        answer_links=links.base_url if links else "off",
    )
    async with AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        if poller is not None:
            # Idempotent: the running poller keeps its cursor and takes the settings.
            workflow_id = await ensure_poller(client, poller, settings.task_queue)
            log.info("greenhouse interview poller running", workflow_id=workflow_id, every_seconds=poller.interval_seconds)
        if options.health_address:
            # Probes for orchestrators (Kubernetes): liveness and readiness (polling the queue).
            host, _, port = options.health_address.rpartition(":")
            # Ready: this process seen polling its first queue (the processes', or the deliveries' with --deliveries-only).
            app = health_app(WorkerHealth(client, workers[0].task_queue, workers[0]))
            probes = asyncio.create_task(serve_until(app, stop, host, int(port), "worker health endpoint"))
            await stop.wait()
            await probes  # raises if it could not serve (it then set `stop`)
        else:
            await stop.wait()
        log.info("worker stopping: letting running activities finish", grace_seconds=options.shutdown_grace.total_seconds())
    if greenhouse_poll is not None:
        greenhouse_poll.close()
    log.info("worker stopped")


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        configure_logging()
        log.error("worker cannot start", error=str(error))
        raise SystemExit(2) from None
    configure_logging(settings.log_level)
    try:
        set_automatic_upgrade(settings.auto_migrate())
        settings.temporal_connection()
        options = settings.worker.options()
        settings.ats.greenhouse_poller()  # a bad GREENHOUSE_INTERVIEW_* stops the worker here, named
        if options.metrics_address:
            install_default(options.metrics_address)
    except (SettingsError, MetricsEndpointError) as error:
        log.error("worker cannot start", error=str(error))
        raise SystemExit(2) from None
    asyncio.run(serve(settings, options=options))


if __name__ == "__main__":
    main()
