"""The issue's "done": with `postinterview run` (what `make run` starts) and an event, a newcomer
signs in to the inbox with `postinterview inbox-link`, sees the task the process created, records
the debrief there, and the process moves on (its link points into the run's Temporal UI)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from domain.contract import TASK_QUEUE
from tests.cli.conftest import lifecycle_copies, run_cli
from tests.cli.test_run import Engine
from tests.events import GOOD_DEBRIEF
from tests.harness import eventually, free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_newcomer_signs_in_with_a_link_and_debriefs_after_make_run(tmp_path: Path):
    port, ui_port, intake_port = free_port(), free_port(), free_port()
    data_dir = tmp_path / "data"
    app_id = "inbox-1001"
    event = lifecycle_copies(tmp_path / "events", app_id)["01"]
    recruiter = json.loads(event.read_text())["recruiter"]["id"]
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "TASK_QUEUE": TASK_QUEUE, "DATABASE_URL": f"sqlite:///{data_dir / 'postinterview.sqlite3'}"}
    inbox = f"http://127.0.0.1:{intake_port}"

    engine = Engine(port, ui_port, data_dir, tmp_path / "run.stderr", intake_port)
    try:
        await engine.start()
        assert f"Recruiter inbox      {inbox}/inbox" in "\n".join(engine.output)
        assert (await run_cli("send-event", str(event), env=env)).code == 0

        async with httpx.AsyncClient(base_url=inbox, headers={"origin": inbox}, timeout=30) as http:

            async def task_listed() -> str | None:
                link = await run_cli("inbox-link", recruiter, "--url", inbox, env=env)
                assert link.code == 0, link.output
                url, _, fragment = link.stdout.strip().partition("#code=")
                assert url == f"{inbox}/inbox/login" and fragment.startswith("pis_")
                assert (await http.get(url)).status_code == 200
                assert (await http.post("/inbox/login", data={"token": fragment})).status_code == 303
                page = (await http.get("/inbox")).text
                return page if "book_debrief" in page else None

            page = await eventually(task_listed, timeout=30, what="the debrief task in the inbox")
            task_id = re.search(r'data-task-id="(\d+)" data-kind="book_debrief"', page).group(1)
            assert f"http://localhost:{ui_port}/namespaces/default/workflows/post-interview-api-{app_id}" in page
            # The task opened (the list carries no forms): its debrief form.
            opened = (await http.get("/inbox", params={"open": task_id})).text
            assert 'name="summary"' in opened
            csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', opened).group(1)
            form = {**GOOD_DEBRIEF, "questions_for_client": "\n".join(GOOD_DEBRIEF["questions_for_client"]), "csrf": csrf}
            answer = await http.post(f"/inbox/tasks/{task_id}/complete", data=form)
            assert answer.status_code == 303, answer.text
            assert "Debrief recorded" in (await http.get("/inbox")).text

        shown = await run_cli("status", "api", app_id, "--json", env=env)
        assert '"stage": "awaiting_client"' in shown.stdout, shown.output
        assert await engine.interrupt() == 0, engine.log()
    finally:
        engine.kill_leftovers()
