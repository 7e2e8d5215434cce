"""The engine's settings: one typed model of every environment variable it reads, read once at
each entry point (worker.py, the CLI's commands, the HTTP service, the codec server) and passed
down. Components never read the environment: each gets its own small config object (WorkerOptions,
ChannelSettings, a LinkSigner, an IntakeConfig, a payload codec), built here.

Every secret (the *_SECRET, *_TOKEN and *_KEY(S) variables, SMTP_PASSWORD, SLACK_WEBHOOK_URL, TEAMS_WEBHOOK_URL(S)) may
instead be given as a file, the way Docker and Kubernetes mount secrets: NAME_FILE=/run/secrets/x
reads the file (its content, stripped). Setting both NAME and NAME_FILE is an error; a NAME set
to an empty string counts as unset (compose files pass `${NAME:-}` through).

The variables are read as they are written and checked when a component's config is built
(`settings.worker.options()`, `settings.channels()`, `settings.links.signer()`, ...), with errors that name the
variable: a bad WORKER_* value stops the worker at start-up, never `postinterview status`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from domain.contract import TASK_QUEUE

if TYPE_CHECKING:
    from temporalio.client import Interceptor

    from activities.channel_settings import ChannelSettings
    from codec.encryption import EncryptionCodec
    from domain.greenhouse_interviews import PollerConfig
    from inbox.links import LinkSigner
    from intake.config import IntakeConfig

log = structlog.get_logger()

# The store's default (a SQLite file under data/); the store itself takes whatever URL it is given.
DEFAULT_DATABASE_URL = "sqlite:///data/postinterview.sqlite3"
DEFAULT_POLICY_FILE = Path("config/policy.toml")
DEFAULT_INTAKE_CONFIG = Path("config/intake.toml")
# The local Temporal UI, the only origin the codec server allows unless told otherwise.
DEFAULT_CODEC_ORIGINS = ("http://localhost:8233",)
FILE_SUFFIX = "_FILE"


class SettingsError(ValueError):
    """A setting has a value the engine cannot use; the message names the variable."""


def _env(name: str, default: Any = None, *, secret: bool = False) -> Any:
    """A field read from the environment variable `name` (and, for a secret, from NAME_FILE)."""
    return Field(default, validation_alias=name, json_schema_extra={"env": name, "secret": secret})


def _secret(name: str) -> Any:
    return _env(name, None, secret=True)


def _text(value: SecretStr | str | None) -> str:
    """A setting's value, stripped; empty when unset."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return (value or "").strip()


class _Section(BaseModel):
    """A group of variables that one component's config is built from."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, extra="ignore", hide_input_in_errors=True)


# --- the worker ------------------------------------------------------------------------------

TUNERS = ("fixed", "resource-based")


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs: its slots, its cache, its shutdown and its metrics.

    Only the worker reads these (`postinterview worker`, `run`, `python worker.py`), so a bad
    value stops the worker at start-up and never the other commands.
    """

    # host:port of the worker's Prometheus endpoint (the SDK's metrics and the business
    # metrics the workflows emit); None: no endpoint.
    metrics_address: str | None = None
    # "fixed": at most the max_concurrent_* below at once. "resource-based": the SDK hands out
    # slots while the machine's CPU and memory stay under the targets, up to those maximums.
    tuner: Literal["fixed", "resource-based"] = "fixed"
    # Activities write to the store from a thread pool of this size: more than the store's
    # connection pool can serve would only queue them while their timeout runs.
    max_concurrent_activities: int = 16
    max_concurrent_workflow_tasks: int = 100
    # Runs kept in memory between their tasks; an evicted run replays its history when it next
    # has work, which costs CPU, not correctness.
    max_cached_workflows: int = 1000
    target_cpu_usage: float = 0.8
    target_memory_usage: float = 0.8
    # After SIGTERM, running activities get this long to finish before they are cancelled.
    shutdown_grace: timedelta = timedelta(seconds=30)
    # host:port of the worker's /healthz (liveness) and /readyz (readiness: polling its task
    # queue) for orchestrators' probes (service/worker_health.py); None: no endpoint.
    health_address: str | None = None


class WorkerSection(_Section):
    metrics_address: str = _env("WORKER_METRICS_ADDRESS", "")
    tuner: str = _env("WORKER_TUNER", "")
    max_concurrent_activities: str = _env("WORKER_MAX_CONCURRENT_ACTIVITIES", "")
    max_concurrent_workflow_tasks: str = _env("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "")
    max_cached_workflows: str = _env("WORKER_MAX_CACHED_WORKFLOWS", "")
    target_cpu_usage: str = _env("WORKER_TARGET_CPU_USAGE", "")
    target_memory_usage: str = _env("WORKER_TARGET_MEMORY_USAGE", "")
    shutdown_grace_seconds: str = _env("WORKER_SHUTDOWN_GRACE_SECONDS", "")
    health_address: str = _env("WORKER_HEALTH_ADDRESS", "")

    def options(self) -> WorkerOptions:
        """Raises SettingsError naming the variable whose value is unusable."""
        defaults = WorkerOptions()
        tuner = self.tuner.strip().lower() or defaults.tuner
        if tuner not in TUNERS:
            raise SettingsError(f"WORKER_TUNER={tuner!r}: use one of {', '.join(TUNERS)}")
        metrics = self.metrics_address.strip() or None
        if metrics is not None:
            metrics = _host_port("WORKER_METRICS_ADDRESS", metrics)
        health = self.health_address.strip() or None
        if health is not None:
            health = _host_port("WORKER_HEALTH_ADDRESS", health)
        return WorkerOptions(
            metrics_address=metrics,
            health_address=health,
            tuner=tuner,  # type: ignore[arg-type]
            max_concurrent_activities=_positive_int(
                "WORKER_MAX_CONCURRENT_ACTIVITIES", self.max_concurrent_activities, defaults.max_concurrent_activities
            ),
            max_concurrent_workflow_tasks=_positive_int(
                "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", self.max_concurrent_workflow_tasks, defaults.max_concurrent_workflow_tasks, minimum=2
            ),
            max_cached_workflows=_positive_int("WORKER_MAX_CACHED_WORKFLOWS", self.max_cached_workflows, defaults.max_cached_workflows, minimum=0),
            target_cpu_usage=_fraction("WORKER_TARGET_CPU_USAGE", self.target_cpu_usage, defaults.target_cpu_usage),
            target_memory_usage=_fraction("WORKER_TARGET_MEMORY_USAGE", self.target_memory_usage, defaults.target_memory_usage),
            shutdown_grace=timedelta(
                seconds=_positive_int(
                    "WORKER_SHUTDOWN_GRACE_SECONDS", self.shutdown_grace_seconds, int(defaults.shutdown_grace.total_seconds()), minimum=0
                )
            ),
        )


def _positive_int(name: str, raw: str, default: int, minimum: int = 1) -> int:
    raw = raw.strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value}: must be at least {minimum}")
    return value


def _fraction(name: str, raw: str, default: float) -> float:
    raw = raw.strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number (a fraction such as 0.8)") from None
    if not 0 < value <= 1:
        raise SettingsError(f"{name}={raw}: must be a fraction above 0 and at most 1 (e.g. 0.8 for 80 %)")
    return value


def _host_port(name: str, value: str) -> str:
    host, separator, port = value.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name}={value!r}: expected host:port, e.g. 0.0.0.0:9464 or 127.0.0.1:9464")
    return value


# --- the Temporal client --------------------------------------------------------------------

DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
DEFAULT_TEMPORAL_NAMESPACE = "default"
_TLS_SWITCH = {"true": "true", "1": "true", "false": "false", "0": "false"}


@dataclass(frozen=True)
class TemporalConnection:
    """Where and how every client of the engine reaches Temporal: Client.connect's target,
    namespace, API key, TLS (server CA, server name, client certificate and key) and gRPC
    metadata, as Temporal's own client configuration (temporalio.envconfig) resolves them from
    a profile file and the TEMPORAL_* variables."""

    config: Mapping[str, Any]
    profile: str | None = None

    @property
    def address(self) -> str:
        return str(self.config["target_host"])

    @property
    def namespace(self) -> str:
        return str(self.config["namespace"])

    def security(self) -> str:
        """How the connection is secured, for logs and messages (never a secret): plaintext,
        tls, mtls, and whether an API key is sent."""
        tls = self.config.get("tls", False)
        kind = "plaintext" if tls is False else "mtls" if getattr(tls, "client_cert", None) else "tls"
        return f"{kind} + api key" if self.config.get("api_key") else kind


class TemporalSection(_Section):
    """Temporal's standard client configuration besides TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE:
    the same variables (and TOML profile file) the Temporal CLI and SDKs read. A variable set
    here wins over the profile's value."""

    # A TOML file of profiles ([profile.NAME] address, namespace, api_key, [profile.NAME.tls]
    # ...); read only when named, never from a home directory behind the operator's back.
    config_file: str = _env("TEMPORAL_CONFIG_FILE", "")
    profile: str = _env("TEMPORAL_PROFILE", "")
    # Temporal Cloud's API keys; sending one turns TLS on.
    api_key: SecretStr | None = _secret("TEMPORAL_API_KEY")
    # true / false (or 1 / 0); unset: TLS when a certificate, a CA or an API key says so.
    tls: str = _env("TEMPORAL_TLS", "")
    tls_server_name: str = _env("TEMPORAL_TLS_SERVER_NAME", "")
    tls_server_ca_cert_path: str = _env("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "")
    tls_server_ca_cert_data: str = _env("TEMPORAL_TLS_SERVER_CA_CERT_DATA", "")
    # mTLS: the client certificate and its key, as files (a mounted secret) or PEM text.
    tls_client_cert_path: str = _env("TEMPORAL_TLS_CLIENT_CERT_PATH", "")
    tls_client_cert_data: str = _env("TEMPORAL_TLS_CLIENT_CERT_DATA", "")
    tls_client_key_path: str = _env("TEMPORAL_TLS_CLIENT_KEY_PATH", "")
    tls_client_key_data: SecretStr | None = _secret("TEMPORAL_TLS_CLIENT_KEY_DATA")
    # Set by `postinterview run` for the dev server it starts itself: address and namespace
    # only, whatever profile or certificates the environment names for another server.
    local_dev_server: bool = False

    def variables(self) -> dict[str, str]:
        """{variable: value} of those set (not blank), in envconfig's names; raises SettingsError
        for a TEMPORAL_TLS that is not a yes or a no."""
        values = {
            _field_env(field): _text(getattr(self, name)) for name, field in type(self).model_fields.items() if _field_env(field)
        }
        values = {name: value for name, value in values.items() if name and value}
        if "TEMPORAL_TLS" in values:
            switch = _TLS_SWITCH.get(values["TEMPORAL_TLS"].lower())
            if switch is None:
                raise SettingsError(f"TEMPORAL_TLS={values['TEMPORAL_TLS']!r}: use true or false (1 or 0)")
            values["TEMPORAL_TLS"] = switch
        return values  # type: ignore[return-value]


# --- the recruiters' side of the HTTP service ------------------------------------------------


class InboxSection(_Section):
    # The Temporal UI the inbox links each task's process to; None: no links.
    temporal_ui_url: str | None = _env("TEMPORAL_UI_URL")

    @field_validator("temporal_ui_url")
    @classmethod
    def _blank_is_none(cls, url: str | None) -> str | None:
        return url.strip() or None if url else None


# --- answer links ----------------------------------------------------------------------------


class LinkSection(_Section):
    """The worker signs answer links, the HTTP service verifies them: both read these."""

    # Comma-separated secrets, newest first: the first signs, all verify.
    signing_keys: SecretStr | None = _secret("LINK_SIGNING_KEYS")
    public_base_url: str = _env("PUBLIC_BASE_URL", "")
    ttl_days: str = _env("LINK_TTL_DAYS", "")
    # Set by `postinterview run`: links to localhost are right there, so no warning.
    local_run: str = _env("POSTINTERVIEW_LOCAL_RUN", "")

    def keys(self) -> list[str]:
        return [k.strip() for k in _text(self.signing_keys).split(",") if k.strip()]

    def ttl(self) -> timedelta:
        """LINK_TTL_DAYS as a duration; ValueError naming the variable when it is not a positive number."""
        from inbox.links import DEFAULT_TTL

        text = self.ttl_days.strip()
        if not text:
            return DEFAULT_TTL
        try:
            days = float(text)
        except ValueError:
            raise ValueError(f"LINK_TTL_DAYS must be a number of days, not {text!r}") from None
        if not 0 < days <= 3650:
            raise ValueError(f"LINK_TTL_DAYS must be more than 0 and at most 3650 days, not {text!r}")
        return timedelta(days=days)

    def signer(self) -> LinkSigner | None:
        """The signer LINK_SIGNING_KEYS describes; None (with a warning) when it is unset.

        Raises ValueError naming the variable when LINK_TTL_DAYS is not a positive number."""
        from inbox.links import DEFAULT_BASE_URL, LinkSigner

        keys = self.keys()
        ttl = self.ttl()
        if not keys:
            log.warning(
                "signed links disabled: LINK_SIGNING_KEYS is not set",
                consequence="messages go out without answer links; the link pages refuse every link",
            )
            return None
        base_url = self.public_base_url.strip() or DEFAULT_BASE_URL
        host = (urlsplit(base_url).hostname or "").lower()
        if host in ("localhost", "127.0.0.1", "::1") and not self.local_run:
            # Right for `postinterview run` on a laptop; in production every emailed link would be dead.
            log.warning(
                "answer links point at this machine: set PUBLIC_BASE_URL to where recipients reach the HTTP service",
                public_base_url=base_url,
            )
        return LinkSigner(keys, base_url, ttl)


# --- the HTTP service ------------------------------------------------------------------------

# Greenhouse's largest documented deliveries (an application with its candidate, jobs, offers and
# custom fields) are tens of KiB; 1 MiB leaves a wide margin and still bounds what a stranger can
# make the service read.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class HttpSection(_Section):
    # The largest request body the HTTP service reads, on every route (webhooks, task API, inbox
    # forms, answer links); a larger one is refused with 413 before or while it arrives.
    max_body_bytes: str = _env("HTTP_MAX_BODY_BYTES", "")
    # The addresses (comma-separated IPs or CIDRs, or *) of the proxies whose X-Forwarded-Proto
    # and X-Forwarded-For the service believes (uvicorn's proxy headers): the ingress or load
    # balancer that terminates TLS. Blank: a proxy on this machine only (127.0.0.1).
    forwarded_allow_ips: str = _env("FORWARDED_ALLOW_IPS", "")

    def trusted_proxies(self) -> str:
        """FORWARDED_ALLOW_IPS as uvicorn takes it; SettingsError naming it when an entry is not an address."""
        import ipaddress

        entries = [e.strip() for e in self.forwarded_allow_ips.split(",") if e.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise SettingsError(f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network (e.g. 10.0.0.0/8), nor *") from None
        return ",".join(entries) or "127.0.0.1"

    def body_limit(self) -> int:
        """HTTP_MAX_BODY_BYTES in bytes (default 1 MiB); SettingsError naming it when it is not a positive integer."""
        text = self.max_body_bytes.strip().replace("_", "")
        if not text:
            return DEFAULT_MAX_BODY_BYTES
        if not text.isdigit() or int(text) < 1:
            raise SettingsError(f"HTTP_MAX_BODY_BYTES={self.max_body_bytes.strip()!r}: give a positive number of bytes (default {DEFAULT_MAX_BODY_BYTES})")
        return int(text)


# --- the webhook intake ----------------------------------------------------------------------


class IntakeSection(_Section):
    # Another intake config file than config/intake.toml; it must exist.
    config_file: str = _env("INTAKE_CONFIG", "")
    # Each a list (comma- or whitespace-separated), so a secret rotates without downtime.
    greenhouse_webhook_secret: SecretStr | None = _secret("GREENHOUSE_WEBHOOK_SECRET")
    lever_webhook_signature_token: SecretStr | None = _secret("LEVER_WEBHOOK_SIGNATURE_TOKEN")
    ashby_webhook_secret: SecretStr | None = _secret("ASHBY_WEBHOOK_SECRET")
    events_webhook_secret: SecretStr | None = _secret("EVENTS_WEBHOOK_SECRET")
    # How old a Lever delivery's triggeredAt may be; blank: `[lever] max_age_seconds`, default 3600.
    lever_max_age_seconds: str = _env("LEVER_WEBHOOK_MAX_AGE_SECONDS", "")
    # Failed attempts after which the forwarder gives up on a delivery (it becomes `failed`);
    # Temporal being unreachable counts for none. Blank: intake.forwarder.MAX_ATTEMPTS (12).
    max_attempts: str = _env("INTAKE_MAX_ATTEMPTS", "")

    def forwarder_max_attempts(self) -> int:
        """INTAKE_MAX_ATTEMPTS; raises SettingsError naming it when it is not a whole number >= 1."""
        from intake.forwarder import MAX_ATTEMPTS

        return _positive_int("INTAKE_MAX_ATTEMPTS", self.max_attempts, MAX_ATTEMPTS)

    # How long a forwarder's claim on the deliveries it holds lasts (PostgreSQL; renewed while it
    # runs): how soon another instance takes over from one that died. Blank: 30.
    lease_seconds: str = _env("INTAKE_LEASE_SECONDS", "")

    def forwarder_lease_seconds(self) -> int:
        """INTAKE_LEASE_SECONDS; raises SettingsError naming it when it is not a whole number >= 3."""
        from intake.forwarder import LEASE_SECONDS

        return _positive_int("INTAKE_LEASE_SECONDS", self.lease_seconds, int(LEASE_SECONDS), minimum=3)

    # Days a delivery's payload (the candidate's details in its events) is kept once it is done
    # with (delivered, ignored, skipped); then the forwarder purges it, the row kept. Blank: 30.
    payload_retention_days: str = _env("INTAKE_PAYLOAD_RETENTION_DAYS", "")

    def retention_days(self) -> int:
        """INTAKE_PAYLOAD_RETENTION_DAYS; raises SettingsError naming it when it is not a whole number >= 1."""
        from intake.forwarder import RETENTION_DAYS

        return _positive_int("INTAKE_PAYLOAD_RETENTION_DAYS", self.payload_retention_days, RETENTION_DAYS)

    def secrets(self) -> dict[str, str]:
        """{variable: value} of the webhook secrets that are set (not blank)."""
        given = {
            "GREENHOUSE_WEBHOOK_SECRET": self.greenhouse_webhook_secret,
            "LEVER_WEBHOOK_SIGNATURE_TOKEN": self.lever_webhook_signature_token,
            "ASHBY_WEBHOOK_SECRET": self.ashby_webhook_secret,
            "EVENTS_WEBHOOK_SECRET": self.events_webhook_secret,
        }
        return {name: _text(value) for name, value in given.items() if _text(value)}

    def config(self, file: Path | None = DEFAULT_INTAKE_CONFIG) -> IntakeConfig:
        """The intake's config: these secrets (they win over the file's [secrets]), the rest from
        the file INTAKE_CONFIG names, which must exist, else from `file`: the default one is used
        when present, built-in defaults otherwise. Raises IntakeConfigError naming the file or key."""
        from intake.config import IntakeConfig

        named = self.config_file.strip()
        path = Path(named) if named else file
        return IntakeConfig.load(
            self.secrets(),
            path,
            required=bool(named) or (path is not None and path != DEFAULT_INTAKE_CONFIG),
            lever_max_age=self.lever_max_age_seconds,
        )


# --- the codec server ------------------------------------------------------------------------


class CodecServerSection(_Section):
    # Comma-separated origins (scheme://host:port) the browser may call from.
    cors_origins: str = _env("CODEC_CORS_ORIGINS", "")
    token: SecretStr | None = _secret("CODEC_SERVER_TOKEN")

    def allowed_origins(self) -> tuple[str, ...]:
        """CODEC_CORS_ORIGINS, default the local UI."""
        origins = tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())
        return origins or DEFAULT_CODEC_ORIGINS

    def bearer_token(self) -> str | None:
        """CODEC_SERVER_TOKEN: the bearer token /encode and /decode require; None (blank or unset) for none."""
        return _text(self.token) or None


# --- delivery channels and the ATS APIs ------------------------------------------------------


class AtsApiSection(_Section):
    """The vendors' APIs: enrichment reads candidates through them, the ATS notes are written there."""

    greenhouse_api_key: SecretStr | None = _secret("GREENHOUSE_HARVEST_API_KEY")
    greenhouse_url: str = _env("GREENHOUSE_HARVEST_URL", "")
    greenhouse_notes_user_id: str = _env("GREENHOUSE_NOTES_USER_ID", "")
    lever_api_key: SecretStr | None = _secret("LEVER_API_KEY")
    lever_url: str = _env("LEVER_API_URL", "")
    lever_notes_user_id: str = _env("LEVER_NOTES_USER_ID", "")
    ashby_api_key: SecretStr | None = _secret("ASHBY_API_KEY")
    ashby_url: str = _env("ASHBY_API_URL", "")
    # The Greenhouse interview poller (README "Greenhouse interviews (Harvest)"): seconds between
    # polls of the account above; blank or 0: no poller. The account's name (the poller's id).
    greenhouse_interview_poll_seconds: str = _env("GREENHOUSE_INTERVIEW_POLL_SECONDS", "")
    greenhouse_account: str = _env("GREENHOUSE_ACCOUNT", "")
    greenhouse_interview_lookback_hours: str = _env("GREENHOUSE_INTERVIEW_LOOKBACK_HOURS", "")

    def greenhouse_poller(self) -> PollerConfig | None:
        """The Greenhouse interview poller these settings ask for, or None. Raises SettingsError
        naming the variable when a value is unusable or the API key is missing."""
        from pydantic import ValidationError

        from domain.greenhouse_interviews import PollerConfig

        seconds = _positive_int("GREENHOUSE_INTERVIEW_POLL_SECONDS", self.greenhouse_interview_poll_seconds, 0, minimum=0)
        if not seconds:
            return None
        if not _text(self.greenhouse_api_key):
            raise SettingsError("GREENHOUSE_INTERVIEW_POLL_SECONDS is set, but GREENHOUSE_HARVEST_API_KEY is not: the poller reads Harvest with it")
        lookback = _positive_int("GREENHOUSE_INTERVIEW_LOOKBACK_HOURS", self.greenhouse_interview_lookback_hours, 24, minimum=0)
        account = self.greenhouse_account.strip() or "default"
        try:
            return PollerConfig(account=account, interval_seconds=seconds, lookback_hours=lookback)
        except ValidationError as error:
            where = {str(e["loc"][0]) for e in error.errors()}
            names = {"account": "GREENHOUSE_ACCOUNT", "interval_seconds": "GREENHOUSE_INTERVIEW_POLL_SECONDS", "lookback_hours": "GREENHOUSE_INTERVIEW_LOOKBACK_HOURS"}
            raise SettingsError(
                ", ".join(sorted(names.get(w, w) for w in where)) + ": out of range (an account name of letters, digits, '.', '_', '-'; "
                "at most a day between polls; at most a year of look-back)"
            ) from None

    def vendor_settings(self) -> dict[str, str]:
        """{variable: value} of those set (not blank): what the enrichment and the note writers
        look their vendor's key, URL and note author up in."""
        values = {_field_env(field): _text(getattr(self, name)) for name, field in type(self).model_fields.items()}
        return {name: value for name, value in values.items() if name and value}


class BullhornSection(_Section):
    """Bullhorn: the mapping of its changes (unset: config/bullhorn.toml), and the OAuth client
    secret `connect bullhorn` stores with the account (else it asks; the poller reads the stored one)."""

    config: Path | None = _env("BULLHORN_CONFIG")
    client_secret: SecretStr | None = _secret("BULLHORN_CLIENT_SECRET")


class DeliverySection(_Section):
    smtp_host: str = _env("SMTP_HOST", "")
    smtp_port: str = _env("SMTP_PORT", "")
    smtp_security: str = _env("SMTP_SECURITY", "")
    smtp_from: str = _env("SMTP_FROM", "")
    smtp_username: str = _env("SMTP_USERNAME", "")
    smtp_password: SecretStr | None = _secret("SMTP_PASSWORD")
    # The URL is the credential: whoever has it can post to the channel.
    slack_webhook_url: SecretStr | None = _secret("SLACK_WEBHOOK_URL")
    # Microsoft Teams: the agency's channel, and channels per recruiter or per team (ID=URL, team:LEAD_ID=URL).
    teams_webhook_url: SecretStr | None = _secret("TEAMS_WEBHOOK_URL")
    teams_webhook_urls: SecretStr | None = _secret("TEAMS_WEBHOOK_URLS")
    # Sources (greenhouse, lever, ashby) whose processes get a note on the ATS record.
    ats_notes: str = _env("ATS_NOTES", "")
    timeout_seconds: str = _env("DELIVERY_TIMEOUT_SECONDS", "")
    # Each channel's own task queue: its slots per worker, and deliveries a second over the cluster.
    max_concurrent: str = _env("DELIVERY_MAX_CONCURRENT", "")
    email_per_second: str = _env("DELIVERY_EMAIL_PER_SECOND", "")
    slack_per_second: str = _env("DELIVERY_SLACK_PER_SECOND", "")
    ats_note_per_second: str = _env("DELIVERY_ATS_NOTE_PER_SECOND", "")

    def channels(self, ats: AtsApiSection) -> ChannelSettings:
        """The channels these settings configure (none: the inbox alone). Raises
        ChannelSettingsError naming the variable when a channel's settings are incomplete or invalid."""
        from activities.ats_api import VENDORS
        from activities.channel_settings import NOTE_SOURCES, SMTP_SECURITY, ChannelSettings, ChannelSettingsError, SmtpSettings, TeamsWebhooks

        vendor_settings = ats.vendor_settings()
        smtp = None
        if host := self.smtp_host.strip():
            security = (self.smtp_security.strip() or "starttls").lower()
            if security not in SMTP_SECURITY:
                raise ChannelSettingsError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
            default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
            port_text = self.smtp_port.strip() or str(default_port)
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ChannelSettingsError(f"SMTP_PORT must be a port number, not {port_text!r}")
            sender = self.smtp_from.strip()
            if not sender or "@" not in sender:
                raise ChannelSettingsError("SMTP_HOST is set, so SMTP_FROM must be the sender's address (e.g. 'Talent Team <talent@agency.example>')")
            username, password = self.smtp_username.strip() or None, _text(self.smtp_password) or None
            if bool(username) != bool(password):
                raise ChannelSettingsError("SMTP_USERNAME and SMTP_PASSWORD go together: set both or neither")
            smtp = SmtpSettings(host, int(port_text), sender, username, password, security)
        slack = _text(self.slack_webhook_url) or None
        if slack and not slack.startswith(("https://", "http://")):
            raise ChannelSettingsError("SLACK_WEBHOOK_URL must be an http(s) URL")
        notes = frozenset(s.strip().lower() for s in self.ats_notes.split(",") if s.strip())
        for source in sorted(notes):
            if source not in NOTE_SOURCES:
                raise ChannelSettingsError(f"ATS_NOTES names {source!r}; notes can be written to {', '.join(NOTE_SOURCES)}")
            if source in VENDORS and not vendor_settings.get(VENDORS[source].key_setting):
                raise ChannelSettingsError(f"ATS_NOTES names {source}, but {VENDORS[source].key_setting} is not set")
        timeout_text = self.timeout_seconds.strip() or "10"
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise ChannelSettingsError(f"DELIVERY_TIMEOUT_SECONDS must be a number of seconds, not {timeout_text!r}") from None
        from activities.channel_settings import RATE_LIMITS

        per_second: dict[str, float | None] = {}
        for channel, raw in (("email", self.email_per_second), ("slack", self.slack_per_second), ("ats_note", self.ats_note_per_second)):
            name, text = f"DELIVERY_{channel.upper()}_PER_SECOND", raw.strip()
            if not text:
                per_second[channel] = RATE_LIMITS[channel]
            elif text.lower() == "none":
                per_second[channel] = None
            else:
                try:
                    per_second[channel] = float(text)
                except ValueError:
                    raise ChannelSettingsError(f"{name} must be a number of deliveries a second (or none), not {text!r}") from None
                if not per_second[channel] > 0:  # type: ignore[operator]
                    raise ChannelSettingsError(f"{name} must be above 0 (or none for no limit), not {text!r}")
        per_second["ats_task"] = per_second["ats_note"]  # Bullhorn's Tasks: the same API as its notes
        per_second["teams"] = per_second["slack"]  # a chat webhook, throttled like Slack's
        slots_text = self.max_concurrent.strip() or "4"
        if not slots_text.isdigit() or int(slots_text) < 1:
            raise ChannelSettingsError(f"DELIVERY_MAX_CONCURRENT must be a whole number of at least 1, not {slots_text!r}")
        teams = TeamsWebhooks.parse(_text(self.teams_webhook_url), _text(self.teams_webhook_urls))
        return ChannelSettings(
            smtp=smtp,
            slack_webhook_url=slack,
            teams=teams,
            ats_notes=notes,
            vendor_settings=vendor_settings,
            timeout=timeout,
            slots=int(slots_text),
            per_second=per_second,
        )


# The KeyringCodec of each (PAYLOAD_ENCRYPTION_KEYS, DATABASE_URL) in this process (Settings.payload_codec).
_KEYRINGS: dict[tuple[str, str], Any] = {}


# --- the whole model -------------------------------------------------------------------------


class Settings(BaseSettings):
    """Every variable the engine reads. `Settings.from_env()` at an entry point; `Settings(...)`
    is exactly what it is given plus the defaults (tests, and the CLI's overrides)."""

    model_config = SettingsConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, extra="ignore", hide_input_in_errors=True, case_sensitive=True)

    temporal_address: str = _env("TEMPORAL_ADDRESS", "localhost:7233")
    temporal_namespace: str = _env("TEMPORAL_NAMESPACE", "default")
    task_queue: str = _env("TASK_QUEUE", TASK_QUEUE)
    database_url: str = _env("DATABASE_URL", DEFAULT_DATABASE_URL)
    # true (default): every component upgrades the store's schema at start-up (under a lock);
    # false: only `postinterview db upgrade` does (a Job before a rollout), the rest check it.
    database_auto_migrate: str = _env("DATABASE_AUTO_MIGRATE", "")
    # An explicit POLICY_FILE must exist; the default one is used when present (from_env).
    policy_file: Path | None = _env("POLICY_FILE", DEFAULT_POLICY_FILE)
    log_level: str = _env("LOG_LEVEL", "INFO")
    # `key_id:base64key[,...]`, the first encrypts; unset: payloads go to Temporal unencrypted.
    payload_encryption_keys: SecretStr | None = _secret("PAYLOAD_ENCRYPTION_KEYS")
    # on (default): with PAYLOAD_ENCRYPTION_KEYS, each candidate's payloads are encrypted under a
    # data key of their own in DATABASE_URL's store, which erasure destroys (codec/data_keys.py);
    # off: everything under the master key, as before.
    payload_data_keys: str = _env("PAYLOAD_DATA_KEYS", "")

    worker: WorkerSection = WorkerSection()
    temporal: TemporalSection = TemporalSection()
    http: HttpSection = HttpSection()
    inbox: InboxSection = InboxSection()
    links: LinkSection = LinkSection()
    intake: IntakeSection = IntakeSection()
    codec_server: CodecServerSection = CodecServerSection()
    delivery: DeliverySection = DeliverySection()
    ats: AtsApiSection = AtsApiSection()
    bullhorn: BullhornSection = BullhornSection()

    @field_validator("log_level")
    @classmethod
    def _upper(cls, level: str) -> str:
        return level.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(...) never reads the environment behind the caller's back: from_env() does,
        # through EnvironmentWithFiles, once.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings `environ` (by default the process's environment) describes.

        Raises SettingsError when a secret is given twice (NAME and NAME_FILE) or its file cannot be read."""
        values = EnvironmentWithFiles(cls, os.environ if environ is None else environ)()
        if not values.get("POLICY_FILE"):
            values.pop("POLICY_FILE", None)
            values["policy_file"] = DEFAULT_POLICY_FILE if DEFAULT_POLICY_FILE.exists() else None
        return cls(**values)

    def with_variables(self, values: Mapping[str, str]) -> Settings:
        """These settings with some variables set as if they were in the environment (what
        `postinterview run` adds for a local engine), checked like the rest."""
        update: dict[str, Any] = {}
        for field_name, field in type(self).model_fields.items():
            section = _section_of(field)
            if section is not None:
                current = getattr(self, field_name)
                changed = {n: values[env] for n, f in section.model_fields.items() if (env := _field_env(f)) in values}
                if changed:
                    update[field_name] = section(**{**{n: getattr(current, n) for n in current.model_fields_set}, **changed})
            elif (env := _field_env(field)) in values:
                update[field_name] = values[env]
        return type(self)(**{**{name: getattr(self, name) for name in self.model_fields_set}, **update}) if update else self

    def temporal_connection(self) -> TemporalConnection:
        """How this process reaches Temporal: the profile TEMPORAL_PROFILE names (default
        "default") in TEMPORAL_CONFIG_FILE, if any, under the TEMPORAL_* variables that are set
        (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*), each of which
        wins over the profile; localhost:7233 and "default" when neither says. Resolved by
        Temporal's own loader (temporalio.envconfig), so a profile means here what it means to
        the Temporal CLI. Raises SettingsError naming the variable or file that cannot be used."""
        from temporalio.envconfig import ClientConfigProfile

        section = self.temporal
        given = {
            "TEMPORAL_ADDRESS": self.temporal_address.strip() if "temporal_address" in self.model_fields_set else "",
            "TEMPORAL_NAMESPACE": self.temporal_namespace.strip() if "temporal_namespace" in self.model_fields_set else "",
        }
        variables = {name: value for name, value in given.items() if value}
        if section.local_dev_server:
            config: dict[str, Any] = {"target_host": variables.get("TEMPORAL_ADDRESS", DEFAULT_TEMPORAL_ADDRESS)}
            config["namespace"] = variables.get("TEMPORAL_NAMESPACE", DEFAULT_TEMPORAL_NAMESPACE)
            return TemporalConnection(config)
        variables |= section.variables()
        file = variables.pop("TEMPORAL_CONFIG_FILE", "")
        profile = variables.pop("TEMPORAL_PROFILE", "") or None
        if file and not Path(file).is_file():
            raise SettingsError(f"TEMPORAL_CONFIG_FILE={file!r}: no such file")
        if profile and not file:
            raise SettingsError(f"TEMPORAL_PROFILE={profile!r} names a profile, but TEMPORAL_CONFIG_FILE names no file to read it from")
        try:
            loaded = ClientConfigProfile.load(
                profile, config_source=Path(file) if file else None, disable_file=not file, override_env_vars=variables
            )
        except Exception as error:  # the SDK's loader: a TOML error, a profile the file lacks
            where = f"TEMPORAL_CONFIG_FILE={file!r}" + (f", TEMPORAL_PROFILE={profile!r}" if profile else "")
            raise SettingsError(f"{where}: {error}") from None
        tls = loaded.tls
        if tls is not None and tls.disabled is not True and (tls.client_cert is None) != (tls.client_private_key is None):
            raise SettingsError(
                "a client certificate and its key go together (TEMPORAL_TLS_CLIENT_CERT_PATH or _DATA with "
                "TEMPORAL_TLS_CLIENT_KEY_PATH or _DATA, or client_cert and client_key in the profile)"
            )
        try:
            config = dict(loaded.to_client_connect_config())
        except OSError as error:  # a certificate or key file that cannot be read
            raise SettingsError(f"Temporal TLS: cannot read {error.filename!r} ({error.strerror or error})") from None
        config.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
        config.setdefault("namespace", DEFAULT_TEMPORAL_NAMESPACE)
        return TemporalConnection(config, profile or ("default" if file else None))

    def temporal_client_options(self, interceptors: Sequence[Interceptor] = ()) -> dict[str, Any]:
        """Client.connect's keyword arguments for every client this process makes (worker,
        intake and forwarder, inbox, CLI, health check): the connection (temporal_connection),
        the engine's data converter with PAYLOAD_ENCRYPTION_KEYS' codec, and `interceptors`.
        Raises SettingsError or codec.EncryptionConfigError naming what cannot be used."""
        from process_client import client_options

        return client_options(self.temporal_connection().config, codec=self.payload_codec(), interceptors=interceptors)

    def auto_migrate(self) -> bool:
        """DATABASE_AUTO_MIGRATE (default true); SettingsError naming it when it is not a yes or a no."""
        text = self.database_auto_migrate.strip().lower() or "true"
        if text not in ("true", "1", "false", "0"):
            raise SettingsError(f"DATABASE_AUTO_MIGRATE={self.database_auto_migrate.strip()!r}: use true or false")
        return text in ("true", "1")

    def channels(self) -> ChannelSettings:
        """The delivery channels (see DeliverySection.channels)."""
        return self.delivery.channels(self.ats)

    def payload_codec(self) -> EncryptionCodec | None:
        """The codec PAYLOAD_ENCRYPTION_KEYS describes; None (encryption off) when unset or blank.
        With PAYLOAD_DATA_KEYS on (the default), a KeyringCodec: candidates' payloads under data
        keys of their own, kept in DATABASE_URL's store (opened on first use). One codec per
        process for the same keys and store, so its components share the keys they hold.
        Raises codec.EncryptionConfigError naming the variable when it is malformed."""
        from codec.data_keys import KeyringCodec, data_keys_enabled
        from store.data_key_store import DataKeyStore
        from codec.encryption import EncryptionCodec, EncryptionConfigError

        spec = _text(self.payload_encryption_keys)
        if not spec:
            return None
        try:
            with_data_keys = data_keys_enabled(self.payload_data_keys)
        except ValueError as error:
            raise EncryptionConfigError(str(error)) from None
        if not with_data_keys:
            return EncryptionCodec.parse(spec)
        identity = (spec, self.database_url)
        codec = _KEYRINGS.get(identity)
        if codec is None:
            codec = _KEYRINGS.setdefault(identity, KeyringCodec.parse_with_store(spec, DataKeyStore(self.database_url)))
        return codec


# --- reading the environment -----------------------------------------------------------------


class EnvironmentWithFiles(PydanticBaseSettingsSource):
    """The variables of a settings model from an environment mapping, each secret also from
    NAME_FILE. Sections (nested models) are read from the same flat environment."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = _field_env(field)
        return (self._read(name, _field_secret(field)) if name else None), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._read_model(self.settings_cls)

    def _read_model(self, model: type[BaseModel]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in model.model_fields.items():
            section = _section_of(field)
            if section is not None:
                values[field_name] = self._read_model(section)
                continue
            name = _field_env(field)
            if name is None:
                continue
            value = self._read(name, _field_secret(field))
            if value is not None:
                values[name] = value
        return values

    def _read(self, name: str, secret: bool) -> str | None:
        value = self.environ.get(name)
        if not secret:
            return value
        path = (self.environ.get(name + FILE_SUFFIX) or "").strip()
        if not path:
            return value
        if value is not None and value.strip():
            raise SettingsError(f"{name} and {name}{FILE_SUFFIX} are both set: give the secret one way, not both")
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SettingsError(f"{name}{FILE_SUFFIX}={path!r}: cannot read it ({error.strerror or error})") from None


def _field_env(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra
    return extra.get("env") if isinstance(extra, dict) else None  # type: ignore[return-value]


def _field_secret(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return bool(isinstance(extra, dict) and extra.get("secret"))


def _section_of(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if get_origin(annotation) in (Union, UnionType):
        annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, _Section) else None


def environment_variables(model: type[BaseModel] = Settings, secrets_only: bool = False, sections: bool = True) -> list[str]:
    """The variables a settings model (or one of its sections) reads, in declaration order;
    without `sections`, only those of the model's own fields."""
    names: list[str] = []
    for field in model.model_fields.values():
        section = _section_of(field)
        if section is not None:
            names += environment_variables(section, secrets_only) if sections else []
        elif (name := _field_env(field)) and (_field_secret(field) or not secrets_only):
            names.append(name)
    return names
