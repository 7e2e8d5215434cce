"""What the engine accepts at all: the range of a date, the characters of free text, the length
of an id. Defined once here, checked where input enters (the canonical event, the vendor
adapters), so nothing a sender can write reaches a process that the process cannot handle.

- Dates and moments lie between 1970-01-01 and 2100-12-31. Real systems send placeholders
  (0001-01-01 for "unknown", 9999-12-31 for "open-ended"); taken at face value they overflow
  date arithmetic deep inside a process (a reminder a day before 0001-01-01). Refused where they
  enter, with the field named, they never get that far.
- Free text carries no control characters: PostgreSQL refuses NUL in text, and the others
  (escape sequences, backspace) only hide what a person reads. One-line text (names, titles,
  ids) allows none; multi-line text (a debrief, a note, a reason) allows tab, line feed and
  carriage return.
- A derived id (an event id built from other ids) never exceeds its limit: `bounded_id` keeps
  an id that fits as it is and replaces the tail of one that does not by a digest of the whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, AwareDatetime

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_EVENT_ID_LENGTH",
    "RANGE_TEXT",
    "BoundedDate",
    "BoundedMoment",
    "MultiLineText",
    "OneLineText",
    "bounded_id",
    "check_date",
    "check_moment",
    "check_multi_line",
    "check_one_line",
    "reading_recorded",
    "strip_control",
]

EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2100, 12, 31)
RANGE_TEXT = f"between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"

MAX_EVENT_ID_LENGTH = 200

# C0 controls and DEL; tab, line feed and carriage return are allowed in multi-line text.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A lone surrogate: JSON may carry one ("\ud800"), but it is not Unicode text: it cannot be
# encoded as UTF-8, so no store, log line or response could hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_UNICODE = "is not valid Unicode text (it contains a lone surrogate such as \\ud800)"


def check_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"{value.isoformat()} is out of range: a date must be {RANGE_TEXT}")
    return value


def check_moment(value: datetime) -> datetime:
    """An aware moment whose UTC date is in range (a naive one is taken as UTC)."""
    # Compare the year first: converting 0001-01-01T00:00+01:00 to UTC would itself overflow.
    if not EARLIEST_DATE.year - 1 <= value.year <= LATEST_DATE.year + 1:
        raise ValueError(f"{value.isoformat()} is out of range: a time must be {RANGE_TEXT}")
    utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if not EARLIEST_DATE <= utc.date() <= LATEST_DATE:
        raise ValueError(f"{value.isoformat()} is out of range: a time must be {RANGE_TEXT}")
    return value


def check_one_line(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError(_NOT_UNICODE)
    if _ANY_CONTROL.search(value):
        raise ValueError("contains a control character (such as NUL, a tab or a line break); one line of plain text is expected")
    return value


def check_multi_line(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError(_NOT_UNICODE)
    if _CONTROL_BUT_LINES.search(value):
        raise ValueError("contains a control character (such as NUL); only tabs and line breaks are allowed")
    return value


def strip_control(value: str, *, multi_line: bool = False) -> str:
    """The text without control characters, for vendor payloads (refusing a whole delivery over a
    stray NUL in a name would lose the event): in one-line text each becomes a space."""
    if multi_line:
        return _CONTROL_BUT_LINES.sub("", value)
    return _ANY_CONTROL.sub(" ", value)


def bounded_id(text: str, limit: int = MAX_EVENT_ID_LENGTH) -> str:
    """`text` if it fits in `limit` characters, else its head and `~sha256-<hex>` of the whole:
    deterministic (the same input, the same id, also when a workflow replays) and distinct for
    distinct inputs."""
    if len(text) <= limit:
        return text
    digest = "~sha256-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text[: max(limit - len(digest), 0)] + digest


# Values read back from where the engine recorded them (a workflow's history, through the Temporal
# payload converter: codec/encryption.py) were checked when they entered. A value recorded before
# a bound existed (a placeholder date, a NUL in a name) must read back as it was: refusing it
# there would drop a signal on replay (a nondeterministic history: the process stuck for good) or
# fail a workflow's start input for ever. The process itself refuses what it cannot act on.
_reading_recorded: ContextVar[bool] = ContextVar("reading_recorded", default=False)


@contextmanager
def reading_recorded() -> Iterator[None]:
    """Inside, the bounds below are not checked: for decoding what the engine recorded itself."""
    token = _reading_recorded.set(True)
    try:
        yield
    finally:
        _reading_recorded.reset(token)


V = TypeVar("V")


def _where_input_enters(check: Callable[[V], V]) -> Callable[[V], V]:
    def checked(value: V) -> V:
        return value if _reading_recorded.get() else check(value)

    return checked


BoundedDate = Annotated[date, AfterValidator(_where_input_enters(check_date))]
BoundedMoment = Annotated[AwareDatetime, AfterValidator(_where_input_enters(check_moment))]
OneLineText = Annotated[str, AfterValidator(_where_input_enters(check_one_line))]
MultiLineText = Annotated[str, AfterValidator(_where_input_enters(check_multi_line))]
