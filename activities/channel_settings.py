"""The delivery channels' settings: the mail server, the Slack webhook, the Teams webhooks, which ATSs get notes (with
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
# Teams' webhooks are throttled like Slack's (a few messages a second per webhook).
RATE_LIMITS: dict[str, float | None] = {"email": None, "slack": 1.0, "ats_note": 2.0, "ats_task": 2.0, "teams": 1.0}


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
class TeamsWebhooks:
    """Where a recruiter's or lead's cards go in Microsoft Teams: the webhook of their own channel,
    else their team's (a team is named by its lead's id), else the agency's. The URLs are
    credentials: never logged."""

    default: str | None = None
    people: Mapping[str, str] = field(default_factory=dict)
    teams: Mapping[str, str] = field(default_factory=dict)

    def url_for(self, person_id: str, team_lead: str | None) -> str | None:
        """`team_lead`: the lead whose team the person is in (the lead themselves for a lead)."""
        return self.people.get(person_id) or (self.teams.get(team_lead) if team_lead else None) or self.default

    @classmethod
    def parse(cls, default: str | None, routes: str | None) -> TeamsWebhooks | None:
        """From TEAMS_WEBHOOK_URL and TEAMS_WEBHOOK_URLS (`ID=URL` for a person, `team:LEAD_ID=URL`
        for a lead's team, separated by commas, spaces or lines); None when neither is set."""
        default = (default or "").strip() or None
        if default and not default.startswith(("https://", "http://")):
            raise ChannelSettingsError("TEAMS_WEBHOOK_URL must be an http(s) URL")
        people: dict[str, str] = {}
        teams: dict[str, str] = {}
        for entry in (routes or "").replace(",", " ").split():
            who, sep, url = entry.partition("=")
            who = who.strip()
            team = who.removeprefix("team:") if who.startswith("team:") else None
            if not sep or not who or team == "" or not url.startswith(("https://", "http://")):
                # The entry may hold a URL (a credential): name its position, not its text.
                raise ChannelSettingsError(
                    f"TEAMS_WEBHOOK_URLS entry {len(people) + len(teams) + 1} must be ID=https://... or team:LEAD_ID=https://..."
                )
            target = teams if team is not None else people
            key = team if team is not None else who
            if key in target:
                raise ChannelSettingsError(f"TEAMS_WEBHOOK_URLS names {who!r} twice")
            target[key] = url
        if not default and not people and not teams:
            return None
        return cls(default=default, people=people, teams=teams)


@dataclass(frozen=True)
class ChannelSettings:
    smtp: SmtpSettings | None = None
    slack_webhook_url: str | None = None
    teams: TeamsWebhooks | None = None
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
        return bool(self.smtp or self.slack_webhook_url or self.teams or self.ats_notes)

    def describe(self) -> list[str]:
        on = (("email", self.smtp), ("slack", self.slack_webhook_url), ("teams", self.teams), ("ats_note", self.ats_notes))
        return [c for c, configured in on if configured]

    def vendor(self, name: str) -> str | None:
        return (self.vendor_settings.get(name) or "").strip() or None
