"""The delivery channels' settings: the mail server, the Slack webhook, which ATSs get notes (with
the vendors' API keys and URLs), the timeout. Read from the environment (ChannelSettings.from_env);
a channel without its settings is simply not used, and with none at all nothing is delivered: the
inbox alone is used. An incomplete or invalid setting stops the worker at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from activities.ats_api import VENDORS

SMTP_SECURITY = ("starttls", "tls", "none")
NOTE_SOURCES = tuple(VENDORS)


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
    # The vendors' API keys and URLs (the enrichment settings) and who notes are written as.
    vendor_environ: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.smtp or self.slack_webhook_url or self.ats_notes)

    def describe(self) -> list[str]:
        return [c for c, on in (("email", self.smtp), ("slack", self.slack_webhook_url), ("ats_note", self.ats_notes)) if on]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChannelSettings:
        env = {k: v for k, v in (os.environ if environ is None else environ).items()}

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        smtp = None
        if host := get("SMTP_HOST"):
            security = (get("SMTP_SECURITY") or "starttls").lower()
            if security not in SMTP_SECURITY:
                raise ChannelSettingsError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
            default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
            port_text = get("SMTP_PORT") or str(default_port)
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ChannelSettingsError(f"SMTP_PORT must be a port number, not {port_text!r}")
            sender = get("SMTP_FROM")
            if not sender or "@" not in sender:
                raise ChannelSettingsError("SMTP_HOST is set, so SMTP_FROM must be the sender's address (e.g. 'Talent Team <talent@agency.example>')")
            username, password = get("SMTP_USERNAME"), get("SMTP_PASSWORD")
            if bool(username) != bool(password):
                raise ChannelSettingsError("SMTP_USERNAME and SMTP_PASSWORD go together: set both or neither")
            smtp = SmtpSettings(host, int(port_text), sender, username, password, security)
        slack = get("SLACK_WEBHOOK_URL")
        if slack and not slack.startswith(("https://", "http://")):
            raise ChannelSettingsError("SLACK_WEBHOOK_URL must be an http(s) URL")
        notes = frozenset(s.strip().lower() for s in (get("ATS_NOTES") or "").split(",") if s.strip())
        for source in sorted(notes):
            if source not in VENDORS:
                raise ChannelSettingsError(f"ATS_NOTES names {source!r}; notes can be written to {', '.join(NOTE_SOURCES)}")
            if not get(VENDORS[source].key_setting):
                raise ChannelSettingsError(f"ATS_NOTES names {source}, but {VENDORS[source].key_setting} is not set")
        timeout_text = get("DELIVERY_TIMEOUT_SECONDS") or "10"
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise ChannelSettingsError(f"DELIVERY_TIMEOUT_SECONDS must be a number of seconds, not {timeout_text!r}") from None
        return cls(smtp=smtp, slack_webhook_url=slack, ats_notes=notes, vendor_environ=env, timeout=timeout)

    def vendor(self, name: str) -> str | None:
        return (self.vendor_environ.get(name) or "").strip() or None
