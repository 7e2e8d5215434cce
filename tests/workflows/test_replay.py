"""Recorded histories replay on the current workflow code.

The JSON files under tests/histories are processes as they ran (recorded with
`python -m tests.histories.record`). A change to a workflow that would break a running process
fails here; guard such a change with `workflow.patched` (README, "Changing a workflow").
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from codec.encryption import engine_data_converter
from domain.events import CanonicalEvent
from domain.process_state import CarriedProcess
from domain.status import ProcessStatus
from worker import WORKFLOWS, workflow_runner
from workflows.post_interview import PostInterviewProcess


HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*/*.json"))


def load(path: Path) -> WorkflowHistory:
    workflow_id = path.name.rsplit(".run", 1)[0]  # <workflow id>.run<N>.json
    return WorkflowHistory.from_json(workflow_id, json.loads(path.read_text()))


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows) or WORKFLOWS, data_converter=engine_data_converter, workflow_runner=workflow_runner())


def test_every_workflow_type_has_recorded_histories():
    for folder in {path.parent for path in HISTORIES}:
        types = {
            load(path).events[0].workflow_execution_started_event_attributes.workflow_type.name
            for path in folder.glob("*.json")
        }
        if types == {"GreenhouseInterviewPoller"}:
            continue  # the Greenhouse interview poller's own recordings (tests/histories/record_harvest_poller.py)
        # The Bullhorn pollers' recordings (tests/histories/record_bullhorn.py) hold that workflow alone.
        expected = {"BullhornPoller"} if folder.name.endswith("-bullhorn") else {"PostInterviewProcess", "RefereeCheck", "RelationshipProcess"}
        assert types == expected, folder.name
    assert len(HISTORIES) >= 7


@pytest.mark.parametrize("path", HISTORIES, ids=[f"{p.parent.name}/{p.name}" for p in HISTORIES])
async def test_recorded_history_replays_on_current_code(path: Path):
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


# What the replay check is for: an unguarded change to a running workflow is caught, and the
# same change behind `workflow.patched` is safe.


@workflow.defn(name="PostInterviewProcess", sandboxed=False)
class UnguardedChange(PostInterviewProcess):
    @workflow.run
    async def run(self, start: CanonicalEvent | CarriedProcess) -> ProcessStatus:
        await workflow.sleep(timedelta(minutes=5))  # a new first step, where history has an activity
        return await super().run(start)


@workflow.defn(name="PostInterviewProcess", sandboxed=False)
class PatchedChange(PostInterviewProcess):
    @workflow.run
    async def run(self, start: CanonicalEvent | CarriedProcess) -> ProcessStatus:
        if workflow.patched("settle-before-policy"):
            await workflow.sleep(timedelta(minutes=5))
        return await super().run(start)


async def test_an_unguarded_change_fails_replay_and_a_patched_one_passes():
    history = load(next(p for p in HISTORIES if p.name == "post-interview-greenhouse-rec-placed.run1.json"))
    broken = await replayer(UnguardedChange).replay_workflow(history, raise_on_replay_failure=False)
    assert broken.replay_failure is not None and "Nondeterminism" in type(broken.replay_failure).__name__ + str(broken.replay_failure)
    patched = await replayer(PatchedChange).replay_workflow(history, raise_on_replay_failure=False)
    assert patched.replay_failure is None


def test_a_process_that_continued_as_new_is_among_the_recorded_histories():
    """A run that handed over (`continue-as-new`) and a run that started from the state carried
    over (its input a CarriedProcess, its reference check started by the run before) replay too."""
    starts = {}
    for path in HISTORIES:
        history = load(path)
        if history.events[0].workflow_execution_started_event_attributes.workflow_type.name == "PostInterviewProcess":
            starts[path] = (history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id, history.events[-1].event_type)
    continued = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert any(last == continued for _, last in starts.values()), "no recorded run continued as new"
    assert any(previous and last != continued for previous, last in starts.values()), "no recorded run that started from carried state closed"


def _patches(path: Path) -> set[str]:
    """The `workflow.patched` ids a recorded run took (its core_patch markers)."""
    found = set()
    for event in load(path).events:
        if event.HasField("marker_recorded_event_attributes") and event.marker_recorded_event_attributes.marker_name == "core_patch":
            payload = event.marker_recorded_event_attributes.details["patch-data"].payloads[0]
            found.add(json.loads(payload.data)["id"])
    return found


def test_every_interview_truth_patch_has_a_recorded_history():
    """Issue 10's changes to a running process each have a recorded run that took them (a
    scheduled interview watched, the urgent debrief replacing the booking, tasks taking the
    names, a close-out with no interview, a reopening reaching a closing run), so replay holds
    the new branches as well as the old ones."""
    from workflows import post_interview

    recorded = [p for p in HISTORIES if p.parent.name == "2026-12-03-interview-truth"]
    found = set().union(*(_patches(p) for p in recorded))
    patches = {
        post_interview.INTERVIEW_TRUTH,
        post_interview.ONE_DEBRIEF_TASK_PER_ROUND,
        post_interview.TASKS_TAKE_THE_NAMES,
        post_interview.CLOSE_OUT_FITS,
        post_interview.REOPEN,
    }
    assert patches <= found, sorted(patches - found)
    # A process reopened after it closed: its closed run and the run that took it up again.
    assert {p.name for p in recorded} >= {"post-interview-greenhouse-rec-truth.run1.json", "post-interview-greenhouse-rec-truth.run2.json"}


def test_a_burst_worked_off_in_bounded_activations_is_among_the_recorded_histories():
    """A process that took a burst of signals a batch per activation (`bounded-activations`,
    workflows/_arrivals.py): the 1 ms timers that ended its activations replay too."""
    bursts = []
    for path in HISTORIES:
        events = load(path).events
        marked = any(
            e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and "bounded-activations" in str(e.marker_recorded_event_attributes.details)
            for e in events
        )
        breathers = [
            e for e in events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == timedelta(milliseconds=1)
        ]
        if marked and breathers:
            bursts.append(path)
    assert bursts, "no recorded process worked off a burst in bounded activations"


def test_the_client_decision_chase_has_a_recorded_history():
    """Issue 14: a process that chased a silent client, across a continue-as-new, took the patch."""
    from workflows import post_interview

    recorded = [p for p in HISTORIES if p.parent.name == "2026-12-03-client-chase"]
    assert post_interview.CLIENT_DECISION_CHASE in set().union(*(_patches(p) for p in recorded))
    assert {p.name for p in recorded} >= {"post-interview-greenhouse-rec-client-chase.run1.json", "post-interview-greenhouse-rec-client-chase.run2.json"}


def test_feedback_with_substance_has_a_recorded_history():
    """Issue 14: a feedback task opened before the debrief and updated when it came, the rounds'
    debriefs noted on the ATS, the interviewers thanked by name: the process took both patches."""
    from workflows import post_interview

    recorded = [p for p in HISTORIES if p.parent.name == "2026-12-03-feedback-substance"]
    assert "post-interview-greenhouse-rec-feedback-debrief.run1.json" in {p.name for p in recorded}
    found = _patches(next(p for p in recorded if p.name == "post-interview-greenhouse-rec-feedback-debrief.run1.json"))
    assert {post_interview.FEEDBACK_CARRIES_DEBRIEF, post_interview.THANK_INTERVIEWERS_BY_NAME} <= found


def test_keeping_the_search_going_has_a_recorded_history():
    """Issue 14: processes that chased an unsigned contract and open vetting (across a
    continue-as-new), moved to `starting` only with both in, and closed on an offer that fell
    through, took the patches."""
    from workflows import post_interview

    recorded = [p for p in HISTORIES if p.parent.name == "2026-12-03-keep-search"]
    found = set().union(*(_patches(p) for p in recorded))
    assert {post_interview.KEEP_SEARCH_CHASES, post_interview.STARTING_NEEDS_BOTH, post_interview.OFFER_FELL_THROUGH} <= found
    assert {p.name for p in recorded} >= {
        "post-interview-greenhouse-rec-keep-search.run1.json",
        "post-interview-greenhouse-rec-keep-search.run2.json",
        "post-interview-greenhouse-rec-offer-withdrawn.run1.json",
        "post-interview-greenhouse-rec-vetting-failed.run1.json",
        "post-interview-greenhouse-rec-reneged.run1.json",
    }


def test_the_referee_flows_have_a_recorded_history():
    """Issue 14: a referee who declined and was replaced, and a check stood down once two of
    three references were in: the process and its checks took each referee-flow patch."""
    from workflows import _referee_flows

    recorded = [p for p in HISTORIES if p.parent.name == "2026-12-03-referee-flows"]
    process = set().union(*(_patches(p) for p in recorded if p.name.startswith("post-interview-greenhouse-rec-declined.") or p.name.startswith("post-interview-greenhouse-rec-two-of-three.")))
    assert {_referee_flows.REFEREE_DECLINED, _referee_flows.REFEREE_ADDED, _referee_flows.REFERENCES_N_OF_M} <= process, sorted(process)
    declined = _patches(next(p for p in recorded if p.name == "post-interview-greenhouse-rec-declined-referee-ref-no.run1.json"))
    not_needed = _patches(next(p for p in recorded if p.name == "post-interview-greenhouse-rec-two-of-three-referee-ref-three.run1.json"))
    assert _referee_flows.REFEREE_DECLINED in declined and _referee_flows.REFERENCES_N_OF_M in not_needed


def test_nurture_that_reaches_the_candidate_has_a_recorded_history():
    """Issue 14: a relationship whose check-in messaged the candidate and took their answers
    (open, not now, stop) across a continue-as-new took the patch."""
    from workflows import relationship

    recorded = [p for p in HISTORIES if p.parent.name == "2026-12-03-nurture-optout"]
    nurture = [p for p in recorded if p.name.startswith("relationship-greenhouse-cand-rec-nurture.")]
    assert len(nurture) >= 2, "the check-in's run and the run that took the answers"
    assert relationship.NURTURE in set().union(*(_patches(p) for p in nurture))


def _merged_patches_of_2026_12_03() -> set[str]:
    """The process's patches of the first merge of 2026-12-03 (issues 10 to 12 and the client chase)."""
    from workflows import post_interview

    return {
        post_interview.INTERVIEW_TRUTH,
        post_interview.ONE_DEBRIEF_TASK_PER_ROUND,
        post_interview.TASKS_TAKE_THE_NAMES,
        post_interview.CLOSE_OUT_FITS,
        post_interview.REOPEN,
        post_interview.CLIENT_DECISION_CHASE,
        post_interview.NO_PREPARATION_AFTER_THE_START,
        "bounded-activations",
    }


def _patches_in(folder: str) -> set[str]:
    return set().union(*(_patches(p) for p in HISTORIES if p.parent.name == folder))


def test_the_merged_code_is_recorded_with_every_process_patch():
    """The histories recorded on the code as merged (every branch of 2026-12-03 together) took
    each of the process's patches of that day, the newest included."""
    patches, found = _merged_patches_of_2026_12_03(), _patches_in("2026-12-03-merged")
    assert patches <= found, sorted(patches - found)


def test_the_code_as_merged_for_issue_14_is_recorded_with_every_patch():
    """The histories recorded once issue 14's branches were merged together (feedback with
    substance, keeping the search going, referee flows, nurture) took every patch of the process
    and the relationship, the earlier ones included: the running processes of today's code."""
    from workflows import post_interview, relationship

    patches = _merged_patches_of_2026_12_03() | {
        post_interview.FEEDBACK_CARRIES_DEBRIEF,
        post_interview.THANK_INTERVIEWERS_BY_NAME,
        post_interview.KEEP_SEARCH_CHASES,
        post_interview.STARTING_NEEDS_BOTH,
        post_interview.OFFER_FELL_THROUGH,
        post_interview.REOPEN_FORGETS_THE_FALLEN_OFFER,
        post_interview.REFEREE_DECLINED,
        post_interview.REFEREE_ADDED,
        post_interview.REFERENCES_N_OF_M,
        relationship.NURTURE,
    }
    found = _patches_in("2026-12-03-merged-issue-14")
    assert patches <= found, sorted(patches - found)
