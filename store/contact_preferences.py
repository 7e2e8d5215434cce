"""Candidates' choices about being contacted: the `contact_preferences` table (domain/contact.py).

Keyed by ATS source and candidate id. Written by the answer links' pages (an opt-out, a "stop
contacting me") and by the intake as it stores events that carry `candidate.can_email`; read by the
delivery activity just before a message to a candidate is sent, and by the relationship process
before each check-in.

- An opt-out is kept for good: a second one (another link, a mail client's one-click unsubscribe)
  keeps the first time and how.
- The ATS's `can_email` is the newest event's: an older event arriving late changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from domain import names
from domain.contact import ContactPreference
from store.schema import contact_preferences, messages

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class ContactPreferenceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def opt_out(self, source: str, candidate_id: str, via: str, at: datetime | None = None) -> tuple[ContactPreference, bool]:
        """Record the candidate's opt-out: (the preference, True if it is new; False if they had
        already opted out, whose first time and way are kept)."""
        now = at or datetime.now(UTC)
        insert = _INSERTS[self.engine.dialect.name](contact_preferences)
        statement = insert.values(source=source, candidate_id=candidate_id, opted_out_at=now, opted_out_via=via, updated_at=now)
        with self.engine.begin() as connection:
            before = self._row(connection, source, candidate_id)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[contact_preferences.c.source, contact_preferences.c.candidate_id],
                    set_={"opted_out_at": now, "opted_out_via": via, "updated_at": now},
                    where=contact_preferences.c.opted_out_at.is_(None),
                )
            )
            after = self._row(connection, source, candidate_id)
        assert after is not None
        return after, before is None or before.opted_out_at is None

    def record_ats_can_email(self, source: str, candidate_id: str, can_email: bool, at: datetime) -> None:
        with self.engine.begin() as connection:
            record_ats_can_email_in(connection, [(source, candidate_id, can_email, at)])

    def preference(self, source: str, candidate_id: str) -> ContactPreference:
        """The candidate's preference; nothing recorded reads as the defaults (contact allowed)."""
        with self.engine.connect() as connection:
            found = self._row(connection, source, candidate_id)
        return found or ContactPreference(source=source, candidate_id=candidate_id)

    def suppression(self, candidate_id: str, source: str | None, process_id: str) -> str | None:
        """Why a message to this candidate must not be sent, None when it may.

        `source` is the message's (kept since opt-out exists). A message queued before has none:
        then every preference of this candidate id is looked at, and the one whose source the
        sending process's id begins with (`post-interview-{source}-`, `relationship-{source}-`)
        decides; of two, the longer source (ids are a source's own, so this is a last resort)."""
        if source is not None:
            return self.preference(source, candidate_id).suppression
        with self.engine.connect() as connection:
            rows = connection.execute(select(contact_preferences).where(contact_preferences.c.candidate_id == candidate_id)).mappings().all()
        fitting = [
            ContactPreference.model_validate(dict(row))
            for row in rows
            if any(process_id.startswith(f"{kind}-{row['source']}-") for kind in ("post-interview", "relationship"))
        ]
        fitting.sort(key=lambda preference: len(preference.source), reverse=True)
        return fitting[0].suppression if fitting else None

    def mark_message_suppressed(self, key: str) -> None:
        """The message's row says it was not sent (`postinterview messages` shows it)."""
        with self.engine.begin() as connection:
            connection.execute(update(messages).where(messages.c.key == key, messages.c.status == names.MESSAGE_QUEUED).values(status=names.MESSAGE_SUPPRESSED))

    @staticmethod
    def _row(connection: Connection, source: str, candidate_id: str) -> ContactPreference | None:
        row = (
            connection.execute(
                select(contact_preferences).where(contact_preferences.c.source == source, contact_preferences.c.candidate_id == candidate_id)
            )
            .mappings()
            .one_or_none()
        )
        return ContactPreference.model_validate(dict(row)) if row else None


def record_ats_can_email_in(connection: Connection, flags: Iterable[tuple[str, str, bool, datetime]]) -> None:
    """The ATS's `can_email` of each (source, candidate id, can_email, the event's time), in the
    caller's transaction; the newest event's value wins. A `true` for a candidate with no row adds
    none (nothing to lift)."""
    insert = _INSERTS[connection.dialect.name](contact_preferences)
    now = datetime.now(UTC)
    for source, candidate_id, can_email, at in flags:
        newer = (contact_preferences.c.ats_can_email_at.is_(None)) | (contact_preferences.c.ats_can_email_at < at)
        if can_email:
            connection.execute(
                update(contact_preferences)
                .where(contact_preferences.c.source == source, contact_preferences.c.candidate_id == candidate_id, newer)
                .values(ats_can_email=True, ats_can_email_at=at, updated_at=now)
            )
            continue
        connection.execute(
            insert.values(source=source, candidate_id=candidate_id, ats_can_email=False, ats_can_email_at=at, updated_at=now).on_conflict_do_update(
                index_elements=[contact_preferences.c.source, contact_preferences.c.candidate_id],
                set_={"ats_can_email": False, "ats_can_email_at": at, "updated_at": now},
                where=newer,
            )
        )


def can_email_flags(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, bool, datetime]]:
    """(source, candidate id, can_email, occurred_at) of the canonical events (as stored: JSON
    dicts) that say whether the candidate may be emailed."""
    flags = []
    for event in events:
        candidate = event.get("candidate") or {}
        can_email = candidate.get("can_email") if isinstance(candidate, Mapping) else None
        if not isinstance(can_email, bool) or not candidate.get("id") or not event.get("source"):
            continue
        try:
            at = datetime.fromisoformat(str(event.get("occurred_at")))
        except ValueError:
            continue
        flags.append((str(event["source"]), str(candidate["id"]), can_email, at if at.tzinfo else at.replace(tzinfo=UTC)))
    return flags
