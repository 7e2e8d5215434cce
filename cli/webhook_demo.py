"""`postinterview demo-webhooks`: a few candidates' ATS webhooks, signed, through the intake.

What a newcomer cannot easily do by hand: sign a Greenhouse, Lever or Ashby webhook the way the
vendor does and watch the engine map it. The demo sends, for six candidates with fresh ids on
every run, the deliveries their ATS would send (one of them a rejection of an applicant never
interviewed, which must start no process and create nothing) (shapes as in tests/intake/payloads, kept as
templates in cli/demo_webhooks/; stage ids from config/intake.toml so they map), one of them
twice on purpose to show that a re-delivery is acknowledged as a `duplicate` and applied once.
It prints one line per webhook (the intake's answer), waits for the forwarder to hand the events
to the processes, and lists each process with the stage it reached.

It signs with the intake's own secrets, else with the local ones `postinterview run` keeps
(cli/local_secrets.py), as each vendor signs (intake/signing.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
from rich.markup import escape
from temporalio.client import Client

from cli.local_secrets import read_secrets_file, secrets_file
from domain.contract import post_interview_workflow_id
from domain.events import EventType
from domain.status import ProcessStatus
from intake.config import SECRET_SETTINGS, IntakeConfig, IntakeConfigError
from intake.signing import sign_delivery
from service.settings import IntakeSection

PATHS = {"greenhouse": "/webhooks/greenhouse", "lever": "/webhooks/lever", "ashby": "/webhooks/ashby", "events": "/events"}
TEMPLATES = files("cli") / "demo_webhooks"
# How long the forwarder may take to bring every process to its stage; it needs about a second,
# plus up to one interval of the Greenhouse interview poller (5 s under `run`) for Harvest's.
SETTLE_TIMEOUT = 30.0
QUERY_TIMEOUT = 10.0


class WebhookDemoError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --- the secrets to sign with -------------------------------------------------------------------


def load(data_dir: Path, intake: IntakeSection) -> tuple[IntakeConfig, dict[str, str], str]:
    """The intake config (stage maps), the secret to sign each sender's webhooks with, and where
    the secrets came from. The intake's own choice first (its settings: the environment, then the
    config file's [secrets]), else the file `postinterview run` keeps."""
    from_environment = intake.secrets()
    try:
        config = intake.config()
    except IntakeConfigError as error:
        raise WebhookDemoError(f"the intake configuration is invalid: {error}", 2) from None
    path = secrets_file(data_dir)
    try:
        local = read_secrets_file(path)
    except OSError as error:
        raise WebhookDemoError(f"cannot read {path}: {error.strerror or error}") from None
    chosen: dict[str, str] = {}
    sources: set[str] = set()
    missing: list[str] = []
    for name, setting in SECRET_SETTINGS.items():
        configured: list[str] = getattr(config, setting)
        if configured:
            chosen[name] = configured[0]  # during a rotation the intake accepts every one
            sources.add("the environment" if name in from_environment else "the intake config's [secrets]")
        elif local.get(name):
            chosen[name] = local[name]
            sources.add(str(path))
        else:
            missing.append(name)
    if missing:
        where = f"{path} does not exist" if not path.exists() else f"{path} does not have them"
        raise WebhookDemoError(
            f"no webhook secret for {', '.join(missing)}: not set in the environment, and {where}. "
            "Start the engine first with `make run` (or `postinterview run`): it creates that file. "
            "If you ran it with --data-dir DIR, pass the same --data-dir here."
        )
    return config, chosen, " and ".join(sorted(sources))


# --- the scenario -------------------------------------------------------------------------------


@dataclass
class Webhook:
    vendor: str  # greenhouse | lever | ashby | events
    action: str
    payload: Any  # unsigned: signed when sent (Standard Webhooks signatures are timestamped)
    note: str  # what happened in the ATS, in a recruiter's words
    delivery_id: str | None = None  # Greenhouse-Event-ID / webhook-id; a fresh one when None
    repeat_of: Webhook | None = None  # sent again byte for byte, as a vendor retries
    sent: tuple[bytes, dict[str, str]] | None = None
    number: int = 0


@dataclass
class Story:
    """One candidate: the webhooks of their application, and the stage they should leave it in."""

    who: str
    source: str
    application_id: str
    summary: str
    expected_stage: str
    webhooks: list[Webhook] = field(default_factory=list)
    # What Greenhouse Harvest holds for it (kind: applications, candidates, interviews), put into
    # the local stand-in: enrichment reads the application, the interview poller its interviews.
    harvest: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # The canonical events the interview poller makes of `harvest` (the process waits for them).
    harvest_events: int = 0
    harvest_note: str = ""
    # Never interviewed: its webhooks must start no process and create nothing.
    no_process: bool = False

    @property
    def workflow_id(self) -> str:
        return post_interview_workflow_id(self.source, self.application_id)


def plan(config: IntakeConfig, examples_dir: Path | None = None, harvest: bool = False) -> list[Story]:
    """Six candidates with fresh ids, in the order their webhooks are sent; with `harvest` (a
    Harvest stand-in to fill), a seventh whose interview only Greenhouse's API knows of."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        _greenhouse_offer(config, now),
        _greenhouse_screened_out(now),
        _lever_withdrawal(config, now),
        _ashby_offer(config, now),
        _events_references(now, examples_dir),
        _greenhouse_debrief(config, now),
        *([_greenhouse_harvest_debrief(now)] if harvest else []),
    ]


# The deliveries' shapes are data: cli/demo_webhooks/<vendor>.json, one template per kind of
# delivery (and per object in it), with {{name}} placeholders the stories below fill in.

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _templates(vendor: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / f"{vendor}.json").read_text(encoding="utf-8"))


def fill(template: Any, **values: Any) -> Any:
    """A copy of `template` with its placeholders filled in: a string that is one placeholder
    becomes the value itself (an id stays an integer, an object an object), a placeholder within
    text becomes the value's text. A callable value is called for each placeholder (fresh ids)."""
    if isinstance(template, dict):
        return {key: fill(value, **values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, **values) for value in template]
    if not isinstance(template, str):
        return template

    def value(name: str) -> Any:
        if name not in values:
            raise KeyError(f"the demo webhook template needs a value for {{{{{name}}}}}")
        found = values[name]
        return found() if callable(found) else found

    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return value(whole[1])
    return _PLACEHOLDER.sub(lambda match: str(value(match[1])), template)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _number(digits: int) -> int:
    """A Greenhouse-style integer id, fresh for this run."""
    return 10 ** (digits - 1) + secrets.randbelow(9 * 10 ** (digits - 1))


def _uuid() -> str:
    return str(uuid.uuid4())


# Greenhouse: integer ids; the stage names are those config/intake.toml maps.


class _Greenhouse:
    """One Greenhouse candidate's application, for filling in the Greenhouse templates."""

    def __init__(self, first: str, last: str, email: str, phone: str, job: dict[str, Any], now: datetime) -> None:
        self.shapes = _templates("greenhouse")
        self.recruiter = self.shapes["recruiter"]
        self.application_id, self.candidate_id = _number(9), _number(8)
        self.candidate = fill(
            self.shapes["candidate"], candidate_id=self.candidate_id, first_name=first, last_name=last, email=email, phone=phone, recruiter=self.recruiter
        )
        self.job, self.now = job, now

    def interview(self, name: str, status: str) -> dict[str, Any]:
        return fill(self.shapes["interview"], interview_id=_number(7), name=name, status=status)

    def stage(self, stage_id: int, name: str, interviews: list[dict[str, Any]]) -> dict[str, Any]:
        return fill(self.shapes["stage"], stage_id=stage_id, stage_name=name, interviews=interviews)

    def application(self, stage: dict[str, Any]) -> dict[str, Any]:
        return fill(
            self.shapes["application"],
            application_id=self.application_id,
            candidate_id=self.candidate_id,
            applied_at=_iso(self.now - timedelta(days=30)),
            last_activity_at=_iso(self.now),
            recruiter=self.recruiter,
            stage=stage,
            candidate=self.candidate,
            job=self.job,
        )

    def harvest_records(self) -> list[tuple[str, dict[str, Any]]]:
        """The application and candidate as Harvest's GET /v1/applications/{id} and
        /v1/candidates/{id} answer them (the fields the engine reads)."""
        application = {
            "id": self.application_id,
            "candidate_id": self.candidate_id,
            "prospect": False,
            "status": "active",
            "applied_at": _iso_ms(self.now - timedelta(days=30)),
            "jobs": [{"id": self.job["id"], "name": self.job["name"]}],
        }
        return [("applications", application), ("candidates", self.candidate)]

    def stage_change(self, stage: dict[str, Any], note: str) -> Webhook:
        payload = fill(self.shapes["candidate_stage_change"], application=self.application(stage))
        return Webhook("greenhouse", "candidate_stage_change", payload, note)


def _greenhouse_offer(config: IntakeConfig, now: datetime) -> Story:
    job = {"id": 50731, "name": "Senior Compliance Analyst", "requisition_id": "REQ-118", "status": "open"}
    greenhouse = _Greenhouse("Amara", "Okafor", "amara.okafor@example.com", "+44 20 7946 0321", job, now)
    shapes, offer_id = greenhouse.shapes, _number(6)
    stage_name = "Face to Face"
    round_ = config.greenhouse_stage_rounds.get(stage_name, 1)
    interview_stage = greenhouse.stage(3317620, stage_name, [greenhouse.interview("Technical interview", "awaiting_feedback")])
    start = (now + timedelta(weeks=6)).date()

    def offer(action: str, version: int, sent_on: date | None, status: str, note: str) -> Webhook:
        payload = fill(
            shapes["offer"],
            offer_id=offer_id,
            application_id=greenhouse.application_id,
            job_id=job["id"],
            user_id=greenhouse.recruiter["id"],
            version=version,
            sent_on=sent_on.isoformat() if sent_on else None,
            start_date=start.strftime("%m/%d/%Y"),
            status=status,
        )
        return Webhook("greenhouse", action, fill(shapes[action], offer=payload), note)

    hired = greenhouse.application(greenhouse.stage(3317624, "Offer", []))
    hired["status"] = "hired"
    hired["offer"] = fill(shapes["accepted_offer"], offer_id=offer_id, sent_at=now.date().isoformat(), resolved_at=_iso(now), starts_at=start.isoformat())
    hire = Webhook("greenhouse", "hire_candidate", fill(shapes["hire_candidate"], application=hired), "offer accepted (Accept Offer)")
    return Story(
        who="Amara Okafor",
        source="greenhouse",
        application_id=str(greenhouse.application_id),
        summary="interview done, offer drafted, sent and accepted",
        expected_stage="offer",
        webhooks=[
            greenhouse.stage_change(interview_stage, f"{stage_name}: technical interview awaiting feedback (round {round_})"),
            offer("offer_created", 1, None, "Created", "offer drafted"),
            offer("offer_updated", 2, now.date(), "Created", "offer sent to the candidate"),
            hire,
            Webhook("greenhouse", "hire_candidate", None, "Greenhouse retries the same delivery", repeat_of=hire),
        ],
        harvest=greenhouse.harvest_records(),
    )


def _greenhouse_screened_out(now: datetime) -> Story:
    """A job-board applicant rejected at application review, before any interview: Greenhouse
    sends reject_candidate all the same, and the engine must do nothing with it."""
    job = {"id": 50731, "name": "Senior Compliance Analyst", "requisition_id": "REQ-118", "status": "open"}
    greenhouse = _Greenhouse("Sam", "Doe", "sam.doe@example.com", "+44 20 7946 0999", job, now)
    rejected = greenhouse.application(greenhouse.stage(3317600, "Application Review", []))
    rejected.update(status="rejected", rejected_at=_iso(now), rejection_reason=greenhouse.shapes["screened_out_reason"])
    reject = Webhook("greenhouse", "reject_candidate", fill(greenhouse.shapes["reject_candidate"], application=rejected), "rejected at application review")
    return Story(
        who="Sam Doe",
        source="greenhouse",
        application_id=str(greenhouse.application_id),
        summary="screened out at application review, never interviewed",
        expected_stage="none",
        webhooks=[reject],
        no_process=True,
    )


def _greenhouse_debrief(config: IntakeConfig, now: datetime) -> Story:
    job = {"id": 50744, "name": "Treasury Analyst", "requisition_id": "REQ-131", "status": "open"}
    greenhouse = _Greenhouse("Kwame", "Mensah", "kwame.mensah@example.com", "+44 20 7946 0555", job, now)
    stage_name = "Preliminary Phone Screen"
    stage = greenhouse.stage(3317611, stage_name, [greenhouse.interview("Phone screen", "complete")])
    round_ = config.greenhouse_stage_rounds.get(stage_name, 1)
    return Story(
        who="Kwame Mensah",
        source="greenhouse",
        application_id=str(greenhouse.application_id),
        summary="first interview just done: the debrief is due",
        expected_stage="debrief",
        webhooks=[greenhouse.stage_change(stage, f"{stage_name}: phone screen complete (round {round_})")],
        harvest=greenhouse.harvest_records(),
    )


def _greenhouse_harvest_debrief(now: datetime) -> Story:
    """An interview Greenhouse's webhooks never mention: scheduled in Greenhouse, it ended an hour
    ago and nobody has touched it since (still `scheduled`: Greenhouse never says an interview
    happened). The engine's interview poller reads it from Harvest's /v1/scheduled_interviews as
    `interview.scheduled` with its end, and the process, its end and grace period past, takes it
    as having happened: it starts with the debrief. (`awaiting_feedback` would be an explicit
    `interview.completed`, with the same result.)"""
    job = {"id": 50752, "name": "Risk Analyst", "requisition_id": "REQ-140", "status": "open"}
    greenhouse = _Greenhouse("Nadia", "Rahman", "nadia.rahman@example.com", "+44 20 7946 0777", job, now)
    start = now - timedelta(hours=2)
    interview = {
        "id": _number(8),
        "application_id": greenhouse.application_id,
        "external_event_id": f"event{_number(6)}",
        "start": {"date_time": _iso_ms(start)},
        "end": {"date_time": _iso_ms(start + timedelta(hours=1))},
        "location": "Video call",
        "video_conferencing_url": "https://meet.example.com/risk-onsite",
        "status": "scheduled",
        "created_at": _iso_ms(now - timedelta(days=3)),
        "interview": {"id": 7011, "name": "Onsite with the risk team"},
        "organizer": {"id": 4102, "first_name": "Rita", "last_name": "Reyes", "name": "Rita Reyes", "employee_id": None},
        "interviewers": [
            {"id": 4230, "employee_id": None, "name": "Omar Haddad", "email": "omar.haddad@client.example", "response_status": "accepted", "scorecard_id": None},
            {"id": 4231, "employee_id": None, "name": "Lena Vogel", "email": "lena.vogel@client.example", "response_status": "accepted", "scorecard_id": None},
        ],
    }
    return Story(
        who="Nadia Rahman",
        source="greenhouse",
        application_id=str(greenhouse.application_id),
        summary="no webhook at all: her interview is in Greenhouse's schedule, and it has ended",
        expected_stage="debrief",
        harvest=[*greenhouse.harvest_records(), ("interviews", interview)],
        harvest_events=1,
        harvest_note=(
            f"Harvest lists scheduled interview {interview['id']}: 'Onsite with the risk team', {start:%H:%M}-{start + timedelta(hours=1):%H:%M} UTC, "
            "still scheduled -> the engine's interview poller makes it interview.scheduled with its end, "
            "which the process takes as having happened (end and grace period past)"
        ),
    )


# Lever: ids only; stage ids are the account's own, so they come from [lever.stages].


def _lever_withdrawal(config: IntakeConfig, now: datetime) -> Story:
    shapes = _templates("lever")
    opportunity, candidate = _uuid(), _uuid()
    stages, rounds = config.lever_stages, config.lever_stage_rounds

    def having(meaning: str) -> list[str]:
        return [stage for stage, meant in stages.items() if meant == meaning]

    completed = sorted(having("interview_completed"), key=lambda stage: rounds.get(stage, 0))
    route = completed[:1] + having("interview_scheduled")[:1] + completed[1:2] + having("client_feedback")[:1] + having("references")[:1]
    triggered = int(now.timestamp() * 1000)
    ids = {"candidate_id": candidate, "opportunity_id": opportunity}
    webhooks: list[Webhook] = []
    previous = "lead-new"
    for step, stage in enumerate(route):
        meaning = stages[stage]
        rounded = (f", round {rounds[stage]}" if stage in rounds else ", round by order") if meaning.startswith("interview_") else ""
        payload = fill(
            shapes["candidate_stage_change"], triggered_at=triggered + step * 1000, token=uuid.uuid4().hex, from_stage=previous, to_stage=stage, **ids
        )
        webhooks.append(Webhook("lever", "candidateStageChange", payload, f"moved to stage …{stage[-4:]} ({meaning}{rounded})"))
        previous = stage
    withdrew = next((reason for reason, outcome in config.lever_archive_reasons.items() if outcome == "withdrew"), None)
    archive = fill(
        shapes["candidate_archive_change"], triggered_at=triggered + len(route) * 1000, token=uuid.uuid4().hex, reason=withdrew or _uuid(), **ids
    )
    webhooks.append(Webhook("lever", "candidateArchiveChange", archive, "archived: the candidate withdrew" if withdrew else "archived (rejected)"))
    return Story(
        who=f"Lever candidate {candidate[:8]}",
        source="lever",
        application_id=opportunity,
        summary="ids only; moves through the configured stages, then withdraws",
        expected_stage="closed",
        webhooks=webhooks,
    )


# Ashby: uuids everywhere; the stages come from [ashby.stages] and [ashby.stage_rounds].


def _ashby_offer(config: IntakeConfig, now: datetime) -> Story:
    shapes = _templates("ashby")
    application, candidate, schedule = _uuid(), _uuid(), _uuid()
    onsite = next(iter(config.ashby_stage_rounds), None) or _uuid()
    round_ = config.ashby_stage_rounds.get(onsite, 1)
    review = next((stage for stage, meaning in config.ashby_stages.items() if meaning == "client_feedback"), None)
    start = (now + timedelta(weeks=8)).date()
    ids = {"application_id": application, "candidate_id": candidate, "uuid": _uuid}
    interviews = [
        fill(
            shapes["interview_event"],
            schedule_id=schedule,
            created_at=_iso_ms(now - timedelta(days=5)),
            start_time=_iso_ms(start_at),
            end_time=_iso_ms(start_at + timedelta(hours=1)),
            **ids,
        )
        for start_at in (now - timedelta(hours=3), now - timedelta(hours=2))
    ]
    schedule_update = fill(
        shapes["interview_schedule_update"],
        schedule_id=schedule,
        stage_id=onsite,
        created_at=_iso_ms(now - timedelta(days=5)),
        updated_at=_iso_ms(now),
        interview_events=interviews,
        **ids,
    )
    webhooks = [Webhook("ashby", "interviewScheduleUpdate", schedule_update, f"onsite interview schedule complete (round {round_})")]
    if review is not None:
        stage_change = fill(
            shapes["candidate_stage_change"],
            created_at=_iso_ms(now - timedelta(days=40)),
            updated_at=_iso_ms(now),
            name="Jonas Lindqvist",
            email="jonas.lindqvist@example.com",
            phone="+46 8 123 456 78",
            stage_title=review,
            job_title="Data Engineer",
            recruiter=fill(shapes["recruiter"], **ids),
            **ids,
        )
        webhooks.append(Webhook("ashby", "candidateStageChange", stage_change, f"moved to {review!r}: the client wants the candidate's feedback"))
    start_date = _iso_ms(datetime(start.year, start.month, start.day, tzinfo=UTC))
    # Ashby creates the offer while it waits for approval inside the firm: not an offer yet. The
    # update that sends it (waiting on the candidate) is.
    offer_id = _uuid()
    webhooks.append(Webhook("ashby", "offerCreate", fill(shapes["offer_create"], start_date=start_date, offer_id=offer_id, **ids), "offer created, waiting for approval"))
    webhooks.append(Webhook("ashby", "offerUpdate", fill(shapes["offer_update"], start_date=start_date, offer_id=offer_id, **ids), "offer approved and sent"))
    return Story(
        who="Jonas Lindqvist",
        source="ashby",
        application_id=application,
        summary="onsite done, client review, offer approved and sent",
        expected_stage="offer",
        webhooks=webhooks,
    )


# /events: canonical events (the README's examples/lifecycle files), signed as Standard Webhooks.


def _events_references(now: datetime, examples_dir: Path | None) -> Story:
    from cli import demo

    directory = (examples_dir or demo.EXAMPLES_DIR) / "lifecycle"
    application_id = f"hooks-{uuid.uuid4().hex[:6]}"
    steps = [
        ("01-interview-completed.json", "interview done (round 1)"),
        ("02-references-requested.json", "references requested: one referee, required before the offer"),
        ("03-referee-consented.json", "the referee agreed to be contacted"),
    ]
    webhooks = []
    for name, note in steps:
        path = directory / name
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            event = demo.rewrite(document, application_id, path.stem)
        except (OSError, json.JSONDecodeError, demo.DemoError) as error:
            raise WebhookDemoError(f"cannot use the example {path}: {error}", 2) from None
        payload = json.loads(event.model_dump_json())
        webhooks.append(Webhook("events", event.type.value, payload, note, delivery_id=f"msg_{uuid.uuid4().hex}"))
    return Story(
        who=payload["candidate"].get("name") or "API candidate",
        source=payload["source"],
        application_id=application_id,
        summary="canonical events from a script or middleware, through to reference checks",
        expected_stage="references",
        webhooks=webhooks,
    )


SECRET_FOR = {
    "greenhouse": "GREENHOUSE_WEBHOOK_SECRET",
    "lever": "LEVER_WEBHOOK_SIGNATURE_TOKEN",
    "ashby": "ASHBY_WEBHOOK_SECRET",
    "events": "EVENTS_WEBHOOK_SECRET",
}


# --- sending and showing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    code: int
    status: str  # accepted | duplicate | ignored | the error
    detail: str
    events: int

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


_COLOURS = {"accepted": "green", "duplicate": "yellow", "ignored": "cyan"}
_TYPES = {t.value for t in EventType}


def _event_types(webhook: Webhook, event_ids: list[str]) -> list[str]:
    if webhook.vendor == "events":
        return [webhook.payload["type"]]
    # Vendor event ids end in the canonical type (and its position when a delivery yields several).
    return [next((part for part in reversed(eid.split(":")) if part in _TYPES), "event") for eid in event_ids]


async def _send(http: httpx.AsyncClient, webhook: Webhook, secrets_by_name: Mapping[str, str]) -> Answer:
    original = webhook.repeat_of
    if original is not None:
        assert original.sent is not None, "a repeat follows its original"
        webhook.sent = original.sent
    else:
        webhook.sent = sign_delivery(webhook.vendor, webhook.payload, secrets_by_name[SECRET_FOR[webhook.vendor]], webhook.delivery_id)
    body, headers = webhook.sent
    response = await http.post(PATHS[webhook.vendor], content=body, headers=headers)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if not 200 <= response.status_code < 300:
        return Answer(response.status_code, "refused", str(answer.get("message") or response.text[:200]), 0)
    status = str(answer.get("status", "?"))
    event_ids = [str(e) for e in answer.get("events") or []]
    if status == "duplicate":
        label = {"greenhouse": "Greenhouse-Event-ID", "events": "webhook-id"}.get(webhook.vendor, "delivery")
        seen = f"#{original.number}" if original is not None else "an earlier one"
        detail = f"the same {label} as {seen}: acknowledged, stored and applied only once"
    elif status == "ignored":
        detail = str(answer.get("reason") or webhook.note)
    else:
        detail = f"{webhook.note} -> {', '.join(_event_types(webhook, event_ids))}"
    return Answer(response.status_code, status, detail, 0 if status == "duplicate" else len(event_ids))


def _line(number: int, total: int, webhook: Webhook, answer: Answer) -> str:
    colour = _COLOURS.get(answer.status, "bold red")
    return (
        f"{number:>3}/{total}  {webhook.vendor:<10} {webhook.action:<25} {answer.code} "
        f"[{colour}]{answer.status:<9}[/] {escape(answer.detail)}"
    )


async def local_harvest(data_dir: Path) -> tuple[str, str] | None:
    """(URL, key) of the Harvest stand-in the running `postinterview run` serves, or None when it
    serves none (a Greenhouse account is configured, or the engine is not running here)."""
    from cli.harvest_stand_in import read_local_stand_in

    found = read_local_stand_in(data_dir)
    if found is None:
        return None
    url, key = found
    async with httpx.AsyncClient(base_url=url, auth=(key, ""), timeout=5) as http:
        try:
            response = await http.get("/v1/scheduled_interviews", params={"per_page": "1"})
        except httpx.HTTPError:
            return None
    return found if response.status_code == 200 else None


async def _fill_harvest(harvest: tuple[str, str], story: Story) -> None:
    """Put the story's Greenhouse records into the local Harvest stand-in of `postinterview run`."""
    url, key = harvest
    async with httpx.AsyncClient(base_url=url, auth=(key, ""), timeout=10) as http:
        for kind, record in story.harvest:
            try:
                (await http.post(f"/_stand-in/{kind}", json=record)).raise_for_status()
            except httpx.HTTPError as error:
                raise WebhookDemoError(
                    f"the local Greenhouse Harvest stand-in at {url} did not take the {kind} ({type(error).__name__}: {error}). "
                    "Is `make run` still running?"
                ) from None


async def _settled(client: Client, story: Story, events: int, deadline: float) -> tuple[ProcessStatus | None, str]:
    """The process's status once it has seen its events and reached its stage (or the deadline)."""
    from process_client import process_status

    loop = asyncio.get_running_loop()
    last: ProcessStatus | None = None
    problem = "not started yet"
    while True:
        try:
            last = await asyncio.wait_for(process_status(client, story.source, story.application_id), QUERY_TIMEOUT)
            if last.events_seen >= events and last.stage.value == story.expected_stage:
                return last, ""
        except TimeoutError:
            return last, f"no worker answered within {QUERY_TIMEOUT:.0f} s"
        except Exception as error:  # noqa: BLE001 - not started yet (NOT_FOUND), or its first task is running
            problem = f"{type(error).__name__}: {error}"
        if loop.time() > deadline:
            return last, problem
        await asyncio.sleep(0.2)


async def _process_exists(client: Client, story: Story) -> bool:
    """Whether a process was started for the story's application (asked for a moment, so that
    a start still on its way is seen)."""
    from temporalio.service import RPCError, RPCStatusCode

    for _ in range(10):
        try:
            await client.get_workflow_handle(story.workflow_id).describe()
            return True
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.2)
    return False


async def run_webhook_demo(
    client: Client,
    url: str,
    stories: list[Story],
    secrets_by_name: Mapping[str, str],
    secrets_from: str,
    pause: float,
    say: Callable[[str], None],
    ui: str | None,
    harvest: tuple[str, str] | None = None,
) -> int:
    """Send every story's webhooks, print the intake's answers, then where each process stands.
    0 when every webhook got a 2xx (and every process showed up), 1 otherwise."""
    total = sum(len(story.webhooks) for story in stories)
    url = url.rstrip("/")
    async with httpx.AsyncClient(base_url=url, timeout=15) as http:
        try:
            (await http.get("/healthz")).raise_for_status()
        except httpx.HTTPError as error:
            raise WebhookDemoError(
                f"cannot reach the webhook intake at {url} ({type(error).__name__}: {error}). "
                "Is the engine running (`make run`)? Otherwise pass --url."
            ) from None
        say(f"Webhook demo: {total} signed webhooks for {len(stories)} candidates to [bold]{escape(url)}[/], fresh ids on every run.")
        say(f"Signed with the intake's secrets from {escape(secrets_from)}.")
        if ui:
            say(f"Watch the processes appear: {ui}")
        number = failed = 0
        events: dict[str, int] = {}
        refused: list[Answer] = []
        for story in stories:
            say("")
            say(f"[bold]{escape(story.who)}[/] ({story.source} application {escape(story.application_id)}): {escape(story.summary)}")
            if harvest is not None and story.harvest:
                await _fill_harvest(harvest, story)
                if story.harvest_note:
                    say(f"       [magenta]harvest[/]    {escape(story.harvest_note)}")
                    events[story.workflow_id] = events.get(story.workflow_id, 0) + story.harvest_events
            for webhook in story.webhooks:
                number += 1
                webhook.number = number
                try:
                    answer = await _send(http, webhook, secrets_by_name)
                except httpx.HTTPError as error:
                    raise WebhookDemoError(
                        f"the intake at {url} did not answer webhook {number} of {total} ({type(error).__name__}: {error})"
                    ) from None
                say(_line(number, total, webhook, answer))
                if answer.ok:
                    events[story.workflow_id] = events.get(story.workflow_id, 0) + answer.events
                else:
                    failed += 1
                    refused.append(answer)
                if pause > 0 and number < total:
                    await asyncio.sleep(pause)

    say("")
    if any(answer.code == 401 for answer in refused):
        say(
            "[bold red]The intake refused a signature (401):[/] it checks with other secrets than these. Start the engine "
            "with `make run` and use its --data-dir here, or set the same *_WEBHOOK_* variables for both."
        )
    expected = [story for story in stories if events.get(story.workflow_id) and not story.no_process]
    screened = [story for story in stories if events.get(story.workflow_id) and story.no_process]
    missing = 0
    if expected:
        say("Waiting for the forwarder to hand the events to the processes ...")
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
        found = await asyncio.gather(*(_settled(client, story, events[story.workflow_id], deadline) for story in expected))
        width = max(len(story.workflow_id) for story in expected)
        say("")
        say("Processes (stage: what each waits for):")
        for story, (status, problem) in zip(expected, found, strict=True):
            if status is None:
                missing += 1
                say(f"  {story.workflow_id:<{width}}  [bold red]not found[/]: {escape(problem)}")
                continue
            lag = "" if status.stage.value == story.expected_stage else f"  (still catching up: expected {story.expected_stage})"
            say(f"  {story.workflow_id:<{width}}  [bold cyan]{status.stage.value:<11}[/]{escape(status.waiting_for)}{lag}")
    for story in screened:
        # Its delivery was forwarded with the others (in order per application, at once across
        # them): by now it has reached Temporal, and it must have started nothing.
        if await _process_exists(client, story):
            missing += 1
            say(f"  {story.workflow_id}  [bold red]a process was started[/] for {escape(story.who)}, who was never interviewed")
        else:
            say(
                f"  {escape(story.who)} ({story.source} {escape(story.application_id)}): [bold cyan]no process[/], nothing created: "
                "never interviewed (the intake records the delivery as ignored, with that reason)"
            )
    if missing:
        say(f"[bold red]{missing} process(es) did not show up within {SETTLE_TIMEOUT:.0f} s:[/] is the worker running on this task queue?")
    say("")
    say(f"Temporal UI: {ui}  (filter, e.g.  ProcessStage = 'offer')" if ui else "Temporal UI: the UI of your Temporal server")
    if expected:
        sample = next((story for story in expected if story.source == "greenhouse"), expected[0])
        say(f"Look closer: postinterview status {sample.source} {escape(sample.application_id)}   postinterview tasks   postinterview messages")
    acknowledged = total - failed
    if failed:
        say(f"[bold red]{failed} of {total} webhooks were refused[/]; {acknowledged} acknowledged.")
    else:
        say(f"[bold green]All {total} webhooks acknowledged (2xx).[/] Sending one again changed nothing: idempotency by delivery id.")
    return 1 if failed or missing else 0
