"""What every vendor module of `activities/ats_api` provides (a VendorApi: where its API is, which
settings hold its key and URL, its lookup and its note writer) and the few things they share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from domain.bounds import strip_control
from domain.follow_through import Enrichment, EnrichmentRequest


@dataclass(frozen=True)
class NoteTarget:
    """The ATS record a note goes on: an application's, or a candidate's."""

    source: str
    application_id: str | None
    candidate_id: str | None


@dataclass(frozen=True)
class Named:
    """One of a vendor's stages or archive reasons: its id, its name, and what kind it is where
    the vendor says (Ashby's stage type, Lever's and Ashby's reason type, Greenhouse's job)."""

    id: str
    name: str
    kind: str | None = None


@dataclass(frozen=True)
class Catalog:
    """A vendor account's stages and archive (rejection) reasons, as its API lists them."""

    stages: list[Named]
    archive_reasons: list[Named]

    def names(self) -> dict[str, dict[str, str]]:
        """{"stages": {id: name}, "archive_reasons": {id: name}}: what the intake keeps (intake/names.py)."""
        return {"stages": {s.id: s.name for s in self.stages}, "archive_reasons": {r.id: r.name for r in self.archive_reasons}}


# Who the candidate and recruiter behind an application are (the enrichment lookup).
Lookup = Callable[[httpx.AsyncClient, EnrichmentRequest], Awaitable[Enrichment]]
# Write a note (client, target, text, author, what the API is called in reasons): its id.
NoteWriter = Callable[[httpx.Client, NoteTarget, str, str, str], str | None]
# The account's stages and archive reasons (the intake's names, `intake check-config`).
CatalogReader = Callable[[httpx.AsyncClient], Awaitable[Catalog]]


@dataclass(frozen=True)
class VendorApi:
    name: str
    # The vendors' APIs take the key as the basic-auth user name, with no password.
    key_setting: str
    url_setting: str
    default_url: str
    enrich: Lookup
    write_note: NoteWriter
    # The setting naming the ATS user a note is written as (else the task's assignee); None: the
    # API writes notes as the key's owner.
    notes_user_setting: str | None = None
    # Whether a candidate's record (a relationship check-in) can take a note, or only an application's.
    candidate_notes: bool = True
    # Lists the account's stages and archive reasons.
    catalog: CatalogReader | None = None


async def get_json(http: httpx.AsyncClient, path: str) -> Any:
    response = await http.get(path)
    response.raise_for_status()
    return response.json()


def text(value: Any) -> str | None:
    """A name from a vendor's list, as one line (None when it has none)."""
    return one_line(value) if isinstance(value, str) else None


def first_value(values: list[dict[str, Any]] | None) -> str | None:
    """The first of a list of `{"value": ...}` (Greenhouse's and Lever's emails and phones)."""
    return next((v.get("value") for v in values or [] if v.get("value")), None)


def one_line(*parts: Any) -> str | None:
    """Text parts (a first and a last name) as one line without control characters, or None: a
    stray NUL in a name the ATS holds must cost neither the name nor the lookup."""
    cleaned = (" ".join(strip_control(p).split()) for p in parts if isinstance(p, str))
    return " ".join(part for part in cleaned if part) or None
