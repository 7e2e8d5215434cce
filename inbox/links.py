"""Signed, expiring, use-once links in the messages that ask somebody for an answer.

A referee confirms consent or says the reference is sent, a candidate fills in the debrief form:
one click from the email instead of a reply a recruiter has to read and type in. The link carries
what the answer is about (which process, which referee or round) and when it stops working,
signed with LINK_SIGNING_KEYS so nobody can make one up or change it; inbox/link_pages.py turns
it into the process's signal or update, once.

A link is readable by whoever holds it (signed, not encrypted), so it carries identifiers only:
never a name or an email address.

Configuration (the worker signs, the HTTP service verifies; both build their LinkSigner from the
same variables, in service/settings.py):
- LINK_SIGNING_KEYS: comma-separated secrets, newest first. The first signs, all verify, so a key
  rotates by putting the new one in front and dropping the old one once its links have expired.
  Unset: messages go out without links (a warning says so), and the link pages say links are off.
- PUBLIC_BASE_URL: where recipients reach the HTTP service (default http://localhost:8000).
- LINK_TTL_DAYS: how long a link works (default 14). Fixed into each link when it is made.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import structlog
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain import contract
from domain.bounds import EARLIEST_DATE, LATEST_DATE
from domain.contact import NurtureAnswerKind, candidate_source
from domain.follow_through import MessageRequest

log = structlog.get_logger()

DEFAULT_BASE_URL = "http://localhost:8000"
DEFAULT_TTL = timedelta(days=14)
# Separates these signatures from anything else signed with the same secret.
SALT = "postinterview.answer-link.v1"
ROUTE_PREFIX = "/r"
LOCAL_KEYS_FILENAME = "link-signing-keys.env"


class LinkAction(StrEnum):
    REFEREE_CONSENT = "referee_consent"
    REFEREE_SENT = "referee_sent"
    CANDIDATE_DEBRIEF = "candidate_debrief"
    # "I can't give a reference": the event `referee.declined`.
    REFEREE_DECLINE = "referee_decline"
    # A check-in's three answers (to the candidate's RelationshipProcess, signal nurture_answer).
    NURTURE_OPEN = "nurture_open"
    NURTURE_NOT_NOW = "nurture_not_now"
    NURTURE_STOP = "nurture_stop"
    # The opt-out link in every message to a candidate (and its email's List-Unsubscribe).
    OPT_OUT = "opt_out"


# The answers that go to the candidate's relationship process, and the answer each is.
NURTURE_ANSWERS: dict[LinkAction, NurtureAnswerKind] = {
    LinkAction.NURTURE_OPEN: NurtureAnswerKind.OPEN,
    LinkAction.NURTURE_NOT_NOW: NurtureAnswerKind.NOT_NOW,
    LinkAction.NURTURE_STOP: NurtureAnswerKind.STOP,
}
# The links that are about a candidate (their source and id), not about one application.
CANDIDATE_LINKS = frozenset({*NURTURE_ANSWERS, LinkAction.OPT_OUT})
# The check-in message and the template fields of its answers.
NURTURE_TEMPLATE = "nurture_check_in"
NURTURE_FIELDS = {LinkAction.NURTURE_OPEN: "link_open", LinkAction.NURTURE_NOT_NOW: "link_not_now", LinkAction.NURTURE_STOP: "link_stop"}
# An opt-out link keeps working long after the message (a candidate finds an old email; mail
# providers offer the unsubscribe for as long as the message is in the inbox).
OPT_OUT_TTL = timedelta(days=3 * 365)


# The messages that ask for an answer, and the answer their link gives.
LINK_FOR_TEMPLATE: dict[str, LinkAction] = {
    "referee_consent_request": LinkAction.REFEREE_CONSENT,
    "referee_request": LinkAction.REFEREE_SENT,
    "referee_reminder": LinkAction.REFEREE_SENT,
    "debrief_questions": LinkAction.CANDIDATE_DEBRIEF,
}

# Messages to a referee that also carry a second link, "I can't give a reference" (`decline_link`).
DECLINE_LINK_TEMPLATES = frozenset({"referee_consent_request"})


# The range a link's expiry may have (the engine's date range): a signed token is still input,
# and a time past year 9999 cannot even be turned into a date to compare with.
_EARLIEST_EXPIRY = int(datetime(EARLIEST_DATE.year, 1, 1, tzinfo=UTC).timestamp())
_LATEST_EXPIRY = int(datetime(LATEST_DATE.year + 1, 1, 1, tzinfo=UTC).timestamp())


class LinkClaims(BaseModel):
    """What a link says, under short names: the token sits in a URL in a plain-text email."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    link_id: str = Field(alias="i", min_length=16, description="Random: the link's use-once key.")
    action: LinkAction = Field(alias="a")
    process_id: str = Field(alias="w", description="The process the answer goes to (an opt-out: the one whose message carried it).")
    application_id: str | None = Field(default=None, alias="p", description="Every link but a candidate's own (check-in answers, opt-out).")
    referee_id: str | None = Field(default=None, alias="r")
    round: int | None = Field(default=None, alias="n", ge=1)
    expires_at: int = Field(alias="x", ge=_EARLIEST_EXPIRY, le=_LATEST_EXPIRY, description="Unix seconds.")
    # A candidate's links: whose (the key of their contact preference), and which check-in.
    candidate_source: str | None = Field(default=None, alias="s")
    candidate_id: str | None = Field(default=None, alias="c")
    check_in_key: str | None = Field(default=None, alias="k")

    @model_validator(mode="after")
    def _complete(self) -> "LinkClaims":
        if self.action in CANDIDATE_LINKS:
            if not self.candidate_source or not self.candidate_id:
                raise ValueError(f"a {self.action.value} link names its candidate")
            if self.action in NURTURE_ANSWERS and self.process_id != contract.relationship_workflow_id(self.candidate_source, self.candidate_id):
                raise ValueError(f"{self.process_id} is not the relationship of the candidate")
            return self
        if not self.application_id:
            raise ValueError(f"a {self.action.value} link names its application")
        prefix, suffix = "post-interview-", f"-{self.application_id}"
        if not (self.process_id.startswith(prefix) and self.process_id.endswith(suffix) and len(self.process_id) > len(prefix + suffix)):
            raise ValueError(f"{self.process_id} is not the process of application {self.application_id}")
        if self.action in (LinkAction.REFEREE_CONSENT, LinkAction.REFEREE_SENT, LinkAction.REFEREE_DECLINE) and not self.referee_id:
            raise ValueError(f"a {self.action.value} link names its referee")
        return self

    @property
    def source(self) -> str:
        """The ATS source: a candidate link's own, else from the process id `post-interview-{source}-{application_id}`."""
        if self.candidate_source:
            return self.candidate_source
        return self.process_id[len("post-interview-") : -len(f"-{self.application_id}")]

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


class LinkError(Exception):
    """A link that cannot act; `status` and `title` are what the page shows."""

    status = 400
    title = "This link is not valid"


class LinkInvalid(LinkError):
    status, title = 400, "This link is not valid"


class LinkExpired(LinkError):
    status, title = 410, "This link has expired"

    def __init__(self, message: str, claims: LinkClaims) -> None:
        super().__init__(message)
        self.claims = claims


class LinksDisabled(LinkError):
    status, title = 404, "Links are not enabled here"


@dataclass(frozen=True)
class SignedLink:
    claims: LinkClaims
    token: str
    url: str


class LinkSigner:
    def __init__(self, keys: Sequence[str], base_url: str = DEFAULT_BASE_URL, ttl: timedelta = DEFAULT_TTL) -> None:
        keys = [k for k in (key.strip() for key in keys) if k]
        if not keys:
            raise ValueError("a link signer needs at least one key")
        if ttl <= timedelta(0):
            raise ValueError("links must live for a positive time")
        # itsdangerous signs with the *last* key and verifies with any; ours are listed newest
        # first. No timestamp in the signature: the expiry is in the claims, fixed when the link
        # is made, so changing LINK_TTL_DAYS never shortens links already sent.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=SALT)
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl

    # making links

    def issue(
        self,
        action: LinkAction,
        process_id: str,
        application_id: str | None,
        referee_id: str | None = None,
        round_: int | None = None,
        now: datetime | None = None,
        candidate: tuple[str, str] | None = None,
        check_in_key: str | None = None,
    ) -> SignedLink:
        """`candidate`: (source, id) for a candidate's own links (check-in answers, opt-out)."""
        issued = now or datetime.now(UTC)
        ttl = max(self.ttl, OPT_OUT_TTL) if action is LinkAction.OPT_OUT else self.ttl
        claims = LinkClaims(
            link_id=secrets.token_urlsafe(16),
            action=action,
            process_id=process_id,
            application_id=application_id,
            referee_id=referee_id,
            round=round_,
            expires_at=int((issued + ttl).timestamp()),
            candidate_source=candidate[0] if candidate else None,
            candidate_id=candidate[1] if candidate else None,
            check_in_key=check_in_key,
        )
        token = self._serializer.dumps(claims.model_dump(mode="json", by_alias=True, exclude_none=True))
        return SignedLink(claims, token, f"{self.base_url}{ROUTE_PREFIX}/{token}")

    def for_message(self, request: MessageRequest, now: datetime | None = None) -> SignedLink | None:
        """The link a message carries, None for a message that asks for no answer."""
        action = LINK_FOR_TEMPLATE.get(request.template)
        if action is None:
            return None
        # A message that cannot carry a link still goes out, without one: the reply still works.
        if request.application_id is None:
            log.warning("no answer link: the message names no application", key=request.key, template=request.template)
            return None
        if action is LinkAction.CANDIDATE_DEBRIEF:
            process_id, referee_id = request.process_id, None
            round_text = request.context.get("round", "")
            round_ = int(round_text) if round_text.isascii() and round_text.isdigit() and int(round_text) >= 1 else None
        else:
            # A referee's messages come from their RefereeCheck; the answer goes to its process.
            parent = contract.referee_check_parent(request.process_id)
            if parent is None:
                log.warning("no answer link: not a referee check's message", key=request.key, template=request.template)
                return None
            (process_id, referee_id), round_ = parent, None
        try:
            return self.issue(action, process_id, request.application_id, referee_id=referee_id, round_=round_, now=now)
        except ValidationError:
            log.warning("no answer link: the message's process is not its application's", key=request.key, template=request.template)
            return None

    def message_context(self, request: MessageRequest, now: datetime | None = None) -> dict[str, str]:
        """The template's link fields: `link` and `link_expires` of a message that asks for an
        answer; for a candidate, `opt_out_link` (every message to them) and, on a check-in, its
        answers `link_open`, `link_not_now`, `link_stop`. Empty when the message carries none."""
        context: dict[str, str] = {}
        link = self.for_message(request, now)
        if link is not None:
            context |= {"link": link.url, "link_expires": _day(link.claims.expires)}
            if request.template in DECLINE_LINK_TEMPLATES and link.claims.referee_id:
                claims = link.claims
                decline = self.issue(LinkAction.REFEREE_DECLINE, claims.process_id, claims.application_id, referee_id=claims.referee_id, now=now)
                context["decline_link"] = decline.url
        if request.recipient.role != "candidate":
            return context
        source = candidate_source(request.process_id, request.application_id, request.recipient.id)
        if source is None:
            log.warning("no opt-out link: the message's process does not say the candidate's source", key=request.key, template=request.template)
            return context
        candidate = (source, request.recipient.id)
        try:
            opt_out = self.issue(LinkAction.OPT_OUT, request.process_id, request.application_id, now=now, candidate=candidate)
            context["opt_out_link"] = opt_out.url
            if request.template == NURTURE_TEMPLATE:
                for action, name in NURTURE_FIELDS.items():
                    answer = self.issue(action, request.process_id, None, now=now, candidate=candidate, check_in_key=request.context.get("check_in"))
                    context[name] = answer.url
                context["link_expires"] = _day(answer.claims.expires)
        except ValidationError:
            log.warning("no candidate links: the message's ids do not fit", key=request.key, template=request.template)
        return context

    # reading links

    def verify(self, token: str, now: datetime | None = None) -> LinkClaims:
        """The claims of a genuine, unexpired link; LinkInvalid or LinkExpired otherwise."""
        try:
            payload = self._serializer.loads(token)
            claims = LinkClaims.model_validate(payload)
        except BadSignature:
            raise LinkInvalid("the signature does not match: the link was changed, or was not made by us") from None
        except ValidationError:
            raise LinkInvalid("the link is signed but says nothing we understand") from None
        if (now or datetime.now(UTC)) >= claims.expires:
            raise LinkExpired(f"the link expired on {claims.expires:%Y-%m-%d %H:%M} UTC", claims)
        return claims


def _day(moment: datetime) -> str:
    return moment.strftime("%d %B %Y").lstrip("0")


def ensure_local_link_keys(data_dir: Path, environ: MutableMapping[str, str]) -> Path | None:
    """For the local engine only (`postinterview run`): when LINK_SIGNING_KEYS is not set, a key
    kept in DATA_DIR/link-signing-keys.env (mode 0600, generated once) is put into `environ`
    (the environment the run reads its settings from), so local links keep working across
    restarts. Production sets LINK_SIGNING_KEYS itself; the worker
    and the intake never generate one. The file's path when it was used, else None."""
    if environ.get("LINK_SIGNING_KEYS", "").strip():
        return None
    path = data_dir / LOCAL_KEYS_FILENAME
    keys = ""
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name.strip() == "LINK_SIGNING_KEYS" and value.strip():
                keys = value.strip()
    if not keys:
        keys = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(
                "# The answer-link signing key of the LOCAL engine only, generated by `postinterview run`.\n"
                "# Keep private. Delete this file to get a new one (links already sent stop working).\n"
                f"LINK_SIGNING_KEYS={keys}\n"
            )
        os.replace(temporary, path)
    environ["LINK_SIGNING_KEYS"] = keys
    return path
