"""The handover activity: a closed process passes its candidate to the relationship process.

A workflow cannot signal-with-start another workflow, so this activity does it through the
client. Signal-with-start makes it idempotent twice over: a running relationship receives the
handover, a missing one is started with it, and the relationship ignores a handover id it has
seen (so a retried activity adds nothing).
"""

from __future__ import annotations

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain import contract, names
from domain.status import Handover, RelationshipState, Reopening

log = structlog.get_logger()


class RelationshipActivities:
    def __init__(self, client: Client, task_queue: str = contract.TASK_QUEUE) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=names.HAND_OVER_TO_RELATIONSHIP)
    async def hand_over_to_relationship(self, handover: Handover) -> str:
        workflow_id = contract.relationship_workflow_id(handover.source, handover.candidate.id)
        handle = await self._client.start_workflow(
            contract.RELATIONSHIP_WORKFLOW,
            RelationshipState(source=handover.source, candidate_id=handover.candidate.id),
            id=workflow_id,
            task_queue=self._task_queue,
            start_signal=names.HANDOVER_SIGNAL,
            start_signal_args=[handover],
            # A candidate may come back years after an earlier relationship ran its course.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(contract.CANDIDATE_ID, handover.candidate.id),
                    SearchAttributePair(contract.RECRUITER_ID, handover.recruiter.id),
                    SearchAttributePair(contract.ATS_SOURCE, handover.source),
                ]
            ),
            static_summary=f"Relationship with candidate {handover.candidate.id} ({handover.source})",
            static_details="Don't sever ties: check-ins with the candidate after each application ends.",
        )
        log.info(
            "handed over to relationship",
            relationship_id=workflow_id,
            handover_id=handover.handover_id,
            outcome=handover.outcome,
            check_ins=len(handover.check_ins),
        )
        return handle.result_run_id or ""

    @activity.defn(name=names.REOPEN_RELATIONSHIP)
    async def reopen_relationship(self, reopening: Reopening) -> bool:
        """Tell the candidate's relationship that an application it was handed is live again: its
        check-ins for it are dropped. A plain signal, idempotent (a check-in dropped twice is
        gone once); False when no relationship runs (never handed over, or ran its course)."""
        workflow_id = contract.relationship_workflow_id(reopening.source, reopening.candidate_id)
        try:
            await self._client.get_workflow_handle(workflow_id).signal(names.APPLICATION_REOPENED_SIGNAL, reopening)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("no relationship to reopen", relationship_id=workflow_id, process_id=reopening.process_id)
            return False
        log.info("relationship told the application is live again", relationship_id=workflow_id, process_id=reopening.process_id)
        return True
