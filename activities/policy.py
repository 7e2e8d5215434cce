"""The timing policy activity: reads the deployment's policy book for a client.

Running it as an activity (rather than passing the policy in from outside) puts its result in
the workflow's history: the process keeps the policy it started with, however the file changes.
"""

from __future__ import annotations

import structlog
from temporalio import activity

from domain import names
from domain.policy import PolicyBook, TimingPolicy

log = structlog.get_logger()


class PolicyActivities:
    def __init__(self, book: PolicyBook) -> None:
        self._book = book

    @activity.defn(name=names.LOAD_TIMING_POLICY)
    def load_timing_policy(self, client_id: str) -> TimingPolicy:
        policy = self._book.for_client(client_id)
        log.info("timing policy fixed", client_id=client_id, overridden=client_id in self._book.clients)
        return policy
