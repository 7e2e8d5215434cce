"""RelationshipProcess: don't sever ties (seed §5), one long-running process per candidate.

Every post-interview process hands its candidate over when it ends: placed candidates get
check-ins after the first week and after probation, candidates who were rejected or withdrew get
check-ins months later. A candidate can come back through several applications over the years;
each handover adds its check-ins (a retried handover is a no-op by its id).

Each check-in starts a fresh run (continue-as-new), so a relationship that lasts years keeps a
history of a few dozen events.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import contract, names
    from domain.follow_through import Assignee, TaskKind, TaskRequest
    from domain.status import CheckIn, Handover, RelationshipState, Reopening
    from workflows import _faults as faults
    from workflows import _follow_through as act


@workflow.defn(name=contract.RELATIONSHIP_WORKFLOW)
class RelationshipProcess:
    @workflow.init
    def __init__(self, state: RelationshipState) -> None:
        self._state = state
        self._changed = False

    @workflow.signal(name=names.HANDOVER_SIGNAL)
    def handover(self, handover: Handover) -> None:
        if handover.handover_id in self._state.handovers_seen:
            return
        self._state.handovers_seen.append(handover.handover_id)
        self._state.candidate, self._state.recruiter = handover.candidate, handover.recruiter
        known = {c.key for c in self._state.pending} | set(self._state.done)
        self._state.pending.extend(c for c in handover.check_ins if c.key not in known)
        self._state.pending.sort(key=lambda c: c.at)
        self._changed = True

    @workflow.signal(name=names.APPLICATION_REOPENED_SIGNAL)
    def application_reopened(self, reopening: Reopening) -> None:
        """An application handed over is live again: its check-ins are no longer due (a later
        close hands the candidate over again, with check-ins of its own)."""
        prefix = f"{reopening.process_id}/"
        kept = [c for c in self._state.pending if not c.key.startswith(prefix)]
        if len(kept) != len(self._state.pending):
            self._state.pending = kept
            self._changed = True

    @workflow.query(name=contract.STATUS_QUERY)
    def status(self) -> RelationshipState:
        return self._state

    @workflow.run
    async def run(self, state: RelationshipState) -> RelationshipState:
        # Started by signal-with-start: the first handover may still be on its way.
        await workflow.wait_condition(lambda: bool(self._state.pending))
        while self._state.pending:
            check_in = self._state.pending[0]
            workflow.set_current_details(
                f"**Next check-in:** {check_in.occasion}, {check_in.at:%Y-%m-%d} "
                f"({len(self._state.pending)} planned, {len(self._state.done)} done)"
            )
            wait = check_in.at - workflow.now()
            if wait.total_seconds() > 0:
                self._changed = False
                try:
                    # Wake early when a handover brings a check-in that is due sooner.
                    await workflow.wait_condition(lambda: self._changed, timeout=wait, timeout_summary=f"Check-in: {check_in.occasion}")
                    continue
                except asyncio.TimeoutError:
                    pass
            await self._check_in(check_in)
            # By key: a reopening may have dropped check-ins while this one's task was written.
            self._state.pending = [c for c in self._state.pending if c.key != check_in.key]
            self._state.done.append(check_in.key)
            if self._state.pending:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)
        return self._state

    async def _check_in(self, check_in: CheckIn) -> None:
        recruiter, candidate = self._state.recruiter, self._state.candidate
        assert recruiter is not None and candidate is not None
        # A check-in the store refuses for good (a NUL in a name) is logged, counted and
        # skipped; the relationship goes on to the next one (workflows/_faults.py).
        await faults.attempt(
            f"check-in {check_in.key}",
            act.create_task(
                TaskRequest(
                    key=check_in.key,
                    process_id=workflow.info().workflow_id,
                    kind=TaskKind.CHECK_IN,
                    assignee=Assignee(id=recruiter.id, name=recruiter.name, email=recruiter.email, lead_id=recruiter.lead.id if recruiter.lead else None),
                    due_at=check_in.due_at,
                    context={
                        "candidate": candidate.name or f"candidate {candidate.id}",
                        "occasion": check_in.occasion,
                        "recruiter": recruiter.name or recruiter.id,
                    },
                ),
                summary=f"Task for the recruiter: check in ({check_in.occasion})",
            ),
        )
