"""`postinterview deliveries list/show/retry/skip` on the intake table, SQLite and PostgreSQL: what
an operator reads about the deliveries the forwarder gave up on, and what they do about them.
(The forwarder delivering a retried one: tests/intake/test_dead_letters.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from store.intake_store import IntakeStore
from tests.cli.conftest import run_cli
from tests.events import Application
from tests.intake.test_forwarder import _stored


def _env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "COLUMNS": "250"}


def _stored_deliveries(database_url: str) -> tuple[int, int, int]:
    """A failed greenhouse delivery, a failed one from /events, a delivered one: their ids."""
    store = IntakeStore(database_url)
    app = Application(source="greenhouse", application_id="gh-77")
    ids = [
        store.accept(
            source=source, idempotency_key=f"key-{number}", action=action, application_key=f"{source}:gh-77",
            events=[_stored(app.interview(1))], ignored_reason=None, received_at=datetime(2026, 12, 3, 9, number, tzinfo=UTC),
        ).delivery_id
        for number, (source, action) in enumerate([("greenhouse", "interview_deleted"), ("api", "canonical"), ("api", "canonical")])
    ]  # fmt: skip
    store.settle([ids[2]], [(ids[0], "RPCError INVALID_ARGUMENT: exceeded workflow execution limit for signal events"), (ids[1], "ValidationError: x")])
    store.close()
    return ids[0], ids[1], ids[2]


async def test_list_and_show_what_the_forwarder_gave_up_on(database_url: str):
    greenhouse, events, delivered = _stored_deliveries(database_url)
    env = _env(database_url)

    listed = await run_cli("deliveries", "list", env=env)
    assert listed.code == 0, listed.output
    assert "2 failed deliveries" in listed.stdout
    assert "exceeded workflow execution limit for signal events" in listed.stdout and "greenhouse:gh-77" in listed.stdout
    assert f"\n│ {delivered} " not in listed.stdout, "only the failed ones by default"

    every = await run_cli("deliveries", "list", "--status", "all", "--json", env=env)
    assert every.code == 0, every.output
    rows = json.loads(every.stdout)
    assert [(row["id"], row["status"]) for row in rows] == [(greenhouse, "failed"), (events, "failed"), (delivered, "delivered")]
    assert "events" not in rows[0], "a listing leaves the events out"
    only = await run_cli("deliveries", "list", "--source", "api", "--json", env=env)
    assert [row["id"] for row in json.loads(only.stdout)] == [events]

    shown = await run_cli("deliveries", "show", str(greenhouse), env=env)
    assert shown.code == 0, shown.output
    for line in ("Status           failed", "Source           greenhouse (interview_deleted)", "Attempts         1", "Received (UTC)   2026-12-03 09:00"):
        assert line in shown.stdout, shown.stdout
    assert "Last error       RPCError INVALID_ARGUMENT: exceeded workflow execution limit" in shown.stdout
    assert '"application_id": "gh-77"' in shown.stdout, "its events, for the operator to judge"

    missing = await run_cli("deliveries", "show", "99999", env=env)
    assert missing.code == 1 and "no delivery 99999" in missing.stderr


async def test_retry_and_skip_say_who_and_why_and_refuse_what_they_cannot_do(database_url: str):
    greenhouse, events, delivered = _stored_deliveries(database_url)
    env = _env(database_url)

    retried = await run_cli("deliveries", "retry", str(greenhouse), "--by", "olga", "--note", "signal limit raised", env=env)
    assert retried.code == 0, retried.output
    assert retried.stdout.strip() == f"Delivery {greenhouse} is pending again; the forwarder delivers it at its next sweep."
    refused = await run_cli("deliveries", "retry", str(delivered), env=env)
    assert refused.code == 1
    assert f"delivery {delivered} is delivered: only a failed or skipped delivery can be retried" in refused.stderr
    assert (await run_cli("deliveries", "retry", env=env)).code == 2, "ids or --all-failed"

    no_reason = await run_cli("deliveries", "skip", str(events), "--reason", " ", env=env)
    assert no_reason.code == 2 and "Nothing was changed" in no_reason.stderr
    skipped = await run_cli("deliveries", "skip", str(events), "--by", "olga", "--reason", "test data from the sandbox", env=env)
    assert skipped.code == 0, skipped.output
    assert skipped.stdout.strip() == f"Delivery {events} skipped by olga: test data from the sandbox"

    store = IntakeStore(database_url)
    try:
        again = store.delivery_by_id(greenhouse)
        assert again is not None
        assert (again["status"], again["attempts"], again["failed_at"], again["operator"], again["operator_note"]) == (
            "pending", 0, None, "olga", "signal limit raised",
        )  # fmt: skip
        gone = store.delivery_by_id(events)
        assert gone is not None and (gone["status"], gone["operator"], gone["operator_note"]) == ("skipped", "olga", "test data from the sandbox")
        assert gone["events"], "a skipped delivery keeps its events"
        # Failed again, then every failed one at once.
        store.settle([], [(greenhouse, "still refused")])
    finally:
        store.close()
    shown = await run_cli("deliveries", "show", str(events), env=env)
    assert "Operator         olga at " in shown.stdout and "test data from the sandbox" in shown.stdout
    everything = await run_cli("deliveries", "retry", "--all-failed", "--by", "olga", env=env)
    assert everything.code == 0, everything.output
    assert everything.stdout.strip() == f"1 failed deliveries pending again: {greenhouse}."
    nothing = await run_cli("deliveries", "list", env=env)
    assert nothing.code == 0 and nothing.stdout.startswith("No failed deliveries in ")


async def test_show_names_the_forwarder_that_holds_a_pending_delivery_and_until_when(postgres_schema_url: str):
    from store.intake_store import Claim

    store = IntakeStore(postgres_schema_url)
    app = Application(source="api")
    held = store.accept(
        source="api", idempotency_key="key-held", action="canonical", application_key=f"api:{app.application_id}",
        events=[_stored(app.interview(1))], ignored_reason=None, received_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
    ).delivery_id  # fmt: skip
    [row] = store.pending(claim=Claim("intake-2:4711:abcd", 30))
    assert row.id == held
    store.close()

    shown = await run_cli("deliveries", "show", str(held), env=_env(postgres_schema_url))
    assert shown.code == 0, shown.output
    assert "Forwarder        intake-2:4711:abcd until 20" in shown.stdout, shown.stdout
