"""Who may use the inbox and the task API: users, their roles and teams, their API tokens.

Tokens are shown once, when issued, and stored only as SHA-256 hashes. A token is 32 random
bytes (256 bits), so a fast hash is as safe as a slow one and keeps every request cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Engine, and_, insert, or_, select, update

from store.migrations import upgrade_store
from store.schema import api_tokens, users
from store.task_store import create_store_engine

Role = Literal["recruiter", "lead", "operator"]
ROLES: tuple[Role, ...] = ("recruiter", "lead", "operator")
TOKEN_PREFIX = "pie_"  # post-interview engine: recognisable in a leaked log or a secret scanner
# A sign-in code (`postinterview inbox-link`) is kept like a token, under this label, but it is
# no token: it signs in once, within minutes, and never authenticates an API call.
SIGN_IN_CODE_LABEL = "inbox sign-in code (one use)"
SIGN_IN_CODE_PREFIX = "pis_"
SIGN_IN_CODE_LIFETIME = timedelta(minutes=15)  # a link is for opening right away, where it was printed
# The inbox's session cookie holds a token of its own (never the token pasted at sign-in), so
# signing out revokes just that session, and a session outlives no working day.
INBOX_SESSION_LABEL = "inbox session"
INBOX_SESSION_LIFETIME = timedelta(hours=12)


class User(BaseModel):
    id: str
    name: str | None = None
    email: str | None = None
    role: Role
    lead_id: str | None = None


class UnknownUser(LookupError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessStore:
    def __init__(self, url_or_engine: str | Engine) -> None:
        self._owns_engine = isinstance(url_or_engine, str)
        self.engine = create_store_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        upgrade_store(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def save_user(self, user: User) -> User:
        """Add the user, or change their name, email, role and lead."""
        with self.engine.begin() as connection:
            exists = connection.execute(select(users.c.id).where(users.c.id == user.id)).first()
            values = user.model_dump()
            if exists:
                connection.execute(update(users).where(users.c.id == user.id).values(**values))
            else:
                connection.execute(insert(users).values(**values, created_at=datetime.now(UTC)))
        return user

    def user(self, user_id: str) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.id == user_id)).mappings().one_or_none()
        return User.model_validate(dict(row)) if row else None

    def users(self) -> list[User]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(users).order_by(users.c.role, users.c.id)).mappings()
            return [User.model_validate(dict(row)) for row in rows]

    def users_by_id(self, ids: frozenset[str] | None = None) -> list[User]:
        """The users with these ids (all of them with None), by id."""
        query = select(users).order_by(users.c.id)
        if ids is not None:
            query = query.where(users.c.id.in_(sorted(ids)))
        with self.engine.connect() as connection:
            return [User.model_validate(dict(row)) for row in connection.execute(query).mappings()]

    def team(self, lead_id: str) -> list[str]:
        """The ids a lead answers for: the lead and every recruiter whose lead they are."""
        with self.engine.connect() as connection:
            members = connection.execute(select(users.c.id).where(users.c.lead_id == lead_id)).scalars()
            return sorted({lead_id, *members})

    def issue_token(self, user_id: str, label: str | None = None) -> str:
        """A new token for the user, returned once; only its hash is kept."""
        if self.user(user_id) is None:
            raise UnknownUser(user_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(
                insert(api_tokens).values(user_id=user_id, token_hash=token_hash(token), label=label, created_at=datetime.now(UTC))
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user a live token belongs to, or None (unknown or revoked)."""
        digest = token_hash(token)
        label = api_tokens.c.label
        session_since = datetime.now(UTC) - INBOX_SESSION_LIFETIME
        with self.engine.begin() as connection:
            row = connection.execute(
                select(users)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(
                    api_tokens.c.token_hash == digest,
                    api_tokens.c.revoked_at.is_(None),
                    or_(
                        label.is_(None),
                        label.not_in([SIGN_IN_CODE_LABEL, INBOX_SESSION_LABEL]),
                        and_(label == INBOX_SESSION_LABEL, api_tokens.c.created_at > session_since),
                    ),
                )
            ).mappings().one_or_none()
            if row is None:
                return None
            connection.execute(update(api_tokens).where(api_tokens.c.token_hash == digest).values(last_used_at=datetime.now(UTC)))
        return User.model_validate(dict(row))

    def revoke_tokens(self, user_id: str) -> int:
        with self.engine.begin() as connection:
            return connection.execute(
                update(api_tokens).where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
            ).rowcount

    def revoke_token(self, token: str) -> bool:
        """Revoke one token (an inbox session at sign-out); False when it was not live."""
        with self.engine.begin() as connection:
            return bool(
                connection.execute(
                    update(api_tokens)
                    .where(api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=datetime.now(UTC))
                ).rowcount
            )

    def issue_sign_in_code(self, user_id: str) -> str:
        """A one-time code that signs the user in to the inbox (redeem_sign_in_code), once."""
        if self.user(user_id) is None:
            raise UnknownUser(user_id)
        code = SIGN_IN_CODE_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(
                insert(api_tokens).values(
                    user_id=user_id, token_hash=token_hash(code), label=SIGN_IN_CODE_LABEL, created_at=datetime.now(UTC)
                )
            )
        return code

    def sign_in_code_user(self, code: str, max_age: timedelta) -> User | None:
        """Whose a sign-in code is, if it is unused and younger than `max_age`, without using it
        up: the sign-in page says whose account a link opens before anybody signs in with it."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(users)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(
                    api_tokens.c.token_hash == token_hash(code),
                    api_tokens.c.label == SIGN_IN_CODE_LABEL,
                    api_tokens.c.revoked_at.is_(None),
                    api_tokens.c.created_at > datetime.now(UTC) - max_age,
                )
            ).mappings().one_or_none()
        return User.model_validate(dict(row)) if row else None

    def redeem_sign_in_code(self, code: str, max_age: timedelta) -> User | None:
        """The user a sign-in code was issued for, if it is younger than `max_age` and unused;
        the code is used up either way (one conditional UPDATE, so two requests racing with the
        same code cannot both win)."""
        digest = token_hash(code)
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            used = connection.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.token_hash == digest,
                    api_tokens.c.label == SIGN_IN_CODE_LABEL,
                    api_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now, last_used_at=now)
            ).rowcount
            if not used:
                return None
            row = connection.execute(
                select(users, api_tokens.c.created_at.label("code_created_at"))
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == digest)
            ).mappings().one()
        if now - row["code_created_at"] > max_age:
            return None
        return User.model_validate({key: value for key, value in row.items() if key != "code_created_at"})
