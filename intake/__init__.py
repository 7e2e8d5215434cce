"""Webhook intake: the edge where ATS webhooks and canonical events come in.

Pure parts (no I/O), used by the HTTP service:
- `intake.signatures`: verify each sender's signature over the raw body (SignatureError).
- `intake.senders`: map each sender's payload to canonical events (Delivery, PayloadError).
- `intake.config`: secrets (rotatable lists) and per-deployment stage maps (IntakeConfig).
"""

from intake.config import IntakeConfig, IntakeConfigError

# `senders()` is deliberately not re-exported here: the name would shadow the `intake.senders`
# module as an attribute of this package (`import intake.senders as s` would get the function).
from intake.senders import Delivery, PayloadError, Sender
from intake.signatures import (
    SignatureError,
    verify_ashby,
    verify_greenhouse,
    verify_lever,
    verify_standard_webhook,
)

__all__ = [
    "Delivery",
    "IntakeConfig",
    "IntakeConfigError",
    "PayloadError",
    "Sender",
    "SignatureError",
    "verify_ashby",
    "verify_greenhouse",
    "verify_lever",
    "verify_standard_webhook",
]
