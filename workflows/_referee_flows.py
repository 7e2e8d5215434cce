"""Referee flows of PostInterviewProcess (issue 14): a referee who declines, referees added later,
and N of M references.

- `referee.declined` (from the ATS, or the referee's own signed link): the referee's check ends
  without chasing (its tasks cancelled), the recruiter gets a task saying so, and when too few
  referees can still answer the candidate is asked for another (send-once, never when the ATS
  says they must not be emailed).
- A referee named later (`references.requested` again, or `referee.added`) gets a check of their
  own; the others go on untouched; a referee already known is ignored. A new referee pays off one
  owed replacement: when none is owed any more, the "declined" tasks are done.
- The policy's `references_needed` (N): once N referees have responded, the others' checks stand
  down (each referee contacted hears they are no longer needed) and the offer is no longer
  blocked. Unset: every referee named is needed, a declined one replaced. A decline never counts.

A mixin: the process's state (`_referees`, `_tasks`, ...) and plumbing (`_open_task`,
`_message_candidate`, ...) are PostInterviewProcess's own. Each change to what a running process
does is behind a patch (the constants below); histories recorded before never reach these paths
(no decline, no `referee.added`, no `references_needed` in their policy), so they replay as
recorded.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.events import CanonicalEvent, EventType, RefereeAddedData, RefereeData, ReferencesRequestedData
    from domain.follow_through import TaskKind
    from domain.status import ReferenceCount, RefereeState
    from workflows import _follow_through as act
    from workflows._business_time import add_business_hours
    from workflows.referee_check import REFEREE_DECLINED, REFERENCES_N_OF_M

# `referee.added`: a referee named after the references were requested gets a check of their own.
REFEREE_ADDED = "referee-added"

__all__ = ["REFEREE_ADDED", "REFEREE_DECLINED", "REFERENCES_N_OF_M", "RefereeFlows"]

# A referee in one of these states may still give a reference.
_STILL_OPEN = (RefereeState.AWAITING_CONSENT, RefereeState.REQUESTED, RefereeState.OVERDUE, RefereeState.NO_CONSENT)
# A referee in one of these states takes no more reports from a check (it has ended, or is ending).
SETTLED_REFEREE_STATES = (RefereeState.RESPONDED, RefereeState.CANCELLED, RefereeState.DECLINED, RefereeState.NOT_NEEDED)


class RefereeFlows:
    """Mixed into PostInterviewProcess; every attribute used here is the process's own."""

    _id: str
    _referees: dict[str, Any]
    _referee_details: dict[str, Any]
    _referee_facts: dict[str, set[EventType]]
    _tasks: dict[str, Any]
    _candidate: Any
    _policy: Any
    _replacements_owed: int

    # --- counting: N of M -------------------------------------------------------------------

    def _reference_count(self) -> ReferenceCount | None:
        """How many references are in, and how many are enough; None before any referee is named."""
        if not self._referees:
            return None
        states = [r.state for r in self._referees.values()]
        declined = states.count(RefereeState.DECLINED)
        # Every referee named, a declined one replaced (owed until the candidate names another)...
        needed = len(states) - declined + self._replacements_owed
        configured = self._policy.references_needed if self._policy is not None else None
        if configured is not None:
            # ... or the policy's N, when fewer are enough.
            needed = min(configured, needed)
        return ReferenceCount(received=states.count(RefereeState.RESPONDED), needed=max(needed, 1), referees=len(states), declined=declined)

    def _enough_references(self) -> bool:
        count = self._reference_count()
        return count is None or count.received >= count.needed

    def _references_text(self) -> str:
        count = self._reference_count()
        return count.text if count is not None else "none requested"

    # --- a referee declines ---------------------------------------------------------------------

    async def _on_referee_declined(self, event: CanonicalEvent) -> None:
        data: RefereeData = event.data  # type: ignore[assignment]
        referee_id = data.referee_id
        self._referee_facts.setdefault(referee_id, set()).add(EventType.REFEREE_DECLINED)
        status = self._referees.get(referee_id)
        if status is None:
            # Before the request reached us: taken when the referee is named (no check starts).
            workflow.logger.info("referee declined before being requested", extra={"referee_id": referee_id})
            return
        if status.state not in _STILL_OPEN:
            # A reference already in, a decline already taken, or stood down: nothing changes.
            workflow.logger.info("referee decline ignored", extra={"referee_id": referee_id, "state": status.state.value})
            return
        # The declined referee's place is owed a replacement from now on (the status's N of M too).
        self._referees[referee_id] = status.model_copy(update={"state": RefereeState.DECLINED})
        self._replacements_owed += 1
        await self._signal_referee_check(referee_id, names.REFEREE_DECLINED_SIGNAL)  # type: ignore[attr-defined]
        await self._referee_declined(referee_id, data.reason)

    async def _referee_declined(self, referee_id: str, reason: str | None) -> None:
        """Tell the recruiter; ask the candidate for another referee when too few can still answer."""
        count = self._reference_count()
        assert count is not None
        can_answer = count.referees - count.declined
        referee = self._referee_details.get(referee_id)
        name = referee.name if referee is not None and referee.name else f"referee {referee_id}"
        ask = can_answer < count.needed
        if ask:
            await self._message_candidate(  # type: ignore[attr-defined]
                "referee_replacement_request", f"{self._id}/referee/{referee_id}/replacement", referee=name
            )
        if not ask:
            next_step = f"{can_answer} other referee{'s' if can_answer != 1 else ''} can still give the {count.needed} reference{'s' if count.needed != 1 else ''} needed: no replacement is asked for."
        elif self._candidate.can_email is False:
            next_step = "The candidate must not be emailed (the ATS says so): ask them for another referee yourself."
        else:
            next_step = "The candidate has been asked for another referee: agree one with them."
        policy = self._policy
        office = policy.office_calendar()
        await self._open_task(  # type: ignore[attr-defined]
            TaskKind.REFEREE_DECLINED,
            f"{self._id}/referee/{referee_id}/declined",
            add_business_hours(workflow.now(), policy.send_feedback_due_business_hours, office),
            referee=name,
            referee_id=referee_id,
            relationship=referee.relationship if referee is not None else "a referee",
            declined_reason=f" ({reason.strip()})" if reason and reason.strip() else "",
            next_step=next_step,
        )
        self._show_progress()  # type: ignore[attr-defined]

    def _response_from_a_decliner(self, data: RefereeData) -> None:
        """A referee who declined sends a reference after all: it counts, and the replacement
        their decline asked for is owed no more."""
        status = self._referees.get(data.referee_id)
        if status is not None and status.state == RefereeState.DECLINED and self._replacements_owed:
            self._replacements_owed -= 1

    # --- referees named later -------------------------------------------------------------------

    def _on_referee_added(self, data: RefereeAddedData) -> None:
        """One more referee: as if the references were requested again naming them (a referee
        already known is ignored; the offer's condition stays as requested)."""
        self._on_references_requested(ReferencesRequestedData(referees=[data.referee], required_before_offer=False))  # type: ignore[attr-defined]

    def _declined_before_named(self, referee_id: str) -> bool:
        """A referee named now who declined before: no check is started for them."""
        if EventType.REFEREE_DECLINED not in self._referee_facts.get(referee_id, set()):
            return False
        return workflow.patched(REFEREE_DECLINED)

    def _not_needed_when_named(self) -> bool:
        """A referee named when enough references are in already (the policy's N): no check."""
        configured = self._policy.references_needed if self._policy is not None else None
        return configured is not None and self._referees and self._enough_references() and workflow.patched(REFERENCES_N_OF_M)  # type: ignore[return-value]

    async def _referees_named(self, before: set[str]) -> None:
        """After referees were named: new ones pay off owed replacements, those who had declined
        already are followed up, and enough references stand the others down."""
        new = [r for r in self._referees if r not in before]
        replacements = [r for r in new if self._referees[r].state not in (RefereeState.DECLINED, RefereeState.NOT_NEEDED)]
        if replacements and self._replacements_owed:
            self._replacements_owed = max(0, self._replacements_owed - len(replacements))
            if not self._replacements_owed:
                await self._resolve_declined_tasks("a replacement referee was named")
        declined = [r for r in new if self._referees[r].state == RefereeState.DECLINED]
        self._replacements_owed += len(declined)
        for referee_id in declined:
            await self._referee_declined(referee_id, None)
        await self._stand_down_if_enough()

    # --- N of M: enough references --------------------------------------------------------------

    async def _stand_down_if_enough(self) -> None:
        """Once enough references are in, the referees still open stand down (told they are no
        longer needed) and the declined referees' tasks are done."""
        if not self._enough_references():
            return
        waiting = [r.id for r in self._referees.values() if r.state in _STILL_OPEN]
        declined_tasks = self._declined_tasks()
        if not (waiting or declined_tasks) or not workflow.patched(REFERENCES_N_OF_M):
            return
        for referee_id in waiting:
            self._referees[referee_id] = self._referees[referee_id].model_copy(update={"state": RefereeState.NOT_NEEDED})
            await self._signal_referee_check(referee_id, names.REFEREE_NOT_NEEDED_SIGNAL)  # type: ignore[attr-defined]
        self._replacements_owed = 0
        await self._resolve_declined_tasks("enough references are in")
        self._show_progress()  # type: ignore[attr-defined]

    def _declined_tasks(self) -> list[str]:
        return [key for key in self._tasks if key.startswith(f"{self._id}/referee/") and key.endswith("/declined")]

    async def _resolve_declined_tasks(self, why: str) -> None:
        keys = self._declined_tasks()
        if not keys:
            return
        for key in keys:
            self._tasks.pop(key)
        await self._attempt(f"resolve {', '.join(keys)}", act.resolve_tasks(keys, names.TASK_DONE, why))  # type: ignore[attr-defined]
