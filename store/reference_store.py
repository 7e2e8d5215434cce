"""Reference reports and the opens of signed links (domain/reference_report.py).

A report is stored once per referee of an application (its key is the referee check's workflow
id): two posts of the questionnaire at the same moment, or a second link (a reminder's) used after
the first, keep the first report. The facts the fraud signals need are read here from what the
engine already stores: the referee's and the candidate's email addresses from the messages they
were sent, when the reference request went out (its email's delivery, else its queueing), and
who opened the candidate's own link (`link_opens`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from domain.follow_through import TaskKind
from domain.reference_report import ReferenceReport
from store.migrations import upgrade_store
from store.schema import link_opens, messages, notifications, reference_reports, tasks
from store.task_store import create_store_engine

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_FINGERPRINT_SALT = "postinterview.link-open.v1"


def fingerprint(client_ip: str | None, user_agent: str | None) -> str | None:
    """A digest of the client's address and browser: equal for the same pair, the address itself
    not kept. None without an address (nothing to compare)."""
    if not client_ip:
        return None
    text = f"{_FINGERPRINT_SALT}\0{client_ip.strip().lower()}\0{(user_agent or '').strip()}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ReferenceStore:
    def __init__(self, url_or_engine: str | Engine) -> None:
        self._owns_engine = isinstance(url_or_engine, str)
        self.engine = create_store_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        upgrade_store(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # reports

    def add(self, report: ReferenceReport) -> tuple[ReferenceReport, bool]:
        """The report for its key: stored now (True), or the one stored before (False)."""
        values = report.model_dump(mode="json", exclude={"id"})
        values["requested_at"], values["submitted_at"] = report.requested_at, report.submitted_at
        statement = _INSERTS[self.engine.dialect.name](reference_reports).values(**values)
        with self.engine.begin() as connection:
            inserted = statement.on_conflict_do_nothing(index_elements=[reference_reports.c.key]).returning(reference_reports.c.id)
            created = connection.execute(inserted).first() is not None
            row = connection.execute(select(reference_reports).where(reference_reports.c.key == report.key)).mappings().one()
        return ReferenceReport.model_validate(dict(row)), created

    def report(self, key: str) -> ReferenceReport | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(reference_reports).where(reference_reports.c.key == key)).mappings().one_or_none()
        return ReferenceReport.model_validate(dict(row)) if row else None

    def reports(self, process_ids: Collection[str] | None = None, application_id: str | None = None, source: str | None = None) -> list[ReferenceReport]:
        query = select(reference_reports).order_by(reference_reports.c.submitted_at, reference_reports.c.id)
        if process_ids is not None:
            query = query.where(reference_reports.c.process_id.in_(list(process_ids)))
        if application_id is not None:
            query = query.where(reference_reports.c.application_id == application_id)
        if source is not None:
            query = query.where(reference_reports.c.source == source)
        with self.engine.connect() as connection:
            return [ReferenceReport.model_validate(dict(row)) for row in connection.execute(query).mappings()]

    def recent(self, assignees: Collection[str] | None, since: datetime, limit: int = 10) -> list[ReferenceReport]:
        """The newest reports since `since` of the applications whose tasks `assignees` have or had
        (None: everybody's), newest first: the inbox's "recent reference reports"."""
        query = select(reference_reports).where(reference_reports.c.submitted_at >= since)
        if assignees is not None:
            theirs = select(tasks.c.process_id).where(tasks.c.assignee_id.in_(list(assignees)))
            query = query.where(reference_reports.c.process_id.in_(theirs))
        query = query.order_by(reference_reports.c.submitted_at.desc(), reference_reports.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [ReferenceReport.model_validate(dict(row)) for row in connection.execute(query).mappings()]

    def counts(self, process_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        """(reports, flagged reports) per process, for a page of tasks in one query."""
        if not process_ids:
            return {}
        query = select(reference_reports.c.process_id, reference_reports.c.flags).where(reference_reports.c.process_id.in_(list(process_ids)))
        counts: dict[str, tuple[int, int]] = {}
        with self.engine.connect() as connection:
            for process_id, flags in connection.execute(query):
                total, flagged = counts.get(process_id, (0, 0))
                counts[process_id] = (total + 1, flagged + (1 if flags else 0))
        return counts

    def assignees(self, process_id: str) -> set[str]:
        """Who has or had a task of the process or of its referee checks (who may read its reports)."""
        query = select(tasks.c.assignee_id).distinct().where(
            (tasks.c.process_id == process_id) | tasks.c.process_id.startswith(f"{process_id}-referee-", autoescape=True)
        )
        with self.engine.connect() as connection:
            return {row[0] for row in connection.execute(query)}

    # link opens

    def record_open(self, link_id: str, action: str, process_id: str, client_ip: str | None, user_agent: str | None) -> bool:
        """Note that this browser opened the link (once per link and browser); False without an address."""
        digest = fingerprint(client_ip, user_agent)
        if digest is None:
            return False
        statement = _INSERTS[self.engine.dialect.name](link_opens).values(
            link_id=link_id, fingerprint=digest, action=action, process_id=process_id, opened_at=datetime.now(UTC)
        )
        with self.engine.begin() as connection:
            connection.execute(statement.on_conflict_do_nothing(index_elements=[link_opens.c.link_id, link_opens.c.fingerprint]))
        return True

    def opened_by(self, process_id: str, action: str, client_ip: str | None, user_agent: str | None) -> bool:
        """Whether this browser opened one of the process's links of this kind."""
        digest = fingerprint(client_ip, user_agent)
        if digest is None:
            return False
        query = select(func.count()).select_from(link_opens).where(
            and_(link_opens.c.process_id == process_id, link_opens.c.action == action, link_opens.c.fingerprint == digest)
        )
        with self.engine.connect() as connection:
            return bool(connection.execute(query).scalar_one())

    # the facts the signals need, from what the engine stored

    def recipient_email(self, process_id: str, role: str) -> str | None:
        """The latest address a message of this process to this role went to."""
        query = (
            select(messages.c.recipient_email)
            .where(messages.c.process_id == process_id, messages.c.recipient_role == role, messages.c.recipient_email.is_not(None))
            .order_by(messages.c.created_at.desc(), messages.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def candidate_email(self, process_id: str) -> str | None:
        """The candidate's address: their process's messages, else their referee checks' (nudges)."""
        found = self.recipient_email(process_id, "candidate")
        if found:
            return found
        query = (
            select(messages.c.recipient_email)
            .where(
                messages.c.process_id.startswith(f"{process_id}-referee-", autoescape=True),
                messages.c.recipient_role == "candidate",
                messages.c.recipient_email.is_not(None),
            )
            .order_by(messages.c.created_at.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def request_sent_at(self, check_id: str) -> datetime | None:
        """When the reference request went out: its email's delivery, else (no email sent: the
        inbox alone) when it was queued. None when no request was queued (consent came late, or
        the reference before the request)."""
        key = f"{check_id}/request"
        with self.engine.connect() as connection:
            queued = connection.execute(select(messages.c.created_at).where(messages.c.key == key)).scalar_one_or_none()
            if queued is None:
                return None
            sent = connection.execute(
                select(notifications.c.sent_at).where(
                    notifications.c.subject_kind == "message", notifications.c.subject_key == key, notifications.c.channel == "email"
                )
            ).scalar_one_or_none()
        return sent or queued

    def people(self, check_id: str, process_id: str) -> tuple[str | None, str | None]:
        """(the referee's name, the recruiter's id), from the tasks of the check or the process."""
        query = (
            select(tasks.c.process_id, tasks.c.context, tasks.c.assignee_id, tasks.c.kind)
            .where(tasks.c.process_id.in_([check_id, process_id]))
            .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
        )
        referee, recruiter = None, None
        with self.engine.connect() as connection:
            for owner, context, assignee, kind in connection.execute(query):
                if referee is None and owner == check_id and isinstance(context, dict):
                    referee = context.get("referee") or None
                if recruiter is None and kind != TaskKind.ESCALATION.value:
                    recruiter = assignee
        return referee, recruiter
