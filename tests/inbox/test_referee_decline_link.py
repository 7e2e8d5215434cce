"""A referee says "I can't give a reference" through their signed link, over real HTTP, to the
process on the time-skipping server (issue 14): from the consent page's second button, or from
the decline link in the consent email with a reason. The process ends their check, gives the
recruiter a task (in the real store) and asks the candidate for another referee."""

from __future__ import annotations

from activities.follow_through import render_message
from domain.follow_through import MessageRequest, Recipient
from inbox.links import LinkAction, LinkSigner
from process_client import deliver_event
from store.task_store import TaskStore
from tests.events import Application
from tests.harness import eventually, running_engine
from tests.inbox.test_links import LINK, NEW_KEY, link_service, referee_state, used


async def links_in(tasks: TaskStore, key: str) -> list[str]:
    """The paths of every answer link in the queued message `key`, in the order they appear."""
    message = await eventually(lambda: tasks.message(key), what=f"message {key}")
    return [f"/r/{token}" for token in LINK.findall(message.body)]


async def is_state(env, app: Application, referee_id: str, state: str) -> bool:
    return await referee_state(env, app, referee_id) == state


def test_the_consent_email_offers_a_decline_link_beside_the_consent_link() -> None:
    signer = LinkSigner([NEW_KEY], base_url="https://jobs.example")
    request = MessageRequest(
        key="post-interview-api-app-1-referee-ref-1/consent-request",
        process_id="post-interview-api-app-1-referee-ref-1",
        application_id="app-1",
        recipient=Recipient(role="referee", id="ref-1", name="Bob Roe"),
        template="referee_consent_request",
        context={"candidate": "Ann Lee", "recruiter": "Sam Ward"},
    )
    context = signer.message_context(request)
    consent, decline = signer.verify(context["link"].rsplit("/", 1)[1]), signer.verify(context["decline_link"].rsplit("/", 1)[1])
    assert (consent.action, decline.action) == (LinkAction.REFEREE_CONSENT, LinkAction.REFEREE_DECLINE)
    assert decline.referee_id == "ref-1" and decline.process_id == "post-interview-api-app-1" and decline.link_id != consent.link_id
    _, body = render_message("referee_consent_request", request.context | {"referee": "Bob Roe"} | context)
    assert context["decline_link"] in body and "tell us with one click" in body
    # Messages that ask for no consent carry no decline link.
    assert "decline_link" not in signer.message_context(request.model_copy(update={"template": "referee_request"}))


async def test_a_referee_declines_on_the_consent_page_and_the_candidate_is_asked_for_another(time_env, store_url, task_queue, activity_pool):
    app = Application(source="api")
    check = f"{app.workflow_id}-referee-ref-1"
    async with running_engine(time_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        async with link_service(time_env, store_url, task_queue, NEW_KEY) as http:
            await deliver_event(time_env.client, app.interview(1), task_queue)
            await deliver_event(time_env.client, app.references("ref-1", "ref-2", required=True), task_queue)
            consent, decline = await links_in(tasks, f"{check}/consent-request")
            consent_id = LinkSigner([NEW_KEY]).verify(consent.removeprefix("/r/")).link_id

            page = await http.get(consent)  # shows both choices, does nothing
            assert page.status_code == 200
            assert "Yes, I am happy to give a reference" in page.text and "I can&#39;t give a reference" in page.text
            assert 'name="answer" value="decline"' in page.text
            assert await referee_state(time_env, app, "ref-1") == "awaiting_consent"

            answers = [await http.post(consent, data={"answer": "decline"}) for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200]
            assert "Thank you for letting us know" in answers[0].text and "Already done, thank you" in answers[1].text
            assert await eventually(lambda: is_state(time_env, app, "ref-1", "declined"), what="ref-1 declined")
            use = used(store_url, consent_id)
            assert use is not None and use.outcome.startswith("referee.declined delivered as link:")

            # The recruiter's task and the candidate's message, in the real store; no request to ref-1.
            task = await eventually(lambda: tasks.task(f"{app.workflow_id}/referee/ref-1/declined"), what="declined task")
            assert task.status == "open" and task.assignee_id == "rec-1" and task.title == "Referee ref-1 can't give Ada Lovelace a reference"
            message = await eventually(lambda: tasks.message(f"{app.workflow_id}/referee/ref-1/replacement"), what="replacement request")
            assert message.recipient_role == "candidate" and message.subject == "Could you give us another referee?"
            assert tasks.message(f"{check}/request") is None

            # ref-2 declines through the link in their email, saying why: the recruiter reads it.
            _, decline_2 = await links_in(tasks, f"{app.workflow_id}-referee-ref-2/consent-request")
            form = await http.get(decline_2)
            assert "Tell us you can&#39;t give a reference" in form.text and 'name="reason"' in form.text
            answer = await http.post(decline_2, data={"reason": "I left the firm before\x00 Ada joined."})
            assert answer.status_code == 200 and "Thank you for letting us know" in answer.text
            task_2 = await eventually(lambda: tasks.task(f"{app.workflow_id}/referee/ref-2/declined"), what="ref-2's declined task")
            assert "(I left the firm before Ada joined.)" in task_2.instructions
            # ref-1's own decline link, unused, now finds the decline already taken: no second effect.
            await http.post(decline)
            assert len([t for t in tasks.tasks(process_id=app.workflow_id) if t.kind == "referee_declined"]) == 2
            assert len([m for m in tasks.messages() if m.key.endswith("/replacement")]) == 2
