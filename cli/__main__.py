"""`python -m cli`: the same as `postinterview` (and `python -m cli.main`)."""

from cli.main import app

app()
