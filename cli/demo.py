"""`postinterview demo`: one application from interview to first day, step by step.

The steps are the example files a newcomer reads in the README (examples/lifecycle/*.json and
examples/debrief.json), sent the way an ATS adapter and a recruiter would: events through
signal-with-start, the debrief through the `record_debrief` update. Each run rewrites the
application id (and, with it, the event ids and the candidate id), so a rerun starts a new
process instead of replaying events an existing one has already seen.

After each step the demo waits until the process has *handled* it (not merely received it), so
what it prints is the stage the process is really in, and the debrief is never sent before the
interview it is about.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.markup import escape
from temporalio.client import Client
from temporalio.service import RPCError

from cli.input_files import field_errors
from domain.contract import post_interview_workflow_id
from domain.debrief import Debrief
from domain.events import CanonicalEvent, EventType
from domain.status import ProcessStatus, RefereeState
from process_client import Delivery, NoWorker, ProcessRefused, deliver_event, process_handle, process_status, record_debrief

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"

LIFECYCLE = [
    "01-interview-completed.json",
    "02-references-requested.json",
    "03-referee-consented.json",
    "04-referee-responded.json",
    "05-offer-extended.json",
    "06-offer-accepted.json",
    "07-contract-signed.json",
    "08-vetting-passed.json",
    "09-candidate-started.json",
]
DEBRIEF_FILE = "debrief.json"
# The debrief follows the interview: the recruiter records it before the references start.
DEBRIEF_AFTER = "01-interview-completed.json"

# How long a step may take to be handled; far more than a worker needs, so a timeout means none runs.
STEP_TIMEOUT = 30.0


class DemoError(Exception):
    pass


def new_application_id() -> str:
    return f"demo-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Step:
    label: str
    file: Path
    event: CanonicalEvent | None = None
    debrief: Debrief | None = None


def plan(application_id: str, examples_dir: Path = EXAMPLES_DIR) -> list[Step]:
    """The demo's steps, from the example files, rewritten for this run's application."""
    steps: list[Step] = []
    for name in LIFECYCLE:
        path = examples_dir / "lifecycle" / name
        try:
            document = json.loads(_read(path))
        except json.JSONDecodeError as error:
            raise DemoError(f"the example {path} is not valid JSON: {error}") from None
        event = rewrite(document, application_id, Path(name).stem)
        steps.append(Step(label=event.type.value, file=path, event=event))
        if name == DEBRIEF_AFTER:
            debrief_path = examples_dir / DEBRIEF_FILE
            try:
                debrief = Debrief.model_validate_json(_read(debrief_path))
            except ValidationError as error:
                raise DemoError(f"the example {debrief_path} is not a valid debrief: {'; '.join(field_errors(error))}") from None
            steps.append(Step(label="record_debrief (update)", file=debrief_path, debrief=debrief))
    return steps


def rewrite(document: dict[str, Any], application_id: str, step: str) -> CanonicalEvent:
    """The example event, as a fresh fact about this run's application."""
    document = json.loads(json.dumps(document))  # a copy
    document["application_id"] = application_id
    document["event_id"] = f"{application_id}-{step}"
    document["candidate"]["id"] = f"cand-{application_id}"  # one relationship per demo candidate
    document["occurred_at"] = datetime.now(UTC).isoformat()
    try:
        return CanonicalEvent.model_validate(document)
    except ValidationError as error:
        raise DemoError(f"the example {step}.json is not a valid event: {'; '.join(field_errors(error))}") from None


async def run_demo(
    client: Client,
    task_queue: str,
    steps: list[Step],
    pause: float,
    say: Callable[[str], None],
) -> ProcessStatus:
    """Send each step, wait until the process has handled it, print its stage; the final status."""
    first = steps[0].event
    assert first is not None, "the demo starts with an event"
    source, application_id = first.source, first.application_id
    workflow_id = first.workflow_id
    for number, step in enumerate(steps, start=1):
        prefix = f"{number:>2}/{len(steps)}  {step.label:<24} {step.file.name:<32}"
        if step.event is not None:
            delivery = await deliver_event(client, step.event, task_queue)
            if delivery == Delivery.PROCESS_CLOSED:
                raise DemoError(
                    f"the process {workflow_id} has already ended: leave out --application-id to start a new one"
                )
            if delivery == Delivery.NO_PROCESS:
                raise DemoError(f"{step.event.type.value} for {workflow_id}, which has no process: it was never interviewed, so nothing follows")
            if step.event.type == EventType.CANDIDATE_STARTED:
                status = await _final_status(client, source, application_id)
            else:
                status = await _handled(client, source, application_id, _handled_check(step.event))
            outcome = delivery.value
        else:
            assert step.debrief is not None
            try:
                accepted = await record_debrief(client, source, application_id, step.debrief, timeout=STEP_TIMEOUT)
            except NoWorker:
                raise DemoError(_no_worker(source, application_id)) from None
            except ProcessRefused as refused:
                raise DemoError(f"the process rejected the example debrief: {refused.reason}") from None
            status = await process_status(client, source, application_id)
            outcome = f"round {accepted.round} accepted"
        say(f"{prefix} {outcome:<18} -> stage [bold cyan]{status.stage.value}[/]: {escape(status.waiting_for)}")
        if pause > 0 and number < len(steps):
            await asyncio.sleep(pause)
    say(f"Done: {workflow_id} is [bold green]{status.stage.value}[/].")
    return status


def _handled_check(event: CanonicalEvent) -> Callable[[ProcessStatus], bool]:
    data: Any = event.data
    match event.type:
        case EventType.INTERVIEW_COMPLETED:
            return lambda s: any(d.round == data.round for d in s.debriefs)
        case EventType.REFEREE_CONSENTED:
            # The referee check reports back once it has the consent and has sent the request.
            return lambda s: any(r.id == data.referee_id and r.state != RefereeState.AWAITING_CONSENT for r in s.referees)
        case EventType.REFEREE_RESPONDED:
            return lambda s: any(r.id == data.referee_id and r.state == RefereeState.RESPONDED for r in s.referees)
        case _:  # the demo's other events are all milestones
            return lambda s: event.type.value in s.milestones


async def _handled(client: Client, source: str, application_id: str, check: Callable[[ProcessStatus], bool]) -> ProcessStatus:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise DemoError(_no_worker(source, application_id))
        try:
            status = await asyncio.wait_for(process_status(client, source, application_id), remaining)
            if check(status):
                return status
        except RPCError:
            pass  # the run has not finished its first task yet
        except TimeoutError:
            raise DemoError(_no_worker(source, application_id)) from None
        await asyncio.sleep(0.1)


async def _final_status(client: Client, source: str, application_id: str) -> ProcessStatus:
    """The process ends at the first day: its result is its final status."""
    try:
        return await asyncio.wait_for(process_handle(client, source, application_id).result(), STEP_TIMEOUT)
    except TimeoutError:
        raise DemoError(_no_worker(source, application_id)) from None


def _no_worker(source: str, application_id: str) -> str:
    return (
        f"the process {post_interview_workflow_id(source, application_id)} did not handle the step within "
        f"{STEP_TIMEOUT:.0f} s: is a worker running on this task queue (`postinterview run`, or `postinterview worker`)?"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise DemoError(f"cannot read the example {path}: {error.strerror or error}") from None
