"""A check-in's answers and the opt-out link, over real HTTP, to the candidate's relationship process
on a real Temporal dev server (the engine's own worker and store): what each answer does, what the
page says, a used link that says so, and a mail client's one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from activities.channel_settings import ChannelSettings
from domain import contract, names
from domain.events import Candidate, Recruiter
from domain.status import CheckIn, Handover, RelationshipState
from inbox.links import LinkAction, LinkSigner
from process_client import deliver_event
from store.contact_preferences import ContactPreferenceStore
from store.notification_store import NotificationStore
from store.task_store import TaskStore
from tests.channel_servers import smtp_server, smtp_settings
from tests.events import Application
from tests.harness import eventually, free_port, running_engine
from tests.inbox.test_links import link_service, used
from tests.workflows.test_notify import zone_where_it_is

KEY = "nurture-links-test-key"
LINK = re.compile(r"http://\S+(/r/(\S+))")


async def _check_in_sent(env, task_queue: str, tasks: TaskStore, candidate_id: str) -> dict[LinkAction, str]:
    """A candidate handed over with a check-in due now and one a year on; the links of the message."""
    now = await env.get_current_time()
    process = f"post-interview-api-app-{candidate_id}"
    handover = Handover(
        handover_id=f"{process}/rejected",
        source="api",
        application_id=f"app-{candidate_id}",
        outcome="rejected",
        candidate=Candidate(id=candidate_id, name="Ada Lovelace", email="ada@example.com"),
        recruiter=Recruiter(id="rec-1", name="Rita Recruiter", email="rita@agency.example"),
        client_name="Acme Capital",
        check_ins=[
            CheckIn(key=f"{process}/check-in/90", occasion="90 days after the application closed", at=now - timedelta(minutes=1), due_at=now + timedelta(days=5)),
            CheckIn(key=f"{process}/check-in/365", occasion="365 days after the application closed", at=now + timedelta(days=365), due_at=now + timedelta(days=370)),
        ],
    )
    await env.client.start_workflow(
        contract.RELATIONSHIP_WORKFLOW,
        RelationshipState(source="api", candidate_id=candidate_id),
        id=contract.relationship_workflow_id("api", candidate_id),
        task_queue=task_queue,
        start_signal=names.HANDOVER_SIGNAL,
        start_signal_args=[handover],
    )
    message = await eventually(lambda: tasks.message(f"{process}/check-in/90/nurture"), what="the check-in message")
    signer = LinkSigner([KEY])
    return {signer.verify(token).action: path for path, token in LINK.findall(message.body)}


async def test_open_gives_a_call_task_once_and_not_now_moves_the_next_check_in(dev_env, store_url, task_queue, activity_pool):
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, KEY) as http:
            links = await _check_in_sent(dev_env, task_queue, tasks, "cand-open")
            assert set(links) == {LinkAction.NURTURE_OPEN, LinkAction.NURTURE_NOT_NOW, LinkAction.NURTURE_STOP, LinkAction.OPT_OUT}
            relationship = dev_env.client.get_workflow_handle(contract.relationship_workflow_id("api", "cand-open"))

            page = await http.get(links[LinkAction.NURTURE_OPEN])  # a mail scanner's prefetch: nothing happens
            assert page.status_code == 200 and "I&#39;m open to opportunities" in page.text and '<form method="post"' in page.text
            assert not [t for t in tasks.tasks() if t.kind == "nurture_call"]

            answers = [await http.post(links[LinkAction.NURTURE_OPEN]) for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200]
            assert "will call you this week" in answers[0].text
            assert "Already answered" in answers[1].text and "open to opportunities" in answers[1].text
            call = await eventually(lambda: next((t for t in tasks.tasks() if t.kind == "nurture_call"), None), what="the call task")
            assert call.assignee_id == "rec-1" and call.title == "Call Ada Lovelace this week: they are open to opportunities"

            answer = await http.post(links[LinkAction.NURTURE_NOT_NOW])
            assert answer.status_code == 200 and "We will check in again later" in answer.text

            async def moved() -> bool:
                state = await relationship.query(contract.STATUS_QUERY, result_type=RelationshipState)
                return len(state.answers_seen) == 2 and state.pending[0].occasion == "365 days after the application closed"

            await eventually(moved, what="the not-now answer taken")
            assert len([t for t in tasks.tasks() if t.kind == "nurture_call"]) == 1


async def test_stop_and_one_click_unsubscribe_opt_the_candidate_out_for_good(dev_env, store_url, task_queue, activity_pool):
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, KEY) as http:
            links = await _check_in_sent(dev_env, task_queue, tasks, "cand-stop")
            opt_out = links[LinkAction.OPT_OUT]

            # The mail client's one-click unsubscribe: a POST from no page of ours (no Origin).
            base = str(http.base_url).rstrip("/")
            async with httpx.AsyncClient(base_url=base, timeout=30) as mail_client:
                page = await mail_client.post(opt_out, data={"List-Unsubscribe": "One-Click"})
                assert page.status_code == 200 and "You will not hear from us again" in page.text
                again = await mail_client.post(opt_out, data={"List-Unsubscribe": "One-Click"})
                assert "You have already opted out" in again.text
                # Other answers never act without our page.
                forged = await mail_client.post(links[LinkAction.NURTURE_OPEN], data={"List-Unsubscribe": "One-Click"})
                assert forged.status_code == 403

            preference = ContactPreferenceStore(tasks.engine).preference("api", "cand-stop")
            link_id = LinkSigner([KEY]).verify(opt_out.removeprefix("/r/")).link_id
            assert preference.opted_out and preference.opted_out_via == f"list-unsubscribe:{link_id}"
            assert used(store_url, link_id) is not None

            # The relationship heard it: no check-ins left, its tasks cancelled, it has ended.
            final = await dev_env.client.get_workflow_handle(contract.relationship_workflow_id("api", "cand-stop"), result_type=RelationshipState).result()
            assert final.opted_out and final.pending == []
            assert {t.status for t in tasks.tasks() if t.process_id == contract.relationship_workflow_id("api", "cand-stop")} == {"cancelled"}

            # The check-in's own "stop contacting me" afterwards: recorded, nothing to tell.
            stop = await http.post(links[LinkAction.NURTURE_STOP])
            assert stop.status_code == 200 and "You will not hear from us again" in stop.text
            assert ContactPreferenceStore(tasks.engine).preference("api", "cand-stop").opted_out_via == f"list-unsubscribe:{link_id}"


async def test_an_opt_out_holds_with_temporal_unreachable_and_an_answer_asks_to_try_again(dev_env, store_url, task_queue):
    nowhere = f"127.0.0.1:{free_port()}"
    async with link_service(dev_env, store_url, task_queue, KEY, temporal_address=nowhere) as http:
        signer = LinkSigner([KEY])
        opt_out = signer.issue(LinkAction.OPT_OUT, "post-interview-api-app-9", "app-9", candidate=("api", "cand-9"))
        answer = signer.issue(LinkAction.NURTURE_OPEN, contract.relationship_workflow_id("api", "cand-9"), None, candidate=("api", "cand-9"))

        page = await http.post(f"/r/{opt_out.token}")
        assert page.status_code == 200 and "You will not hear from us again" in page.text
        tasks = TaskStore(store_url)
        try:
            assert ContactPreferenceStore(tasks.engine).preference("api", "cand-9").opted_out_via == f"link:{opt_out.claims.link_id}"
        finally:
            tasks.close()

        tried = await http.post(f"/r/{answer.token}")
        assert tried.status_code == 503 and "Please try again in a few minutes" in tried.text
        assert used(store_url, answer.claims.link_id) is None


async def test_one_click_from_the_email_suppresses_what_a_running_process_sends_next(dev_env, store_url, task_queue, activity_pool):
    """End to end: the candidate's email (real SMTP) offers List-Unsubscribe; the mail client's
    one-click POST (real HTTP) opts them out; the running process's next message is suppressed."""
    app = Application(source="api")
    app.candidate["timezone"] = zone_where_it_is(12, datetime.now(UTC))  # midday there: no quiet hours
    with smtp_server() as (sink, port):
        channels = ChannelSettings(smtp=smtp_settings(port))
        async with running_engine(dev_env, store_url, task_queue, activity_pool, channels=channels, links=LinkSigner([KEY])) as tasks:
            async with link_service(dev_env, store_url, task_queue, KEY) as http:
                await deliver_event(dev_env.client, app.interview(1), task_queue)
                [questions] = await eventually(lambda: sink.to(app.candidate["email"]), what="the debrief questions by email")
                assert questions["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
                url = questions["List-Unsubscribe"].strip("<>")
                assert url in questions.get_body(("plain",)).get_content()

                async with httpx.AsyncClient(base_url=str(http.base_url), timeout=30) as mail_client:
                    page = await mail_client.post("/r/" + url.split("/r/", 1)[1], data={"List-Unsubscribe": "One-Click"})
                assert page.status_code == 200 and "You will not hear from us again" in page.text

                # The process goes on; its next message to the candidate is not sent.
                await deliver_event(dev_env.client, app.offer("offer.accepted"), task_queue)
                key = f"{app.workflow_id}/offer/keep-searching"
                notifications = NotificationStore(tasks.engine)
                row = await eventually(lambda: (n := notifications.notification(f"message:{key}:email")) and n.status == "suppressed" and n, what="the suppressed email")
                assert "opted out" in (row.last_error or "") and row.attempts == 0
                # The message's own status is written just after its notification's.
                await eventually(lambda: tasks.message(key).status == "suppressed", what="the message marked suppressed")  # type: ignore[union-attr]
                assert len(sink.to(app.candidate["email"])) == 1


async def test_an_old_opt_out_link_of_an_erased_candidate_names_them_nowhere_again(dev_env, store_url, task_queue, activity_pool):
    """After erasure, the candidate's old emails still hold their links: an opt-out (a mail
    client's one-click) answers without an error and writes no new row naming them."""
    from process_client import candidate_subject
    from store.erasure_store import ErasureStore

    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([KEY])) as tasks:
        async with link_service(dev_env, store_url, task_queue, KEY) as http:
            links = await _check_in_sent(dev_env, task_queue, tasks, "cand-erased")
            erasures = ErasureStore(tasks.engine)
            subject = candidate_subject("api", "cand-erased")
            erasure_id, _ = erasures.record_request(subject, "api", "test", "cli")
            erasures.destroy_keys(subject, [], erasure_id)
            base = str(http.base_url).rstrip("/")
            async with httpx.AsyncClient(base_url=base, timeout=30) as mail_client:
                page = await mail_client.post(links[LinkAction.OPT_OUT], data={"List-Unsubscribe": "One-Click"})
            assert page.status_code < 500
            assert ContactPreferenceStore(tasks.engine).preference("api", "cand-erased").opted_out_at is None
