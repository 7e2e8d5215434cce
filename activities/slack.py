"""Slack: what a message or a task says there, and posting it to a Slack-compatible incoming
webhook (Slack, Mattermost, Rocket.Chat).

Slack reads `<...>` as markup (`<!channel>` pings everybody in it, `<@U123>` a person,
`<https://x|text>` a link) and `&` as the start of an entity, so every value we put into a text
(names, titles, instructions, subjects, bodies: candidates and ATSs write them) is escaped as
Slack's formatting rules ask: `&`, `<` and `>` only. The markup is our own text's alone.
"""

from __future__ import annotations

import httpx

from activities.sending import send_request
from domain.follow_through import StoredMessage, StoredTask


def escape(value: object) -> str:
    """A value as plain text in a Slack message: what it says, never markup."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_text(message: StoredMessage) -> str:
    return f"*{escape(message.subject)}*\n{escape(message.body)}"


def task_text(task: StoredTask) -> str:
    who = (task.context or {}).get("recruiter") or task.assignee_id
    return f"*New task for {escape(who)}:* {escape(task.title)}\nDue {task.due_at:%a %d %b %Y %H:%M} UTC\n{escape(task.instructions)}"


def post(url: str, text: str, timeout: float) -> str | None:
    """Post `text`: the receiver's id for it, if it gave one."""
    with httpx.Client(timeout=timeout) as client:
        response = send_request(client, "POST", url, "Slack webhook", json={"text": text})
    # Slack answers a plain "ok" and no id; compatible receivers (Mattermost, Rocket.Chat) may
    # answer JSON with one.
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("ts") or body.get("id") or "") or None if isinstance(body, dict) else None
