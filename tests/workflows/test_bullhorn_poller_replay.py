"""The Bullhorn poller's recorded histories (tests/histories/2026-12-03-bullhorn/, recorded with
`python -m tests.histories.record_bullhorn`) replay on the current code, and would catch a change
to the poller that is not behind `workflow.patched`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType

from domain.bullhorn import BullhornPollerState
from tests.workflows.test_replay import load, replayer
from workflows.bullhorn_poller import BullhornPoller

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*-bullhorn/*.json"))


def test_the_recordings_hold_what_a_poller_meets():
    assert HISTORIES, "no recorded Bullhorn poller histories"
    events = [event for path in HISTORIES for event in load(path).events]
    kinds = {event.event_type for event in events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in kinds  # a run that handed over
    assert EventType.EVENT_TYPE_TIMER_FIRED in kinds  # the idle wait after an empty poll
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds  # stop
    retried = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and e.activity_task_started_event_attributes.attempt > 1]
    assert retried, "no poll that failed and was retried (a 429, an expired session)"


async def test_every_recorded_poller_run_replays_on_current_code():
    for path in HISTORIES:
        result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@workflow.defn(name="BullhornPoller", sandboxed=False)
class UnguardedPoller(BullhornPoller):
    @workflow.run
    async def run(self, state: BullhornPollerState) -> BullhornPollerState:
        await workflow.sleep(timedelta(seconds=5))  # a new first step, where the history has an activity
        return await super().run(state)


async def test_an_unguarded_change_to_the_poller_fails_replay():
    broken = await replayer(UnguardedPoller).replay_workflow(load(HISTORIES[0]), raise_on_replay_failure=False)
    assert broken.replay_failure is not None
