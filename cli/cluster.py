"""`postinterview db upgrade|current` and `postinterview search-attributes`: the one-off steps of a
deployment, run as Jobs before a new version rolls out (deploy/kubernetes/), or by hand.

- `db upgrade` brings the store's schema (DATABASE_URL) to this code's revision, under the same
  lock the components take; with DATABASE_AUTO_MIGRATE=false it is the only thing that does.
- `search-attributes` registers the engine's custom search attributes (domain/contract.py) in
  TEMPORAL_NAMESPACE, through the same client configuration as the worker (profile, TLS, API
  key). Idempotent: an attribute already there with the same type is left alone; one there with
  another type fails the command (a type cannot be changed in place).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import CliError, connect_temporal, fail, read_settings, run_async, safe_url, say

app = typer.Typer(help="The store's schema: upgrade it (a deployment's migration Job), or show where it is.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Upgrade the store's schema (DATABASE_URL) to this code's revision; safe to run again and beside running components."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from store.migrations import head_revision, store_revision, upgrade_store

    settings = read_settings()
    engine = create_engine(settings.database_url, hide_parameters=True)
    try:
        before = store_revision(engine)
        upgrade_store(engine, force=True)
        after = store_revision(engine)
    except SQLAlchemyError as error:
        fail(f"cannot upgrade the store at {safe_url(settings.database_url)}: {type(error).__name__}: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()
    assert after == head_revision()
    if before == after:
        say(f"The store at {safe_url(settings.database_url)} is at revision {after}: nothing to do.")
    else:
        say(f"The store at {safe_url(settings.database_url)} upgraded from revision {before or 'none'} to {after}.")


@app.command()
def current() -> None:
    """Print the store's schema revision and this code's; exit 1 when they differ."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from store.migrations import head_revision, store_revision

    settings = read_settings()
    engine = create_engine(settings.database_url, hide_parameters=True)
    try:
        revision = store_revision(engine)
    except SQLAlchemyError as error:
        fail(f"cannot read the store at {safe_url(settings.database_url)}: {type(error).__name__}: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()
    head = head_revision()
    say(f"store {revision or 'none'}, code {head}")
    if revision != head:
        raise typer.Exit(1)


def search_attributes(
    wait: Annotated[int, typer.Option(help="Seconds to wait for the server to answer (it may be starting beside this Job).", min=0)] = 120,
) -> None:
    """Register the engine's search attributes (ApplicationId, ..., SlaBreached) in TEMPORAL_NAMESPACE; idempotent.

    Connects as the worker does (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, the profile and TLS
    variables, TEMPORAL_API_KEY). On Temporal Cloud the API key needs a namespace admin role.
    """
    settings = read_settings()

    async def register() -> list[str]:
        import asyncio

        from temporalio.api.enums.v1 import IndexedValueType
        from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

        from domain.contract import SEARCH_ATTRIBUTES

        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            try:
                client = await connect_temporal(settings, "")
                break
            except CliError as error:
                if error.code == 2 or loop.time() >= deadline:  # a setting that cannot be used will not improve
                    raise
                await asyncio.sleep(2)
        namespace = client.namespace
        try:
            listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        except Exception as error:  # noqa: BLE001 - permission, unknown namespace: say which
            raise CliError(f"cannot list the search attributes of namespace {namespace}: {error}") from None
        registered = dict(listed.custom_attributes)
        wanted = {key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES}
        conflicts = [
            f"{name} is registered as {IndexedValueType.Name(registered[name])}, expected {IndexedValueType.Name(kind)}"
            for name, kind in wanted.items()
            if name in registered and registered[name] != kind
        ]
        if conflicts:
            raise CliError(f"namespace {namespace}: {'; '.join(conflicts)} (a type cannot be changed in place)")
        missing = {name: kind for name, kind in wanted.items() if name not in registered}
        if missing:
            try:
                await client.operator_service.add_search_attributes(AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
            except Exception as error:  # noqa: BLE001
                raise CliError(f"cannot register {', '.join(missing)} in namespace {namespace}: {error}") from None
        for name in wanted:
            say(f"{name:<14} {IndexedValueType.Name(wanted[name]).removeprefix('INDEXED_VALUE_TYPE_'):<8} {'registered' if name in missing else 'already there'}")
        return list(missing)

    added = run_async(register())
    say(f"{len(added)} search attribute(s) registered." if added else "Every search attribute was already registered.")
