"""What the Greenhouse interview poller has seen (table harvest_interviews), and storing what it
found: the canonical events as deliveries in the intake table, beside the interviews' new state,
in one transaction.

One transaction for both is what makes a poll safe to repeat: a retry after the commit compares
the listing with what was committed and finds nothing new; a retry after a crash before the commit
finds the old state and makes the same events, whose keys the intake table stores once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from store.intake_store import Accepted, IntakeStore, NewDelivery
from store.schema import harvest_interviews

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class SeenInterview:
    """A scheduled interview as the poller last saw it."""

    interview_id: str
    application_id: str
    starts_at: datetime
    ends_at: datetime | None
    status: str
    revision: int = 0
    # The interview id its events carry (Greenhouse's interview step); None for one first seen
    # before the poller reported steps, whose events carried the scheduled id.
    reported_as: str | None = None

    @property
    def process_interview_id(self) -> str:
        """The id the process knows this interview by."""
        return self.reported_as or self.interview_id


class HarvestInterviewStore:
    """The poller's table, written through the intake store's engine (the same database)."""

    def __init__(self, intake: IntakeStore) -> None:
        self.intake = intake
        self.engine = intake.engine

    def seen(self, account: str, interview_ids: Iterable[str]) -> dict[str, SeenInterview]:
        ids = sorted(set(interview_ids))
        if not ids:
            return {}
        found: dict[str, SeenInterview] = {}
        with self.engine.connect() as connection:
            # In chunks: SQLite limits the parameters of one statement.
            for start in range(0, len(ids), 500):
                query = select(harvest_interviews).where(
                    harvest_interviews.c.account == account, harvest_interviews.c.interview_id.in_(ids[start : start + 500])
                )
                for row in connection.execute(query).mappings():
                    found[row["interview_id"]] = _seen(row)
        return found

    def of_applications(self, account: str, application_ids: Iterable[str]) -> dict[str, list[SeenInterview]]:
        """Every interview seen of these applications (cancelled ones included), by application."""
        ids = sorted(set(application_ids))
        found: dict[str, list[SeenInterview]] = {application_id: [] for application_id in ids}
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                query = select(harvest_interviews).where(
                    harvest_interviews.c.account == account, harvest_interviews.c.application_id.in_(ids[start : start + 500])
                )
                for row in connection.execute(query).mappings():
                    found[row["application_id"]].append(_seen(row))
        return found

    def upcoming(self, account: str, now: datetime) -> list[SeenInterview]:
        """Interviews still scheduled to end after `now`: those whose disappearance from Harvest
        means they were cancelled (one that has ended is the process's to take as done)."""
        query = select(harvest_interviews).where(
            harvest_interviews.c.account == account,
            harvest_interviews.c.status == "scheduled",
            harvest_interviews.c.ends_at.is_not(None),
            harvest_interviews.c.ends_at > now,
        )
        with self.engine.connect() as connection:
            return [_seen(row) for row in connection.execute(query).mappings()]

    def counts(self, account: str) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(harvest_interviews.c.status).where(harvest_interviews.c.account == account)
            ).scalars()
            counts: dict[str, int] = {}
            for status in rows:
                counts[status] = counts.get(status, 0) + 1
        return counts

    def record(self, account: str, deliveries: Sequence[NewDelivery], interviews: Sequence[SeenInterview], seen_at: datetime) -> list[Accepted]:
        """Store `deliveries` once each (by their keys) and `interviews` as the new state, in one
        transaction; the deliveries' outcomes."""
        if not deliveries and not interviews:
            return []
        insert = _INSERTS[self.engine.dialect.name](harvest_interviews)
        with self.engine.begin() as connection:
            accepted = self.intake._accept_in(connection, deliveries) if deliveries else []
            for interview in interviews:
                values = {
                    "application_id": interview.application_id,
                    "starts_at": interview.starts_at,
                    "ends_at": interview.ends_at,
                    "status": interview.status,
                    "revision": interview.revision,
                    "reported_as": interview.reported_as,
                    "seen_at": seen_at,
                }
                connection.execute(
                    insert.values(account=account, interview_id=interview.interview_id, **values).on_conflict_do_update(
                        index_elements=[harvest_interviews.c.account, harvest_interviews.c.interview_id], set_=values
                    )
                )
        return accepted


def _seen(row) -> SeenInterview:  # type: ignore[no-untyped-def]
    return SeenInterview(
        interview_id=row["interview_id"],
        application_id=row["application_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        status=row["status"],
        revision=row["revision"],
        reported_as=row["reported_as"],
    )
