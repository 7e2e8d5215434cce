"""Nurture that reaches the candidate, on the time-skipping server: each relationship check-in
also messages the candidate with three answers, and each answer does what it says ("open": a
call this week; "not now": the next check-in later; "stop": no more contact, tasks cancelled);
an opt-out recorded anywhere ends the check-ins before they contact anybody."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain import contract, names
from domain.contact import ContactPreference, NurtureAnswer, NurtureAnswerKind
from domain.events import Candidate, Recruiter
from domain.status import CheckIn, Handover, RelationshipState
from tests.harness import eventually
from tests.workflows.fakes import FakeStore, running_with_fakes

SOURCE = "greenhouse"


def _handover(candidate_id: str, now: datetime, days: list[int], can_email: bool | None = None) -> Handover:
    process = f"post-interview-{SOURCE}-app-{candidate_id}"
    return Handover(
        handover_id=f"{process}/rejected",
        source=SOURCE,
        application_id=f"app-{candidate_id}",
        outcome="rejected",
        candidate=Candidate(id=candidate_id, name="Ada Lovelace", email="ada@example.com", timezone="Europe/London", country="GB", can_email=can_email),
        recruiter=Recruiter(id="rec-1", name="Rita Recruiter", email="rita@agency.example"),
        client_name="Acme Capital",
        check_ins=[
            CheckIn(key=f"{process}/check-in/{day}", occasion=f"{day} days after the application closed", at=now + timedelta(days=day), due_at=now + timedelta(days=day + 7))
            for day in days
        ],
    )


async def _relationship(env: WorkflowEnvironment, task_queue: str, handover: Handover) -> WorkflowHandle:
    # What the hand-over activity does: signal-with-start.
    workflow_id = contract.relationship_workflow_id(handover.source, handover.candidate.id)
    await env.client.start_workflow(
        contract.RELATIONSHIP_WORKFLOW,
        RelationshipState(source=handover.source, candidate_id=handover.candidate.id),
        id=workflow_id,
        task_queue=task_queue,
        start_signal=names.HANDOVER_SIGNAL,
        start_signal_args=[handover],
    )
    # By id alone: signals and queries reach the latest run (it continues as new at each check-in).
    return env.client.get_workflow_handle(workflow_id, result_type=RelationshipState)


async def _state(handle: WorkflowHandle) -> RelationshipState:
    return await handle.query(contract.STATUS_QUERY, result_type=RelationshipState)


def _answer(kind: NurtureAnswerKind, link_id: str, now: datetime) -> NurtureAnswer:
    return NurtureAnswer(answer_id=f"link:{link_id}", answer=kind, at=now)


def _of(store: FakeStore, candidate_id: str) -> tuple[list[str], list[str]]:
    process = contract.relationship_workflow_id(SOURCE, candidate_id)
    return [f"{t.kind}:{t.status}" for t in store.tasks() if t.process_id == process], [m.key.rsplit("/", 1)[-1] for m in store.messages(process_id=process)]


async def test_a_check_in_messages_the_candidate_and_open_gives_the_recruiter_a_call(time_env, task_queue):
    now = await time_env.get_current_time()
    async with running_with_fakes(time_env, task_queue) as store:
        handle = await _relationship(time_env, task_queue, _handover("c-open", now, [90, 365]))
        await time_env.sleep(timedelta(days=91))
        message = await eventually(lambda: next((m for m in store.messages() if m.key.endswith("/check-in/90/nurture")), None), what="the check-in message")
        assert message.recipient_role == "candidate" and message.recipient_email == "ada@example.com"
        assert message.subject == "Checking in: how are things going?" and message.body.startswith("Hi Ada Lovelace,")
        assert any(t.kind == "check_in" for t in store.tasks())  # the recruiter's task, as before

        # The candidate is open to opportunities: the recruiter calls them this week (once, however often it is said).
        for _ in range(2):
            await handle.signal(names.NURTURE_ANSWER_SIGNAL, _answer(NurtureAnswerKind.OPEN, "open-1", now))
        call = await eventually(lambda: next((t for t in store.tasks() if t.kind == "nurture_call"), None), what="the call task")
        assert call.title == "Call Ada Lovelace this week: they are open to opportunities"
        assert call.assignee_id == "rec-1"
        answered = await time_env.get_current_time()
        assert timedelta(0) < call.due_at - answered <= timedelta(days=3, hours=1)  # 3 days on the continuous test calendar
        assert len([t for t in store.tasks() if t.kind == "nurture_call"]) == 1
        state = await _state(handle)
        assert state.answers_seen == ["link:open-1"] and state.answers == []
        assert [c.occasion for c in state.pending] == ["365 days after the application closed"]


async def test_not_now_moves_the_next_check_in_later(time_env, task_queue):
    now = await time_env.get_current_time()
    async with running_with_fakes(time_env, task_queue) as store:
        handle = await _relationship(time_env, task_queue, _handover("c-later", now, [90, 120]))
        await time_env.sleep(timedelta(days=91))
        await eventually(lambda: "nurture" in _of(store, "c-later")[1], what="the first check-in's message")
        await handle.signal(names.NURTURE_ANSWER_SIGNAL, _answer(NurtureAnswerKind.NOT_NOW, "later-1", now))

        async def moved() -> bool:
            pending = (await _state(handle)).pending
            return bool(pending) and pending[0].at == now + timedelta(days=120 + 90, hours=1)  # + 1 business hour (continuous)

        await eventually(moved, what="the next check-in moved")
        await time_env.sleep(timedelta(days=40))  # day 131: past the 120-day check-in as it was planned
        assert len([t for t in store.tasks() if t.kind == "check_in"]) == 1, "the check-in moved: not due yet"
        await time_env.sleep(timedelta(days=80))  # day 211: the moved check-in (day 210)
        await eventually(lambda: len([t for t in store.tasks() if t.kind == "check_in"]) == 2, what="the moved check-in")


async def test_stop_opts_out_cancels_the_tasks_and_ends_the_relationship(time_env, task_queue):
    now = await time_env.get_current_time()
    async with running_with_fakes(time_env, task_queue) as store:
        handle = await _relationship(time_env, task_queue, _handover("c-stop", now, [90, 365]))
        await time_env.sleep(timedelta(days=91))
        await eventually(lambda: "nurture" in _of(store, "c-stop")[1], what="the check-in's message")
        await handle.signal(names.NURTURE_ANSWER_SIGNAL, _answer(NurtureAnswerKind.OPEN, "open-2", now))
        await eventually(lambda: "nurture_call:open" in _of(store, "c-stop")[0], what="the call task")

        await handle.signal(names.NURTURE_ANSWER_SIGNAL, _answer(NurtureAnswerKind.STOP, "stop-2", now))
        final: RelationshipState = await handle.result()
        assert final.opted_out and final.pending == []
        tasks, _ = _of(store, "c-stop")
        assert sorted(tasks) == ["check_in:cancelled", "nurture_call:cancelled"]  # no contact tasks left open


async def test_an_opt_out_recorded_elsewhere_ends_the_check_ins_before_they_contact_anybody(time_env, task_queue):
    now = await time_env.get_current_time()
    async with running_with_fakes(time_env, task_queue) as store:
        # The candidate opted out from another message's link: the store knows, the relationship not yet.
        store.preferences[(SOURCE, "c-gone")] = ContactPreference(source=SOURCE, candidate_id="c-gone", opted_out_at=now, opted_out_via="link:x")
        handle = await _relationship(time_env, task_queue, _handover("c-gone", now, [90, 365]))
        await time_env.sleep(timedelta(days=91))
        final: RelationshipState = await handle.result()
        assert final.opted_out and final.pending == []
        assert _of(store, "c-gone") == ([], [])


async def test_can_email_false_gets_the_task_but_no_message(time_env, task_queue):
    now = await time_env.get_current_time()
    async with running_with_fakes(time_env, task_queue) as store:
        await _relationship(time_env, task_queue, _handover("c-private", now, [90, 365], can_email=False))
        await time_env.sleep(timedelta(days=91))
        await eventually(lambda: _of(store, "c-private")[0] == ["check_in:open"], what="the check-in task")
        assert _of(store, "c-private")[1] == []


async def test_the_last_check_in_waits_for_its_answer_then_ends(time_env, task_queue):
    now = await time_env.get_current_time()
    async with running_with_fakes(time_env, task_queue) as store:
        handle = await _relationship(time_env, task_queue, _handover("c-last", now, [7]))
        await time_env.sleep(timedelta(days=8))
        await eventually(lambda: "nurture" in _of(store, "c-last")[1], what="the check-in's message")

        async def awaiting() -> bool:
            state = await _state(handle)
            return state.pending == [] and state.awaiting_answers_until is not None

        await eventually(awaiting, what="the relationship waiting for the answer")
        # An answer a few days later still reaches it.
        await time_env.sleep(timedelta(days=3))
        await handle.signal(names.NURTURE_ANSWER_SIGNAL, _answer(NurtureAnswerKind.OPEN, "open-3", now))
        await eventually(lambda: "nurture_call:open" in _of(store, "c-last")[0], what="the call task")
        # No further answer: once its time is up (14 days) the relationship has run its course.
        await time_env.sleep(timedelta(days=12))
        final: RelationshipState = await handle.result()
        assert final.awaiting_answers_until is None and not final.opted_out
