"""Microsoft Teams: what a message or a task says there, as an Adaptive Card, and posting it to a
Teams channel's webhook.

Which URLs work: the one Microsoft documents today is a **Workflows** webhook (Power Automate, the
Teams "Workflows" app's template "Send webhook alerts to a channel" / "Post to a channel when a
webhook request is received": a `...logic.azure.com/workflows/...` or
`...environment.api.powerplatform.com/...` URL whose `sig=` parameter is its credential). It takes
an Adaptive Card in a message envelope, `{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": {AdaptiveCard}}]}`, and answers 202
Accepted. The Office 365 connectors' incoming webhooks (`...webhook.office.com/webhookb2/...`),
which Microsoft is retiring, took the same envelope and answered 200 `1`; one that is still
running works the same way. A retired or deleted webhook answers 4xx: refused for good, not
retried.

Adaptive Cards read a subset of Markdown in a TextBlock's text and in a FactSet's titles and values
(`**bold**`, `_italic_`, `[text](url)`, lists at the start of a line) and `{{DATE(...)}}`
functions; a mention is `<at>...</at>`. Every value we put there (names, titles, instructions,
subjects, bodies: candidates and ATSs write them) is escaped the CommonMark way, a backslash before
each character Markdown could read, so a name is shown as written and can neither format the card,
link elsewhere nor mention anybody (no mention is ever declared in the card's `msteams.entities`
either). The formatting is our own text's alone.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from activities.sending import NotSent, send_request
from domain.follow_through import StoredMessage, StoredTask

# What a person should do when the webhook is gone (a flow deleted or turned off, a connector retired).
GONE = "the webhook was deleted, turned off or retired: make a Workflows webhook for the channel and set it in TEAMS_WEBHOOK_URL or TEAMS_WEBHOOK_URLS"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams renders Adaptive Cards up to 1.5 in channels; 1.4 is what Workflows' own examples use.
CARD_VERSION = "1.4"

# The characters CommonMark (and Adaptive Cards' subset of it) gives a meaning anywhere in a line,
# plus `{`/`}` (the card's DATE/TIME functions) and `<`/`>` (mentions, autolinks).
_INLINE = re.compile(r"([\\`*_\[\]()<>{}~|!#])")
# What starts a list or a heading only at the beginning of a line.
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")


def escape(value: object) -> str:
    """A value as plain text in a card's Markdown: what it says, never markup."""
    lines = str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    escaped = []
    for line in lines:
        line = _INLINE.sub(r"\\\1", line)
        # `1. x` becomes `1\. x`; `- x` becomes `\- x`.
        match = _LINE_START.match(line)
        if match:
            start = match.end(1)
            if match.group(2)[0].isdigit():
                end = match.end(2)
                line = line[:end] + "\\" + line[end:]
            else:
                line = line[:start] + "\\" + line[start:]
        escaped.append(line)
    return "\n".join(escaped)


def one_line(value: object) -> str:
    """A name or a title on one line (a line break in it could start a list)."""
    return escape(" ".join(str(value).split()))


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _paragraphs(value: object) -> list[dict[str, Any]]:
    """A body or instructions: a TextBlock per line, so a line break is one whatever the client."""
    lines = [line for line in str(value).replace("\r\n", "\n").split("\n") if line.strip()]
    return [_text(escape(line), spacing="Small" if i else "Medium") for i, line in enumerate(lines)]


def card(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        # The card takes the message's width in a channel instead of a narrow column.
        "msteams": {"width": "Full"},
    }


def message_card(message: StoredMessage) -> dict[str, Any]:
    return card([_text(one_line(message.subject), weight="Bolder", size="Medium"), *_paragraphs(message.body)])


def task_card(task: StoredTask) -> dict[str, Any]:
    context = task.context or {}
    who = context.get("recruiter") or task.assignee_id
    facts = [("Due", f"{task.due_at:%a %d %b %Y %H:%M} UTC")]
    if context.get("candidate"):
        facts.append(("Candidate", context["candidate"]))
    if task.client or context.get("client"):
        facts.append(("Client", task.client or context["client"]))
    return card(
        [
            _text(f"New task for {one_line(who)}", weight="Bolder", size="Medium"),
            _text(one_line(task.title), weight="Bolder", spacing="Small"),
            {"type": "FactSet", "facts": [{"title": title, "value": one_line(value)} for title, value in facts]},
            *_paragraphs(task.instructions),
        ]
    )


def envelope(content: dict[str, Any]) -> dict[str, Any]:
    """The message a Workflows webhook (and a connector's incoming webhook) takes: one card."""
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}]}


def post(url: str, content: dict[str, Any], timeout: float) -> str | None:
    """Post one card: the id of the flow run that took it, when the webhook names one."""
    with httpx.Client(timeout=timeout) as client:
        try:
            response = send_request(client, "POST", url, "Teams webhook", json=envelope(content))
        except NotSent as error:
            if error.status in (401, 403, 404, 410):
                raise NotSent(f"{error} ({GONE})", permanent=True, status=error.status) from None
            raise
    # A connector's incoming webhook answered some failures with 200 and a sentence instead of
    # `1` ("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP
    # error 429 ..."): nothing was posted.
    text = response.text.strip()
    if response.status_code == 200 and text.lower().startswith("webhook message delivery failed"):
        code = re.search(r"HTTP error (\d{3})", text)
        status = int(code.group(1)) if code else 0
        raise NotSent(f"Teams webhook answered 200 with a delivery failure ({status or 'no status'})", permanent=400 <= status < 500 and status != 429)
    # Workflows answer 202 with no body; Logic Apps name the run that took it in this header.
    return response.headers.get("x-ms-workflow-run-id") or None
