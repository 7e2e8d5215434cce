"""The pages behind the signed links in messages (inbox/links.py): `/r/{token}`.

GET only shows what the click will do, with a button: mail scanners and link previews fetch
every link in an email, and must never consent on somebody's behalf. POST acts:

- referee_consent  -> the canonical event `referee.consented`, signalled to the running process
                      (signal_event: never starts one)
- referee_sent     -> the reference questionnaire (the policy's questions, checked here: what is
                      wrong is shown beside the form, the answers kept) -> `referee.responded`,
                      and the answers stored as a reference report with its fraud signals
                      (domain/reference_report.py), noted on the ATS record once
                      (`Notify` for the report, where ATS_NOTES names the source). One report per
                      referee: a second submission, by this link or a reminder's, shows "already
                      answered".
- referee_decline  -> `referee.declined` ("I can't give a reference", with an optional reason); the
                      consent page offers the same choice beside its button (`answer=decline`)
- candidate_debrief -> the Debrief form -> the `record_debrief` update; a refusal is shown with the
  process's own reason and the candidate's text kept in the form.
- nurture_open, nurture_not_now (a check-in's answers) -> the signal `nurture_answer` to the
  candidate's running RelationshipProcess (a call task this week; the next check-in later).
- nurture_stop, opt_out (in every message to a candidate) -> the opt-out recorded in the store
  (contact_preferences: every later message to them is suppressed when it is about to be sent),
  then `nurture_answer` "stop" to their relationship if one runs. The store is the record: with
  Temporal down or no relationship the opt-out still holds. An opt-out link is also the email's
  List-Unsubscribe, and takes the mail client's one-click POST (RFC 8058: body
  `List-Unsubscribe=One-Click`, from no page of ours, so no origin check for it).

A link acts once: the event id and the update id are derived from the link's id (so the process
takes the answer once even from two posts at the same moment: it ignores an event id it has
seen, and answers a repeated update id with the first result), and the use is recorded in
`link_uses` only after the process accepted it; a second post shows "already done". An expired,
forged or changed link gets a page that says so (4xx), never a stack trace.

Opening a candidate's own link (the debrief form) is recorded as a digest of the client's address
(uvicorn's, which believes X-Forwarded-For only from FORWARDED_ALLOW_IPS) and User-Agent
(`link_opens`): a reference sent from the same browser is flagged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import contract
from domain.delivery import Channel, DeliveryRequest, SubjectKind
from domain.policy import ReferenceReportPolicy
from domain.reference_report import ReferenceReport, SignalFacts, check_answers, fraud_signals
from domain.events import Candidate, CanonicalEvent, Client as HiringClient, EventType, RefereeData, Recruiter
from domain.contact import NurtureAnswer, NurtureAnswerKind
from inbox.links import NURTURE_ANSWERS, ROUTE_PREFIX, LinkAction, LinkClaims, LinkError, LinkExpired, LinksDisabled, LinkSigner
from inbox.pages import public_origin, same_origin
from process_client import (
    CandidateErased,
    EngineUnavailable,
    NoWorker,
    ProcessNotFound,
    ProcessRefused,
    candidate_subject,
    record_debrief,
    signal_event,
    signal_nurture_answer,
)
from store.contact_preferences import ContactPreferenceStore
from store.erasure_store import ErasureStore
from store.link_store import LinkStore, LinkUse
from store.reference_store import ReferenceStore

log = structlog.get_logger()

pages = Environment(loader=PackageLoader("inbox", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)

# The token is the credential: keep it out of caches, search engines and other sites' Referer
# headers. `same-origin`, not `no-referrer`: under no-referrer a browser sends `Origin: null` with
# the page's own form post, which the CSRF check then refuses (found by the questionnaire's
# browser test: the debrief form's posts from a real browser were refused the same way).
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "same-origin"}

_EVENT_FOR = {
    LinkAction.REFEREE_CONSENT: EventType.REFEREE_CONSENTED,
    LinkAction.REFEREE_SENT: EventType.REFEREE_RESPONDED,
    LinkAction.REFEREE_DECLINE: EventType.REFEREE_DECLINED,
}
# The referee's "I can't give a reference" beside the consent button, and on its own link.
DECLINE_BUTTON = "I can't give a reference"
_DECLINE_ANSWER = "decline"
REASON_MAX = 2000

_CONFIRM = {
    LinkAction.REFEREE_CONSENT: (
        "Confirm that you will give a reference",
        "Press the button to confirm that you are happy to act as a referee for this candidate. "
        "We will then send you the reference request.",
        "Yes, I am happy to give a reference",
    ),
    LinkAction.REFEREE_SENT: (
        "Tell us your reference is sent",
        "Press the button once you have sent your reference, so that we stop sending you reminders.",
        "I have sent my reference",
    ),
    LinkAction.REFEREE_DECLINE: (
        "Tell us you can't give a reference",
        "Press the button if you can't (or would rather not) give this candidate a reference. We will not contact you "
        "about it again. If you like, say why: only the recruiter sees it.",
        DECLINE_BUTTON,
    ),
}

_CONFIRM |= {
    LinkAction.NURTURE_OPEN: (
        "You are open to opportunities",
        "Press the button and your recruiter will call you this week to hear what you are looking for now.",
        "I'm open to opportunities",
    ),
    LinkAction.NURTURE_NOT_NOW: (
        "Not now",
        "Press the button and we will leave you in peace for a while, and check in again later.",
        "Not now, check in later",
    ),
    LinkAction.NURTURE_STOP: (
        "Stop contacting me",
        "Press the button and we will stop contacting you: no more emails, and no more calls from your recruiter.",
        "Stop contacting me",
    ),
    LinkAction.OPT_OUT: (
        "Stop contacting me",
        "Press the button and we will stop contacting you: no more emails, and no more calls from your recruiter.",
        "Stop contacting me",
    ),
}

_OPTED_OUT = ("You will not hear from us again", "Your choice is recorded: we have stopped contacting you. Thank you for letting us know.")

_DONE = {
    LinkAction.NURTURE_OPEN: ("Thank you", "Your recruiter will call you this week to hear what you are looking for now."),
    LinkAction.NURTURE_NOT_NOW: ("Thank you", "We will check in again later. If anything changes before then, just reply to our email."),
    LinkAction.NURTURE_STOP: _OPTED_OUT,
    LinkAction.OPT_OUT: _OPTED_OUT,
    LinkAction.REFEREE_CONSENT: ("Thank you", "Your consent is recorded. The reference request follows shortly."),
    LinkAction.REFEREE_SENT: ("Thank you", "We have noted that your reference is on its way; there will be no more reminders."),
    LinkAction.CANDIDATE_DEBRIEF: ("Thank you", "Your debrief is with your recruiter, in your own words."),
    LinkAction.REFEREE_DECLINE: ("Thank you for letting us know", "We have noted that you can't give a reference; you will hear nothing more from us about it."),
}

_DEBRIEF_FIELDS = ("summary", "interest", "concerns", "questions_for_client", "reflections")


class ProcessClosed(Exception):
    """The application's process has ended: nothing waits for this answer any more."""


UPDATE_TIMEOUT = 20.0


class TemporalUnavailable(Exception):
    pass


class LinkService:
    """Verifies links and hands their answers to the process."""

    def __init__(
        self,
        signer: LinkSigner | None,
        uses: LinkStore,
        temporal: Callable[[], Awaitable[Client]],
        reports: ReferenceStore | None = None,
        questionnaire: ReferenceReportPolicy | None = None,
        note_sources: frozenset[str] = frozenset(),
        task_queue: str = contract.TASK_QUEUE,
    ) -> None:
        """`reports`: where reference reports are kept (None: a referee's link only confirms, as
        before questionnaires); `questionnaire`: the policy's questions and signals;
        `note_sources`: ATS_NOTES, the sources whose reports are noted on the ATS record (by a
        `Notify` on `task_queue`'s deliveries queue)."""
        self.signer = signer
        self.uses = uses
        self._temporal = temporal
        self._client: Client | None = None
        self.reports = reports
        self.questionnaire = questionnaire or ReferenceReportPolicy()
        # Bullhorn's notes are written with its connected account for tasks only: not for reports yet.
        self.note_sources = frozenset(note_sources) - {"bullhorn"}
        self.task_queue = task_queue
        self.preferences = ContactPreferenceStore(uses.engine)
        self.erasures = ErasureStore(uses.engine)

    def verify(self, token: str) -> LinkClaims:
        if self.signer is None:
            raise LinksDisabled("this service has no LINK_SIGNING_KEYS, so it cannot check any link")
        return self.signer.verify(token)

    async def used(self, claims: LinkClaims) -> LinkUse | None:
        return await asyncio.to_thread(self.uses.use, claims.link_id)

    async def answer_referee(self, claims: LinkClaims, declined: bool = False, reason: str | None = None) -> str:
        """Deliver the referee's answer as the canonical event the ATS would have sent
        (`declined`: "I can't give a reference", from the consent page or the decline link)."""
        kind = EventType.REFEREE_DECLINED if declined else _EVENT_FOR[claims.action]
        client = await self._connected()
        event = CanonicalEvent(
            event_id=f"link:{claims.link_id}",
            type=kind,
            occurred_at=datetime.now(UTC),
            source=claims.source,
            application_id=claims.application_id,
            # The link names nobody; the process keeps what it knows about every party.
            candidate=Candidate(id=f"unknown-candidate-{claims.application_id}"[:128]),
            recruiter=Recruiter(id="unknown-recruiter"),
            client=HiringClient(id="unknown-client"),
            assumed=["candidate", "recruiter", "client"],
            data=RefereeData(referee_id=claims.referee_id or "", reason=reason if declined else None),
        )
        try:
            # A plain signal, only to a running process: signal-with-start would start a new one
            # in place of a failed or terminated one, from an event that knows nobody's name.
            await signal_event(client, event)
        except (ProcessNotFound, CandidateErased):
            # Erased: the candidate's key is destroyed, nothing more is kept or sent for them.
            raise ProcessClosed() from None
        except EngineUnavailable as error:
            raise TemporalUnavailable(error.status.name) from None
        return f"{kind.value} delivered as {event.event_id}"

    async def record_debrief(self, claims: LinkClaims, submission: dict[str, Any]) -> str:
        """Raises ProcessRefused (the process refused it, with its reason)."""
        client = await self._connected()
        try:
            # Bounded: with no worker running the update would wait for ever (the form is kept on
            # the "try again" page, and the same update id makes a second try safe).
            recorded = await record_debrief(
                client, claims.source, claims.application_id, submission, update_id=f"link:{claims.link_id}", timeout=UPDATE_TIMEOUT
            )
        except ProcessRefused as refused:
            if refused.closed:
                raise ProcessClosed() from None
            raise
        except (ProcessNotFound, CandidateErased):
            raise ProcessClosed() from None
        except EngineUnavailable as error:
            raise TemporalUnavailable(error.status.name) from None
        except NoWorker:
            raise TemporalUnavailable("no worker answered") from None
        return f"debrief of round {recorded.round} recorded"

    # --- reference reports ---------------------------------------------------------------------

    @property
    def asks_questions(self) -> bool:
        return self.reports is not None

    async def report_of(self, claims: LinkClaims) -> ReferenceReport | None:
        if self.reports is None or not claims.referee_id:
            return None
        return await asyncio.to_thread(self.reports.report, contract.referee_check_workflow_id(claims.process_id, claims.referee_id))

    async def note_open(self, claims: LinkClaims, request: Request) -> None:
        """Who opened a candidate's own link (a digest of address and browser), for the signals."""
        if self.reports is None or claims.action is not LinkAction.CANDIDATE_DEBRIEF:
            return
        await asyncio.to_thread(
            self.reports.record_open, claims.link_id, claims.action.value, claims.process_id, _client_ip(request), request.headers.get("user-agent")
        )

    def _compose_report(self, claims: LinkClaims, answers: list[Any], client_ip: str | None, user_agent: str | None) -> ReferenceReport:
        assert self.reports is not None and claims.referee_id
        store, check_id = self.reports, contract.referee_check_workflow_id(claims.process_id, claims.referee_id)
        referee_email = store.recipient_email(check_id, "referee")
        requested_at = store.request_sent_at(check_id)
        now = datetime.now(UTC)
        company = next((a.answer for a in answers if a.id == "company"), "")
        facts = SignalFacts(
            referee_email=referee_email,
            candidate_email=store.candidate_email(claims.process_id),
            company=company,
            requested_at=requested_at,
            submitted_at=now,
            same_browser_as_candidate=store.opened_by(claims.process_id, LinkAction.CANDIDATE_DEBRIEF.value, client_ip, user_agent),
        )
        referee_name, recruiter_id = store.people(check_id, claims.process_id)
        # The name the engine has from the ATS (a referee task's), else the one the referee gave.
        referee_name = referee_name or next((a.answer for a in answers if a.id == "name" and a.answer), None)
        return ReferenceReport(
            key=check_id,
            process_id=claims.process_id,
            source=claims.source,
            application_id=claims.application_id,
            referee_id=claims.referee_id,
            referee_name=referee_name,
            referee_email=referee_email,
            recruiter_id=recruiter_id,
            link_id=claims.link_id,
            answers=answers,
            flags=fraud_signals(facts, self.questionnaire),
            requested_at=requested_at,
            submitted_at=now,
        )

    async def store_report(self, claims: LinkClaims, answers: list[Any], request: Request) -> ReferenceReport:
        """The report stored (or the one this link stored before), with its signals."""
        assert self.reports is not None
        report = await asyncio.to_thread(self._compose_report, claims, answers, _client_ip(request), request.headers.get("user-agent"))
        stored, created = await asyncio.to_thread(self.reports.add, report)
        log.info(
            "reference report stored" if created else "reference report already stored",
            report_key=stored.key, process_id=stored.process_id, flags=[f.code.value for f in stored.flags],
        )
        return stored

    async def note_report(self, report: ReferenceReport) -> bool:
        """Start the report's note on the ATS record (once: the delivery's id is the report's key,
        a duplicate start is refused). False when its source gets no notes."""
        if report.source not in self.note_sources:
            return False
        client = await self._connected()
        request = DeliveryRequest(subject_kind=SubjectKind.REFERENCE_REPORT, subject_key=report.key, channels=[Channel.ATS_NOTE])
        try:
            await client.start_workflow(
                contract.NOTIFY_WORKFLOW,
                request,
                id=contract.notify_workflow_id(SubjectKind.REFERENCE_REPORT.value, report.key),
                task_queue=contract.delivery_task_queue(self.task_queue),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([SearchAttributePair(contract.APPLICATION_ID, report.application_id)]),
                static_summary=f"Note the reference report {report.key} on the ATS record",
            )
        except WorkflowAlreadyStartedError:
            pass
        return True

    async def answer_nurture(self, claims: LinkClaims) -> str:
        """A check-in's "open" or "not now" to the candidate's running relationship."""
        answer = NURTURE_ANSWERS[claims.action]
        client = await self._connected()
        try:
            await signal_nurture_answer(client, claims.source, claims.candidate_id or "", self._answer(claims, answer))
        except (ProcessNotFound, CandidateErased):
            raise ProcessClosed() from None
        except EngineUnavailable as error:
            raise TemporalUnavailable(error.status.name) from None
        return f"nurture answer {answer.value} delivered as {claims.link_id}"

    async def opt_out(self, claims: LinkClaims, one_click: bool) -> str:
        """Record the candidate's opt-out (the store is the record), then tell their relationship."""
        via = f"{'list-unsubscribe' if one_click else 'link'}:{claims.link_id}"
        if await asyncio.to_thread(self.erasures.is_erased, candidate_subject(claims.source, claims.candidate_id or "")):
            # Erased already: nothing is sent to them, and a new row would name them again.
            return "already erased: nothing is kept or sent for this candidate"
        _, created = await asyncio.to_thread(self.preferences.opt_out, claims.source, claims.candidate_id or "", via)
        told = "relationship told"
        try:
            client = await self._connected()
            await signal_nurture_answer(client, claims.source, claims.candidate_id or "", self._answer(claims, NurtureAnswerKind.STOP))
        except (ProcessNotFound, CandidateErased):
            told = "no relationship running"
        except (EngineUnavailable, TemporalUnavailable) as error:
            # The relationship reads the store before its next check-in: nothing is lost.
            log.warning("opt-out recorded, relationship not told: Temporal unavailable", link_id=claims.link_id, error=str(error))
            told = "relationship not told (Temporal unavailable; it reads the store at its next check-in)"
        return f"opted out ({'now' if created else 'already'}, {via}); {told}"

    @staticmethod
    def _answer(claims: LinkClaims, answer: NurtureAnswerKind) -> NurtureAnswer:
        return NurtureAnswer(answer_id=f"link:{claims.link_id}", answer=answer, check_in_key=claims.check_in_key, at=datetime.now(UTC))

    async def record_use(self, claims: LinkClaims, outcome: str) -> LinkUse:
        use, _ = await asyncio.to_thread(self.uses.record_use, claims.link_id, claims.action.value, claims.process_id, outcome)
        return use

    async def _connected(self) -> Client:
        if self._client is None:
            try:
                self._client = await self._temporal()
            except (OSError, RuntimeError) as error:
                raise TemporalUnavailable(error.__class__.__name__) from None
        return self._client


# --- the pages ------------------------------------------------------------------------------------


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(pages.get_template(template).render(**context), status_code=status, headers=_HEADERS)


def _message(title: str, message: str, status: int = 200, detail: str | None = None, problem: bool = False) -> HTMLResponse:
    return _page("link_message.html.j2", status, title=title, message=message, detail=detail, problem=problem)


def _already(use: LinkUse) -> HTMLResponse:
    if use.action in (LinkAction.OPT_OUT, LinkAction.NURTURE_STOP):
        return _message("You have already opted out", f"You asked us to stop contacting you on {use.used_at:%d %B %Y at %H:%M} UTC, and we have. There is nothing more to do.")
    if use.action in (LinkAction.NURTURE_OPEN, LinkAction.NURTURE_NOT_NOW):
        answer = "that you are open to opportunities" if use.action == LinkAction.NURTURE_OPEN else "not now"
        return _message("Already answered, thank you", f"You told us {answer} on {use.used_at:%d %B %Y at %H:%M} UTC, and your recruiter knows. There is nothing more to do.")
    return _message(
        "Already done, thank you",
        f"This link was used on {use.used_at:%d %B %Y at %H:%M} UTC, and its answer is with your recruiter. There is nothing more to do.",
    )


def _closed() -> HTMLResponse:
    return _message(
        "Nothing more is needed",
        "This application has moved on or is closed, so this link has nothing left to do. Thank you all the same.",
        status=410,
    )


def _unavailable() -> HTMLResponse:
    return _message(
        "Please try again in a few minutes",
        "We could not pass your answer on just now. Nothing was recorded, and the link still works.",
        status=503,
        problem=True,
    )


def _expires(claims: LinkClaims) -> str:
    return f"{claims.expires:%d %B %Y, %H:%M} UTC"


def _debrief_form(token: str, claims: LinkClaims, form: Mapping[str, str] | None = None, reason: str | None = None, status: int = 200) -> HTMLResponse:
    values = {name: (form or {}).get(name, "") for name in _DEBRIEF_FIELDS}
    return _page(
        "link_debrief.html.j2",
        status,
        title="Your interview debrief",
        action_url=f"{ROUTE_PREFIX}/{token}",
        expires=_expires(claims),
        round=claims.round,
        form=values,
        reason=reason,
    )


def _reference_form(
    token: str,
    claims: LinkClaims,
    questionnaire: ReferenceReportPolicy,
    form: Mapping[str, str] | None = None,
    problems: Mapping[str, str] | None = None,
    reason: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = {question.id: (form or {}).get(question.id, "") for question in questionnaire.questions}
    return _page(
        "link_reference.html.j2",
        status,
        title="Your reference",
        action_url=f"{ROUTE_PREFIX}/{token}",
        expires=_expires(claims),
        questions=questionnaire.questions,
        form=values,
        problems=problems or {},
        reason=reason,
    )


def _already_answered(report: ReferenceReport) -> HTMLResponse:
    return _message(
        "Already answered, thank you",
        f"Your reference was received on {report.submitted_at:%d %B %Y at %H:%M} UTC and is with the recruiter. There is nothing more to do.",
    )


def _client_ip(request: Request) -> str | None:
    # uvicorn has put the proxy's X-Forwarded-For here when the proxy is one FORWARDED_ALLOW_IPS names.
    return request.client.host if request.client else None


def _submission(form: Mapping[str, str], claims: LinkClaims) -> dict[str, Any]:
    """The form as the update's JSON; the process validates it and says what is wrong."""
    interest = form.get("interest", "").strip()
    return {
        "summary": form.get("summary", ""),
        "interest": int(interest) if interest.isascii() and interest.isdigit() else (interest or None),
        "concerns": form.get("concerns", ""),
        "questions_for_client": [line.strip() for line in form.get("questions_for_client", "").splitlines() if line.strip()],
        "reflections": form.get("reflections", ""),
        "round": claims.round,
        "recorded_by": "candidate",
    }


def _reason(text: str) -> str | None:
    """A referee's reason for declining, as the event can carry it: tabs and line breaks kept,
    other control characters dropped, at most REASON_MAX characters; None when empty."""
    cleaned = "".join(c for c in text if c in "\t\n" or (c.isprintable() or c == " ")).replace("\r", "").strip()
    return cleaned[:REASON_MAX] or None


def router(service: LinkService, public_url: str | None = None) -> APIRouter:
    links = APIRouter(prefix=ROUTE_PREFIX, include_in_schema=False)
    public = public_origin(public_url)

    async def checked(token: str) -> LinkClaims | HTMLResponse:
        """The link's claims, or the page for a link that was used (also once it has expired:
        "already done" is the truth then, "expired" would worry them)."""
        try:
            claims = service.verify(token)
        except LinkExpired as expired:
            use = await service.used(expired.claims)
            if use is None:
                raise
            return _already(use)
        use = await service.used(claims)
        if use is None:
            return claims
        report = await service.report_of(claims) if claims.action is LinkAction.REFEREE_SENT else None
        return _already_answered(report) if report is not None else _already(use)

    @links.get("/{token}")
    async def show(token: str, request: Request) -> HTMLResponse:
        try:
            await service.note_open(service.verify(token), request)
        except LinkExpired as expired:
            await service.note_open(expired.claims, request)
        claims = await checked(token)
        if isinstance(claims, HTMLResponse):
            return claims
        if claims.action is LinkAction.CANDIDATE_DEBRIEF:
            return _debrief_form(token, claims)
        if claims.action is LinkAction.REFEREE_SENT and service.asks_questions:
            report = await service.report_of(claims)
            if report is not None:
                return _already_answered(report)
            return _reference_form(token, claims, service.questionnaire)
        title, message, button = _CONFIRM[claims.action]
        return _page(
            "link_confirm.html.j2",
            title=title,
            message=message,
            button=button,
            expires=_expires(claims),
            action_url=f"{ROUTE_PREFIX}/{token}",
            # A referee asked for consent may say no on the same page; the decline link asks why.
            decline_button=DECLINE_BUTTON if claims.action is LinkAction.REFEREE_CONSENT else None,
            reason_field=claims.action is LinkAction.REFEREE_DECLINE,
            reason_max=REASON_MAX,
        )

    @links.post("/{token}")
    async def act(token: str, request: Request) -> HTMLResponse:
        one_click = await _one_click(request)
        if not one_click and not same_origin(request, public):
            # Only this page's own form answers (CSRF): another site that learnt a link must not
            # make a visitor's browser answer for them, as the inbox's forms must come from it.
            log.info("answer link post from another origin refused")
            return _message("This answer did not come from our page", "Nothing was recorded. Open the link from your email and answer there.", status=403, problem=True)
        claims = await checked(token)
        if isinstance(claims, HTMLResponse):
            return claims
        await service.note_open(claims, request)
        if claims.action is LinkAction.REFEREE_SENT and service.asks_questions:
            return await answer_questionnaire(token, claims, request)
        form: dict[str, str] = {}
        try:
            if one_click and claims.action is not LinkAction.OPT_OUT:
                # Only an opt-out link is a List-Unsubscribe: nothing else answers without our page.
                return _message("This answer did not come from our page", "Nothing was recorded. Open the link from your email and answer there.", status=403, problem=True)
            if claims.action is LinkAction.CANDIDATE_DEBRIEF:
                form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
                outcome = await service.record_debrief(claims, _submission(form, claims))
            elif claims.action in (LinkAction.OPT_OUT, LinkAction.NURTURE_STOP):
                outcome = await service.opt_out(claims, one_click)
            elif claims.action in NURTURE_ANSWERS:
                outcome = await service.answer_nurture(claims)
            else:
                form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
                declined = claims.action is LinkAction.REFEREE_DECLINE or (
                    claims.action is LinkAction.REFEREE_CONSENT and form.get("answer") == _DECLINE_ANSWER
                )
                reason = _reason(form.get("reason", "")) if declined else None
                outcome = await service.answer_referee(claims, declined=declined, reason=reason)
        except ProcessRefused as refused:
            reason = refused.reason if refused.stated else "The debrief could not be recorded."
            log.info("answer link refused", link_id=claims.link_id, action=claims.action.value, process_id=claims.process_id,
                     reason_type=refused.reason_type)
            return _debrief_form(token, claims, form, reason, status=422)
        except ProcessClosed:
            log.info("answer link for a closed process", link_id=claims.link_id, action=claims.action.value, process_id=claims.process_id)
            if claims.action in NURTURE_ANSWERS:
                return _message(
                    "This check-in has closed",
                    "We could not pass your answer on: this check-in is over. Nothing was recorded.",
                    status=410,
                    detail="Just reply to our email and your recruiter will get back to you.",
                )
            return _closed()
        except TemporalUnavailable as error:
            log.warning("answer link not delivered: Temporal unavailable", link_id=claims.link_id, process_id=claims.process_id, error=str(error))
            if claims.action is LinkAction.CANDIDATE_DEBRIEF:
                return _debrief_form(token, claims, form, "We could not pass your debrief on just now; nothing was lost. Please send it again in a few minutes.", status=503)
            return _unavailable()
        use = await service.record_use(claims, outcome)
        log.info("answer link used", link_id=claims.link_id, action=claims.action.value, process_id=claims.process_id, outcome=use.outcome)
        title, message = _DONE[LinkAction.REFEREE_DECLINE if outcome.startswith(EventType.REFEREE_DECLINED.value) else claims.action]
        return _message(title, message)

    async def answer_questionnaire(token: str, claims: LinkClaims, request: Request) -> HTMLResponse:
        """The referee's answers: checked, `referee.responded` to the process, the report stored
        (and noted on the ATS record), then the link marked used. A report this link stored before
        (a post that failed after storing it) is taken up where it stopped; one from another link
        means the referee has answered already."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        earlier = await service.report_of(claims)
        if earlier is not None and earlier.link_id != claims.link_id:
            return _already_answered(earlier)
        if form.get("answer") == _DECLINE_ANSWER and earlier is None:
            # "I can't give a reference" after all: the same referee.declined as the consent page's.
            try:
                outcome = await service.answer_referee(claims, declined=True, reason=_reason(form.get("reason", "")))
            except ProcessClosed:
                return _closed()
            except TemporalUnavailable as error:
                log.warning("answer link not delivered: Temporal unavailable", link_id=claims.link_id, process_id=claims.process_id, error=str(error))
                return _unavailable()
            use = await service.record_use(claims, outcome)
            log.info("answer link used", link_id=claims.link_id, action=claims.action.value, process_id=claims.process_id, outcome=use.outcome)
            return _message(*_DONE[LinkAction.REFEREE_DECLINE])
        answers, problems = check_answers(service.questionnaire.questions, form, datetime.now(UTC).date())
        if problems and earlier is None:
            log.info("reference questionnaire incomplete", link_id=claims.link_id, process_id=claims.process_id, questions=sorted(problems))
            return _reference_form(
                token, claims, service.questionnaire, form, problems, "Some answers need another look: see below.", status=422
            )
        try:
            outcome = await service.answer_referee(claims)
        except ProcessClosed:
            log.info("answer link for a closed process", link_id=claims.link_id, action=claims.action.value, process_id=claims.process_id)
            return _closed()
        except TemporalUnavailable as error:
            log.warning("answer link not delivered: Temporal unavailable", link_id=claims.link_id, process_id=claims.process_id, error=str(error))
            return _reference_form(
                token, claims, service.questionnaire, form, {},
                "We could not pass your reference on just now; nothing was lost. Please send it again in a few minutes.", status=503,
            )
        report = earlier or await service.store_report(claims, answers, request)
        try:
            await service.note_report(report)
        except Exception as error:  # noqa: BLE001: the note is extra; the reference itself is in
            log.warning("reference report note not started", report_key=report.key, error=error.__class__.__name__)
        use = await service.record_use(claims, f"{outcome}; reference report {report.key}")
        log.info("answer link used", link_id=claims.link_id, action=claims.action.value, process_id=claims.process_id, outcome=use.outcome)
        return _message("Thank you", "Your reference is with the recruiter; there will be no more reminders.")

    return links


async def _one_click(request: Request) -> bool:
    """A mail client's one-click unsubscribe (RFC 8058): a form POST of `List-Unsubscribe=One-Click`."""
    if not request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return False
    form = await request.form()
    return form.get("List-Unsubscribe") == "One-Click"


def mount(app: FastAPI, service: LinkService, public_url: str | None = None) -> None:
    """The answer links' pages; `public_url` (PUBLIC_BASE_URL) is the origin their forms post from."""
    app.include_router(router(service, public_url))

    @app.exception_handler(LinkError)
    async def _link_error(_: Request, error: LinkError) -> HTMLResponse:
        log.info("answer link refused", problem=error.__class__.__name__, status=error.status)
        if isinstance(error, LinkExpired):
            return _message(
                error.title,
                f"This link worked until {_expires(error.claims)}. Nothing was recorded.",
                status=error.status,
                detail="Reply to the email instead, or ask your recruiter for a new link.",
                problem=True,
            )
        if isinstance(error, LinksDisabled):
            return _message(
                error.title,
                "This service is not set up to check links, so nothing was recorded.",
                status=error.status,
                detail="Please reply to the email instead.",
                problem=True,
            )
        return _message(
            error.title,
            "This link cannot be used: it may have been cut short or changed on the way. Nothing was recorded.",
            status=error.status,
            detail="Please open the link exactly as it appears in the email, or reply to the email instead.",
            problem=True,
        )
