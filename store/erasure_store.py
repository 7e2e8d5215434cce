"""A candidate's erasure, as far as the store goes (privacy/erasure.py carries out the whole of it):
the audit record of the request (`erasures`), the rows about the candidate's workflows purged, their
intake deliveries' payloads dropped, their data keys destroyed.

The rows about a candidate are those of their workflows: a post-interview process
(`post-interview-{source}-{application id}`), its referee checks (`{process id}-referee-{id}`) and
the candidate's relationship (`relationship-{source}-{candidate id}`). Tasks, their history and
their deliveries (notifications, Bullhorn's closed tasks and outcome notes), messages and their
deliveries, and used answer links are deleted; intake deliveries of the candidate's applications
keep their row (source, idempotency key, status: a re-delivery is still a duplicate) without their
payload, and a pending one is not delivered any more (ignored, "candidate erased").

Kept: users (recruiters, not candidates), what the Greenhouse interview poller last saw of an
interview (ids, times and status, no name: without it the poller would report the interview anew),
and the erasure record itself (a digest of the candidate's ATS id, who asked and how, counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from domain import names
from store.migrations import upgrade_store
from store.schema import (
    bullhorn_outcome_notes,
    contact_preferences,
    bullhorn_tasks_closed,
    data_key_workflows,
    data_keys,
    deliveries,
    erasures,
    link_opens,
    link_uses,
    messages,
    notifications,
    reference_reports,
    task_events,
    tasks,
)
from store.task_store import create_store_engine

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
REFEREE_INFIX = "-referee-"


@dataclass(frozen=True)
class ErasureRecord:
    id: int
    source: str
    requested_by: str
    via: str
    requested_at: datetime
    completed_at: datetime | None
    report: Mapping[str, Any] | None


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class ErasureStore:
    def __init__(self, url_or_engine: str | Engine) -> None:
        self._own = isinstance(url_or_engine, str)
        self.engine = create_store_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        upgrade_store(self.engine)

    def close(self) -> None:
        if self._own:
            self.engine.dispose()

    # --- the audit record ----------------------------------------------------------------------

    def record_request(self, subject: str, source: str, requested_by: str, via: str) -> tuple[int, list[int]]:
        """The erasure request's record: a new one (a repeated request is recorded too), or the
        unfinished one of the same candidate (a request that stopped half-way, run again: the
        forwarder's retry, the same command again); its id and the ids of the earlier, completed
        erasures of the same candidate."""
        with self.engine.begin() as connection:
            earlier = list(
                connection.execute(
                    select(erasures.c.id).where(erasures.c.subject == subject, erasures.c.completed_at.is_not(None)).order_by(erasures.c.id)
                ).scalars()
            )
            unfinished = connection.execute(
                select(erasures.c.id).where(erasures.c.subject == subject, erasures.c.completed_at.is_(None)).order_by(erasures.c.id).limit(1)
            ).scalar()
            if unfinished is not None:
                return int(unfinished), earlier
            erasure_id = connection.execute(
                erasures.insert()
                .values(subject=subject, source=source, requested_by=requested_by[:200], via=via[:200], requested_at=datetime.now(UTC))
                .returning(erasures.c.id)
            ).scalar_one()
        return int(erasure_id), earlier

    def complete(self, erasure_id: int, report: Mapping[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(erasures).where(erasures.c.id == erasure_id).values(completed_at=datetime.now(UTC), report=dict(report)))

    def records(self, limit: int = 50) -> list[ErasureRecord]:
        """The latest erasure requests, newest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(erasures).order_by(erasures.c.id.desc()).limit(limit)).mappings().all()
        return [
            ErasureRecord(row["id"], row["source"], row["requested_by"], row["via"], row["requested_at"], row["completed_at"], row["report"])
            for row in rows
        ]

    def is_erased(self, subject: str) -> bool:
        """Whether the candidate `subject` stands for was erased (their key destroyed, or a tombstone)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(data_keys.c.key_id).where(data_keys.c.subject == subject, data_keys.c.destroyed_at.is_not(None))
            ).first() is not None

    # --- what the store knows of the candidate -------------------------------------------------

    def key_ids(self, subject: str, workflow_ids: Iterable[str]) -> list[str]:
        """The candidate's data keys: their subject's, and those their workflows are registered under."""
        ids = list(dict.fromkeys(workflow_ids))
        with self.engine.connect() as connection:
            found = set(connection.execute(select(data_keys.c.key_id).where(data_keys.c.subject == subject)).scalars())
            if ids:
                found |= set(connection.execute(select(data_key_workflows.c.key_id).where(data_key_workflows.c.workflow_id.in_(ids))).scalars())
        return sorted(found)

    def workflows_of_keys(self, key_ids: Iterable[str]) -> list[str]:
        ids = list(key_ids)
        if not ids:
            return []
        with self.engine.connect() as connection:
            return sorted(connection.execute(select(data_key_workflows.c.workflow_id).where(data_key_workflows.c.key_id.in_(ids))).scalars())

    # --- purging -------------------------------------------------------------------------------

    def purge(self, process_ids: Iterable[str], application_keys: Iterable[str], erasure_id: int) -> dict[str, int]:
        """Delete the rows of `process_ids` (and of their referee checks), drop the payloads of the
        deliveries of `application_keys`; counts of what went. Idempotent."""
        processes = list(dict.fromkeys(process_ids))
        applications = list(dict.fromkeys(application_keys))
        counts = dict.fromkeys(
            ("tasks", "task_events", "messages", "notifications", "link_uses", "link_opens", "reference_reports", "deliveries_scrubbed", "deliveries_stopped"), 0
        )
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            if processes:
                owned = self._owned_by(processes)
                task_keys = list(connection.execute(select(tasks.c.key).where(owned(tasks.c.process_id))).scalars())
                message_keys = list(connection.execute(select(messages.c.key).where(owned(messages.c.process_id))).scalars())
                for chunk in _chunks(task_keys + message_keys):
                    counts["notifications"] += _count(connection.execute(delete(notifications).where(notifications.c.subject_key.in_(chunk))))
                # Deliveries about no task or message: a round's debrief noted on the ATS
                # ({process}/debrief/N/ats-note), a reference report's note (its check's id).
                about = or_(owned(notifications.c.subject_key), *(notifications.c.subject_key.like(_like_prefix(p + "/"), escape="\\") for p in processes))
                counts["notifications"] += _count(connection.execute(delete(notifications).where(about)))
                for chunk in _chunks(task_keys):
                    counts["task_events"] += _count(connection.execute(delete(task_events).where(task_events.c.task_key.in_(chunk))))
                    connection.execute(delete(bullhorn_tasks_closed).where(bullhorn_tasks_closed.c.task_key.in_(chunk)))
                    connection.execute(delete(bullhorn_outcome_notes).where(bullhorn_outcome_notes.c.task_key.in_(chunk)))
                counts["tasks"] = _count(connection.execute(delete(tasks).where(owned(tasks.c.process_id))))
                counts["messages"] = _count(connection.execute(delete(messages).where(owned(messages.c.process_id))))
                counts["link_uses"] = _count(connection.execute(delete(link_uses).where(owned(link_uses.c.process_id))))
                # What referees wrote about the candidate, and the digests of who opened their links.
                counts["reference_reports"] = _count(connection.execute(delete(reference_reports).where(owned(reference_reports.c.process_id))))
                counts["link_opens"] = _count(connection.execute(delete(link_opens).where(owned(link_opens.c.process_id))))
            if applications:
                reason = f"candidate erased (erasure #{erasure_id}): not delivered"
                counts["deliveries_stopped"] = _count(
                    connection.execute(
                        update(deliveries)
                        .where(deliveries.c.application_key.in_(applications), deliveries.c.status.in_((names.INTAKE_PENDING, names.INTAKE_FAILED)))
                        .values(status=names.INTAKE_IGNORED, ignored_reason=reason, claimed_by=None, lease_until=None)
                    )
                )
                counts["deliveries_scrubbed"] = _count(
                    connection.execute(
                        update(deliveries)
                        .where(deliveries.c.application_key.in_(applications), deliveries.c.payload_purged_at.is_(None))
                        .values(events=[], trace_context=None, payload_purged_at=now)
                    )
                )
        return counts

    def forget_contact_preference(self, source: str, candidate_id: str) -> int:
        """Delete the candidate's contact preference (their opt-out, the ATS's can_email): it names
        them, and the erasure's tombstone refuses them for good, a stronger "do not contact"."""
        with self.engine.begin() as connection:
            return _count(
                connection.execute(
                    delete(contact_preferences).where(contact_preferences.c.source == source, contact_preferences.c.candidate_id == candidate_id)
                )
            )

    @staticmethod
    def _owned_by(processes: list[str]) -> Any:
        def condition(column: Any) -> Any:
            return or_(
                column.in_(processes),
                *(column.like(_like_prefix(p + REFEREE_INFIX), escape="\\") for p in processes if p.startswith("post-interview-")),
            )

        return condition

    # --- crypto-shredding ----------------------------------------------------------------------

    def destroy_keys(self, subject: str, key_ids: Iterable[str], erasure_id: int) -> int:
        """Destroy the data keys `key_ids` (drop the wrapped key, keep the row: a payload under it
        is then refused as erased); and, when the candidate never had one, leave a destroyed
        row for their subject, so that no key is made for them again and no process starts for
        them. How many keys were destroyed now."""
        ids = list(dict.fromkeys(key_ids))
        now = datetime.now(UTC)
        destroyed = 0
        with self.engine.begin() as connection:
            if ids:
                destroyed = _count(
                    connection.execute(
                        update(data_keys)
                        .where(data_keys.c.key_id.in_(ids), data_keys.c.destroyed_at.is_(None))
                        .values(wrapped_key=None, destroyed_at=now, erasure_id=erasure_id)
                    )
                )
            _tombstone(connection, self.engine.dialect.name, subject, erasure_id, now)
        return destroyed


def _tombstone(connection: Connection, dialect: str, subject: str, erasure_id: int, now: datetime) -> None:
    import secrets

    connection.execute(
        _INSERTS[dialect](data_keys)
        .values(key_id="dk-" + secrets.token_hex(12), subject=subject, wrapped_key=None, created_at=now, destroyed_at=now, erasure_id=erasure_id)
        .on_conflict_do_nothing(index_elements=[data_keys.c.subject])
    )


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
