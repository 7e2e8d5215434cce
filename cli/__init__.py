"""The `postinterview` command line: run the engine locally, drive processes, look at what they did.

`cli.main` holds the commands (entry point `postinterview = "cli.main:app"`, also `python -m cli.main`);
`cli.dev_server` starts and stops the embedded Temporal dev server for `postinterview run`;
`cli.demo` drives one application through its whole life from the example files;
`cli.input_files` reads and validates events and debriefs; `cli.render` draws the Rich tables.
"""
