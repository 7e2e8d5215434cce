"""The CLI without a server: the published schema, the example files, help texts, input errors,
and the checks `postinterview run` makes before it starts anything."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from cli import demo
from cli.dev_server import DevServer, DevServerConfig, DevServerError, binary_path, search_attribute_flags, server_command
from cli.main import app
from domain.contract import SEARCH_ATTRIBUTES
from domain.debrief import Debrief, why_not_substantive
from domain.events import CanonicalEvent, event_json_schema_text
from tests.cli.conftest import EXAMPLES, ROOT

PUBLISHED_SCHEMA = ROOT / "schemas" / "canonical-event.schema.json"

runner = CliRunner()


def test_published_schema_is_what_the_code_generates():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == event_json_schema_text()
    assert PUBLISHED_SCHEMA.read_text() == result.stdout, (
        "schemas/canonical-event.schema.json is out of date with domain/events.py: "
        "run `postinterview schema --output schemas/canonical-event.schema.json` and commit the result"
    )


def test_schema_output_writes_the_same_text(tmp_path: Path):
    target = tmp_path / "nested" / "event.schema.json"
    result = runner.invoke(app, ["schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == event_json_schema_text()
    assert json.loads(target.read_text())["title"] == "CanonicalEvent"


def test_every_lifecycle_example_is_a_valid_event_of_one_application():
    files = sorted((EXAMPLES / "lifecycle").glob("*.json"))
    assert [f.name for f in files] == demo.LIFECYCLE
    events = [CanonicalEvent.model_validate_json(f.read_text()) for f in files]
    assert [e.type.value for e in events] == [
        "interview.completed",
        "references.requested",
        "referee.consented",
        "referee.responded",
        "offer.extended",
        "offer.accepted",
        "contract.signed",
        "vetting.passed",
        "candidate.started",
    ]
    assert {(e.source, e.application_id) for e in events} == {("api", "demo-1001")}
    assert len({e.event_id for e in events}) == len(events)


def test_example_debriefs_one_substantive_one_not():
    assert why_not_substantive(Debrief.model_validate_json((EXAMPLES / "debrief.json").read_text())) == []
    assert why_not_substantive(Debrief.model_validate_json((EXAMPLES / "empty-debrief.json").read_text()))


def test_every_json_example_validates():
    for path in EXAMPLES.rglob("*.json"):
        model = Debrief if "debrief" in path.name else CanonicalEvent
        model.model_validate_json(path.read_text())


def test_demo_rewrites_the_examples_for_a_new_application():
    steps = demo.plan("demo-abc123")
    events = [s.event for s in steps if s.event is not None]
    assert len(steps) == 10 and steps[1].debrief is not None  # the debrief right after the interview
    assert {e.application_id for e in events} == {"demo-abc123"}
    assert {e.candidate.id for e in events} == {"cand-demo-abc123"}
    assert all(e.event_id.startswith("demo-abc123-") for e in events)
    assert demo.new_application_id() != demo.new_application_id()


def test_every_command_and_option_has_help():
    root = typer.main.get_command(app)
    assert root.help
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        assert command.help, f"{name} has no help"
        for parameter in command.params:
            if parameter.name == "help":
                continue
            assert getattr(parameter, "help", None), f"{name} {parameter.name} has no help"


def test_invalid_files_exit_2_naming_file_event_and_fields(tmp_path: Path):
    good = json.loads((EXAMPLES / "lifecycle" / "01-interview-completed.json").read_text())
    bad = json.loads(json.dumps(good))
    bad["event_id"] = "evt-bad"
    del bad["data"]["at"]
    bad["candidate"]["email"] = "not-an-address"
    array = tmp_path / "batch.json"
    array.write_text(json.dumps([good, bad]))
    broken = tmp_path / "broken.json"
    broken.write_text('{"event_id": "x",')

    result = runner.invoke(app, ["send-event", str(array), str(broken)])
    assert result.exit_code == 2
    assert f"{array}, event 2 of 2 (event_id evt-bad)" in result.stderr
    assert "candidate.email: String should match pattern" in result.stderr
    assert "data: Value error, does not fit interview.completed: at: Field required" in result.stderr
    assert f"{broken}: not valid JSON" in result.stderr
    assert "Nothing was sent." in result.stderr
    assert result.stdout == ""


def test_stdin_is_read_with_dash():
    result = runner.invoke(app, ["send-event", "-"], input="[1]")
    assert result.exit_code == 2
    assert "<stdin>, event 1 of 1: expected an event object, found int" in result.stderr


def test_debrief_options_are_checked_before_anything_is_sent():
    both = runner.invoke(app, ["debrief", "api", "demo-1001", "--file", str(EXAMPLES / "debrief.json"), "--interest", "3"])
    assert both.exit_code == 2 and "not both" in both.stderr
    missing = runner.invoke(app, ["debrief", "api", "demo-1001", "--concerns", "pay"])
    assert missing.exit_code == 2 and "--summary and --interest" in missing.stderr


def test_dev_server_command_registers_every_search_attribute(tmp_path: Path):
    config = DevServerConfig(port=7300, ui_port=8300, data_dir=tmp_path)
    command = server_command(binary_path(), config)
    assert command[:3] == [str(binary_path()), "server", "start-dev"]
    assert binary_path().parent == Path(sys.executable).parent
    for flag, value in [("--ip", "127.0.0.1"), ("--port", "7300"), ("--ui-port", "8300"), ("--db-filename", str(tmp_path / "temporal.sqlite")), ("--namespace", "default"), ("--log-level", "warn")]:
        assert command[command.index(flag) + 1] == value
    flags = search_attribute_flags()
    assert flags[1::2] == [f"{key.name}={'Bool' if key.name == 'SlaBreached' else 'Keyword'}" for key in SEARCH_ATTRIBUTES]


def test_dev_server_says_when_its_binary_is_missing(tmp_path: Path):
    server = DevServer(DevServerConfig(data_dir=tmp_path / "data"), binary=tmp_path / "no-such-temporal")
    with pytest.raises(DevServerError, match="The Temporal CLI is missing at .*no-such-temporal"):
        server.start()


def test_dev_server_names_the_port_that_is_taken(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = DevServer(DevServerConfig(port=port, ui_port=port + 1, data_dir=tmp_path / "data"))
        with pytest.raises(DevServerError, match=rf"Port {port} \(Temporal gRPC, --port\).*already in use.*make run"):
            server.start()
    assert not (tmp_path / "data").exists()  # nothing started, nothing created
