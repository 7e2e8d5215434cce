"""How a store error leaves an activity: without the data it was about, and retried only when a
retry can help.

A database error's text can quote what was written: the statement's parameters (hidden by the
engines' `hide_parameters`, store/task_store.py) and the driver's own detail (PostgreSQL's
"Key (email)=(ada@example.com) already exists", the JSON line it could not read). The SDK logs an
activity's exception and sends its message, its causes and their messages to the history as the
activity's failure. So a store error is re-raised as an ApplicationError that says only what
kind of error it was, with no cause attached:

- permanent (a constraint violated, data the database cannot hold such as a NUL character on
  PostgreSQL): `StoreRefused`, non-retryable. Retrying the same write can never succeed; the
  workflow records the failure and goes on (workflows/post_interview.py).
- anything else (the database is down, a lock timed out, a schema not migrated yet):
  `StoreUnavailable`, retried as the activity's retry policy says, for as long as it takes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from temporalio.exceptions import ApplicationError

from domain import names

P = ParamSpec("P")
R = TypeVar("R")

PERMANENT = (IntegrityError, DataError)


def store_failure(error: SQLAlchemyError) -> ApplicationError:
    """The activity failure for a store error: its kind, never its data."""
    permanent = isinstance(error, PERMANENT)
    return ApplicationError(
        f"the store {'refused the write' if permanent else 'is unavailable'}: {_describe(error)}",
        type=names.STORE_REFUSED if permanent else names.STORE_UNAVAILABLE,
        non_retryable=permanent,
    )


def reports_store_failures(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate an activity (under @activity.defn) so its store errors leave as store_failure()."""

    @functools.wraps(method)
    def activity(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as error:
            # `from None`: the original, with its text, must not travel as the failure's cause.
            raise store_failure(error) from None

    return activity


def _describe(error: SQLAlchemyError) -> str:
    """The error's class, and what the driver said without the part that quotes values."""
    kind = type(error).__name__
    original = error.orig if isinstance(error, DBAPIError) else None
    if original is None:
        return kind
    diagnostic = getattr(original, "diag", None)  # psycopg: the primary message never quotes a value
    if diagnostic is not None:
        primary = diagnostic.message_primary or ""
        state = getattr(original, "sqlstate", None)
        return f"{kind} ({type(original).__name__}{', SQLSTATE ' + state if state else ''}): {primary or _first_line(original)}"
    # SQLite names the constraint or the problem, never a value; psycopg's client-side errors
    # (a NUL byte) have no diagnostic and say what the problem is on their first line.
    return f"{kind} ({type(original).__name__}): {_first_line(original)}"


def _first_line(error: BaseException) -> str:
    return str(error).split("\n", 1)[0][:200]
