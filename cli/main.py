"""`postinterview`: the command line of the post-interview engine.

One entry point for everybody who is not an ATS: `run` starts the whole engine locally (the
Temporal dev server and the worker), `worker` runs only the worker, `send-event`, `debrief` and
`demo` drive processes the way an ATS adapter and a recruiter would, `status`, `tasks` and
`messages` show what the processes did, `deliveries` what the intake received (and retries or
skips what it could not deliver), and `schema` prints the contract integrators validate
against. Configuration comes from the environment (service.settings.Settings, read once per
command), like the worker's.

This module only makes the Typer app and registers each command under its help panel; the
commands live by panel: cli/engine.py (run the engine), cli/drive.py (drive processes),
cli/look.py (look at processes), cli/deliveries.py (the intake table), cli/integrate.py,
cli/users.py (people), cli/privacy.py (forget, erasures, intake purge) and cli/simulation/command.py; what they share (output, errors, connecting) is in cli/common.py.

The short commands talk to a person and print with Rich; only the long-running ones (`run`,
`worker`) configure the JSON logs an operator collects. Exit codes: 0 done, 1 failed (server
unreachable, port in use, process not found, debrief rejected), 2 invalid input (nothing sent).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer

from cli import cluster, drive, engine, integrate, look, privacy
from cli.bullhorn import app as bullhorn_connect_app
from cli.contact import app as contact_app  # light: the store and Typer only
from cli.bullhorn import demo_bullhorn as bullhorn_demo
from cli.deliveries import app as deliveries_app  # light: the store and Typer only
from cli.greenhouse_interviews import greenhouse_interviews
from cli.simulation.command import simulate
from cli.users import app as users_app  # light: the store and Typer only
from cli.users import inbox_link
from domain.contract import TASK_QUEUE

# Heavy imports (the worker, the workflows, the Temporal client) happen inside the commands that
# need them, so `--help`, `schema` and the store listings start at once.


class _App(typer.Typer):
    """Leaves with os._exit once the command is done and its output flushed.

    After a Temporal runtime has shut down the interpreter can crash at exit (sdk-python#300),
    which would turn a command that did its job into a failure at random. Only the entry point
    does this: tests that invoke commands in-process (typer's CliRunner) are unaffected.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            super().__call__(*args, **kwargs)
            code = 0
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except BaseException:  # noqa: BLE001 - report it as Python would, then leave the same way
            sys.excepthook(*sys.exc_info())
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


app = _App(
    name="postinterview",
    help=(
        "Post-interview follow-through for recruiting teams, on Temporal.\n\n"
        "Start the engine with `postinterview run`, then try `postinterview demo` "
        "and watch the process in the Temporal UI."
    ),
    epilog=(
        "Environment: TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default), "
        "TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE, TEMPORAL_API_KEY, TEMPORAL_TLS_* (Temporal's client configuration), "
        f"TASK_QUEUE ({TASK_QUEUE}), DATABASE_URL (sqlite:///data/postinterview.sqlite3), "
        "POLICY_FILE (config/policy.toml), LOG_LEVEL (INFO), PAYLOAD_ENCRYPTION_KEYS (unset: payloads not encrypted), "
        "CODEC_CORS_ORIGINS (http://localhost:8233), CODEC_SERVER_TOKEN (unset).  "
        "Exit codes: 0 done, 1 failed, 2 invalid input."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    # A traceback's locals could hold a candidate's name or email address.
    pretty_exceptions_show_locals=False,
)

ENGINE = "Run the engine"
DRIVE = "Drive processes"
LOOK = "Look at processes"
INTEGRATE = "Integrate"
PEOPLE = "People"

# In this order: each panel lists its commands as they are registered.
app.command(rich_help_panel=ENGINE)(engine.run)
app.command(rich_help_panel=ENGINE)(engine.worker)
# `intake` runs the service; `intake check-config` (cli/integrate.py) checks its stage map.
intake_app = typer.Typer(add_completion=False, rich_markup_mode="markdown", pretty_exceptions_show_locals=False)
intake_app.callback(invoke_without_command=True)(engine.intake)
intake_app.command("check-config")(integrate.check_config)
intake_app.command("purge")(privacy.purge)
app.add_typer(intake_app, name="intake", rich_help_panel=ENGINE)
app.command(rich_help_panel=ENGINE)(engine.forwarder)
app.command("codec-server", rich_help_panel=ENGINE)(engine.codec_server)
app.command(rich_help_panel=ENGINE)(engine.replay)
# A deployment's one-off steps (migration and search-attribute Jobs): cli/cluster.py.
app.add_typer(cluster.app, name="db", rich_help_panel=ENGINE)
app.command("search-attributes", rich_help_panel=ENGINE)(cluster.search_attributes)

app.command("send-event", rich_help_panel=DRIVE)(drive.send_event)
app.command(rich_help_panel=DRIVE)(drive.debrief)
app.command(rich_help_panel=DRIVE)(drive.demo)
app.command("demo-webhooks", rich_help_panel=DRIVE)(drive.demo_webhooks)
app.command("demo-bullhorn", rich_help_panel=DRIVE)(bullhorn_demo)

app.command(rich_help_panel=LOOK)(look.status)
app.command(rich_help_panel=LOOK)(look.tasks)
app.command(rich_help_panel=LOOK)(look.messages)
app.command(rich_help_panel=LOOK)(look.notifications)
app.command("list", rich_help_panel=LOOK)(look.list_)
# What the intake received, and the deliveries the forwarder gave up on (retry, skip).
app.add_typer(deliveries_app, name="deliveries", rich_help_panel=LOOK)
app.command("greenhouse-interviews", rich_help_panel=LOOK)(greenhouse_interviews)

# The command lives with the simulation (cli/simulation/command.py).
app.command("simulate", rich_help_panel=DRIVE)(simulate)

app.command(rich_help_panel=INTEGRATE)(integrate.schema)
# `connect bullhorn`: an ATS that is polled, not a webhook sender (cli/bullhorn.py).
app.add_typer(bullhorn_connect_app, name="connect", rich_help_panel=INTEGRATE)

app.add_typer(users_app, name="users", rich_help_panel=PEOPLE)
app.add_typer(contact_app, name="contact", rich_help_panel=PEOPLE)
app.command("inbox-link", rich_help_panel=PEOPLE)(inbox_link)
# Privacy: erasure (README "Privacy"); `intake purge` is beside `intake check-config`.
app.command(rich_help_panel=PEOPLE, epilog=privacy.FORGET_EPILOG)(privacy.forget)
app.command(rich_help_panel=PEOPLE)(privacy.erasures)


if __name__ == "__main__":
    app()
