"""A note on the candidate's ATS record for each new recruiter task: which record it belongs on,
what it says, and writing it through the vendor's API (activities/ats_api/<vendor>.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from activities.ats_api import VENDORS
from activities.ats_api.vendor import NoteTarget
from activities.sending import NotSent
from domain.follow_through import StoredTask
from domain.reference_report import ReferenceReport

if TYPE_CHECKING:
    from activities.channel_settings import ChannelSettings


def note_target(task: StoredTask, sources: frozenset[str]) -> NoteTarget | None:
    """The ATS record a task's note belongs on: the application's (a post-interview process or one
    of its referee checks), or the candidate's (a relationship check-in); None outside `sources`."""
    for source in sources:
        if task.process_id.startswith(f"post-interview-{source}-") and task.application_id:
            return NoteTarget(source, task.application_id, None)
        vendor = VENDORS.get(source)  # Bullhorn's notes are written by activities/bullhorn.py, on the candidate too
        if task.process_id.startswith(f"relationship-{source}-") and (vendor is None or vendor.candidate_notes):
            # Greenhouse and Ashby keep notes on the candidate; Lever only on an opportunity.
            return NoteTarget(source, None, task.process_id.removeprefix(f"relationship-{source}-"))
    return None


def note_text(task: StoredTask) -> str:
    who = (task.context or {}).get("recruiter") or task.assignee_id
    return f"Post-interview follow-through: {who} was asked to \"{task.title}\" (due {task.due_at:%Y-%m-%d %H:%M} UTC).\n{task.instructions}"


def write_note(settings: ChannelSettings, target: NoteTarget, task: StoredTask) -> str | None:
    """Write the task's note on `target`: the note's id in the ATS, if it gave one."""
    return write_text_note(settings, target, note_text(task), task.assignee_id)


def write_text_note(settings: ChannelSettings, target: NoteTarget, text: str, default_author: str) -> str | None:
    """Write `text` as a note on `target`, as the deployment's notes user or else `default_author`."""
    vendor = VENDORS[target.source]
    key = settings.vendor(vendor.key_setting)
    if key is None:
        raise NotSent(f"{vendor.key_setting} is not set", permanent=True)
    base = (settings.vendor(vendor.url_setting) or vendor.default_url).rstrip("/")
    author = (settings.vendor(vendor.notes_user_setting) if vendor.notes_user_setting else None) or default_author
    what = f"{target.source} API"
    with httpx.Client(base_url=base, auth=(key, ""), timeout=settings.timeout) as client:
        return vendor.write_note(client, target, text, author, what)


def reference_note_text(report: ReferenceReport) -> str:
    """A reference report as its ATS note says it (activities/templates/reference_report_note.txt.j2)."""
    from activities.follow_through import templates  # the activities' one template environment

    return templates.get_template("reference_report_note.txt.j2").render(report=report).strip()
