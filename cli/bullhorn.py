"""`postinterview connect bullhorn`: connect a Bullhorn account, then start its poller.

Bullhorn's way (README, "Bullhorn"): look up the API user's data centre (`loginInfo`), send the
operator to Bullhorn's authorisation page, exchange the code it hands back for an access token
and a refresh token, prove them with a REST login, and store the account (the refresh token and
the client secret sealed with PAYLOAD_ENCRYPTION_KEYS). From then on the poller refreshes by
itself; connect again only when Bullhorn revoked the token (the poller then logs
`bullhorn account disconnected` and retries until it is connected again, losing nothing).

Secrets are read from a hidden prompt or BULLHORN_CLIENT_SECRET, never from a command-line
argument (the shell's history and `ps` would keep it), and never printed.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs, urlsplit

import httpx
import typer

from activities.ats_api import bullhorn_api as api
from activities.ats_api.bullhorn_mapping import BullhornConfig
from cli.common import CliError, connect_temporal, fail, note, read_settings, run_async, say
from domain.bullhorn import BULLHORN_POLLER_WORKFLOW, BullhornPollerState, bullhorn_poller_workflow_id
from store.bullhorn_store import BullhornAccount, BullhornStore

if TYPE_CHECKING:
    from temporalio.client import Client

app = typer.Typer(help="Connect an ATS account the engine reads from (Bullhorn: polled, no webhooks).", no_args_is_help=True)


def code_from(answer: str, state: str | None) -> str:
    """The authorisation code from what the operator pasted: the whole address Bullhorn sent the
    browser to (its `state` checked), or the code alone."""
    answer = answer.strip()
    if "code=" not in answer:
        if not answer:
            raise ValueError("no code given")
        return answer
    query = parse_qs(urlsplit(answer).query or answer.partition("?")[2] or answer)
    if state is not None and query.get("state", [state])[0] != state:
        raise ValueError("the address carries another state: it answers another authorisation, start again")
    return query["code"][0]


def connect_account(
    store: BullhornStore,
    http: httpx.Client,
    *,
    account_id: str,
    username: str,
    client_id: str,
    client_secret: str,
    oauth_url: str,
    rest_services_url: str,
    code: str,
    redirect_uri: str | None,
) -> api.Session:
    """Exchange the code, prove the tokens with a REST login, store the account."""
    tokens = api.exchange_code(http, oauth_url, client_id, client_secret, code, redirect_uri)
    session = api.rest_login(http, rest_services_url, tokens.access_token)
    store.connect(
        BullhornAccount(
            account_id=account_id,
            username=username,
            client_id=client_id,
            client_secret=client_secret,
            oauth_url=oauth_url,
            rest_services_url=rest_services_url,
            refresh_token=tokens.refresh_token,
        )
    )
    return session


async def start_poller(client: Client, task_queue: str, account_id: str, config: BullhornConfig) -> str:
    """Start the account's poller, or find it running (one per account)."""
    from temporalio.common import WorkflowIDConflictPolicy

    workflow_id = bullhorn_poller_workflow_id(account_id)
    await client.start_workflow(
        BULLHORN_POLLER_WORKFLOW,
        BullhornPollerState(account_id=account_id, max_events=config.max_events, idle_seconds=config.idle_seconds, polls_per_run=config.polls_per_run),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Bullhorn account {account_id}: events into the intake table",
    )
    return workflow_id


@app.command("bullhorn")
def bullhorn(
    account: Annotated[str, typer.Option(help="A name for this Bullhorn account (the poller's id: bullhorn-poller-NAME).")] = "default",
    username: Annotated[str | None, typer.Option(help="The Bullhorn API user's name (finds its data centre).", show_default=False)] = None,
    client_id: Annotated[str | None, typer.Option(help="The OAuth client id Bullhorn issued.", show_default=False)] = None,
    redirect_uri: Annotated[str | None, typer.Option(help="The redirect URI registered with the client id, if any.", show_default=False)] = None,
    code: Annotated[str | None, typer.Option(help="The authorisation code (else: asked for after the authorisation page).", show_default=False)] = None,
    rest_url: Annotated[str, typer.Option(help="Bullhorn's global REST host (loginInfo).")] = api.GLOBAL_REST_URL,
    start: Annotated[bool, typer.Option(help="Start (or find) the account's poller once connected.")] = True,
) -> None:
    """Connect a Bullhorn account: authorise once in the browser, then the poller reads its changes."""
    settings = read_settings()
    username = username or typer.prompt("Bullhorn API username")
    client_id = client_id or typer.prompt("OAuth client id")
    client_secret = (settings.bullhorn.client_secret.get_secret_value() if settings.bullhorn.client_secret else "") or typer.prompt(
        "OAuth client secret", hide_input=True
    )
    from codec.encryption import EncryptionConfigError
    from codec.sealing import SecretSealer

    try:
        sealer = SecretSealer(settings.payload_codec())
    except EncryptionConfigError as error:
        fail(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2)
    if not sealer.encrypts:
        note("[yellow]Warning:[/] PAYLOAD_ENCRYPTION_KEYS is not set: the refresh token is stored unencrypted.")
    store = BullhornStore(settings.database_url, sealer)
    try:
        with httpx.Client(timeout=30.0) as http:
            try:
                oauth_url, rest_services_url = api.login_info(http, username, rest_url)
                state = None
                if code is None:
                    state = secrets.token_urlsafe(16)
                    say("Open this address, sign in to Bullhorn as the API user and agree:")
                    say(api.authorize_url(oauth_url, client_id, redirect_uri, state))
                    code = typer.prompt("Then paste the address your browser was sent to (or just its code)")
                session = connect_account(
                    store, http, account_id=account, username=username, client_id=client_id, client_secret=client_secret,
                    oauth_url=oauth_url, rest_services_url=rest_services_url, code=code_from(code, state), redirect_uri=redirect_uri,
                )
            except (api.BullhornError, ValueError) as error:
                fail(str(error))
    finally:
        store.close()
    say(f"Connected Bullhorn account {account} ({session.rest_url}).")
    if start:

        async def _start() -> str:
            client = await connect_temporal(settings)
            try:
                return await start_poller(client, settings.task_queue, account, BullhornConfig.load(settings.bullhorn.config))
            except Exception as error:  # noqa: BLE001 - said to the operator, who can run it again
                raise CliError(f"connected, but the poller did not start: {error}") from None

        workflow_id = run_async(_start())
        say(f"Poller {workflow_id} runs: Bullhorn's changes reach the processes through the intake table.")


def demo_bullhorn(
    pause: Annotated[float, typer.Option(help="Seconds to wait between changes, to watch the processes move in the UI.", min=0)] = 0.3,
) -> None:
    """Drive two applications through Bullhorn (a stand-in on loopback) into the running engine.

    Connects a Bullhorn account (a stand-in of its API), starts its poller, and makes the changes
    a recruiter makes in Bullhorn: interviews booked and moved, a debrief, statuses, placements.
    Prints what each became in the intake table, then each process's stage. Needs `make run`
    (worker, intake and its forwarder on the same DATABASE_URL). Exit 1 when something did not arrive."""
    from codec.encryption import EncryptionConfigError
    from codec.sealing import SecretSealer
    from cli.bullhorn_demo import run_bullhorn_demo

    settings = read_settings()
    try:
        sealer = SecretSealer(settings.payload_codec())
    except EncryptionConfigError as error:
        fail(f"cannot use PAYLOAD_ENCRYPTION_KEYS: {error}", 2)

    async def drive() -> int:
        client = await connect_temporal(settings)
        return await run_bullhorn_demo(client, settings, sealer, say, pause)

    raise typer.Exit(run_async(drive()))
