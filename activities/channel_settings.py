"""The delivery channels' settings: the mail server, the Slack webhook, which ATSs get notes (with
the vendors' API keys and URLs), the timeout. Plain data: the service's settings build it from
the environment (service/settings.py, DeliverySection), checking it there; a channel without its
settings is simply not used, and with none at all nothing is delivered: the inbox alone is used.
An incomplete or invalid setting stops the worker at start-up (ChannelSettingsError)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from activities.ats_api import VENDORS

SMTP_SECURITY = ("starttls", "tls", "none")
# Bullhorn's notes need no key: its accounts are connected in the store (`connect bullhorn`).
NOTE_SOURCES = (*VENDORS, "bullhorn")
# Deliveries a second per channel, over the whole cluster, unless DELIVERY_*_PER_SECOND say
# otherwise. Slack asks for about one message a second per incoming webhook; the ATSs throttle
# their APIs per key (Greenhouse Harvest 50 requests per 10 s, Lever 10 a second), and a
# Greenhouse note takes two requests. A mail relay's limit is its operator's: none by default.
# Bullhorn's Tasks (the ats_task channel) go to the same API as its notes, at the same pace.
RATE_LIMITS: dict[str, float | None] = {"email": None, "slack": 1.0, "ats_note": 2.0, "ats_task": 2.0}


class ChannelSettingsError(ValueError):
    """A channel's settings are incomplete or invalid: the worker refuses to start."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    security: str = "starttls"

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2].strip(">").strip() or "postinterview.invalid"


@dataclass(frozen=True)
class ChannelSettings:
    smtp: SmtpSettings | None = None
    slack_webhook_url: str | None = None
    # Sources (greenhouse, lever, ashby) whose processes get a note on the ATS record.
    ats_notes: frozenset[str] = frozenset()
    # The vendors' API keys and URLs (the enrichment settings) and who notes are written as, by
    # the variable that sets them (VendorApi.key_setting, url_setting, notes_user_setting).
    vendor_settings: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    # Each channel's activities run on a task queue of their own (domain.contract.channel_task_queue):
    # at most this many at once per worker, and at most `per_second[channel]` a second over the
    # whole cluster (Temporal's server-side limit on the queue; None: no limit).
    slots: int = 4
    per_second: Mapping[str, float | None] = field(default_factory=lambda: dict(RATE_LIMITS))

    @property
    def configured(self) -> bool:
        return bool(self.smtp or self.slack_webhook_url or self.ats_notes)

    def describe(self) -> list[str]:
        return [c for c, on in (("email", self.smtp), ("slack", self.slack_webhook_url), ("ats_note", self.ats_notes)) if on]

    def vendor(self, name: str) -> str | None:
        return (self.vendor_settings.get(name) or "").strip() or None
