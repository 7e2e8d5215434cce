"""Connected Bullhorn accounts (table `bullhorn_accounts`): where each account's data centre is,
its OAuth client, and the refresh token that gets the poller a session.

Bullhorn's refresh token is used once: every refresh returns the next one and the old one stops
working. Losing the new one would disconnect the account (an operator would have to authorise
again), so it is written the moment it arrives, and only over the token that was used
(`rotate`: a compare-and-set, so two workers that refreshed at once cannot overwrite each other's
newer token with an older one). Secrets are kept sealed by the sealer the entry point gives
(codec/sealing.py: AES-GCM with PAYLOAD_ENCRYPTION_KEYS); the store never sees a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from store.migrations import upgrade_store
from store.schema import bullhorn_accounts, bullhorn_outcome_notes, bullhorn_tasks_closed, notifications, tasks
from store.task_store import create_store_engine


class Sealer(Protocol):
    def seal(self, secret: str, purpose: str) -> str: ...

    def unseal(self, stored: str, purpose: str) -> str: ...


@dataclass(frozen=True)
class BullhornAccount:
    account_id: str
    username: str
    client_id: str
    client_secret: str
    oauth_url: str  # the data centre's, e.g. https://auth-west9.bullhornstaffing.com/oauth
    rest_services_url: str  # e.g. https://rest-west9.bullhornstaffing.com/rest-services/
    refresh_token: str

    def __repr__(self) -> str:  # never the secrets, whatever logs an account
        return f"BullhornAccount(account_id={self.account_id!r}, username={self.username!r}, rest_services_url={self.rest_services_url!r})"


class BullhornStore:
    def __init__(self, url: str, sealer: Sealer) -> None:
        self.engine = create_store_engine(url)
        upgrade_store(self.engine)
        self.sealer = sealer

    def close(self) -> None:
        self.engine.dispose()

    def _purpose(self, account_id: str, column: str) -> str:
        return f"bullhorn_accounts/{account_id}/{column}"

    def connect(self, account: BullhornAccount) -> None:
        """Store (or replace: a re-connection after a revoked token) an account."""
        values = {
            "username": account.username,
            "client_id": account.client_id,
            "client_secret": self.sealer.seal(account.client_secret, self._purpose(account.account_id, "client_secret")),
            "oauth_url": account.oauth_url,
            "rest_services_url": account.rest_services_url,
            "refresh_token": self.sealer.seal(account.refresh_token, self._purpose(account.account_id, "refresh_token")),
            "connected_at": datetime.now(UTC),
            "refreshed_at": None,
        }
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(bullhorn_accounts).where(bullhorn_accounts.c.account_id == account.account_id).values(**values)
            ).rowcount
            if not changed:
                connection.execute(bullhorn_accounts.insert().values(account_id=account.account_id, **values))

    def account(self, account_id: str) -> BullhornAccount | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(bullhorn_accounts).where(bullhorn_accounts.c.account_id == account_id)).mappings().one_or_none()
        if row is None:
            return None
        return BullhornAccount(
            account_id=row["account_id"],
            username=row["username"],
            client_id=row["client_id"],
            client_secret=self.sealer.unseal(row["client_secret"], self._purpose(account_id, "client_secret")),
            oauth_url=row["oauth_url"],
            rest_services_url=row["rest_services_url"],
            refresh_token=self.sealer.unseal(row["refresh_token"], self._purpose(account_id, "refresh_token")),
        )

    def accounts(self) -> list[str]:
        with self.engine.connect() as connection:
            return [row.account_id for row in connection.execute(select(bullhorn_accounts.c.account_id).order_by(bullhorn_accounts.c.account_id))]

    def task_of_bullhorn_task(self, bullhorn_task_id: str) -> str | None:
        """Our task that a Bullhorn Task stands for: the key of the task whose `ats_task`
        notification Bullhorn answered with that Task's id."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(notifications.c.subject_key).where(
                    notifications.c.channel == "ats_task", notifications.c.provider_ref == bullhorn_task_id, notifications.c.subject_kind == "task"
                )
            ).scalar_one_or_none()

    def tasks_to_close_in_bullhorn(self, limit: int = 50) -> list[tuple[str, str]]:
        """(Bullhorn Task id, our task key) of our tasks closed here (done or cancelled) whose
        Bullhorn Task is not closed yet."""
        already = select(bullhorn_tasks_closed.c.bullhorn_task_id)
        query = (
            select(notifications.c.provider_ref, notifications.c.subject_key)
            .join(tasks, tasks.c.key == notifications.c.subject_key)
            .where(
                notifications.c.channel == "ats_task",
                notifications.c.subject_kind == "task",
                notifications.c.provider_ref.is_not(None),
                tasks.c.status.in_(("done", "cancelled")),
                notifications.c.provider_ref.not_in(already),
            )
            .order_by(notifications.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [(row.provider_ref, row.subject_key) for row in connection.execute(query)]

    def closed_on_both_sides(self, bullhorn_task_id: str, task_key: str, closed_by: str) -> bool:
        """Record it once; False when it already was."""
        try:
            with self.engine.begin() as connection:
                connection.execute(bullhorn_tasks_closed.insert().values(bullhorn_task_id=bullhorn_task_id, task_key=task_key, closed_by=closed_by, closed_at=datetime.now(UTC)))
        except IntegrityError:
            return False
        return True

    def outcomes_to_note(self, limit: int = 50) -> list[tuple[str, str, str, str, str, str | None]]:
        """(key, application id, title, outcome, who, resolved at) of tasks of Bullhorn applications
        done here (not ticked off in Bullhorn) whose outcome is not noted yet: only tasks that were
        themselves noted when given (ATS_NOTES=bullhorn was on), oldest first."""
        noted = select(bullhorn_outcome_notes.c.task_key)
        given = select(notifications.c.subject_key).where(notifications.c.channel == "ats_note", notifications.c.subject_kind == "task")
        query = (
            select(tasks.c.key, tasks.c.application_id, tasks.c.title, tasks.c.outcome, tasks.c.resolved_by, tasks.c.resolved_at)
            .where(
                tasks.c.status == "done",
                tasks.c.process_id.startswith("post-interview-bullhorn-", autoescape=True),
                tasks.c.application_id.is_not(None),
                tasks.c.resolved_by != "bullhorn",
                tasks.c.key.in_(given),
                tasks.c.key.not_in(noted),
            )
            .order_by(tasks.c.resolved_at, tasks.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [
                (row.key, row.application_id, row.title, row.outcome or "done", row.resolved_by or "", row.resolved_at.isoformat() if row.resolved_at else None)
                for row in connection.execute(query)
            ]

    def claim_outcome_note(self, task_key: str) -> bool:
        try:
            with self.engine.begin() as connection:
                connection.execute(bullhorn_outcome_notes.insert().values(task_key=task_key, noted_at=datetime.now(UTC)))
        except IntegrityError:
            return False
        return True

    def outcome_noted(self, task_key: str, note_id: str | None) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(bullhorn_outcome_notes).where(bullhorn_outcome_notes.c.task_key == task_key).values(note_id=note_id))

    def release_outcome_note(self, task_key: str) -> None:
        """Nothing was written (Bullhorn unreachable): the next poll tries again."""
        with self.engine.begin() as connection:
            connection.execute(delete(bullhorn_outcome_notes).where(bullhorn_outcome_notes.c.task_key == task_key))

    def rotate(self, account_id: str, used: str, new: str) -> bool:
        """Replace the refresh token `used` by `new`; False when the stored one is no longer `used`
        (another worker refreshed first: its token is the newer one)."""
        with self.engine.begin() as connection:
            row = connection.execute(
                select(bullhorn_accounts.c.refresh_token).where(bullhorn_accounts.c.account_id == account_id).with_for_update()
            ).one_or_none()
            if row is None or self.sealer.unseal(row.refresh_token, self._purpose(account_id, "refresh_token")) != used:
                return False
            # Only over the very value read (SQLite ignores FOR UPDATE): a concurrent rotation wins.
            changed = connection.execute(
                update(bullhorn_accounts)
                .where(bullhorn_accounts.c.account_id == account_id, bullhorn_accounts.c.refresh_token == row.refresh_token)
                .values(refresh_token=self.sealer.seal(new, self._purpose(account_id, "refresh_token")), refreshed_at=datetime.now(UTC))
            ).rowcount
        return bool(changed)
