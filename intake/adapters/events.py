"""`/events`: canonical events from any Standard Webhooks sender (scripts, middleware, Svix).

The body is one CanonicalEvent or a JSON array of them, validated by the engine's own model; a
ValidationError becomes a PayloadError listing `field.path: message` (`0.candidate.email: ...`
for the first event of an array). Each event keeps its own `event_id` (the sender's idempotency
key for the fact); the delivery's key is the `webhook-id` header.

`application_key` is `{event.source}:{application_id}`: the key of the process the events go
to, so they queue behind the vendor adapters' events for the same application. A batch that
spans several applications has none. The delivery's `source` is "api".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from domain.events import CanonicalEvent
from intake.adapters._common import Delivery, PayloadError, body_key, bounded_key, problems
from intake.config import IntakeConfig
from intake.signatures import verify_standard_webhook

SOURCE = "api"

_ONE = TypeAdapter(CanonicalEvent)
_MANY = TypeAdapter(list[CanonicalEvent])


class EventsSender:
    name = "events"
    secret_setting = "EVENTS_WEBHOOK_SECRET"

    def __init__(self, config: IntakeConfig) -> None:
        self.config = config

    def verify(self, body: bytes, payload: Any, headers: Mapping[str, str], now: datetime) -> None:
        verify_standard_webhook(body, headers, self.config.events_secrets, now)

    def parse(self, body: bytes, payload: Any, headers: Mapping[str, str], received_at: datetime) -> Delivery:
        try:
            if isinstance(payload, list):
                if not payload:
                    raise PayloadError("body: an empty array; send one event or a non-empty array of events")
                events = _MANY.validate_python(payload)
            elif isinstance(payload, dict):
                events = [_ONE.validate_python(payload)]
            else:
                raise PayloadError("body: expected a canonical event (a JSON object) or a JSON array of them")
        except ValidationError as error:
            raise PayloadError(problems(error)) from None
        processes = {f"{event.source}:{event.application_id}" for event in events}
        return Delivery(
            source=SOURCE,
            idempotency_key=bounded_key(_webhook_id(headers) or body_key(body)),
            action="canonical",
            events=events,
            application_key=processes.pop() if len(processes) == 1 else None,
        )


def _webhook_id(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == "webhook-id" and isinstance(value, str) and value.strip():
            return value.strip()
    return None
