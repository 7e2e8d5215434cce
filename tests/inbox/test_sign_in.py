"""Sign-in codes and inbox sessions in the access store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from store.access_store import INBOX_SESSION_LABEL, INBOX_SESSION_LIFETIME, AccessStore, UnknownUser, User, token_hash
from store.schema import api_tokens


@pytest.fixture
def access(database_url: str):
    store = AccessStore(database_url)
    store.save_user(User(id="rec-1", role="recruiter"))
    yield store
    store.close()


def test_a_sign_in_code_signs_in_once_and_is_never_an_api_token(access: AccessStore):
    code = access.issue_sign_in_code("rec-1")
    assert access.user_for_token(code) is None
    assert access.redeem_sign_in_code(code, timedelta(minutes=15)).id == "rec-1"
    assert access.redeem_sign_in_code(code, timedelta(minutes=15)) is None
    assert access.redeem_sign_in_code("pis_never-issued", timedelta(minutes=15)) is None
    with pytest.raises(UnknownUser):
        access.issue_sign_in_code("nobody")


def test_an_expired_code_is_refused_and_used_up(access: AccessStore):
    code = access.issue_sign_in_code("rec-1")
    _age(access, code, timedelta(minutes=16))
    assert access.redeem_sign_in_code(code, timedelta(minutes=15)) is None
    # Refused for good: it does not come back to life under a longer limit.
    assert access.redeem_sign_in_code(code, timedelta(days=1)) is None


def test_whose_code_it_is_can_be_shown_without_using_it_up(access: AccessStore):
    code = access.issue_sign_in_code("rec-1")
    assert access.sign_in_code_user(code, timedelta(minutes=15)).id == "rec-1"
    assert access.sign_in_code_user(code, timedelta(minutes=15)).id == "rec-1"  # still unused
    assert access.sign_in_code_user(access.issue_token("rec-1"), timedelta(minutes=15)) is None  # a token is no code
    _age(access, code, timedelta(minutes=16))
    assert access.sign_in_code_user(code, timedelta(minutes=15)) is None
    fresh = access.issue_sign_in_code("rec-1")
    assert access.redeem_sign_in_code(fresh, timedelta(minutes=15)).id == "rec-1"
    assert access.sign_in_code_user(fresh, timedelta(minutes=15)) is None  # used


def test_an_inbox_session_lasts_a_working_day_and_sign_out_revokes_just_it(access: AccessStore):
    api_token = access.issue_token("rec-1", "laptop")
    session = access.issue_token("rec-1", INBOX_SESSION_LABEL)
    assert access.user_for_token(session).id == "rec-1"
    assert access.revoke_token(session) and not access.revoke_token(session)
    assert access.user_for_token(session) is None and access.user_for_token(api_token) is not None

    stale = access.issue_token("rec-1", INBOX_SESSION_LABEL)
    _age(access, stale, INBOX_SESSION_LIFETIME + timedelta(minutes=1))
    assert access.user_for_token(stale) is None
    _age(access, api_token, timedelta(days=400))  # an API token has no such limit
    assert access.user_for_token(api_token) is not None


def _age(access: AccessStore, token: str, by: timedelta) -> None:
    with access.engine.begin() as connection:
        connection.execute(update(api_tokens).where(api_tokens.c.token_hash == token_hash(token)).values(created_at=datetime.now(UTC) - by))
