"""`postinterview demo-bullhorn` (`make demo-bullhorn`): two applications driven through Bullhorn.

Against the running engine (`make run`: worker, intake and its forwarder, the store): a Bullhorn
stand-in starts on loopback (cli/bullhorn_standin.py) with an agency's data, the account is
connected the way `connect bullhorn` does it (loginInfo, authorisation, code, REST login, the
sealed refresh token in the engine's store), its poller starts, and a recruiter's day happens in
Bullhorn: interviews booked and moved, a status changed, placements made. Each change is printed
with what it became in the intake table (the canonical events, or ignored and why), then each
process with its stage. The poller is stopped at the end: the stand-in goes with this command.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from activities.ats_api import bullhorn_api as api
from activities.ats_api.bullhorn_mapping import BullhornConfig
from cli.bullhorn import code_from, connect_account, start_poller
from cli.bullhorn_standin import BullhornStandIn, consent, seed_agency
from domain.events import EventType
from store.bullhorn_store import BullhornStore
from store.intake_store import IntakeStore

MINUTE = 60_000
DAY = 24 * 60 * MINUTE
DEBRIEF = {
    "summary": "The panel went deep on sanctions screening; I walked them through the alert backlog I cleared at my last job.",
    "interest": 5,
    "concerns": "They asked twice about weekend on-call; I need to know how often.",
    "questions_for_client": ["How often is the weekend on-call rota?"],
    "reflections": "I should have brought numbers on false-positive rates sooner.",
}


async def run_bullhorn_demo(client: Any, settings: Any, sealer: Any, say: Callable[[str], None], pause: float) -> int:
    from process_client import ProcessError, process_status, record_debrief

    base = int(time.time()) % 100_000 * 10  # fresh ids: a process of an earlier demo is not reused
    kwame, ana = base + 1, base + 2
    account = f"demo-{base}"
    accounts = BullhornStore(settings.database_url, sealer)
    intake = IntakeStore(settings.database_url)
    failures = 0
    with BullhornStandIn() as bullhorn:
        seed_agency(bullhorn, submissions=(kwame, ana))
        with httpx.Client(timeout=10) as http:
            oauth_url, rest_services_url = api.login_info(http, bullhorn.username, bullhorn.url)
            state = secrets.token_urlsafe(8)
            landed = consent(bullhorn, api.authorize_url(oauth_url, bullhorn.client_id, None, state))
            connect_account(
                accounts, http, account_id=account, username=bullhorn.username, client_id=bullhorn.client_id,
                client_secret=bullhorn.client_secret, oauth_url=oauth_url, rest_services_url=rest_services_url,
                code=code_from(landed, state), redirect_uri=None,
            )
        say(f"Bullhorn stand-in at {bullhorn.url}; account {account} connected (loginInfo, OAuth code, REST login).")
        config = BullhornConfig.load(settings.bullhorn.config)
        config = BullhornConfig(config.submission_statuses, config.interview_types, config.placement_statuses, config.max_events, 1, config.polls_per_run)
        workflow_id = await start_poller(client, settings.task_queue, account, config)
        say(f"Poller {workflow_id} started.\n")
        await _until(lambda: f"postinterview-{account}" in bullhorn.subscriptions, 30)

        now = int(time.time() * 1000)
        appointment = dict(type="Interview", isDeleted=False, jobOrder={"id": 77}, clientContactReference={"id": 40}, parentAppointment=None)
        story: list[tuple[str, Callable[[], str]]] = [
            (f"Kwame Mensah's interview booked (JobSubmission {kwame}), it ended 30 minutes ago",
             lambda: bullhorn.change("Appointment", kwame * 10, "INSERTED", dateBegin=now - 90 * MINUTE, dateEnd=now - 30 * MINUTE, candidateReference={"id": 301}, **appointment)),
            (f"Ana Lima's interview booked for tomorrow (JobSubmission {ana})",
             lambda: bullhorn.change("Appointment", ana * 10, "INSERTED", dateBegin=now + DAY, dateEnd=now + DAY + 45 * MINUTE, candidateReference={"id": 302}, **appointment)),
            ("Ana's interview moved a day later",
             lambda: bullhorn.change("Appointment", ana * 10, dateBegin=now + 2 * DAY, dateEnd=now + 2 * DAY + 45 * MINUTE)),
            ("Kwame's submission: status Offer Extended",
             lambda: bullhorn.change("JobSubmission", kwame, status="Offer Extended")),
            ("Kwame placed (Placement, Approved, starting in 30 days)",
             lambda: bullhorn.change("Placement", kwame * 10, "INSERTED", status="Approved", dateBegin=now + 30 * DAY, candidate={"id": 301}, jobOrder={"id": 77}, jobSubmission={"id": kwame})),
            ("Ana's submission: a note in the comments (not a status)",
             lambda: bullhorn.change("JobSubmission", ana, comments="Client wants a second look at her portfolio")),
            ("Ana's submission: status Client Rejected",
             lambda: bullhorn.change("JobSubmission", ana, status="Client Rejected")),
        ]
        for index, (what, change) in enumerate(story, 1):
            event_id = change()
            row = await _until(lambda: intake.delivery("bullhorn", f"{account}:{event_id}"), 60)
            if row is None:
                failures += 1
                say(f"{index}/{len(story)}  {what}\n      not read from Bullhorn within a minute: is the worker running?")
                continue
            outcome = ", ".join(event["type"] for event in row["events"]) or f"ignored: {row['ignored_reason']}"
            say(f"{index}/{len(story)}  {what}\n      -> {outcome}")
            await asyncio.sleep(pause)

        # The debrief: the process takes the interview as having happened after its end (when the
        # engine infers that from a scheduled interview); until then it says why not.
        say("")
        try:
            await _until(lambda: _status(process_status, client, str(kwame)), 30)
            debrief_round = await record_debrief(client, "bullhorn", str(kwame), DEBRIEF, timeout=30)
            say(f"Kwame's debrief recorded: round {debrief_round.round}.")
        except ProcessError as error:
            say(f"Kwame's debrief not taken yet: {error}")
        await _until(lambda: _milestone(process_status, client, str(kwame), EventType.OFFER_ACCEPTED.value), 30)
        await _until(lambda: _milestone(process_status, client, str(ana), EventType.CANDIDATE_REJECTED.value), 30)
        say("\nProcesses (stage: what each waits for):")
        for application in (kwame, ana):
            status = await _status(process_status, client, str(application))
            if status is None:
                failures += 1
                say(f"  post-interview-bullhorn-{application}  not started: is the intake (its forwarder) running?")
            else:
                say(f"  post-interview-bullhorn-{application}  {status.stage:<10} {status.waiting_for}")
        await client.get_workflow_handle(workflow_id).signal("stop")
        say(f"\nPoller {workflow_id} stopped (the stand-in ends with this demo).")
    accounts.close()
    intake.close()
    return 1 if failures else 0


async def _status(process_status: Any, client: Any, application_id: str) -> Any:
    try:
        return await process_status(client, "bullhorn", application_id)
    except Exception:  # noqa: BLE001 - not started yet
        return None


async def _milestone(process_status: Any, client: Any, application_id: str, milestone: str) -> bool:
    status = await _status(process_status, client, application_id)
    return status is not None and milestone in status.milestones


async def _until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)
