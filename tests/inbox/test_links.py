"""Signed answer links: from the message a referee or candidate receives, over real HTTP, to the
process on a real Temporal dev server and back to the page they see."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import URLSafeSerializer
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.follow_through import FollowThroughActivities
from domain.follow_through import MessageRequest, Recipient
from inbox.links import (
    SALT,
    LinkAction,
    LinkExpired,
    LinkInvalid,
    LinkSigner,
    ensure_local_link_keys,
)
from process_client import deliver_event, process_status
from service.embedded_http import embedded_server
from service.http import mount_inbox
from service.settings import LinkSection, Settings
from store.link_store import LinkStore, LinkUse
from store.task_store import TaskStore
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually, free_port, running_engine

NEW_KEY = "links-test-key-2026-new"
OLD_KEY = "links-test-key-2025-old"
LINK = re.compile(r"http://\S+/r/(\S+)")


def tampered(token: str) -> str:
    """The token with the first character of its signature changed (the last one may only carry
    base64 padding bits, which decode to the same signature)."""
    payload, _, signature = token.rpartition(".")
    return f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


# --- signing and verifying ----------------------------------------------------------------------


def test_a_link_carries_its_answer_and_verifies() -> None:
    signer = LinkSigner([NEW_KEY], base_url="https://jobs.example/")
    link = signer.issue(LinkAction.REFEREE_CONSENT, "post-interview-lever-app-1", "app-1", referee_id="ref-9")

    assert link.url == f"https://jobs.example/r/{link.token}"
    claims = signer.verify(link.token)
    assert claims == link.claims
    assert (claims.action, claims.source, claims.application_id, claims.referee_id) == (LinkAction.REFEREE_CONSENT, "lever", "app-1", "ref-9")
    assert claims.expires - datetime.now(UTC) > timedelta(days=13, hours=23)


def test_a_changed_forged_or_foreign_link_is_refused() -> None:
    signer = LinkSigner([NEW_KEY])
    token = signer.issue(LinkAction.REFEREE_SENT, "post-interview-api-app-1", "app-1", referee_id="ref-1").token
    payload, dot, signature = token.rpartition(".")
    other_claims = f"{payload[:12]}{'B' if payload[12] == 'A' else 'A'}{payload[13:]}{dot}{signature}"
    # Signed with our key but incoherent: a referee link without its referee, a process of another application.
    incoherent = [
        URLSafeSerializer(NEW_KEY, salt=SALT).dumps({"i": "x" * 16, "a": "referee_sent", "w": "post-interview-api-app-1", "p": "app-1", "x": 4102444800}),
        URLSafeSerializer(NEW_KEY, salt=SALT).dumps({"i": "x" * 16, "a": "candidate_debrief", "w": "post-interview-api-app-2", "p": "app-1", "x": 4102444800}),
    ]
    for bad in (*incoherent, tampered(token), other_claims, token[1:], "not-a-link", LinkSigner(["someone-else"]).issue(LinkAction.REFEREE_SENT, "post-interview-api-app-1", "app-1", referee_id="ref-1").token):
        with pytest.raises(LinkInvalid):
            signer.verify(bad)


def test_a_link_expires_when_its_time_is_up() -> None:
    signer = LinkSigner([NEW_KEY], ttl=timedelta(days=14))
    issued = datetime.now(UTC) - timedelta(days=15)
    token = signer.issue(LinkAction.CANDIDATE_DEBRIEF, "post-interview-api-app-1", "app-1", round_=1, now=issued).token

    with pytest.raises(LinkExpired) as expired:
        signer.verify(token)
    assert expired.value.claims.round == 1
    assert signer.verify(token, now=issued + timedelta(days=13)).round == 1


def test_keys_rotate_newest_first() -> None:
    before = LinkSigner([OLD_KEY])
    during = LinkSigner([NEW_KEY, OLD_KEY])
    after = LinkSigner([NEW_KEY])
    old_link = before.issue(LinkAction.REFEREE_SENT, "post-interview-api-a", "a", referee_id="r").token
    new_link = during.issue(LinkAction.REFEREE_SENT, "post-interview-api-a", "a", referee_id="r").token

    assert during.verify(old_link).referee_id == "r"  # links already sent keep working
    assert after.verify(new_link).referee_id == "r"  # the newest key signs
    with pytest.raises(LinkInvalid):
        after.verify(old_link)


def test_only_messages_that_ask_for_an_answer_carry_a_link() -> None:
    signer = LinkSigner([NEW_KEY])

    def request(template: str, process_id: str, **context: str) -> MessageRequest:
        return MessageRequest(key="k", process_id=process_id, application_id="app-1", recipient=Recipient(role="referee", id="ref-1"), template=template, context=context)

    consent = signer.for_message(request("referee_consent_request", "post-interview-api-app-1-referee-ref-1"))
    debrief = signer.for_message(request("debrief_questions", "post-interview-api-app-1", round="2"))
    assert consent is not None and (consent.claims.action, consent.claims.process_id, consent.claims.referee_id) == (
        LinkAction.REFEREE_CONSENT,
        "post-interview-api-app-1",
        "ref-1",
    )
    assert debrief is not None and (debrief.claims.action, debrief.claims.round) == (LinkAction.CANDIDATE_DEBRIEF, 2)
    assert signer.message_context(request("referee_nudge", "post-interview-api-app-1-referee-ref-1")) == {}
    # A message that cannot carry a sound link goes out without one, rather than failing.
    assert signer.message_context(request("debrief_questions", "post-interview-api-other-app")) == {}
    assert signer.message_context(request("referee_request", "relationship-api-cand-1")) == {}
    assert signer.message_context(request("escalation", "post-interview-api-app-1")) == {}


def test_links_are_configured_from_the_environment(tmp_path: Path) -> None:
    assert Settings.from_env({}).links.signer() is None  # off, with a warning: messages go out without links
    signer = Settings.from_env({"LINK_SIGNING_KEYS": f" {NEW_KEY} , {OLD_KEY}", "PUBLIC_BASE_URL": "https://x.example", "LINK_TTL_DAYS": "3"}).links.signer()
    assert signer is not None and signer.base_url == "https://x.example" and signer.ttl == timedelta(days=3)
    for bad in ("soon", "0", "-2"):
        with pytest.raises(ValueError, match="LINK_TTL_DAYS"):
            Settings.from_env({"LINK_TTL_DAYS": bad}).links.ttl()

    environ: dict[str, str] = {}
    path = ensure_local_link_keys(tmp_path, environ)
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    first = environ["LINK_SIGNING_KEYS"]
    again: dict[str, str] = {}
    ensure_local_link_keys(tmp_path, again)
    assert again["LINK_SIGNING_KEYS"] == first  # kept across restarts
    assert ensure_local_link_keys(tmp_path, {"LINK_SIGNING_KEYS": "set"}) is None


def test_a_link_is_used_once_in_the_store(database_url: str) -> None:
    store = LinkStore(database_url)
    try:
        assert store.use("link-1") is None
        first, created = store.record_use("link-1", "referee_consent", "post-interview-api-a", "referee.consented delivered")
        again, created_again = store.record_use("link-1", "referee_consent", "post-interview-api-a", "something else")
        assert (created, created_again) == (True, False)
        assert again == first == store.use("link-1")
        assert first.outcome == "referee.consented delivered"
    finally:
        store.close()


def test_a_retried_activity_sends_the_link_it_made_first(database_url: str) -> None:
    store = TaskStore(database_url)
    try:
        activities = FollowThroughActivities(store, links=LinkSigner([NEW_KEY]))
        request = MessageRequest(
            key="post-interview-api-app-1-referee-ref-1/request",
            process_id="post-interview-api-app-1-referee-ref-1",
            application_id="app-1",
            recipient=Recipient(role="referee", id="ref-1", name="Grace", email="grace@example.org"),
            template="referee_request",
            context={"candidate": "Ada"},
        )
        first = ActivityEnvironment().run(activities.contact_referee, request)
        retried = ActivityEnvironment().run(activities.contact_referee, request)

        assert retried.body == first.body and len(store.messages()) == 1
        token = LINK.search(first.body).group(1)  # type: ignore[union-attr]
        claims = LinkSigner([NEW_KEY]).verify(token)
        assert (claims.action, claims.process_id, claims.referee_id) == (LinkAction.REFEREE_SENT, "post-interview-api-app-1", "ref-1")
        # Anyone holding the link can decode it (signed, not encrypted): ids only, no name or email.
        _, readable = URLSafeSerializer("any key", salt=SALT).loads_unsafe(token)
        assert set(readable) == {"i", "a", "w", "p", "r", "x"}
        assert not {"Grace", "grace@example.org", "Ada"} & set(readable.values())
    finally:
        store.close()


# --- the pages, against the real engine -----------------------------------------------------------


@asynccontextmanager
async def link_service(
    env: WorkflowEnvironment, store_url: str, task_queue: str, keys: str | None, temporal_address: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP service's inbox side (mount_inbox, as `postinterview intake` mounts it) on a free port."""
    address = temporal_address or env.client.service_client.config.target_host
    links = LinkSection(LINK_SIGNING_KEYS=keys)
    settings = Settings(temporal_address=address, task_queue=task_queue, database_url=store_url, links=links)
    app = FastAPI()
    close = mount_inbox(app, settings)
    port = free_port()
    server = embedded_server(app, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the HTTP service to listen")
    try:
        # A browser posting the page's own form sends the page's origin.
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30, headers={"origin": base}) as http:
            yield http
    finally:
        server.should_exit = True
        await serving
        close()


def used(store_url: str, link_id: str) -> LinkUse | None:
    store = LinkStore(store_url)
    try:
        return store.use(link_id)
    finally:
        store.close()


async def link_in(tasks: TaskStore, key: str) -> str:
    """The path of the answer link in the queued message `key`."""
    message = await eventually(lambda: tasks.message(key), what=f"message {key}")
    found = LINK.search(message.body)
    assert found, f"no link in message {key}:\n{message.body}"
    return f"/r/{found.group(1)}"


async def signals_and_updates(env: WorkflowEnvironment, workflow_id: str, needle: str) -> tuple[int, int]:
    """How many `event` signals and accepted updates in the process's history mention `needle`."""
    signals = updates = 0
    async for event in env.client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes = event.workflow_execution_signaled_event_attributes
            signals += any(needle.encode() in p.data for p in attributes.input.payloads)
        elif event.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            updates += needle in event.workflow_execution_update_accepted_event_attributes.protocol_instance_id or needle in (
                event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            )
    return signals, updates


async def referee_state(env: WorkflowEnvironment, app: Application, referee_id: str) -> str:
    status = await process_status(env.client, app.source, app.application_id)
    return next(r.state.value for r in status.referees if r.id == referee_id)


async def test_a_referee_confirms_consent_then_says_the_reference_is_sent(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    check = f"{app.workflow_id}-referee-ref-1"
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, NEW_KEY) as http:
            await deliver_event(dev_env.client, app.references("ref-1"), task_queue)
            consent = await link_in(tasks, f"{check}/consent-request")
            link_id = LinkSigner([NEW_KEY]).verify(consent.removeprefix("/r/")).link_id

            page = await http.get(consent)  # what a mail scanner's prefetch does: nothing
            assert page.status_code == 200
            assert "Confirm that you will give a reference" in page.text and "<form method=\"post\"" in page.text
            assert page.headers["cache-control"] == "no-store"
            assert await referee_state(dev_env, app, "ref-1") == "awaiting_consent"
            assert await signals_and_updates(dev_env, app.workflow_id, link_id) == (0, 0)

            answers = [await http.post(consent) for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200]
            assert "Your consent is recorded" in answers[0].text
            assert "Already done, thank you" in answers[1].text
            assert "Already done, thank you" in (await http.get(consent)).text
            # Consent given: the reference request goes out, with its own link.
            sent = await link_in(tasks, f"{check}/request")
            assert await referee_state(dev_env, app, "ref-1") == "requested"
            assert await signals_and_updates(dev_env, app.workflow_id, link_id) == (1, 0)

            # The request's link is the reference questionnaire (tests/inbox/test_reference_reports.py).
            assert "How do you know the candidate?" in (await http.get(sent)).text
            answers = {
                "name": "Referee One, CFO", "relationship": "Her manager for two years", "known_since": "2020-01", "strengths": "Thorough and calm under pressure.",
                "areas_to_develop": "Could speak up more in meetings.", "work_again": "4",
            }
            answer = await http.post(sent, data=answers)
            assert answer.status_code == 200 and "no more reminders" in answer.text
            assert await eventually(
                lambda: _equals(referee_state(dev_env, app, "ref-1"), "responded"), what="the reference recorded"
            )
            assert (await process_status(dev_env.client, app.source, app.application_id)).offer_blocked is False


async def _equals(value: Awaitable[str], expected: str) -> bool:
    return (await value) == expected


async def test_a_changed_expired_or_foreign_link_gets_a_clear_page_and_does_nothing(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    check = f"{app.workflow_id}-referee-ref-1"
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, NEW_KEY) as http:
            await deliver_event(dev_env.client, app.references("ref-1"), task_queue)
            genuine = (await link_in(tasks, f"{check}/consent-request")).removeprefix("/r/")
            changed = tampered(genuine)
            expired = LinkSigner([NEW_KEY]).issue(
                LinkAction.REFEREE_CONSENT, app.workflow_id, app.application_id, referee_id="ref-1", now=datetime.now(UTC) - timedelta(days=30)
            ).token
            foreign = LinkSigner(["an attacker's key"]).issue(LinkAction.REFEREE_CONSENT, app.workflow_id, app.application_id, referee_id="ref-1").token

            for token, status, title in ((changed, 400, "This link is not valid"), (expired, 410, "This link has expired"), (foreign, 400, "This link is not valid")):
                for method in (http.get, http.post):
                    page = await method(f"/r/{token}")
                    assert page.status_code == status, page.text
                    assert page.headers["content-type"].startswith("text/html")
                    assert title in page.text and "Nothing was recorded" in page.text
                    assert "Traceback" not in page.text

            assert await referee_state(dev_env, app, "ref-1") == "awaiting_consent"
            assert await signals_and_updates(dev_env, app.workflow_id, "link:") == (0, 0)
            assert used(store_url, LinkSigner([NEW_KEY]).verify(genuine).link_id) is None


async def test_the_candidate_debrief_form_records_a_debrief_once_and_shows_a_refusal(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    # The worker still signs with last year's key; the service already has the new one in front.
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([OLD_KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, f"{NEW_KEY},{OLD_KEY}") as http:
            await deliver_event(dev_env.client, app.interview(1), task_queue)
            form_link = await link_in(tasks, f"{app.workflow_id}/debrief/1/questions")
            link_id = LinkSigner([OLD_KEY]).verify(form_link.removeprefix("/r/")).link_id

            form = await http.get(form_link)
            assert form.status_code == 200 and 'name="summary"' in form.text and "(round 1)" in form.text

            thin = {"summary": "I think it went well <b>really</b>", "interest": "4", "concerns": "", "questions_for_client": "", "reflections": ""}
            refused = await http.post(form_link, data=thin)
            assert refused.status_code == 422
            assert "A debrief must tell the client something" in refused.text
            assert "I think it went well &lt;b&gt;really&lt;/b&gt;" in refused.text  # kept, and escaped
            assert used(store_url, link_id) is None  # a refusal leaves the link usable

            good = {**GOOD_DEBRIEF, "interest": "4", "questions_for_client": "\n".join(GOOD_DEBRIEF["questions_for_client"])}
            answers = [await http.post(form_link, data=good) for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200]
            assert "Your debrief is with your recruiter" in answers[0].text
            assert "Already done, thank you" in answers[1].text

            status = await process_status(dev_env.client, app.source, app.application_id)
            assert status.debriefs[0].recorded_at is not None and status.debriefs[0].interest == 4
            assert status.stage.value == "awaiting_client"
            assert await signals_and_updates(dev_env, app.workflow_id, link_id) == (0, 1)


async def test_a_link_for_a_closed_application_says_nothing_more_is_needed(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    check = f"{app.workflow_id}-referee-ref-1"
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, NEW_KEY) as http:
            await deliver_event(dev_env.client, app.references("ref-1"), task_queue)
            consent = await link_in(tasks, f"{check}/consent-request")
            await deliver_event(dev_env.client, app.event("candidate.withdrew", {"reason": "took another offer"}), task_queue)
            await dev_env.client.get_workflow_handle(app.workflow_id).result()

            page = await http.post(consent)
            assert page.status_code == 410 and "Nothing more is needed" in page.text
            assert used(store_url, LinkSigner([NEW_KEY]).verify(consent.removeprefix("/r/")).link_id) is None


async def test_without_a_signing_key_messages_go_out_without_links_and_pages_say_so(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=None) as tasks:
        async with link_service(dev_env, store_url, task_queue, None) as http:
            await deliver_event(dev_env.client, app.interview(1), task_queue)
            message = await eventually(lambda: tasks.message(f"{app.workflow_id}/debrief/1/questions"), what="the debrief questions")
            assert "/r/" not in message.body and "reply here" in message.body

            somebody_elses = LinkSigner([NEW_KEY]).issue(LinkAction.CANDIDATE_DEBRIEF, app.workflow_id, app.application_id, round_=1).token
            page = await http.get(f"/r/{somebody_elses}")
            assert page.status_code == 404 and "Links are not enabled here" in page.text


async def test_the_debrief_form_sent_from_three_tabs_at_once_records_one_debrief(dev_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, NEW_KEY) as http:
            await deliver_event(dev_env.client, app.interview(1), task_queue)
            form_link = await link_in(tasks, f"{app.workflow_id}/debrief/1/questions")
            link_id = LinkSigner([NEW_KEY]).verify(form_link.removeprefix("/r/")).link_id
            good = {**GOOD_DEBRIEF, "interest": "5", "questions_for_client": "\n".join(GOOD_DEBRIEF["questions_for_client"])}

            answers = await asyncio.gather(*(http.post(form_link, data=good) for _ in range(3)))

            assert [a.status_code for a in answers] == [200, 200, 200]
            assert all("Your debrief is with your recruiter" in a.text or "Already done" in a.text for a in answers)
            # The update id is the link's: Temporal ran one update, whichever post got there first.
            assert await signals_and_updates(dev_env, app.workflow_id, link_id) == (0, 1)
            assert used(store_url, link_id) is not None


async def test_a_used_link_that_has_since_expired_still_says_already_done(dev_env, store_url, task_queue):
    async with link_service(dev_env, store_url, task_queue, NEW_KEY) as http:
        link = LinkSigner([NEW_KEY]).issue(
            LinkAction.REFEREE_SENT, "post-interview-api-app-1", "app-1", referee_id="ref-1", now=datetime.now(UTC) - timedelta(days=20)
        )
        store = LinkStore(store_url)
        store.record_use(link.claims.link_id, link.claims.action.value, link.claims.process_id, "referee.responded delivered")
        store.close()

        page = await http.get(f"/r/{link.token}")
        assert page.status_code == 200 and "Already done, thank you" in page.text


async def test_with_temporal_unreachable_the_page_asks_to_try_again_and_the_link_stays_usable(dev_env, store_url, task_queue):
    nowhere = f"127.0.0.1:{free_port()}"
    async with link_service(dev_env, store_url, task_queue, NEW_KEY, temporal_address=nowhere) as http:
        consent = LinkSigner([NEW_KEY]).issue(LinkAction.REFEREE_CONSENT, "post-interview-api-app-1", "app-1", referee_id="ref-1")
        debrief = LinkSigner([NEW_KEY]).issue(LinkAction.CANDIDATE_DEBRIEF, "post-interview-api-app-1", "app-1", round_=1)

        page = await http.post(f"/r/{consent.token}")
        assert page.status_code == 503 and "Please try again in a few minutes" in page.text
        form = await http.post(f"/r/{debrief.token}", data={"summary": "Kept <exactly> as typed", "interest": "3"})
        assert form.status_code == 503 and "Kept &lt;exactly&gt; as typed" in form.text and 'value="3" selected' in form.text
        assert used(store_url, consent.claims.link_id) is None and used(store_url, debrief.claims.link_id) is None


async def test_an_answer_posted_from_another_origin_is_refused_and_the_link_stays_usable(dev_env, store_url, task_queue):
    # Cross-site request forgery: a page elsewhere that learnt a link (a forwarded email, a
    # referrer log) must not make a visitor's browser answer it. Only the link's own page may.
    async with link_service(dev_env, store_url, task_queue, NEW_KEY) as http:
        consent = LinkSigner([NEW_KEY]).issue(LinkAction.REFEREE_CONSENT, "post-interview-api-app-1", "app-1", referee_id="ref-1")
        debrief = LinkSigner([NEW_KEY]).issue(LinkAction.CANDIDATE_DEBRIEF, "post-interview-api-app-1", "app-1", round_=1)
        for headers in ({"origin": "https://evil.example"}, {"origin": "null"}, {"origin": "", "referer": "https://evil.example/page"}):
            for link, data in ((consent, None), (debrief, {"summary": "Forged", "interest": "5"})):
                page = await http.post(f"/r/{link.token}", data=data, headers=headers)
                assert page.status_code == 403 and "Nothing was recorded" in page.text, (headers, page.text)
        assert used(store_url, consent.claims.link_id) is None and used(store_url, debrief.claims.link_id) is None
