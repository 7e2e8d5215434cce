"""The senders the intake accepts, keyed by their URL segment, and what they return.

    by_name = senders(settings.intake.config())   # an IntakeConfig (service/settings.py)
    sender = by_name["greenhouse"]
    sender.verify(body, payload, headers, now)          # SignatureError -> 401
    delivery = sender.parse(body, payload, headers, now)  # PayloadError -> 400
    # store (delivery.source, delivery.idempotency_key) once; forward delivery.events in order
    # per delivery.application_key; delivery.ignored_reason set -> acknowledge and record.

Both are pure (no I/O): `verify` checks the signature over the raw bytes, `parse` maps the
vendor's payload to canonical events. A re-delivery maps to the same event ids.
"""

from __future__ import annotations

from intake.adapters import AshbySender, EventsSender, GreenhouseSender, LeverSender
from intake.adapters._common import Delivery, PayloadError, Sender
from intake.config import IntakeConfig
from intake.names import VendorNames

__all__ = [
    "AshbySender",
    "Delivery",
    "EventsSender",
    "GreenhouseSender",
    "LeverSender",
    "PayloadError",
    "Sender",
    "senders",
]


def senders(config: IntakeConfig, names: VendorNames | None = None) -> dict[str, Sender]:
    """greenhouse, lever, ashby, events -> their sender, configured; `names` (the vendors' stage and
    archive-reason names, kept loaded by the HTTP service) turn the ids Lever and Ashby send into words."""
    names = names or VendorNames()
    return {
        sender.name: sender
        for sender in (GreenhouseSender(config), LeverSender(config, names), AshbySender(config, names), EventsSender(config))
    }
