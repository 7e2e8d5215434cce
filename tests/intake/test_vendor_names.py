"""Names, never raw ids: the vendors' stages and archive reasons read from their APIs (a stand-in
on loopback, tests/intake/vendor_api.py), kept by the intake, and `postinterview intake
check-config` listing them beside config/intake.toml's map.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from activities.ats_api.catalogs import NoApiKey, name_loader, read_catalog, resolver
from cli.main import app as cli
from intake.config import IntakeConfig
from intake.names import VendorNames
from intake.senders import senders
from intake.signing import sign_lever
from tests.intake.test_adapters import CONFIG, RECEIVED, load
from tests.intake.test_service import config, intake_service
from tests.harness import eventually
from tests.intake.vendor_api import KEY, vendor_api

PROJECT = Path(__file__).resolve().parents[2]
LEVER_TOKEN = "lever-names-test-token"


def settings_for(url: str, *vendors: str) -> dict[str, str]:
    settings = {
        "lever": ("LEVER_API_KEY", "LEVER_API_URL"),
        "ashby": ("ASHBY_API_KEY", "ASHBY_API_URL"),
        "greenhouse": ("GREENHOUSE_HARVEST_API_KEY", "GREENHOUSE_HARVEST_URL"),
    }
    found: dict[str, str] = {}
    for vendor in vendors:
        key, where = settings[vendor]
        found |= {key: KEY, where: url}
    return found


async def test_each_vendors_stages_and_reasons_are_read_page_by_page():
    with vendor_api() as (api, url):
        lever = await read_catalog("lever", settings_for(url, "lever"))
        assert [s.name for s in lever.stages] == ["New lead", "Phone screen", "Phone interview done", "On-site done"]
        assert lever.names()["archive_reasons"]["63dd55b2-a99f-4e7b-985f-22c7bf80ab42"] == "Underqualified"
        assert [(r.name, r.kind) for r in lever.archive_reasons][-2:] == [("Hired", "hired"), ("Position filled", "non-hired")]
        ashby = await read_catalog("ashby", settings_for(url, "ashby"))
        assert [(s.name, s.kind) for s in ashby.stages] == [
            ("Application Review", "PreInterviewScreen"),
            ("Onsite", "Active"),
            ("Technical Interview", "Active"),
            ("Client Review", "Active"),
        ]
        assert [r.name for r in ashby.archive_reasons] == ["Lacks skills", "Took another offer"]
        greenhouse = await read_catalog("greenhouse", settings_for(url, "greenhouse"))
        assert len(greenhouse.stages) == 6 and greenhouse.archive_reasons[1].kind == "They rejected us"
        # Every page was followed: Lever by its `next` token, Ashby by its cursor, Harvest by Link.
        assert api.calls.count("GET /v1/stages") == 2 and api.calls.count("GET /v1/job_stages") == 3
        assert api.calls.count("POST /interviewPlan.list") == 2
    with pytest.raises(NoApiKey):
        await read_catalog("lever", {})


def test_the_adapters_name_what_the_names_hold():
    names = VendorNames({"lever": {"archive_reasons": {"63dd55b2-a99f-4e7b-985f-22c7bf80ab42": "Underqualified"}, "stages": {"stage-x": "Phone screen"}}})
    lever = senders(IntakeConfig(), names)["lever"]
    payload = load("lever_candidate_archive_change.json")
    (event,) = lever.parse(b"{}", payload, {}, RECEIVED).events
    assert event.data.reason == "Lever archive reason: Underqualified"
    payload = load("lever_candidate_stage_change.json")
    payload["data"]["toStageId"] = "stage-x"
    delivery = lever.parse(b"{}", payload, {}, RECEIVED)
    assert delivery.unmapped_stage == "Phone screen"
    assert delivery.ignored_reason == "stage 'Phone screen' (stage-x) is not in the Lever stage map ([lever.stages])"
    # Ashby schedules name their stage by id: its name also finds the configured round.
    ashby_names = VendorNames({"ashby": {"stages": {"stage-tech": "Technical Interview"}}})
    by_title = IntakeConfig(ashby_stage_rounds={"Technical Interview": 3})
    schedule = load("ashby_interview_schedule_update.json")
    schedule["data"]["interviewSchedule"]["interviewStageId"] = "stage-tech"
    mapped = senders(by_title, ashby_names)["ashby"].parse(b"{}", schedule, {}, RECEIVED)
    assert (mapped.events[0].data.round, mapped.unmapped_stage) == (3, None)
    unmapped = senders(IntakeConfig(), ashby_names)["ashby"].parse(b"{}", schedule, {}, RECEIVED)
    assert (unmapped.events[0].data.round, unmapped.unmapped_stage) == (None, "Technical Interview")


async def test_a_name_the_cache_lacks_is_reloaded_soon(monkeypatch):
    import intake.names

    monkeypatch.setattr(intake.names, "MIN_RELOAD_SECONDS", 0)
    loads = []

    async def loader():
        loads.append(time.monotonic())
        return {"lever": {"stages": {"s1": "Screen"}}} if len(loads) == 1 else {"lever": {"stages": {"s1": "Screen", "s2": "Onsite"}}}

    names = VendorNames()
    stop = asyncio.Event()
    keeping = asyncio.create_task(names.keep_loaded(loader, stop))
    for _ in range(100):
        if loads:
            break
        await asyncio.sleep(0.02)
    assert names.name("lever", "stages", "s1") == "Screen"
    assert names.name("lever", "stages", "s2") is None  # a miss asks for a reload
    for _ in range(300):
        if names.name("lever", "stages", "s2"):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await keeping
    assert names.label("lever", "stages", "s2") == "Onsite" and len(loads) >= 2


async def test_the_intake_names_lever_reasons_and_counts_unmapped_stages(store_url):
    """Over HTTP, the app loading the names from the stand-in Lever API as the service has it do."""
    with vendor_api() as (_, url):
        loader = name_loader(settings_for(url, "lever"))
        assert loader is not None and name_loader({}) is None  # no key, no loading
        names = VendorNames()
        intake_config = config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)
        async with intake_service(store_url, intake_config=intake_config, names=names, load_names=loader) as (http, store):
            await eventually(lambda: names.known().get("lever.archive_reasons") == 7, what="the Lever names to load")
            now = int(time.time() * 1000)
            archived = load("lever_candidate_archive_change.json") | {"triggeredAt": now, "token": "t-archive"}
            archived["data"]["toArchived"]["reason"] = "63dd55b2-a99f-4e7b-985f-22c7bf80ab42"
            answer = await http.post("/webhooks/lever", content=json.dumps(sign_lever(archived, LEVER_TOKEN)), headers={"content-type": "application/json"})
            assert (answer.status_code, answer.json()["status"]) == (200, "accepted"), answer.text
            stored = store.delivery_by_id(answer.json()["delivery_id"])
            assert stored["events"][0]["data"]["reason"] == "Lever archive reason: Underqualified"
            moved = load("lever_candidate_stage_change.json") | {"triggeredAt": now, "token": "t-stage"}
            moved["data"]["toStageId"] = "7c2690d8-6308-4ed9-ae2a-cbfe7db26593"
            with capture_logs() as logs:
                answer = await http.post("/webhooks/lever", content=json.dumps(sign_lever(moved, LEVER_TOKEN)), headers={"content-type": "application/json"})
            reported = [entry for entry in logs if entry["event"] == "stage not in the intake map"]
            assert [(e["sender"], e["stage"], e["log_level"]) for e in reported] == [("lever", "Phone screen", "warning")]
            assert answer.json()["reason"] == "stage 'Phone screen' (7c2690d8-6308-4ed9-ae2a-cbfe7db26593) is not in the Lever stage map ([lever.stages])"
            # The same delivery again is a duplicate, and not counted a second time.
            await http.post("/webhooks/lever", content=json.dumps(sign_lever(moved, LEVER_TOKEN)), headers={"content-type": "application/json"})
            metrics = (await http.get("/metrics")).text
            assert 'postinterview_unmapped_stages_total{vendor="lever"} 1.0' in metrics
            assert 'postinterview_unmapped_stages_total{vendor="greenhouse"} 0.0' in metrics


async def test_a_lever_interview_webhook_is_completed_from_levers_api_before_it_is_stored(store_url):
    """Lever's interview webhooks carry ids only: the intake reads the interview (time, length,
    panel) from Lever's API; the API down is a 503 with nothing stored, so Lever's retry brings
    the delivery again and it is taken then."""
    with vendor_api() as (api, url):
        resolve = resolver(settings_for(url, "lever"))
        assert resolve is not None and resolver({}) is None
        intake_config = config(LEVER_WEBHOOK_SIGNATURE_TOKEN=LEVER_TOKEN)
        async with intake_service(store_url, intake_config=intake_config, resolve=resolve) as (http, store):
            created = load("lever_interview_created.json") | {"triggeredAt": int(time.time() * 1000), "token": "t-interview"}
            body = json.dumps(sign_lever(created, LEVER_TOKEN))
            api.down = True
            answer = await http.post("/webhooks/lever", content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 503 and "nothing was stored" in answer.json()["message"], answer.text
            assert store.counts() == {}
            api.down = False
            answer = await http.post("/webhooks/lever", content=body, headers={"content-type": "application/json"})  # Lever's retry
            assert (answer.status_code, answer.json()["status"]) == (200, "accepted"), answer.text
            (event,) = store.delivery_by_id(answer.json()["delivery_id"])["events"]
            assert event["type"] == "interview.scheduled" and event["data"]["round"] is None
            assert (event["data"]["at"], event["data"]["ends_at"]) == ("2026-11-30T12:00:00Z", "2026-11-30T13:00:00Z")
            assert event["data"]["interviewers"] == [{"id": "2be9a3b5-0d2f-4b4c-8e8a-9f1b3d5f7c0e", "name": "Grace Lin", "email": "grace.lin@acme.example"}]
            # An interview Lever no longer has (deleted before we asked): acknowledged, ignored.
            gone = load("lever_interview_created.json") | {"triggeredAt": int(time.time() * 1000), "token": "t-gone"}
            gone["data"]["interviewId"] = "0000aaaa-0000-4000-8000-000000000000"
            answer = await http.post("/webhooks/lever", content=json.dumps(sign_lever(gone, LEVER_TOKEN)), headers={"content-type": "application/json"})
            assert (answer.status_code, answer.json()["status"]) == (200, "ignored") and answer.json()["reason"] == "interview 0000aaaa-0000-4000-8000-000000000000 no longer exists in lever's API"
            metrics = (await http.get("/metrics")).text
            assert 'postinterview_webhook_deliveries_total{outcome="vendor_unavailable",vendor="lever"} 1.0' in metrics


def write_config(tmp_path: Path, extra: str) -> Path:
    file = tmp_path / "intake.toml"
    file.write_text((PROJECT / "config" / "intake.toml").read_text() + extra)
    return file


def test_check_config_lists_the_vendors_stages_beside_the_map_and_says_which_are_unmapped(tmp_path):
    with vendor_api() as (_, url):
        env = settings_for(url, "lever", "ashby", "greenhouse") | {"INTAKE_CONFIG": str(write_config(tmp_path, ""))}
        result = CliRunner().invoke(cli, ["intake", "check-config"], env=env)
        out = result.output
        assert result.exit_code == 1, out  # unmapped stages
        # Lever: every stage is either in [lever.stages] or unmapped; the shipped map has two of these.
        assert "UNMAPPED New lead (lead-new)" in out
        assert "UNMAPPED Phone screen (7c2690d8-6308-4ed9-ae2a-cbfe7db26593)" in out
        assert "ok       Phone interview done (00000000-0000-4000-8000-00000000a001) -> interview_completed" in out
        # A hired-type reason the map does not list would count as a rejection: flagged.
        assert 'UNMAPPED Hired [hired] (16308515-dc77-4aa7-b3af-96161b2b4e9b) -> rejected (default): list it as "hired"' in out
        assert "ok       Underqualified [non-hired] (63dd55b2-a99f-4e7b-985f-22c7bf80ab42) -> rejected (default)" in out
        # Ashby: interview stages (Active) need a round or a meaning; others are fine unmapped.
        assert "ok       Onsite [Active] (00000000-0000-4000-8000-00000000c001) -> round 2" in out  # the shipped placeholder id
        assert "UNMAPPED Technical Interview [Active] (stage-tech)" in out
        assert "ok       Client Review [Active] (stage-client) -> client_feedback" in out
        assert "ok       Application Review [PreInterviewScreen] (stage-review) -> -" in out
        # Greenhouse: by name, once per name; stages with interviews need their first round.
        assert "ok       Face to Face [interviews] (3) -> first round 2" in out and out.count("Face to Face") == 1
        assert "UNMAPPED Take Home Test [interviews] (4) -> -" in out
        assert "ok       Offer [no interviews] (6) -> -" in out

        only_lever = {k: v for k, v in env.items() if k.startswith("LEVER")}
        as_json = CliRunner().invoke(cli, ["intake", "check-config", "--vendor", "lever", "--json"], env=only_lever | {"INTAKE_CONFIG": str(write_config(tmp_path, ""))})
        rows = json.loads(as_json.output)["lever"]["stages"]
        assert {r["name"]: r["unmapped"] for r in rows} == {"New lead": True, "Phone screen": True, "Phone interview done": False, "On-site done": False}


def test_check_config_passes_when_every_stage_is_mapped(tmp_path):
    with vendor_api() as (_, url):
        file = tmp_path / "intake.toml"
        file.write_text(
            "[lever.stages]\n"
            '"lead-new" = "ignore"\n"7c2690d8-6308-4ed9-ae2a-cbfe7db26593" = "interview_completed"\n'
            '"00000000-0000-4000-8000-00000000a001" = "interview_completed"\n"00000000-0000-4000-8000-00000000a003" = "interview_completed"\n'
            "[lever.archive_reasons]\n"
            '"16308515-dc77-4aa7-b3af-96161b2b4e9b" = "hired"\n'
        )
        result = CliRunner().invoke(cli, ["intake", "check-config", "--vendor", "lever"], env=settings_for(url, "lever") | {"INTAKE_CONFIG": str(file)})
        assert result.exit_code == 0, result.output
        assert result.output.strip().endswith("0 unmapped")


def test_check_config_without_keys_or_with_a_wrong_one_says_so(tmp_path):
    result = CliRunner().invoke(cli, ["intake", "check-config"], env={"LEVER_API_KEY": "", "ASHBY_API_KEY": "", "GREENHOUSE_HARVEST_API_KEY": ""})
    assert result.exit_code == 2 and "no vendor API key is set" in result.output
    with vendor_api() as (_, url):
        wrong = settings_for(url, "lever") | {"LEVER_API_KEY": "not-the-key"}
        result = CliRunner().invoke(cli, ["intake", "check-config", "--vendor", "lever"], env=wrong)
        assert result.exit_code == 2 and "lever: not read: lever API: HTTPStatusError" in result.output
