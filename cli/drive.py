"""`postinterview send-event`, `debrief`, `demo` and `demo-webhooks`: driving processes the way an
ATS adapter and a recruiter would, against the running engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.common import CliError, connect_temporal, fail, read_settings, rpc_failure, run_async, say
from cli.input_files import InputError, load_debrief, load_events, validate_debrief
from domain.contract import post_interview_workflow_id
from service.settings import Settings

# An update waits for a worker to answer; without one it would hang for ever.
UPDATE_TIMEOUT = 20.0


def send_event(
    files: Annotated[
        list[str],
        typer.Argument(
            help="JSON files, each holding one canonical event or an array of them; - reads standard input.",
            metavar="FILE",
            show_default=False,
        ),
    ],
) -> None:
    """Validate canonical events and deliver them (signal-with-start) to their processes.

    Every event of every file is validated first: if any is invalid, nothing is sent and the
    exit code is 2. Delivering an event twice is harmless (the process ignores a repeated
    event_id). Prints one line per event: **delivered** or **process_closed** (the
    process has already ended and ignores late events), then the workflow id.
    """
    try:
        events = load_events(files)
    except InputError as error:
        fail(f"{error}\nNothing was sent.", 2)
    settings = read_settings()

    async def deliver() -> None:
        from process_client import deliver_event

        client = await connect_temporal(settings)
        for sent, item in enumerate(events):
            try:
                delivery = await deliver_event(client, item.event, settings.task_queue)
            except Exception as error:  # noqa: BLE001 - say how far it got
                raise CliError(
                    f"{item.file}: event {item.event.event_id} could not be delivered ({error}); "
                    f"{sent} of {len(events)} events were delivered before it."
                ) from None
            event = item.event
            say(f"{delivery.value:<14} {event.workflow_id}  {event.type.value}  event_id={escape(event.event_id)}  ({escape(item.file)})")

    run_async(deliver())


def debrief(
    source: Annotated[str, typer.Argument(help="The application's source, as in its events (api, greenhouse, ...).", metavar="SOURCE", show_default=False)],
    application_id: Annotated[str, typer.Argument(help="The application id, as in its events.", metavar="APPLICATION_ID", show_default=False)],
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="A JSON debrief, like examples/debrief.json; - reads standard input. Or use the options below."),
    ] = None,
    summary: Annotated[str | None, typer.Option(help="How the interview went: who they met, what was discussed, what landed and what did not.")] = None,
    interest: Annotated[int | None, typer.Option(help="How much the candidate wants the role, 1 (not at all) to 5 (very much).", min=1, max=5)] = None,
    concerns: Annotated[str | None, typer.Option(help="What worries the candidate about the role or the firm.")] = None,
    question: Annotated[
        list[str] | None, typer.Option("--question", help="A question the candidate wants put to the client; repeat for more.")
    ] = None,
    reflections: Annotated[str | None, typer.Option(help="What the interviewers asked the candidate to think about, and their thoughts.")] = None,
    round_: Annotated[int | None, typer.Option("--round", help="The interview round it is about; the latest when omitted.", min=1)] = None,
    recorded_by: Annotated[str | None, typer.Option(help="Who recorded it: a recruiter id, or 'candidate'.")] = None,
) -> None:
    """Record the candidate's debrief of an interview (the `record_debrief` update).

    The process accepts a substantive debrief and prints the round it recorded; it rejects one
    that would tell the client nothing ("went well, very interested"), and the reason is shown
    (exit code 1).
    """
    options = {
        "summary": summary,
        "interest": interest,
        "concerns": concerns,
        "questions_for_client": question or None,
        "reflections": reflections,
        "round": round_,
        "recorded_by": recorded_by,
    }
    given = {name: value for name, value in options.items() if value is not None}
    try:
        if file is not None:
            if given:
                fail(f"use --file or the debrief options, not both (given: {', '.join(sorted(given))}).", 2)
            record = load_debrief(file)
        else:
            if summary is None or interest is None:
                fail("give the debrief with --file FILE, or at least --summary and --interest.", 2)
            record = validate_debrief(given, "the debrief options")
    except InputError as error:
        fail(f"{error}\nNothing was sent.", 2)
    settings = read_settings()

    async def send() -> None:
        from process_client import NoWorker, ProcessRefused, record_debrief

        client = await connect_temporal(settings)
        try:
            accepted = await record_debrief(client, source, application_id, record, timeout=UPDATE_TIMEOUT)
        except NoWorker:
            raise CliError(
                f"no worker answered within {UPDATE_TIMEOUT:.0f} s: is one running on task queue {settings.task_queue} "
                "(`postinterview run` or `postinterview worker`)? The debrief may still be recorded when one "
                f"starts: check with `postinterview status {source} {application_id}`."
            ) from None
        except ProcessRefused as refused:
            # The workflow's own words: the ApplicationError its validator raised.
            raise CliError(f"the process rejected the debrief: {refused.reason}") from None
        except Exception as error:  # noqa: BLE001 - not found, server errors
            raise await rpc_failure(client, error, source, application_id) from None
        interest_text = f", interest {accepted.interest}/5" if accepted.interest else ""
        say(
            f"Debrief of round {accepted.round} recorded{interest_text} "
            f"({post_interview_workflow_id(source, application_id)})."
        )

    run_async(send())


def demo(
    application_id: Annotated[
        str | None,
        typer.Option(help="The application to create; a fresh demo-<random> when omitted, so every run starts a new process.", show_default=False),
    ] = None,
    pause: Annotated[float, typer.Option(help="Seconds to wait between steps, to watch the process move in the UI.", min=0)] = 1.0,
    examples_dir: Annotated[Path, typer.Option(help="Where the example events and debrief are.")] = Path("examples"),
) -> None:
    """Drive one application from interview to first day, step by step, against the running engine.

    Sends examples/lifecycle/01..09 (the interview, references, offer, contract, vetting, first
    day) as events and examples/debrief.json through the record_debrief update, rewritten for a
    new application, and prints each step and the stage the process is in after it.
    """
    from cli import demo as demo_steps

    settings = read_settings()
    application_id = application_id or demo_steps.new_application_id()
    if not examples_dir.is_dir() and examples_dir == Path("examples"):
        examples_dir = demo_steps.EXAMPLES_DIR  # run from elsewhere than the project root
    try:
        steps = demo_steps.plan(application_id, examples_dir)
    except demo_steps.DemoError as error:
        fail(str(error), 2)
    first = steps[0].event
    assert first is not None
    workflow_id = first.workflow_id

    async def drive() -> None:
        client = await connect_temporal(settings)
        say(f"Demo: application [bold]{application_id}[/] from {first.source}, process [bold]{workflow_id}[/]")
        ui = _local_ui(settings)
        if ui:
            say(f"Watch it: {ui}/namespaces/{client.namespace}/workflows/{workflow_id}")
        say("")
        try:
            await demo_steps.run_demo(client, settings.task_queue, steps, pause, say)
        except demo_steps.DemoError as error:
            raise CliError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - server errors
            raise await rpc_failure(client, error, first.source, application_id) from None
        say("")
        say("See what it left behind:")
        say(f"  postinterview status {first.source} {application_id}")
        say(f"  postinterview tasks --status all --process {workflow_id}")
        say(f"  postinterview messages --process {workflow_id}")

    run_async(drive())


def demo_webhooks(
    url: Annotated[str, typer.Option(help="The webhook intake of the running engine.")] = "http://127.0.0.1:8000",
    data_dir: Annotated[
        Path, typer.Option(help="The data directory of `postinterview run`: its intake-secrets.env holds the local webhook secrets.")
    ] = Path("data"),
    pause: Annotated[float, typer.Option(help="Seconds to wait between webhooks, to watch the processes move in the UI.", min=0)] = 0.3,
) -> None:
    """Send a few candidates' ATS webhooks through the webhook intake, signed as each vendor signs them.

    Greenhouse, Lever and Ashby deliveries and canonical events (/events, Standard Webhooks) for
    five candidates with fresh ids, one delivery sent twice to show it is acknowledged as a
    duplicate. Prints the intake's answer to each, then each process and the stage it reached.
    Secrets: the intake's own (the environment, or the intake config's [secrets]), else
    DATA_DIR/intake-secrets.env, which `postinterview run` writes. When `run` serves its local
    Greenhouse Harvest stand-in (DATA_DIR/harvest-stand-in.env), a sixth candidate's interview is
    scheduled there only, and the engine's interview poller starts her debrief. Exit code 0 when every webhook
    got a 2xx and every process showed up, 1 otherwise.
    """
    from cli import webhook_demo

    settings = read_settings()
    try:
        config, secrets, secrets_from = webhook_demo.load(data_dir, settings.intake)
    except webhook_demo.WebhookDemoError as error:
        fail(str(error), error.code)

    async def drive() -> int:
        client = await connect_temporal(settings)
        ui = _local_ui(settings)
        # The local Greenhouse Harvest stand-in of `run`, if it serves one: a sixth candidate
        # whose interview is known only to Greenhouse's API.
        harvest = await webhook_demo.local_harvest(data_dir)
        stories = webhook_demo.plan(config, harvest=harvest is not None)
        try:
            return await webhook_demo.run_webhook_demo(
                client,
                url,
                stories,
                secrets,
                secrets_from,
                pause,
                say,
                f"{ui}/namespaces/{client.namespace}/workflows" if ui else None,
                harvest,
            )
        except webhook_demo.WebhookDemoError as error:
            raise CliError(str(error), error.code) from None

    raise typer.Exit(run_async(drive()))


def _local_ui(settings: Settings) -> str | None:
    """The UI `postinterview run` serves for a local address (its port + 1000, by default)."""
    host, _, port = settings.temporal_address.rpartition(":")
    if host in ("localhost", "127.0.0.1") and port.isdigit():
        return f"http://localhost:{int(port) + 1000}"
    return None
