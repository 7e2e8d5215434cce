"""Intake configuration: webhook secrets, and what an ATS account's stages and reasons mean.

Secrets come from the service's settings (the environment, see service/settings.py) or, for
local use, the `[secrets]` table of the file; the settings win. Each is a *list*, written comma- or whitespace-separated, so a key can be
rotated without downtime: configure old and new, switch the sender, then drop the old one.

Everything else comes from `config/intake.toml` (see the documented default there): the
client and recruiter a delivery belongs to when its payload does not say, the Greenhouse
interview-round rule, the Lever stage and archive-reason maps (Lever sends ids, and stage ids
are account-specific), and the Ashby stage map. The file is validated when the service starts,
so a typo fails the deployment instead of silently ignoring deliveries.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from domain.errors import describe_validation_error
from domain.events import Client, Recruiter
from intake.signatures import LEVER_DEFAULT_MAX_AGE_SECONDS, decode_standard_webhook_secret

__all__ = [
    "DEFAULT_FILE",
    "MEANINGS",
    "SECRET_SETTINGS",
    "IntakeConfig",
    "IntakeConfigError",
]

DEFAULT_FILE = Path("config/intake.toml")

# Environment variable (and [secrets] key) -> IntakeConfig field.
SECRET_SETTINGS: dict[str, str] = {
    "GREENHOUSE_WEBHOOK_SECRET": "greenhouse_secrets",
    "LEVER_WEBHOOK_SIGNATURE_TOKEN": "lever_signature_tokens",
    "ASHBY_WEBHOOK_SECRET": "ashby_secrets",
    "EVENTS_WEBHOOK_SECRET": "events_secrets",
}

# What a stage can mean to the engine (the values of [lever.stages] and [ashby.stages]).
MEANINGS: dict[str, str] = {
    "interview_scheduled": "interview.scheduled (a follow-up round is booked)",
    "interview_completed": "interview.completed (the candidate has been interviewed)",
    "client_feedback": "client.feedback_requested (the client asks for the candidate's feedback)",
    "references": "nothing: references.requested needs the referees, which an ATS stage change does not carry; send it to /events",
    "offer": "offer.extended",
    "hired": "offer.accepted (a hire in the ATS is not the first day: see the process model)",
    "contract": "contract.signed",
    "vetting": "vetting.passed",
    "started": "candidate.started",
    "rejected": "candidate.rejected",
    "withdrew": "candidate.withdrew",
    "ignore": "nothing (acknowledged and recorded as ignored)",
}

ArchiveOutcome = Literal["rejected", "withdrew", "hired"]


class IntakeConfigError(ValueError):
    """The intake configuration is unusable; the message names the setting or key."""


def _split_secrets(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [part for item in items for part in re.split(r"[,\s]+", item.strip()) if part]


def _check_meanings(stages: dict[str, str]) -> dict[str, str]:
    unknown = {key: meaning for key, meaning in stages.items() if meaning not in MEANINGS}
    if unknown:
        key, meaning = next(iter(unknown.items()))
        raise ValueError(f"stage {key!r} has unknown meaning {meaning!r}; use one of: {', '.join(MEANINGS)}")
    return stages


class IntakeConfig(BaseModel):
    """Everything the senders need. Build it with `load()` (the service's settings do); tests construct it directly."""

    # hide_input_in_errors: a validation error must not print a secret.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # Secrets: never in repr (a logged config must not leak them).
    greenhouse_secrets: list[str] = Field(default_factory=list, repr=False)
    lever_signature_tokens: list[str] = Field(default_factory=list, repr=False)
    ashby_secrets: list[str] = Field(default_factory=list, repr=False)
    events_secrets: list[str] = Field(default_factory=list, repr=False)

    # Whose delivery is it, when the payload does not say? An ATS account belongs to one hiring
    # firm (the client); `clients` / `recruiters` override the defaults per vendor
    # ("greenhouse", "lever", "ashby").
    default_client: Client = Client(id="default-client")
    default_recruiter: Recruiter = Recruiter(id="unassigned")
    clients: dict[str, Client] = Field(default_factory=dict)
    recruiters: dict[str, Recruiter] = Field(default_factory=dict)

    # Greenhouse: an interview's round is its position in its stage plus the stage's offset:
    # stage name (or id) -> the round of the stage's first interview (unlisted: left to the process).
    greenhouse_stage_rounds: dict[str, PositiveInt] = Field(default_factory=dict)
    # Rejection reason *types* meaning the candidate withdrew (Greenhouse's own is "They rejected us").
    greenhouse_withdrawal_reason_types: list[str] = Field(default_factory=lambda: ["They rejected us"])

    # Lever: stage id -> meaning; stage id -> round for interview meanings (else the process
    # numbers interviews by time); archive reason id -> outcome (default "rejected").
    # `lever_interview_round` ([lever] interview_round) is no longer used: Lever's interviews are
    # numbered by the process in the order they take place. Still accepted, so that a file that
    # sets it keeps loading.
    lever_stages: dict[str, str] = Field(default_factory=dict)
    lever_stage_rounds: dict[str, PositiveInt] = Field(default_factory=dict)
    lever_archive_reasons: dict[str, ArchiveOutcome] = Field(default_factory=dict)
    lever_interview_round: PositiveInt = 2
    # How old a Lever delivery's triggeredAt may be (LEVER_WEBHOOK_MAX_AGE_SECONDS, or
    # [lever] max_age_seconds; the environment wins): Lever signs no body, so a captured
    # signature must not be usable for long.
    lever_max_age_seconds: PositiveInt = LEVER_DEFAULT_MAX_AGE_SECONDS

    # Ashby: stage title (or id) -> meaning; interview stage id (or title) -> round (else the
    # process numbers interviews by time).
    ashby_stages: dict[str, str] = Field(default_factory=dict)
    ashby_stage_rounds: dict[str, PositiveInt] = Field(default_factory=dict)

    @field_validator("lever_stages", "ashby_stages")
    @classmethod
    def _known_meanings(cls, stages: dict[str, str]) -> dict[str, str]:
        return _check_meanings(stages)

    @field_validator("events_secrets")
    @classmethod
    def _standard_webhook_secrets(cls, secrets: list[str]) -> list[str]:
        for position, secret in enumerate(secrets, 1):
            try:
                decode_standard_webhook_secret(secret)
            except ValueError as problem:
                raise ValueError(f"EVENTS_WEBHOOK_SECRET entry {position} is malformed: {problem}") from None
        return secrets

    def client_for(self, vendor: str) -> Client:
        return self.clients.get(vendor, self.default_client)

    def recruiter_for(self, vendor: str) -> Recruiter:
        return self.recruiters.get(vendor, self.default_recruiter)

    @classmethod
    def load(
        cls, secrets: Mapping[str, str], file: Path | None = DEFAULT_FILE, required: bool = False, lever_max_age: str = ""
    ) -> IntakeConfig:
        """`secrets` ({variable: value}, which win over the file's [secrets]) and the rest from
        `file`; a missing file is an error when `required` (the deployment named it), else the
        built-in defaults are used. The service's settings say which file (INTAKE_CONFIG), and
        `lever_max_age` is LEVER_WEBHOOK_MAX_AGE_SECONDS (it wins over `[lever] max_age_seconds`)."""
        document: dict[str, Any] = {}
        if file is not None:
            if file.exists():
                try:
                    document = tomllib.loads(file.read_text(encoding="utf-8"))
                except (OSError, tomllib.TOMLDecodeError) as problem:
                    raise IntakeConfigError(f"{file}: {problem}") from None
            elif required:
                raise IntakeConfigError(f"{file}: no such file")
        return cls.from_document(document, secrets, where=str(file) if file else "intake config", lever_max_age=lever_max_age)

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], secrets: Mapping[str, str] | None = None, where: str = "intake config", lever_max_age: str = ""
    ) -> IntakeConfig:
        """The parsed TOML document (plus `secrets` by variable name and LEVER_WEBHOOK_MAX_AGE_SECONDS,
        which win) -> IntakeConfig."""
        secrets = secrets or {}
        try:
            parsed = _File.model_validate(document)
        except ValidationError as error:
            raise IntakeConfigError(f"{where}: {_problems(error)}") from None
        values: dict[str, Any] = {}
        for setting, field in SECRET_SETTINGS.items():
            given = secrets.get(setting, "")
            chosen = given if given.strip() else parsed.secrets.get(setting, "")
            values[field] = _split_secrets(chosen)
        if parsed.defaults.client:
            values["default_client"] = parsed.defaults.client
        if parsed.defaults.recruiter:
            values["default_recruiter"] = parsed.defaults.recruiter
        vendors = {"greenhouse": parsed.greenhouse, "lever": parsed.lever, "ashby": parsed.ashby}
        values["clients"] = {name: section.client for name, section in vendors.items() if section.client}
        values["recruiters"] = {name: section.recruiter for name, section in vendors.items() if section.recruiter}
        values["greenhouse_stage_rounds"] = parsed.greenhouse.stage_rounds
        values["greenhouse_withdrawal_reason_types"] = parsed.greenhouse.withdrawal_reason_types
        values["lever_stages"] = parsed.lever.stages
        values["lever_stage_rounds"] = parsed.lever.stage_rounds
        values["lever_archive_reasons"] = parsed.lever.archive_reasons
        values["lever_interview_round"] = parsed.lever.interview_round
        max_age = lever_max_age.strip()
        if max_age and not (max_age.isdigit() and int(max_age) > 0):
            raise IntakeConfigError(f"LEVER_WEBHOOK_MAX_AGE_SECONDS: expected a positive whole number of seconds, not {max_age!r}")
        values["lever_max_age_seconds"] = int(max_age) if max_age else parsed.lever.max_age_seconds
        values["ashby_stages"] = parsed.ashby.stages
        values["ashby_stage_rounds"] = parsed.ashby.stage_rounds
        try:
            return cls(**values)
        except ValidationError as error:
            raise IntakeConfigError(f"{where}: {_problems(error)}") from None


# --- the file's shape ------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class _Defaults(_Section):
    client: Client | None = None
    recruiter: Recruiter | None = None


class _Vendor(_Section):
    client: Client | None = None
    recruiter: Recruiter | None = None


class _Greenhouse(_Vendor):
    stage_rounds: dict[str, PositiveInt] = Field(default_factory=dict)
    withdrawal_reason_types: list[str] = Field(default_factory=lambda: ["They rejected us"])


class _Lever(_Vendor):
    stages: dict[str, str] = Field(default_factory=dict)
    stage_rounds: dict[str, PositiveInt] = Field(default_factory=dict)
    archive_reasons: dict[str, ArchiveOutcome] = Field(default_factory=dict)
    interview_round: PositiveInt = 2
    max_age_seconds: PositiveInt = LEVER_DEFAULT_MAX_AGE_SECONDS


class _Ashby(_Vendor):
    stages: dict[str, str] = Field(default_factory=dict)
    stage_rounds: dict[str, PositiveInt] = Field(default_factory=dict)


class _File(_Section):
    secrets: dict[Literal["GREENHOUSE_WEBHOOK_SECRET", "LEVER_WEBHOOK_SIGNATURE_TOKEN", "ASHBY_WEBHOOK_SECRET", "EVENTS_WEBHOOK_SECRET"], str | list[str]] = Field(
        default_factory=dict
    )
    defaults: _Defaults = _Defaults()
    greenhouse: _Greenhouse = _Greenhouse()
    lever: _Lever = _Lever()
    ashby: _Ashby = _Ashby()


def _problems(error: ValidationError) -> str:
    return describe_validation_error(error, "(top)")
