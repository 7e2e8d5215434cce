"""`postinterview contact show|opt-out` on the store (SQLite and PostgreSQL): an operator records an
opt-out a candidate gave on the phone, and reads what is known."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from store.contact_preferences import ContactPreferenceStore
from store.task_store import TaskStore
from tests.cli.conftest import run_cli


async def test_an_operator_records_an_opt_out_and_reads_it_back(database_url: str):
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "COLUMNS": "250"}
    before = await run_cli("contact", "show", "greenhouse", "c-77", env=env)
    assert before.code == 0 and "c-77 (greenhouse): may be contacted" in before.stdout

    first = await run_cli("contact", "opt-out", "greenhouse", "c-77", "--by", "ops-1", env=env)
    again = await run_cli("contact", "opt-out", "greenhouse", "c-77", "--by", "ops-2", env=env)
    assert first.code == 0 and "Opted out: c-77 (greenhouse)" in first.stdout and "via operator:ops-1" in first.stdout
    assert again.code == 0 and "Already opted out" in again.stdout and "via operator:ops-1" in again.stdout

    store = TaskStore(database_url)
    try:
        ContactPreferenceStore(store.engine).record_ats_can_email("greenhouse", "c-77", False, datetime(2026, 12, 1, tzinfo=UTC))
        assert ContactPreferenceStore(store.engine).preference("greenhouse", "c-77").opted_out
    finally:
        store.close()
    shown = await run_cli("contact", "show", "greenhouse", "c-77", "--json", env=env)
    assert shown.code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["opted_out_via"] == "operator:ops-1" and data["ats_can_email"] is False and "opted out" in data["suppression"]
