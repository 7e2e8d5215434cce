"""Connected Bullhorn accounts in the store: secrets sealed with the payload keys, bound to their
row, and the rotating refresh token replaced only over the one that was used."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from codec.encryption import EncryptionCodec, generate_key
from codec.sealing import SealError, SecretSealer
from store.bullhorn_store import BullhornAccount, BullhornStore
from store.schema import bullhorn_accounts

KEYS = f"k2:{generate_key()},k1:{generate_key()}"


def account(account_id: str = "acme", refresh_token: str = "rt-first-7f3a") -> BullhornAccount:
    return BullhornAccount(
        account_id=account_id, username="api.user", client_id="cid", client_secret="cs-very-secret",
        oauth_url="https://auth-west9.bullhornstaffing.com/oauth", rest_services_url="https://rest-west9.bullhornstaffing.com/rest-services/",
        refresh_token=refresh_token,
    )


def test_secrets_are_sealed_in_the_table_and_never_in_a_repr(database_url: str):
    store = BullhornStore(database_url, SecretSealer(EncryptionCodec.parse(KEYS)))
    store.connect(account())
    with store.engine.connect() as connection:
        row = connection.execute(select(bullhorn_accounts)).mappings().one()
    assert row["refresh_token"].startswith("sealed:k2:") and "rt-first-7f3a" not in row["refresh_token"]
    assert "cs-very-secret" not in row["client_secret"]
    found = store.account("acme")
    assert found == account()
    assert "rt-first-7f3a" not in repr(found) and "cs-very-secret" not in repr(found)
    store.close()


def test_a_sealed_token_moved_to_another_account_or_read_without_its_key_does_not_open(database_url: str):
    store = BullhornStore(database_url, SecretSealer(EncryptionCodec.parse(KEYS)))
    store.connect(account("acme"))
    store.connect(account("globex", "rt-globex"))
    with store.engine.begin() as connection:
        acme = connection.execute(select(bullhorn_accounts.c.refresh_token).where(bullhorn_accounts.c.account_id == "acme")).scalar_one()
        connection.execute(update(bullhorn_accounts).where(bullhorn_accounts.c.account_id == "globex").values(refresh_token=acme))
    with pytest.raises(SealError, match="moved from another row"):
        store.account("globex")
    other_keys = BullhornStore(database_url, SecretSealer(EncryptionCodec.parse(f"k9:{generate_key()}")))
    with pytest.raises(SealError, match="key 'k2'"):
        other_keys.account("acme")
    store.close()
    other_keys.close()


def test_the_refresh_token_rotates_only_over_the_one_used(database_url: str):
    store = BullhornStore(database_url, SecretSealer(EncryptionCodec.parse(KEYS)))
    store.connect(account())
    assert store.rotate("acme", used="rt-first-7f3a", new="rt-second")
    # A worker that refreshed with the old token meanwhile cannot put an older one back.
    assert not store.rotate("acme", used="rt-first-7f3a", new="rt-stale")
    assert store.account("acme").refresh_token == "rt-second"  # type: ignore[union-attr]
    assert store.accounts() == ["acme"]
    store.close()


def test_without_keys_a_secret_is_kept_marked_plain(database_url: str):
    store = BullhornStore(database_url, SecretSealer(None))
    store.connect(account())
    with store.engine.connect() as connection:
        assert connection.execute(select(bullhorn_accounts.c.refresh_token)).scalar_one() == "plain:rt-first-7f3a"
    store.close()
