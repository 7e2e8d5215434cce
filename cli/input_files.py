"""Reading canonical events and debriefs from JSON files (or stdin) for the CLI.

Everything is validated before anything is sent: a file with one bad event sends nothing, and the
error names the file, the event and each field with what is wrong, the way pydantic reports it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.debrief import Debrief
from domain.errors import validation_problems
from domain.events import CanonicalEvent

STDIN = "-"


class InputError(Exception):
    """A file that cannot be used as it is; the message says where and why."""


@dataclass(frozen=True)
class EventFromFile:
    event: CanonicalEvent
    file: str
    position: int  # 1-based, within its file


def read_json(name: str) -> Any:
    label = _label(name)
    try:
        text = sys.stdin.read() if name == STDIN else Path(name).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{label}: cannot read it: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{label}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None


def load_events(names: list[str]) -> list[EventFromFile]:
    """Every event of every file, validated; InputError lists all the problems found."""
    events: list[EventFromFile] = []
    problems: list[str] = []
    for name in names:
        try:
            document = read_json(name)
        except InputError as error:
            problems.append(str(error))
            continue
        label = _label(name)
        items = document if isinstance(document, list) else [document]
        if not items:
            problems.append(f"{label}: the array holds no events")
        for position, item in enumerate(items, start=1):
            where = f"{label}, event {position} of {len(items)}" if isinstance(document, list) else label
            if not isinstance(item, dict):
                problems.append(f"{where}: expected an event object, found {type(item).__name__}")
                continue
            if item.get("event_id"):
                where += f" (event_id {item['event_id']})"
            try:
                events.append(EventFromFile(CanonicalEvent.model_validate(item), label, position))
            except ValidationError as error:
                problems.append(f"{where}:\n" + "\n".join(f"  - {line}" for line in field_errors(error)))
    if problems:
        raise InputError("\n".join(problems))
    return events


def load_debrief(name: str) -> Debrief:
    document = read_json(name)
    if not isinstance(document, dict):
        raise InputError(f"{_label(name)}: expected a debrief object, found {type(document).__name__}")
    return validate_debrief(document, _label(name))


def validate_debrief(values: dict[str, Any], where: str) -> Debrief:
    try:
        return Debrief.model_validate(values)
    except ValidationError as error:
        raise InputError(f"{where}:\n" + "\n".join(f"  - {line}" for line in field_errors(error))) from None


def field_errors(error: ValidationError) -> list[str]:
    """`candidate.email: String should match pattern ...`, one line per problem."""
    return validation_problems(error, "(whole object)", indexed=True)


def _label(name: str) -> str:
    return "<stdin>" if name == STDIN else name
