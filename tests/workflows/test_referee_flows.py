"""Referee flows (issue 14), on the time-skipping server.

- A referee who declines (`referee.declined`): their check ends without chasing, the recruiter
  gets a task, and the candidate is asked for another referee (once; never when the ATS says they
  must not be emailed) when too few referees can still answer.
- A referee named later (`references.requested` again, or `referee.added`) gets a check of their
  own; the others go on untouched; a referee already known is ignored.
- The policy's `references_needed` (N of M): once N have responded, the others stand down and
  hear they are no longer needed, and the offer is no longer blocked; declines never count.

The activities are the in-memory fakes (tests/workflows/fakes.py), days counted continuously.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from rich.console import Console
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from cli.render import status_view

from domain.policy import PolicyBook, TimingPolicy
from domain.status import ProcessStatus
from process_client import Delivery, deliver_event, process_handle, process_status
from tests.events import Application
from tests.harness import eventually, status_when
from tests.workflows.fakes import FakeStore, running_with_fakes

CONTINUOUS = TimingPolicy(calendar="continuous")
TWO_OF_THREE = PolicyBook(default=CONTINUOUS, clients={"two-enough": {"references_needed": 2}})


async def send(env: WorkflowEnvironment, task_queue: str, *events) -> None:
    for event in events:
        assert await deliver_event(env.client, event, task_queue) == Delivery.DELIVERED


def referee_messages(store: FakeStore, app: Application, referee: str) -> list[str]:
    prefix = f"{app.workflow_id}-referee-{referee}/"
    return [m.key.removeprefix(prefix) for m in store.messages() if m.key.startswith(prefix)]


def candidate_messages(store: FakeStore, app: Application) -> list[str]:
    return [m.key.removeprefix(app.workflow_id + "/") for m in store.messages(recipient_role="candidate") if m.key.startswith(app.workflow_id + "/")]


def tasks(store: FakeStore, app: Application, kind: str, status: str | None = "open") -> list:
    return [t for t in store.tasks(status=status) if t.process_id.startswith(app.workflow_id) and t.kind == kind]


def states(current: ProcessStatus) -> dict[str, str]:
    return {r.id: r.state.value for r in current.referees}


def added(app: Application, referee_id: str, replaces: str | None = None) -> Any:
    referee = {"id": referee_id, "name": f"Referee {referee_id}", "email": f"{referee_id}@example.org", "relationship": "former colleague"}
    return app.event("referee.added", {"referee": referee, "replaces": replaces})


def declined(app: Application, referee_id: str, reason: str | None = None) -> Any:
    return app.event("referee.declined", {"referee_id": referee_id, **({"reason": reason} if reason else {})})


async def status_of(env: WorkflowEnvironment, app: Application, predicate, what: str) -> ProcessStatus:
    return await status_when(env.client, app.source, app.application_id, predicate, what=what)


async def test_a_declining_referee_is_never_chased_and_the_candidate_is_asked_for_another_once(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", "ref-b", required=True))
        await send(time_env, task_queue, app.event("referee.consented", {"referee_id": "ref-a"}), app.event("referee.consented", {"referee_id": "ref-b"}))
        await eventually(lambda: "request" in referee_messages(store, app, "ref-b"), what="ref-b asked for the reference")
        await time_env.sleep(timedelta(days=1, hours=1))
        await eventually(lambda: "reminder/1" in referee_messages(store, app, "ref-b"), what="ref-b reminded once")

        await send(time_env, task_queue, declined(app, "ref-b", "I only worked with Ada for two weeks."))
        current = await status_of(time_env, app, lambda s: states(s).get("ref-b") == "declined", "ref-b declined")
        # The recruiter hears of it, with the referee's reason; the candidate is asked for another.
        task = (await eventually(lambda: tasks(store, app, "referee_declined"), what="declined task"))[0]
        assert task.title == "Referee ref-b can't give Ada Lovelace a reference"
        assert "(I only worked with Ada for two weeks.)" in task.instructions and "asked for another referee" in task.instructions
        assert task.assignee_id == "rec-1" and task.key == f"{app.workflow_id}/referee/ref-b/declined"
        await eventually(lambda: candidate_messages(store, app) == ["debrief/1/questions", "referee/ref-b/replacement"], what="replacement asked")
        message = store.message(f"{app.workflow_id}/referee/ref-b/replacement")
        assert message.subject == "Could you give us another referee?" and "Referee ref-b has let us know" in message.body
        assert "two weeks" not in message.body, "the referee's reason is for the recruiter only"
        assert current.offer_blocked is True
        assert current.references is not None and current.references.text == "0 of 2 needed in (2 referees, 1 declined)"
        # What `postinterview status` prints, and the UI's current details, say so too.
        console = Console(record=True, width=200)
        console.print(status_view(current, app.workflow_id))
        shown = console.export_text()
        assert "References     0 of 2 needed in (2 referees, 1 declined)" in shown and re.search(r"ref-b\s*│\s*declined", shown)
        handle = process_handle(time_env.client, app.source, app.application_id)
        details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
        assert "ref-b: declined" in details and "**References:** 0 of 2 needed in (2 referees, 1 declined)" in details

        # No more chasing: no reminder, no nudge, no overdue task, ever; its own tasks cancelled.
        before = referee_messages(store, app, "ref-b")
        await time_env.sleep(timedelta(days=10))
        assert referee_messages(store, app, "ref-b") == before
        assert not [t for t in store.tasks() if t.process_id == f"{app.workflow_id}-referee-ref-b" and t.status == "open"]
        # The same decline again (another id: the ATS and the link both said it): nothing more.
        await send(time_env, task_queue, declined(app, "ref-b"))
        await time_env.sleep(timedelta(hours=1))
        assert len(tasks(store, app, "referee_declined", None)) == 1
        assert candidate_messages(store, app).count("referee/ref-b/replacement") == 1
        # ref-a goes on as before: still asked, reminded and escalated.
        assert "reminder/1" in referee_messages(store, app, "ref-a") and tasks(store, app, "referee_overdue")


async def test_a_replacement_gets_its_own_check_and_the_offer_waits_for_it(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", "ref-b", required=True))
        await send(time_env, task_queue, app.event("referee.consented", {"referee_id": "ref-a"}), app.event("referee.responded", {"referee_id": "ref-a"}))
        await send(time_env, task_queue, declined(app, "ref-b"))
        await eventually(lambda: tasks(store, app, "referee_declined"), what="declined task")
        await send(time_env, task_queue, app.offer())
        current = await status_of(time_env, app, lambda s: s.stage == "offer", "the offer")
        assert current.offer_blocked is True and "offer is blocked" in current.waiting_for and "1 of 2 needed in" in current.waiting_for
        ref_a_messages = referee_messages(store, app, "ref-a")

        await send(time_env, task_queue, added(app, "ref-c", replaces="ref-b"))
        await eventually(lambda: referee_messages(store, app, "ref-c") == ["consent-request"], what="ref-c asked for consent")
        # The replacement pays off the decline: its task is done; the others are untouched.
        await eventually(lambda: len(tasks(store, app, "referee_declined", "done")) == 1, what="declined task done")
        assert referee_messages(store, app, "ref-a") == ref_a_messages
        # The same referee added again (or requested again): ignored.
        await send(time_env, task_queue, added(app, "ref-c"), app.references("ref-a", "ref-c", required=True))
        current = await status_of(time_env, app, lambda s: len(s.referees) == 3, "three referees")
        assert states(current) == {"ref-a": "responded", "ref-b": "declined", "ref-c": "awaiting_consent"}
        assert current.offer_blocked is True

        await send(time_env, task_queue, app.event("referee.consented", {"referee_id": "ref-c"}), app.event("referee.responded", {"referee_id": "ref-c"}))
        current = await status_of(time_env, app, lambda s: states(s).get("ref-c") == "responded", "ref-c responded")
        assert current.offer_blocked is False
        assert current.references.received == 2 and current.references.needed == 2


async def test_references_requested_again_naming_more_referees_starts_only_the_new_checks(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", required=False))
        await send(time_env, task_queue, app.event("referee.consented", {"referee_id": "ref-a"}))
        await eventually(lambda: referee_messages(store, app, "ref-a") == ["consent-request", "request"], what="ref-a asked")
        await send(time_env, task_queue, app.references("ref-a", "ref-d", "ref-d", required=True))
        await eventually(lambda: referee_messages(store, app, "ref-d") == ["consent-request"], what="ref-d asked for consent")
        current = await status_of(time_env, app, lambda s: set(states(s)) == {"ref-a", "ref-d"}, "two referees")
        assert states(current) == {"ref-a": "requested", "ref-d": "awaiting_consent"}
        assert current.offer_blocked is True, "the second request wants every reference before an offer"
        assert referee_messages(store, app, "ref-a") == ["consent-request", "request"], "ref-a's check is untouched"
        assert tasks(store, app, "referee_declined", None) == []


async def test_a_referee_declined_before_the_request_never_gets_a_check(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), declined(app, "ref-e"), app.references("ref-e", "ref-f", required=True))
        current = await status_of(time_env, app, lambda s: states(s) == {"ref-e": "declined", "ref-f": "awaiting_consent"}, "ref-e declined")
        assert current.references.text == "0 of 2 needed in (2 referees, 1 declined)"
        await eventually(lambda: "referee/ref-e/replacement" in candidate_messages(store, app), what="replacement asked")
        await eventually(lambda: tasks(store, app, "referee_declined"), what="declined task")
        await time_env.sleep(timedelta(days=5))
        assert referee_messages(store, app, "ref-e") == [], "nobody contacts a referee who said no"


async def test_a_candidate_who_must_not_be_emailed_is_not_asked_but_the_recruiter_is_told_to(time_env, task_queue):
    app = Application()
    app.candidate["can_email"] = False
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", required=True), declined(app, "ref-a"))
        task = (await eventually(lambda: tasks(store, app, "referee_declined"), what="declined task"))[0]
        assert "must not be emailed" in task.instructions and "ask them for another referee yourself" in task.instructions
        await time_env.sleep(timedelta(hours=2))
        assert store.messages(recipient_role="candidate") == []


async def test_once_enough_references_are_in_the_others_stand_down_and_hear_so(time_env, task_queue):
    app = Application(client_id="two-enough")
    async with running_with_fakes(time_env, task_queue, policy=TWO_OF_THREE) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", "ref-b", "ref-c", required=True))
        for referee in ("ref-a", "ref-b", "ref-c"):
            await send(time_env, task_queue, app.event("referee.consented", {"referee_id": referee}))
        await eventually(lambda: all("request" in referee_messages(store, app, r) for r in ("ref-a", "ref-b", "ref-c")), what="all asked")
        await send(time_env, task_queue, app.offer(), app.event("referee.responded", {"referee_id": "ref-a"}))
        current = await status_of(time_env, app, lambda s: states(s).get("ref-a") == "responded", "one reference in")
        assert current.offer_blocked is True and current.references.text == "1 of 2 needed in (3 referees)"
        assert "references: 1 of 2 needed in (3 referees): the offer is blocked" in current.waiting_for

        await send(time_env, task_queue, app.event("referee.responded", {"referee_id": "ref-b"}))
        current = await status_of(time_env, app, lambda s: states(s).get("ref-c") == "not_needed", "ref-c stood down")
        assert current.offer_blocked is False
        assert current.waiting_for == "the candidate's answer to the offer"
        await eventually(lambda: referee_messages(store, app, "ref-c")[-1] == "no-longer-needed", what="ref-c told")
        message = store.message(f"{app.workflow_id}-referee-ref-c/no-longer-needed")
        assert "no longer need it" in message.body
        # No more reminders or escalations for ref-c; its check ended reporting `not_needed`.
        await time_env.sleep(timedelta(days=10))
        assert not [m for m in referee_messages(store, app, "ref-c") if m.startswith("reminder")]
        assert tasks(store, app, "referee_overdue", None) == []
        assert states(await process_status(time_env.client, app.source, app.application_id))["ref-c"] == "not_needed"
        # A referee named once enough are in is not contacted at all.
        await send(time_env, task_queue, added(app, "ref-late"))
        current = await status_of(time_env, app, lambda s: "ref-late" in states(s), "ref-late named")
        assert states(current)["ref-late"] == "not_needed"
        await time_env.sleep(timedelta(hours=1))
        assert referee_messages(store, app, "ref-late") == []


async def test_declines_do_not_count_and_the_candidate_is_asked_only_when_too_few_can_answer(time_env, task_queue):
    app = Application(client_id="two-enough")
    async with running_with_fakes(time_env, task_queue, policy=TWO_OF_THREE) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", "ref-b", "ref-c", required=True))
        await send(time_env, task_queue, declined(app, "ref-a"))
        task = (await eventually(lambda: tasks(store, app, "referee_declined"), what="first declined task"))[0]
        assert "2 other referees can still give the 2 references needed: no replacement is asked for." in task.instructions
        await time_env.sleep(timedelta(hours=1))
        assert "referee/ref-a/replacement" not in candidate_messages(store, app)

        await send(time_env, task_queue, declined(app, "ref-b"))
        await eventually(lambda: "referee/ref-b/replacement" in candidate_messages(store, app), what="the candidate asked for more")
        current = await status_of(time_env, app, lambda s: states(s).get("ref-b") == "declined", "ref-b declined")
        assert current.references.text == "0 of 2 needed in (3 referees, 2 declined)" and current.offer_blocked is True
        # ref-c alone cannot make two: its response leaves the offer blocked until a new referee answers.
        await send(time_env, task_queue, app.event("referee.consented", {"referee_id": "ref-c"}), app.event("referee.responded", {"referee_id": "ref-c"}))
        current = await status_of(time_env, app, lambda s: states(s).get("ref-c") == "responded", "ref-c responded")
        assert current.offer_blocked is True
        await send(time_env, task_queue, added(app, "ref-d", replaces="ref-b"), app.event("referee.responded", {"referee_id": "ref-d"}))
        current = await status_of(time_env, app, lambda s: states(s).get("ref-d") == "responded", "ref-d responded")
        assert current.offer_blocked is False and current.references.text == "2 of 2 needed in (4 referees, 2 declined)"
        # Enough are in: the declined referees' tasks are done.
        await eventually(lambda: tasks(store, app, "referee_declined") == [], what="declined tasks closed")


async def test_the_declined_task_is_completed_from_the_desk(time_env, task_queue):
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", required=False), declined(app, "ref-a"))
        task = (await eventually(lambda: tasks(store, app, "referee_declined"), what="declined task"))[0]
        # The process lists the task once its activity's result is back (a moment after the store has it).
        await status_of(time_env, app, lambda s: any(t.kind == "referee_declined" for t in s.open_tasks), "the process lists the declined task")
        handle = process_handle(time_env.client, app.source, app.application_id)
        await handle.execute_update(
            "complete_task", {"key": task.key, "kind": "referee_declined", "outcome": "done", "completed_by": "rec-1", "context": task.context or {}}
        )
        await status_of(time_env, app, lambda s: not [t for t in s.open_tasks if t.kind == "referee_declined"], "the declined task done")


async def test_a_recruiter_who_hears_the_referee_can_not_completes_their_task_so(time_env, task_queue):
    """The referee says no on the phone: the recruiter completes the overdue task with
    `referee_declined` (the note is the reason), and the process takes it as the event."""
    app = Application()
    async with running_with_fakes(time_env, task_queue) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", required=True), app.event("referee.consented", {"referee_id": "ref-a"}))
        await time_env.sleep(timedelta(days=3, hours=1))
        overdue = (await eventually(lambda: tasks(store, app, "referee_overdue"), what="overdue task"))[0]
        handle = process_handle(time_env.client, app.source, app.application_id)
        completion = {"key": overdue.key, "kind": "referee_overdue", "outcome": "referee_declined", "completed_by": "rec-1", "note": "Moved abroad, no longer allowed to.", "context": overdue.context or {}}
        result = await handle.execute_update("complete_task", completion)
        assert result["outcome"] == "referee_declined"
        await status_of(time_env, app, lambda s: states(s) == {"ref-a": "declined"}, "ref-a declined")
        task = (await eventually(lambda: tasks(store, app, "referee_declined"), what="declined task"))[0]
        assert "(Moved abroad, no longer allowed to.)" in task.instructions
        await eventually(lambda: "referee/ref-a/replacement" in candidate_messages(store, app), what="replacement asked")
        # An unknown referee's task cannot be completed so.
        bad = {**completion, "key": f"{app.workflow_id}-referee-ref-zz/overdue"}
        try:
            await handle.execute_update("complete_task", bad)
        except Exception as error:  # noqa: BLE001 - the update's refusal
            assert "no referee 'ref-zz'" in str(error.__cause__ or error)
        else:
            raise AssertionError("a completion for an unknown referee was accepted")


async def test_a_decline_reaches_a_check_started_by_an_earlier_run_and_the_owed_replacement_is_carried(time_env, task_queue):
    app = Application(client_id="noisy")
    book = PolicyBook(default=CONTINUOUS, clients={"noisy": {"signals_per_run": 10}})
    async with running_with_fakes(time_env, task_queue, policy=book) as store:
        await send(time_env, task_queue, app.interview(1), app.references("ref-a", "ref-b", required=True), app.event("referee.consented", {"referee_id": "ref-b"}))
        await eventually(lambda: "request" in referee_messages(store, app, "ref-b"), what="ref-b asked")
        first_run = (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id
        for _ in range(10):  # the same interview again: the run continues as new, the checks outlive it
            await send(time_env, task_queue, app.interview(1))

        async def continued() -> bool:
            return (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id != first_run

        await eventually(continued, what="a new run")
        await send(time_env, task_queue, declined(app, "ref-b"))
        await status_of(time_env, app, lambda s: states(s).get("ref-b") == "declined", "ref-b declined in the new run")
        await eventually(lambda: "referee/ref-b/replacement" in candidate_messages(store, app), what="replacement asked")
        # The check the earlier run started has ended (no more chasing). (No time is skipped from
        # here: the time-skipping server stops skipping once a child whose parent run continued as
        # new has completed, whatever completed it: a response does the same.)
        check = time_env.client.get_workflow_handle(f"{app.workflow_id}-referee-ref-b")
        assert await eventually(lambda: _completed(check), what="ref-b's check ended")
        assert not [m for m in referee_messages(store, app, "ref-b") if m.startswith("reminder")]
        current = await process_status(time_env.client, app.source, app.application_id)
        assert states(current)["ref-b"] == "declined" and current.references.text == "0 of 2 needed in (2 referees, 1 declined)"
        # Another boundary: the replacement still owed is carried into the next run.
        second_run = (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id
        for _ in range(10):
            await send(time_env, task_queue, app.interview(1))

        async def continued_again() -> bool:
            return (await process_handle(time_env.client, app.source, app.application_id).describe()).run_id != second_run

        await eventually(continued_again, what="a third run")
        current = await process_status(time_env.client, app.source, app.application_id)
        assert current.references.needed == 2 and current.offer_blocked is True
        await send(time_env, task_queue, added(app, "ref-c"))
        await eventually(lambda: len(tasks(store, app, "referee_declined", "done")) == 1, what="the replacement closes the decline's task")


async def _completed(handle) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
