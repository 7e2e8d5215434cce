"""Reference reports end to end, over real HTTP: a referee's questionnaire on their signed link,
the process told on a real Temporal dev server, the report stored with its fraud signals in a
real store, noted on the ATS (a local Greenhouse) once, and read by the recruiter through the
task API and the inbox."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.channel_settings import ChannelSettings
from activities.delivery import DeliveryActivities
from domain.delivery import Channel, NotificationRequest, SubjectKind
from domain.reference_report import FraudSignal
from inbox.links import LinkAction, LinkSigner
from process_client import deliver_event, process_status
from service.embedded_http import embedded_server
from service.http import mount_inbox
from service.settings import DeliverySection, LinkSection, Settings
from store.access_store import AccessStore
from store.reference_store import ReferenceStore
from store.task_store import TaskStore
from tests.channel_servers import API_KEY, http_receiver
from tests.events import Application
from tests.harness import eventually, free_port, running_engine, status_when
from tests.inbox.test_links import NEW_KEY, link_in, signals_and_updates, used

CANDIDATE_BROWSER = "Mozilla/5.0 (candidate's laptop) Firefox/140.0"
REFEREE_BROWSER = "Mozilla/5.0 (referee's desktop) Chrome/142.0"
ANSWERS = {
    "name": "Grace Hopper, Head of Compliance",
    "relationship": "I managed her for three years in the compliance team",
    "company": "Initech",
    "known_since": "2019-04",
    "strengths": "Rigorous, calm under deadline pressure, explains regulation so the business understands it.",
    "areas_to_develop": "Could delegate more to junior analysts instead of doing it herself.",
    "work_again": "5",
    "comments": "I would hire her again tomorrow.",
}


def notes_channels(url: str) -> ChannelSettings:
    return ChannelSettings(ats_notes=frozenset({"greenhouse"}), vendor_settings={"GREENHOUSE_HARVEST_API_KEY": API_KEY, "GREENHOUSE_HARVEST_URL": url}, timeout=5.0)


@asynccontextmanager
async def service(env: WorkflowEnvironment, store_url: str, task_queue: str, ats_notes: str = "") -> AsyncIterator[str]:
    """The HTTP service's inbox side as `postinterview intake` mounts it, on a free port: its URL."""
    settings = Settings(
        temporal_address=env.client.service_client.config.target_host,
        task_queue=task_queue,
        database_url=store_url,
        links=LinkSection(LINK_SIGNING_KEYS=NEW_KEY),
        delivery=DeliverySection(ATS_NOTES=ats_notes),
    )
    app = FastAPI()
    close = mount_inbox(app, settings)
    port = free_port()
    server = embedded_server(app, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the HTTP service to listen")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        close()


def browser(url: str, agent: str) -> httpx.AsyncClient:
    """A browser on this machine: its own User-Agent, the page's origin on its posts."""
    return httpx.AsyncClient(base_url=url, timeout=30, headers={"origin": url, "user-agent": agent})


async def test_a_referee_answers_the_questionnaire_and_the_recruiter_reads_the_flagged_report(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="greenhouse")
    references = app.event(
        "references.requested",
        {
            "referees": [
                # Writes from Gmail while naming her company; and one on the candidate's own domain.
                {"id": "ref-1", "name": "Grace Hopper", "email": "grace.hopper@gmail.com", "relationship": "former manager"},
                {"id": "ref-2", "name": "Bob Smith", "email": "bob@example.com", "relationship": "colleague"},
            ],
            "required_before_offer": True,
        },
    )
    async with http_receiver() as (receiver, ats_url):
        async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=notes_channels(ats_url), links=LinkSigner([NEW_KEY])) as tasks:
            async with service(dev_env, store_url, task_queue, ats_notes="greenhouse") as url:
                async with browser(url, CANDIDATE_BROWSER) as candidate, browser(url, REFEREE_BROWSER) as grace:
                    # The candidate opens their own debrief link: the browser is noted (a digest).
                    await deliver_event(dev_env.client, app.interview(1), task_queue)
                    debrief = await link_in(tasks, f"{app.workflow_id}/debrief/1/questions")
                    assert (await candidate.get(debrief)).status_code == 200

                    await deliver_event(dev_env.client, references, task_queue)
                    for referee in ("ref-1", "ref-2"):
                        await deliver_event(dev_env.client, app.event("referee.consented", {"referee_id": referee}), task_queue)
                    grace_link = await link_in(tasks, f"{app.workflow_id}-referee-ref-1/request")
                    bob_link = await link_in(tasks, f"{app.workflow_id}-referee-ref-2/request")
                    grace_link_id = LinkSigner([NEW_KEY]).verify(grace_link.removeprefix("/r/")).link_id

                    # Opening the link shows the policy's questions; nothing happens yet.
                    form = await grace.get(grace_link)
                    assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
                    for label in ("How do you know the candidate?", "Since when have you known them?", "What are their main strengths?",
                                  "Which areas could they develop?", "Would you work with them again?", "Anything else we should know?"):
                        assert label in form.text
                    assert await signals_and_updates(dev_env, app.workflow_id, grace_link_id) == (0, 0)

                    # Incomplete: each problem beside its question, what was typed kept (escaped), nothing sent.
                    partial = {**ANSWERS, "strengths": "", "work_again": "9", "known_since": "2099-01", "comments": "<b>kept</b>"}
                    refused = await grace.post(grace_link, data=partial)
                    assert refused.status_code == 422
                    assert "Some answers need another look" in refused.text
                    assert "Please answer this question." in refused.text and "Choose a number from 1 to 5." in refused.text
                    assert "That month is still to come" in refused.text
                    assert "&lt;b&gt;kept&lt;/b&gt;" in refused.text and 'value="2099-01"' in refused.text
                    assert await signals_and_updates(dev_env, app.workflow_id, grace_link_id) == (0, 0)
                    assert used(store_url, grace_link_id) is None

                    # From another site: refused (CSRF), as every answer link's post.
                    forged = await grace.post(grace_link, data=ANSWERS, headers={"origin": "https://evil.example"})
                    assert forged.status_code == 403 and ReferenceStore(store_url).report(f"{app.workflow_id}-referee-ref-1") is None

                    # Complete: thanked, the process has `referee.responded` once, the link used.
                    sent = await grace.post(grace_link, data=ANSWERS)
                    assert sent.status_code == 200 and "Your reference is with the recruiter" in sent.text
                    assert "Already answered" in (await grace.post(grace_link, data=ANSWERS)).text
                    assert "Already" in (await grace.get(grace_link)).text
                    # A reminder's link (another link id) finds the report: answered already, nothing sent.
                    reminder = LinkSigner([NEW_KEY]).issue(LinkAction.REFEREE_SENT, app.workflow_id, app.application_id, referee_id="ref-1")
                    assert "Already answered" in (await grace.get(f"/r/{reminder.token}")).text
                    assert "Already answered" in (await grace.post(f"/r/{reminder.token}", data=ANSWERS)).text
                    assert await signals_and_updates(dev_env, app.workflow_id, grace_link_id) == (1, 0)
                    assert await signals_and_updates(dev_env, app.workflow_id, reminder.claims.link_id) == (0, 0)

                    # Bob answers from the browser that opened the candidate's own link.
                    assert (await candidate.post(bob_link, data={**ANSWERS, "company": "", "name": "Bob Smith, analyst"})).status_code == 200

                    status = await status_when(
                        dev_env.client, app.source, app.application_id,
                        lambda s: {r.id: r.state.value for r in s.referees} == {"ref-1": "responded", "ref-2": "responded"},
                        what="both references in",
                    )
                    assert status.offer_blocked is False

                    reports = {r.referee_id: r for r in ReferenceStore(store_url).reports(application_id=app.application_id)}
                    grace_report, bob_report = reports["ref-1"], reports["ref-2"]
                    assert [f.code for f in grace_report.flags] == [FraudSignal.FREE_MAIL_WITH_COMPANY, FraudSignal.QUICK_ANSWER]
                    assert [f.code for f in bob_report.flags] == [FraudSignal.CANDIDATE_DOMAIN, FraudSignal.CANDIDATE_BROWSER, FraudSignal.QUICK_ANSWER]
                    assert grace_report.answer("strengths") == ANSWERS["strengths"] and grace_report.answer("company") == "Initech"
                    assert (grace_report.referee_email, grace_report.link_id, grace_report.requested_at is not None) == ("grace.hopper@gmail.com", grace_link_id, True)
                    assert grace_report.recruiter_id == "rec-1"

                    # Noted on the Greenhouse candidate once per report, the signals first.
                    report_notes = await eventually(
                        lambda: (found := [n for n in receiver.greenhouse_notes if n["body"].startswith("Reference report from")]) and len(found) == 2 and found,
                        what="the reports' notes",
                    )
                    grace_note = next(n for n in report_notes if "grace.hopper@gmail.com" in n["body"])
                    assert grace_note["candidate_id"] == "5501" and grace_note["on_behalf_of"] == "rec-1"
                    assert "TO CHECK (2 signals" in grace_note["body"] and "free-mail address (gmail.com)" in grace_note["body"]
                    assert ANSWERS["strengths"] in grace_note["body"] and "Would you work with them again?\n5" in grace_note["body"]
                    # A retried note activity writes nothing more.
                    again = ActivityEnvironment().run(
                        DeliveryActivities(tasks, notes_channels(ats_url)).write_ats_note,
                        NotificationRequest(subject_kind=SubjectKind.REFERENCE_REPORT, subject_key=grace_report.key, channel=Channel.ATS_NOTE),
                    )
                    assert again.sent_now is False and len([n for n in receiver.greenhouse_notes if n["body"].startswith("Reference report")]) == 2

                # The recruiter reads them through the task API; somebody else's recruiter may not.
                access = AccessStore(tasks.engine)
                async with httpx.AsyncClient(base_url=url, timeout=30) as api:
                    rita = {"authorization": f"Bearer {access.issue_token('rec-1', 'test')}"}
                    answer = await api.get(f"/api/applications/{app.application_id}/references", headers=rita)
                    assert answer.status_code == 200, answer.text
                    body = answer.json()
                    assert [r["referee_id"] for r in body] == ["ref-1", "ref-2"] or [r["referee_id"] for r in body] == ["ref-2", "ref-1"]
                    flags = {r["referee_id"]: [f["code"] for f in r["flags"]] for r in body}
                    assert flags["ref-1"] == ["free_mail_with_company", "quick_answer"]
                    assert (await api.get(f"/api/applications/{app.application_id}/references?source=lever", headers=rita)).status_code == 404
                    assert (await api.get("/api/applications/nobody/references", headers=rita)).status_code == 404
                    assert (await api.get(f"/api/applications/{app.application_id}/references")).status_code == 401
                    other = await _token_for_stranger(tasks, access)
                    assert (await api.get(f"/api/applications/{app.application_id}/references", headers={"authorization": f"Bearer {other}"})).status_code == 403

                # The inbox: the count on the application's task, the reports when it is opened.
                async with httpx.AsyncClient(base_url=url, timeout=30, headers={"origin": url}) as inbox:
                    signed_in = await inbox.post("/inbox/login", data={"token": access.issue_token("rec-1", "test")})
                    assert signed_in.status_code == 303, signed_in.text
                    page = await inbox.get("/inbox")
                    assert "2 reports in" in page.text and "2 flagged" in page.text
                    assert "Reference reports, last 30 days" in page.text and page.text.count('class="recent-report"') == 2
                    task_id = re.search(r'data-task-id="(\d+)" data-kind="book_debrief"', page.text).group(1)  # type: ignore[union-attr]
                    opened = await inbox.get(f"/inbox?open={task_id}")
                    assert "Reference reports" in opened.text and "Grace Hopper" in opened.text and "Bob Smith" in opened.text
                    assert 'data-code="candidate_browser"' in opened.text and "free-mail address (gmail.com)" in opened.text
                    assert "explains regulation so the business understands it" in opened.text


async def _token_for_stranger(tasks: TaskStore, access: AccessStore) -> str:
    from tests.inbox.service import give_task

    give_task(tasks, "rec-stranger", application_id="another-application")
    return access.issue_token("rec-stranger", "test")


async def test_without_notes_for_its_source_a_report_is_stored_and_no_note_is_started_and_a_proxy_names_the_client(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with service(dev_env, store_url, task_queue) as url, browser(url, REFEREE_BROWSER) as referee:
            await deliver_event(dev_env.client, app.references("ref-1"), task_queue)
            await deliver_event(dev_env.client, app.event("referee.consented", {"referee_id": "ref-1"}), task_queue)
            link = await link_in(tasks, f"{app.workflow_id}-referee-ref-1/request")
            # Behind the proxy (FORWARDED_ALLOW_IPS: here the default, this machine) the client is
            # X-Forwarded-For's: the candidate's browser and the referee's are the same software on
            # two networks, so not the same browser.
            debrief = LinkSigner([NEW_KEY]).issue(LinkAction.CANDIDATE_DEBRIEF, app.workflow_id, app.application_id, round_=1)
            assert (await referee.get(f"/r/{debrief.token}", headers={"x-forwarded-for": "203.0.113.7"})).status_code == 200
            answered = await referee.post(link, data=ANSWERS, headers={"x-forwarded-for": "198.51.100.9"})
            assert answered.status_code == 200
            reports = ReferenceStore(store_url)
            assert reports.opened_by(app.workflow_id, "candidate_debrief", "203.0.113.7", REFEREE_BROWSER)
            assert not reports.opened_by(app.workflow_id, "candidate_debrief", "127.0.0.1", REFEREE_BROWSER)
            report = reports.report(f"{app.workflow_id}-referee-ref-1")
            # ref-1@example.org, no candidate message on example.org, a company named from a company address.
            assert report is not None and [f.code for f in report.flags] == [FraudSignal.QUICK_ANSWER]
            notify_id = f"notify-reference_report-{report.key}"
            assert not [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{notify_id}'")]


async def test_with_temporal_unreachable_the_answers_stay_on_the_form_and_nothing_is_stored(dev_env, store_url, task_queue):
    settings = Settings(
        temporal_address=f"127.0.0.1:{free_port()}", task_queue=task_queue, database_url=store_url, links=LinkSection(LINK_SIGNING_KEYS=NEW_KEY)
    )
    app = FastAPI()
    close = mount_inbox(app, settings)
    port = free_port()
    server = embedded_server(app, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the HTTP service to listen")
    try:
        link = LinkSigner([NEW_KEY]).issue(LinkAction.REFEREE_SENT, "post-interview-api-app-1", "app-1", referee_id="ref-1")
        async with browser(f"http://127.0.0.1:{port}", REFEREE_BROWSER) as referee:
            page = await referee.post(f"/r/{link.token}", data={**ANSWERS, "comments": "Kept <exactly> as typed"})
        assert page.status_code == 503 and "Please send it again in a few minutes" in page.text
        assert "Kept &lt;exactly&gt; as typed" in page.text and '<option value="5" selected>' in page.text
        assert ReferenceStore(store_url).report("post-interview-api-app-1-referee-ref-1") is None
        assert used(store_url, link.claims.link_id) is None
    finally:
        server.should_exit = True
        await serving
        close()


async def test_a_referee_who_consented_can_still_decline_on_the_questionnaire(dev_env, store_url, task_queue, activity_pool):
    """The request's questionnaire offers "I can't give a reference" too: the process hears
    referee.declined with the reason, no report is stored, and the link is used up."""
    app = Application(source="greenhouse")
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with service(dev_env, store_url, task_queue) as url:
            async with browser(url, REFEREE_BROWSER) as referee:
                await deliver_event(dev_env.client, app.interview(1), task_queue)
                await deliver_event(dev_env.client, app.references("ref-1", required=True), task_queue)
                await deliver_event(dev_env.client, app.event("referee.consented", {"referee_id": "ref-1"}), task_queue)
                link = await link_in(tasks, f"{app.workflow_id}-referee-ref-1/request")
                page = await referee.get(link)
                assert "I can't give a reference" in page.text and 'name="answer" value="decline"' in page.text
                answered = await referee.post(link, data={"answer": "decline", "reason": "I left before they joined."})
                assert answered.status_code == 200 and "Thank you for letting us know" in answered.text
                assert "Already" in (await referee.post(link, data={"answer": "decline"})).text

                async def declined() -> bool:
                    current = await process_status(dev_env.client, app.source, app.application_id)
                    return any(r.id == "ref-1" and r.state == "declined" for r in current.referees)

                await eventually(declined, what="ref-1 declined")
                task = await eventually(lambda: tasks.task(f"{app.workflow_id}/referee/ref-1/declined"), what="the recruiter's task")
                assert "I left before they joined." in task.instructions
                assert ReferenceStore(store_url).report(f"{app.workflow_id}-referee-ref-1") is None
