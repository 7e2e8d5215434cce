"""The Bullhorn poller's activities: subscribe, and poll one batch into the intake table.

Bullhorn pushes nothing; its event subscription is a queue the poller reads (README, "Bullhorn").
A poll takes the next batch (`GET event/subscription/{id}?maxEvents=N`, which removes it from
Bullhorn's queue and gives it a `requestId`), fetches the entities it names with the fields the
mapping needs, maps each event (activities/ats_api/bullhorn_mapping.py) and writes them into the
intake table, the webhooks' durable table: the forwarder delivers them to the processes exactly
as it delivers webhooks (once, in order per application; a dead letter for an operator).

Nothing fetched is lost. The poller's workflow holds the `requestId` of the last batch stored;
every poll first asks Bullhorn for the subscription's last `requestId`, and a batch handed out
after the stored one (the worker died between fetching and storing it, or the activity's result
was lost) is fetched again by its `requestId` and stored first, in order. Storing twice is
harmless: each Bullhorn event is one delivery, keyed `{account}:{eventId}` (source `bullhorn`).

An event that cannot be mapped is stored as an ignored delivery with the reason (`postinterview
deliveries list --status ignored`), and the poll goes on. Bullhorn unreachable, throttling (429:
its Retry-After is the next retry's delay) or answering 5xx fails the activity, which Temporal
retries for as long as it takes: the events wait in Bullhorn's queue (7 days) and are read in
order when it is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.ats_api import bullhorn_api as api
from activities.ats_api.notes import note_text
from activities.ats_api.vendor import NoteTarget
from activities.sending import InDoubt, NotSent
from activities.ats_api.bullhorn_mapping import FIELDS, SOURCE, BullhornConfig, BullhornEvent, Found, Mapped, map_event
from domain import contract, names
from domain.bullhorn import SUBSCRIBED_CHANGES, SUBSCRIBED_ENTITIES, BullhornPollRequest, BullhornPollResult, BullhornSubscription
from domain.follow_through import TASK_OUTCOMES, StoredTask, TaskCompletion, TaskKind, TaskOutcome
from store.bullhorn_store import BullhornStore
from store.intake_store import IntakeStore, NewDelivery
from store.task_store import PENDING as TASK_PENDING
from store.task_store import TaskStore

log = structlog.get_logger()


class BullhornActivities:
    def __init__(
        self,
        accounts: BullhornStore,
        intake: IntakeStore,
        config: BullhornConfig,
        timeout: float = 30.0,
        tasks: TaskStore | None = None,
        temporal: tuple[Client, asyncio.AbstractEventLoop] | None = None,
        outcome_notes: bool = False,
    ) -> None:
        """`tasks` and `temporal` (the worker's client and the event loop that owns it): a Task
        ticked off in Bullhorn completes ours; without them such a change is only recorded.
        `outcome_notes` (ATS_NOTES names bullhorn): each poll notes the outcomes of tasks done here."""
        self.accounts = accounts
        self.intake = intake
        self.config = config
        self.timeout = timeout
        self.tasks = tasks
        self.temporal = temporal
        self.outcome_notes = outcome_notes
        self._clients: dict[str, api.BullhornClient] = {}
        self._lock = threading.Lock()

    # --- sessions ----------------------------------------------------------------------------

    def client(self, account_id: str) -> api.BullhornClient:
        """The account's REST client, its session kept between polls (a login per poll would
        rotate the refresh token at every poll)."""
        with self._lock:
            if account_id not in self._clients:
                http = httpx.Client(timeout=self.timeout)
                self._clients[account_id] = api.BullhornClient(http, lambda: self._new_session(http, account_id))
            return self._clients[account_id]

    def _new_session(self, http: httpx.Client, account_id: str) -> api.Session:
        account = self.accounts.account(account_id)
        if account is None:
            raise api.BullhornDisconnected(f"Bullhorn account {account_id} is not connected: run `postinterview connect bullhorn --account {account_id}`")
        tokens = api.refresh(http, account.oauth_url, account.client_id, account.client_secret, account.refresh_token)
        # The used refresh token no longer works: the new one is stored before anything else.
        if not self.accounts.rotate(account_id, account.refresh_token, tokens.refresh_token):
            log.warning("bullhorn refresh token changed meanwhile (a re-connection): the stored one is kept", account_id=account_id)
        session = api.rest_login(http, account.rest_services_url, tokens.access_token)
        log.info("bullhorn session opened", account_id=account_id)
        return session

    def close(self) -> None:
        for client in self._clients.values():
            client.http.close()

    # --- the ATS-note channel -------------------------------------------------------------------

    def write_note(self, target: NoteTarget, task: StoredTask) -> str | None:
        """A recruiter task's note on the Bullhorn candidate (`PUT entity/Note`, `personReference`
        the candidate, with the job order when the task is about an application), written as the
        recruiter when they are a Bullhorn user; the Note's id. Called by the `write_ats_note`
        channel (activities/delivery.py), which sends it once."""

        def note(candidate_id: str, job_order_id: str | None) -> dict[str, Any]:
            body: dict[str, Any] = {"action": "Post-interview", "comments": note_text(task), "personReference": {"id": int(candidate_id)}}
            if job_order_id is not None:
                body["jobOrder"] = {"id": int(job_order_id)}
            if task.assignee_id.isdigit():
                body["commentingPerson"] = {"id": int(task.assignee_id)}
            return body

        return self._create(target, "Note", note)

    def write_text_note(self, target: NoteTarget, text: str, author_id: str) -> str | None:
        """A note of our own text on the Bullhorn candidate (the debrief of a round), written as
        `author_id` when they are a Bullhorn user; the Note's id. Sent once by its caller."""

        def note(candidate_id: str, job_order_id: str | None) -> dict[str, Any]:
            body: dict[str, Any] = {"action": "Post-interview", "comments": text, "personReference": {"id": int(candidate_id)}}
            if job_order_id is not None:
                body["jobOrder"] = {"id": int(job_order_id)}
            if author_id.isdigit():
                body["commentingPerson"] = {"id": int(author_id)}
            return body

        return self._create(target, "Note", note)

    def write_task(self, target: NoteTarget, task: StoredTask) -> str | None:
        """The recruiter task in Bullhorn's own task list (`PUT entity/Task`: owned by the recruiter
        when they are a Bullhorn user, due at its due time, linked to the candidate and the job
        order); the Task's id, by which a Task ticked off in Bullhorn finds ours. Called by the
        `write_ats_task` channel, which sends it once."""
        due = int(task.due_at.timestamp() * 1000)

        def bullhorn_task(candidate_id: str, job_order_id: str | None) -> dict[str, Any]:
            body: dict[str, Any] = {
                "subject": task.title[:100],
                "description": task.instructions,
                "type": "Post-interview",
                "dateBegin": due,
                "dateEnd": due,
                "isCompleted": False,
                "candidate": {"id": int(candidate_id)},
            }
            if job_order_id is not None:
                body["jobOrder"] = {"id": int(job_order_id)}
            if task.assignee_id.isdigit():
                body["owner"] = {"id": int(task.assignee_id)}
            return body

        return self._create(target, "Task", bullhorn_task)

    def _create(self, target: NoteTarget, entity: str, body: Callable[[str, str | None], dict[str, Any]]) -> str | None:
        accounts = self.accounts.accounts()
        if len(accounts) != 1:
            raise NotSent(f"{len(accounts)} Bullhorn accounts are connected: a {entity} needs exactly one", permanent=True)
        client = self.client(accounts[0])
        try:
            candidate_id, job_order_id = target.candidate_id, None
            if target.application_id is not None:
                submission = client.call(
                    "GET", f"entity/JobSubmission/{target.application_id}", "JobSubmission lookup", params={"fields": "id,candidate(id),jobOrder(id)"}
                )
                data = (submission or {}).get("data") or {}
                candidate_id, job_order_id = _id(data.get("candidate")), _id(data.get("jobOrder"))
            if candidate_id is None:
                raise NotSent(f"Bullhorn has no candidate for application {target.application_id}", permanent=True)
            created = client.call("PUT", f"entity/{entity}", entity, json=body(candidate_id, job_order_id))
        except api.BullhornUnavailable as error:
            if error.maybe_sent:
                raise InDoubt(str(error)) from None
            raise NotSent(str(error)) from None
        except api.BullhornError as error:
            raise NotSent(str(error), permanent=True) from None
        return str((created or {}).get("changedEntityId") or "") or None

    def _task_ticked_off(self, event: BullhornEvent, entity: Mapping[str, Any] | None) -> str:
        """A Task changed in Bullhorn: when it is one of ours and was ticked off, complete ours,
        once (the store closes a task once; whichever side finishes first, the other finds it
        closed). What happened, for the intake table."""
        name = f"Task {event.entity_id}"
        if entity is None or entity.get("isCompleted") is not True:
            return f"{name}: not completed"
        key = self.accounts.task_of_bullhorn_task(event.entity_id)
        if key is None:
            return f"{name} is not one of the engine's tasks"
        if self.tasks is None or self.temporal is None:
            return f"{name} (task {key}) done in Bullhorn: this worker completes no tasks"
        task = self.tasks.task(key)
        if task is None or task.status not in TASK_PENDING:
            return f"{name} done in Bullhorn: task {key} was already {task.status if task else 'gone'} here"
        kind = TaskKind(task.kind)
        if TaskOutcome.DONE not in TASK_OUTCOMES[kind]:
            # A debrief, a referee's answer, a first day: a tick in Bullhorn does not say which.
            outcomes = ", ".join(outcome.value for outcome in TASK_OUTCOMES[kind])
            return f"{name} done in Bullhorn: task {key} needs its outcome ({outcomes}) in the inbox, left open"
        process_id = _process_of(task)
        if process_id is not None:
            completion = TaskCompletion(key=key, kind=kind, outcome=TaskOutcome.DONE, completed_by="bullhorn", context=task.context or {})
            client, loop = self.temporal
            update = client.get_workflow_handle(process_id).execute_update(contract.COMPLETE_TASK_UPDATE, completion.model_dump(mode="json"))
            try:
                asyncio.run_coroutine_threadsafe(update, loop).result(60)
            except WorkflowUpdateFailedError:
                pass  # the process has closed: a plain "done" needs no process (as the inbox does)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise api.BullhornUnavailable(f"Temporal did not take task {key}'s completion: {error.status.name}") from None
        done = self.tasks.complete(key, "done (ticked off in Bullhorn)", "bullhorn", {"outcome_code": TaskOutcome.DONE.value, "bullhorn_task": event.entity_id})
        self.accounts.closed_on_both_sides(event.entity_id, key, "bullhorn")
        log.info("task completed in bullhorn", task_key=key, bullhorn_task=event.entity_id, completed_now=done is not None)
        return f"{name} done in Bullhorn: task {key} completed here"

    # --- activities ----------------------------------------------------------------------------

    @activity.defn(name=names.BULLHORN_SUBSCRIBE)
    def bullhorn_subscribe(self, account_id: str, subscription_id: str) -> BullhornSubscription:
        """The subscription (made once: an existing one is kept, with its queue)."""
        with _as_activity_failure():
            return self._subscribe(self.client(account_id), subscription_id, reuse=True)

    def _subscribe(self, client: api.BullhornClient, subscription_id: str, reuse: bool) -> BullhornSubscription:
        if reuse:
            existing = client.call("GET", f"event/subscription/{subscription_id}/lastRequestId", "lastRequestId")
            if existing is not None:
                return BullhornSubscription(subscription_id=subscription_id, last_request_id=int(existing["result"]))
        made = client.call(
            "PUT",
            f"event/subscription/{subscription_id}",
            "subscribe",
            params={"type": "entity", "names": ",".join(SUBSCRIBED_ENTITIES), "eventTypes": ",".join(SUBSCRIBED_CHANGES)},
        )
        if made is None:
            raise api.BullhornRefused("Bullhorn subscribe: no answer")
        return BullhornSubscription(subscription_id=subscription_id, last_request_id=int(made.get("lastRequestId") or 0))

    @activity.defn(name=names.BULLHORN_POLL)
    def bullhorn_poll(self, request: BullhornPollRequest) -> BullhornPollResult:
        with _as_activity_failure():
            return self._poll(request)

    def _poll(self, request: BullhornPollRequest) -> BullhornPollResult:
        client = self.client(request.account_id)
        sid = request.subscription_id
        result = BullhornPollResult(last_request_id=request.last_request_id)
        remote = client.call("GET", f"event/subscription/{sid}/lastRequestId", "lastRequestId")
        if remote is None or int(remote["result"]) < request.last_request_id:
            # The subscription is gone (Bullhorn drops one unread for long) or was made anew.
            log.warning("bullhorn subscription lost: subscribing again", account_id=request.account_id, subscription_id=sid)
            made = self._subscribe(client, sid, reuse=remote is not None)
            result.last_request_id = made.last_request_id
            remote_last = made.last_request_id
        else:
            remote_last = int(remote["result"])
        # Batches handed out but never stored: fetched again by their requestId, in order.
        for request_id in range(result.last_request_id + 1, remote_last + 1):
            body = client.call("GET", f"event/subscription/{sid}", "event replay", params={"requestId": request_id, "maxEvents": request.max_events})
            self._store(client, request.account_id, (body or {}).get("events") or [], result)
            result.last_request_id = request_id
            result.replayed += 1
            activity.heartbeat(request_id)
            log.info("bullhorn batch fetched again", account_id=request.account_id, request_id=request_id)
        body = client.call("GET", f"event/subscription/{sid}", "event poll", params={"maxEvents": request.max_events})
        if body:
            events = body.get("events") or []
            self._store(client, request.account_id, events, result)
            result.last_request_id = int(body["requestId"])
            result.more = len(events) >= request.max_events
        self._close_bullhorn_tasks(client)
        if self.outcome_notes:
            self._note_outcomes()
        return result

    def _note_outcomes(self) -> None:
        """A Note on the Bullhorn candidate for each task done here (a debrief recorded, a
        reference received, a recruiter's outcome), at most once: claimed before it is written."""
        for key, application_id, title, outcome, who, _ in self.accounts.outcomes_to_note():
            if not self.accounts.claim_outcome_note(key):
                continue
            text = f'Post-interview follow-through: "{title}" is done: {outcome}' + (f" ({who})" if who and who != "process" else "")

            def note(candidate_id: str, job_order_id: str | None, text: str = text) -> dict[str, Any]:
                body: dict[str, Any] = {"action": "Post-interview", "comments": text, "personReference": {"id": int(candidate_id)}}
                if job_order_id is not None:
                    body["jobOrder"] = {"id": int(job_order_id)}
                return body

            try:
                note_id = self._create(NoteTarget(SOURCE, application_id, None), "Note", note)
            except NotSent as error:
                if not error.permanent:
                    self.accounts.release_outcome_note(key)
                    raise api.BullhornUnavailable(f"Bullhorn outcome note: {error}") from None
                log.error("bullhorn outcome note refused: not retried", task_key=key, reason=str(error))
                continue
            except InDoubt as error:
                log.warning("bullhorn outcome note in doubt: not written again", task_key=key, reason=str(error))
                continue
            self.accounts.outcome_noted(key, note_id)
            log.info("bullhorn outcome noted", task_key=key, note_id=note_id)

    def _close_bullhorn_tasks(self, client: api.BullhornClient) -> None:
        """Our tasks closed here (a recruiter in the inbox, the process cancelling them): their
        Bullhorn Tasks marked completed, each once (`POST entity/Task/{id}`, an update)."""
        for bullhorn_task_id, key in self.accounts.tasks_to_close_in_bullhorn():
            if client.call("POST", f"entity/Task/{bullhorn_task_id}", "Task update", json={"isCompleted": True}) is None:
                log.info("bullhorn task gone: nothing to close", bullhorn_task=bullhorn_task_id, task_key=key)
            self.accounts.closed_on_both_sides(bullhorn_task_id, key, "engine")
            log.info("bullhorn task closed", bullhorn_task=bullhorn_task_id, task_key=key)

    # --- one batch -----------------------------------------------------------------------------

    def _store(self, client: api.BullhornClient, account_id: str, raw_events: list[Mapping[str, Any]], result: BullhornPollResult) -> None:
        now = datetime.now(UTC)
        parsed: list[tuple[Mapping[str, Any], BullhornEvent | str]] = []
        for raw in raw_events:
            try:
                parsed.append((raw, BullhornEvent.parse(raw)))
            except ValueError as error:
                parsed.append((raw, str(error)))
        events = [event for _, event in parsed if isinstance(event, BullhornEvent)]
        entities = self._entities(client, events)
        deliveries: list[NewDelivery] = []
        for raw, event in parsed:
            if isinstance(event, str):
                key = f"{account_id}:{raw.get('eventId') or 'sha256-' + _digest(raw)}"
                deliveries.append(NewDelivery(SOURCE, key[:200], "unreadable", None, [], f"unreadable Bullhorn event: {event}", now))
                continue
            found = entities.get((event.entity_name, event.entity_id), Found())
            if event.entity_name == "Task":
                # Not a canonical event: the completion of one of our tasks, recorded as what it did.
                reason = self._task_ticked_off(event, found.entity)
                deliveries.append(NewDelivery(SOURCE, f"{account_id}:{event.event_id}"[:200], f"Task.{event.change}", None, [], reason, now))
                continue
            mapped = map_event(account_id, event, found, self.config)
            deliveries.append(_delivery(account_id, event, mapped, now))
        outcomes = self.intake.accept_many(deliveries)
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Exception):
                # The database refused this one row for good (text it cannot hold?): keep a trace of
                # it, so one bad entity never stops the poller. If even that fails the database is
                # what is wrong: the whole batch again, what was stored is found as a duplicate.
                bad = deliveries[index]
                key = f"{account_id}:sha256-{hashlib.sha256(bad.idempotency_key.encode('utf-8', 'surrogatepass')).hexdigest()}"
                trace = NewDelivery(SOURCE, key, "unstorable", None, [], f"could not be stored ({type(outcome).__name__})", now)
                retried = self.intake.accept_many([trace])[0]
                if isinstance(retried, Exception):
                    raise retried
                log.error("bullhorn event not storable: recorded without its content", action=bad.action, error=type(outcome).__name__)
                deliveries[index] = trace
        for delivery in deliveries:
            result.events += 1
            if delivery.events:
                result.delivered += 1
            else:
                result.ignored += 1
                log.info("bullhorn event ignored", account_id=account_id, action=delivery.action, reason=delivery.ignored_reason)
        result.batches += 1

    def _entities(self, client: api.BullhornClient, events: list[BullhornEvent]) -> dict[tuple[str, str], Found]:
        """For each event's entity: the entity, its JobSubmission and that one's JobOrder."""
        wanted: dict[str, set[str]] = {}
        for event in events:
            if event.entity_name in FIELDS:
                wanted.setdefault(event.entity_name, set()).add(event.entity_id)
        fetched = {name: self._fetch(client, name, ids) for name, ids in wanted.items()}
        # The JobSubmission each change belongs to.
        submission_of: dict[tuple[str, str], str | None] = {}
        by_pair: dict[tuple[str, str], str | None] = {}
        for event in events:
            entity = fetched.get(event.entity_name, {}).get(event.entity_id)
            key = (event.entity_name, event.entity_id)
            if event.entity_name == "JobSubmission":
                submission_of[key] = event.entity_id if entity else None
            elif event.entity_name == "Placement" and entity:
                submission_of[key] = _id(entity.get("jobSubmission")) or self._find_submission(client, entity.get("candidate"), entity.get("jobOrder"), by_pair)
            elif event.entity_name == "Appointment" and entity and not _id(entity.get("parentAppointment")):
                submission_of[key] = self._find_submission(client, entity.get("candidateReference"), entity.get("jobOrder"), by_pair)
        submissions = dict(fetched.get("JobSubmission", {}))
        missing = {s for s in submission_of.values() if s and s not in submissions}
        submissions.update(self._fetch(client, "JobSubmission", missing))
        job_ids = {_id(s.get("jobOrder")) for s in submissions.values()} - {None}
        job_orders = self._fetch(client, "JobOrder", job_ids)  # type: ignore[arg-type]
        found: dict[tuple[str, str], Found] = {}
        for event in events:
            key = (event.entity_name, event.entity_id)
            submission = submissions.get(submission_of.get(key) or "")
            job_order = job_orders.get(_id(submission.get("jobOrder")) or "") if submission else None
            found[key] = Found(entity=fetched.get(event.entity_name, {}).get(event.entity_id), submission=submission, job_order=job_order)
        return found

    def _fetch(self, client: api.BullhornClient, entity: str, ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """`entity/{Entity}/{id,id,...}?fields=`: the ones that still exist, by id."""
        ids = sorted(ids, key=lambda i: (len(i), i))
        found: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(ids), 50):
            chunk = ids[start : start + 50]
            body = client.call("GET", f"entity/{entity}/{','.join(chunk)}", f"{entity} lookup", params={"fields": FIELDS[entity]})
            data = (body or {}).get("data")
            for record in data if isinstance(data, list) else [data] if isinstance(data, Mapping) else []:
                if _id(record):
                    found[str(_id(record))] = record
        return found

    def _find_submission(self, client: api.BullhornClient, candidate: Any, job_order: Any, cache: dict[tuple[str, str], str | None]) -> str | None:
        """Bullhorn's Appointment names a candidate and a job order, not the JobSubmission: the
        submission of that candidate to that job order (the newest, if there are several)."""
        pair = (_id(candidate), _id(job_order))
        if pair[0] is None or pair[1] is None:
            return None
        if pair not in cache:
            body = client.call(
                "GET", "query/JobSubmission", "JobSubmission query",
                params={"where": f"candidate.id={pair[0]} AND jobOrder.id={pair[1]}", "fields": "id", "orderBy": "-id", "count": 1},
            )
            data = (body or {}).get("data") or []
            cache[pair] = _id(data[0]) if data else None  # type: ignore[index]
        return cache[pair]  # type: ignore[index]


def _process_of(task: StoredTask) -> str | None:
    """The post-interview process that takes a task's outcome (also for its referee checks' tasks)."""
    parent = contract.referee_check_parent(task.process_id)
    if parent is not None:
        return parent[0]
    return task.process_id if task.process_id.startswith("post-interview-") else None


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value is None or isinstance(value, bool) else str(value)


def _digest(raw: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def _delivery(account_id: str, event: BullhornEvent, mapped: Mapped, now: datetime) -> NewDelivery:
    return NewDelivery(
        source=SOURCE,
        idempotency_key=f"{account_id}:{event.event_id}"[:200],
        action=f"{event.entity_name}.{event.change}",
        application_key=f"{SOURCE}:{mapped.application_id}" if mapped.application_id else None,
        events=[json.loads(e.model_dump_json()) for e in mapped.events],
        ignored_reason=None if mapped.events else mapped.ignored_reason,
        received_at=now,
    )


class _as_activity_failure:
    """Bullhorn's errors as activity failures: their kind and message (no secret is in one), the
    429's Retry-After as the next retry's delay. All are retried: a disconnected account is
    retried until an operator connects it again, and then goes on where it stopped."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if not isinstance(error, api.BullhornError):
            return False
        if isinstance(error, api.BullhornDisconnected):
            log.error("bullhorn account disconnected", reason=str(error))
        delay = timedelta(seconds=error.retry_after) if isinstance(error, api.BullhornUnavailable) and error.retry_after else None
        raise ApplicationError(str(error), type=type(error).__name__, next_retry_delay=delay) from None
