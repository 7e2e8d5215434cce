"""`postinterview connect bullhorn`, run as a person runs it, against the Bullhorn stand-in: the
account is stored with its secrets sealed, the poller starts, and no secret is printed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from activities.ats_api import bullhorn_api as api
from cli.bullhorn_standin import BullhornStandIn, consent, seed_agency
from codec.encryption import EncryptionCodec, generate_key
from codec.sealing import SecretSealer
from domain.bullhorn import BullhornPollerState, bullhorn_poller_workflow_id
from store.bullhorn_store import BullhornStore
from store.schema import bullhorn_accounts
from tests.cli.conftest import run_cli
from tests.harness import eventually, running_engine


def _landed(bullhorn: BullhornStandIn) -> str:
    """The address the operator's browser lands on after agreeing (carrying the code)."""
    with httpx.Client() as http:
        oauth_url, _ = api.login_info(http, bullhorn.username, bullhorn.url)
    return consent(bullhorn, api.authorize_url(oauth_url, bullhorn.client_id, None, "from-the-browser"))


async def test_connect_stores_the_account_sealed_with_the_payload_keys(store_url: str, cli_env: dict[str, str]):
    keys = f"k1:{generate_key()}"
    with BullhornStandIn() as bullhorn:
        env = {**cli_env, "BULLHORN_CLIENT_SECRET": bullhorn.client_secret, "PAYLOAD_ENCRYPTION_KEYS": keys}
        result = await run_cli(
            "connect", "bullhorn", "--account", "sealed", "--username", bullhorn.username, "--client-id", bullhorn.client_id,
            "--code", _landed(bullhorn), "--rest-url", bullhorn.url, "--no-start", env=env,
        )
        assert result.code == 0, result.output
        assert "Connected Bullhorn account sealed" in result.stdout and "unencrypted" not in result.output
        store = BullhornStore(store_url, SecretSealer(EncryptionCodec.parse(keys)))
        with store.engine.connect() as connection:
            row = connection.execute(select(bullhorn_accounts)).mappings().one()
        assert row["refresh_token"].startswith("sealed:k1:") and row["client_secret"].startswith("sealed:k1:")
        stored = store.account("sealed")
        assert stored is not None and stored.client_secret == bullhorn.client_secret and stored.refresh_token in bullhorn.refresh_tokens
        assert not [secret for secret in (bullhorn.client_secret, *bullhorn.refresh_tokens) if secret in result.output]


async def test_connect_starts_the_accounts_poller(
    dev_env: WorkflowEnvironment, store_url: str, task_queue: str, activity_pool: Any, cli_env: dict[str, str]
):
    account = f"cli-{uuid.uuid4().hex[:8]}"
    with BullhornStandIn() as bullhorn:
        seed_agency(bullhorn)
        env = {**cli_env, "BULLHORN_CLIENT_SECRET": bullhorn.client_secret}
        async with running_engine(dev_env, store_url, task_queue, activity_pool):
            result = await run_cli(
                "connect", "bullhorn", "--account", account, "--username", bullhorn.username, "--client-id", bullhorn.client_id,
                "--code", _landed(bullhorn), "--rest-url", bullhorn.url, env=env,
            )
            assert result.code == 0, result.output
            assert "PAYLOAD_ENCRYPTION_KEYS is not set: the refresh token is stored unencrypted" in result.output
            assert bullhorn_poller_workflow_id(account) in result.stdout
            handle = dev_env.client.get_workflow_handle(bullhorn_poller_workflow_id(account))
            state = await eventually(lambda: _polled(handle), what="the poller's first poll")
            assert state.subscription_id == f"postinterview-{account}"
            await handle.signal("stop")
            await handle.result()


async def test_a_refused_client_secret_fails_naming_bullhorns_reason(dev_env: WorkflowEnvironment, cli_env: dict[str, str]):
    with BullhornStandIn() as bullhorn:
        env = {**cli_env, "BULLHORN_CLIENT_SECRET": "not-the-secret"}
        result = await run_cli(
            "connect", "bullhorn", "--username", bullhorn.username, "--client-id", bullhorn.client_id,
            "--code", _landed(bullhorn), "--rest-url", bullhorn.url, "--no-start", env=env,
        )
    assert result.code == 1
    assert "Bullhorn refused the authorization code: 400 Invalid client credentials" in result.output
    assert "not-the-secret" not in result.output


async def _polled(handle: Any) -> BullhornPollerState | None:
    state = await handle.query("status", result_type=BullhornPollerState)
    return state if state.polls >= 1 else None
