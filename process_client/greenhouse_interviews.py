"""Starting (or reconfiguring) an account's Greenhouse interview poller, and reading its state:
what the worker does at start-up and `postinterview greenhouse-interviews` shows."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from domain.greenhouse_interviews import CONFIGURE_SIGNAL, STATE_QUERY, WORKFLOW, PollerConfig, PollerState, poller_workflow_id
from process_client.errors import translated


async def ensure_poller(client: Client, config: PollerConfig, task_queue: str) -> str:
    """The account's poller running with `config`: started if there is none (signal-with-start),
    else told the config (a running one keeps its cursor). Its workflow id."""
    workflow_id = poller_workflow_id(config.account)
    with translated(workflow_id):
        await client.start_workflow(
            WORKFLOW,
            PollerState(config=config),
            id=workflow_id,
            task_queue=task_queue,
            start_signal=CONFIGURE_SIGNAL,
            start_signal_args=[config],
            # A poller that failed or was terminated is started afresh (a new cursor).
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Greenhouse interviews of account {config.account}",
        )
    return workflow_id


async def poller_state(client: Client, account: str) -> PollerState:
    """What the account's poller holds; ProcessNotFound when there is none."""
    workflow_id = poller_workflow_id(account)
    with translated(workflow_id):
        return await client.get_workflow_handle(workflow_id).query(STATE_QUERY, result_type=PollerState)
