"""Pydantic validation errors as text a person can act on: `candidate.email: <what is wrong>`.

One formatter for every place that reports an invalid input (an update refused by a workflow, a
webhook payload, a configuration file, a scenario). The messages reach forms, HTTP answers and
tests, so each caller's options reproduce its output exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


def error_path(location: Sequence[int | str], *, indexed: bool = False) -> str:
    """Where a problem is: ('steps', 2, 'event') -> 'steps.2.event', or 'steps[2].event' if indexed."""
    if not indexed:
        return ".".join(str(part) for part in location)
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_problems(
    error: ValidationError,
    root: str | None,
    *,
    prefix: str = "",
    indexed: bool = False,
    limit: int | None = None,
    strip_value_error: bool = False,
) -> list[str]:
    """One `path: message` line per problem.

    root: the path of a problem with the whole object (no location); None: the message alone.
    prefix: a path the model sits under in a larger document (`event` -> `event.data.round`).
    indexed: list positions in brackets (`steps[2].event`) instead of dots (`steps.2.event`).
    limit: at most this many lines (describe_validation_error says how many more there were).
    strip_value_error: drop pydantic's "Value error, " before a validator's own message.
    """
    lines = []
    for e in error.errors()[:limit]:
        location = (prefix, *e["loc"]) if prefix else e["loc"]
        path = error_path(location, indexed=indexed)
        message = str(e["msg"])
        if strip_value_error:
            message = message.removeprefix("Value error, ")
        if path or root is not None:
            lines.append(f"{path or root}: {message}")
        else:
            lines.append(message)
    return lines


def describe_validation_error(
    error: ValidationError,
    root: str | None,
    *,
    separator: str = "; ",
    prefix: str = "",
    indexed: bool = False,
    limit: int | None = None,
    strip_value_error: bool = False,
) -> str:
    """The problems on one line (see validation_problems), `; and N more` past the limit."""
    lines = validation_problems(error, root, prefix=prefix, indexed=indexed, limit=limit, strip_value_error=strip_value_error)
    more = error.error_count() - len(lines)
    return separator.join(lines) + (f"{separator}and {more} more" if more > 0 else "")
