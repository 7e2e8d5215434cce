"""`postinterview run`'s local Greenhouse Harvest stand-in: where it says it is, private, and what
it holds kept across restarts (a restart must not look like every interview was cancelled)."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from cli.harvest_stand_in import ENV_FILENAME, read_local_stand_in, start_local_stand_in


def test_the_local_stand_in_is_private_found_by_the_demo_and_keeps_what_it_holds(tmp_path: Path):
    server, variables = start_local_stand_in(tmp_path)
    try:
        assert stat.S_IMODE((tmp_path / ENV_FILENAME).stat().st_mode) == 0o600
        assert read_local_stand_in(tmp_path) == (server.url, variables["GREENHOUSE_HARVEST_API_KEY"])
        assert variables["GREENHOUSE_HARVEST_URL"] == server.url and variables["GREENHOUSE_INTERVIEW_POLL_SECONDS"] == "5"
        key = variables["GREENHOUSE_HARVEST_API_KEY"]
        interview = {"id": 1, "application_id": 2, "start": {"date_time": "2026-12-03T10:00:00.000Z"}, "end": {"date_time": "2026-12-03T11:00:00.000Z"}, "status": "scheduled"}
        with httpx.Client(base_url=server.url, auth=(key, "")) as http:
            assert http.post("/_stand-in/interviews", json=interview).status_code == 200
            assert http.get("/v1/scheduled_interviews/1").json()["status"] == "scheduled"
        with httpx.Client(base_url=server.url, auth=("someone-else", "")) as http:
            assert http.get("/v1/scheduled_interviews/1").status_code == 401
            assert http.post("/_stand-in/interviews", json=interview).status_code == 401
    finally:
        server.stop()
    assert read_local_stand_in(tmp_path) is not None  # the file stays; the demo then finds nobody answering

    again, variables = start_local_stand_in(tmp_path)
    try:
        with httpx.Client(base_url=again.url, auth=(variables["GREENHOUSE_HARVEST_API_KEY"], "")) as http:
            kept = http.get("/v1/scheduled_interviews/1").json()
        assert kept["application_id"] == 2 and kept["start"] == {"date_time": "2026-12-03T10:00:00.000Z"}
    finally:
        again.stop()
    assert read_local_stand_in(tmp_path / "elsewhere") is None
