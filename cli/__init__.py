"""The `postinterview` command line: run the engine locally, drive processes, look at what they did.

`cli.main` makes the app and registers the commands (entry point `postinterview = "cli.main:app"`, also
`python -m cli.main`); the commands live by help panel: `cli.engine` (run, worker, intake, codec-server,
replay), `cli.drive` (send-event, debrief, demo, demo-webhooks), `cli.look` (status, tasks, messages,
notifications, list), `cli.integrate` (schema), `cli.users` (users, inbox-link), `cli.simulation` (simulate);
`cli.common` is what they share (output, errors and exit codes, connecting to Temporal);
`cli.dev_server` starts and stops the embedded Temporal dev server for `postinterview run`;
`cli.demo` drives one application through its whole life from the example files;
`cli.input_files` reads and validates events and debriefs; `cli.render` draws the Rich tables.
"""
