"""`postinterview intake check-config`: a vendor account's stages (from its API) beside
config/intake.toml's map, saying which are unmapped. Pure: the CLI reads the stages and hands
them in as (id, name, kind).

Unmapped means the intake would report the stage and leave the round to the process:
- Lever: a stage not in `[lever.stages]` (every Lever stage change names a stage id).
- Ashby: an interview stage (type Active) in neither `[ashby.stage_rounds]` nor `[ashby.stages]`.
- Greenhouse: a stage holding interviews whose name is not in `[greenhouse.stage_rounds]`.
Archive reasons are listed with what they count as (Lever: `[lever.archive_reasons]`, else
rejected); only a Lever reason of type hired that the map does not list is unmapped (it would
count as a rejection).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from intake.config import IntakeConfig

__all__ = ["Row", "archive_reasons", "stages"]


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    kind: str | None
    mapping: str  # what the map says, or "-"
    unmapped: bool


def _both(table: dict, *keys: str | None) -> object | None:
    return next((table[k] for k in keys if k is not None and k in table), None)


def stages(vendor: str, config: IntakeConfig, listed: Iterable[tuple[str, str, str | None]]) -> list[Row]:
    rows: list[Row] = []
    seen_names: set[str] = set()
    for identifier, name, kind in listed:
        match vendor:
            case "lever":
                meaning = config.lever_stages.get(identifier)
                round_ = config.lever_stage_rounds.get(identifier)
                mapping = "-" if meaning is None else meaning + (f", round {round_}" if round_ else "")
                rows.append(Row(identifier, name, kind, mapping, meaning is None))
            case "ashby":
                meaning = _both(config.ashby_stages, identifier, name)
                round_ = _both(config.ashby_stage_rounds, identifier, name)
                parts = [str(meaning)] if meaning else []
                parts += [f"round {round_}"] if round_ else []
                unmapped = (kind or "") == "Active" and meaning is None and round_ is None
                rows.append(Row(identifier, name, kind, ", ".join(parts) or "-", unmapped))
            case "greenhouse":
                # Stages repeat per job and are mapped by name: one row per name.
                if name in seen_names:
                    continue
                seen_names.add(name)
                round_ = _both(config.greenhouse_stage_rounds, name, identifier)
                unmapped = kind == "interviews" and round_ is None
                rows.append(Row(identifier, name, kind, f"first round {round_}" if round_ else "-", unmapped))
            case _:
                raise ValueError(f"unknown vendor {vendor!r}")
    return rows


def archive_reasons(vendor: str, config: IntakeConfig, listed: Iterable[tuple[str, str, str | None]]) -> list[Row]:
    rows = []
    for identifier, name, kind in listed:
        if vendor == "lever":
            outcome = config.lever_archive_reasons.get(identifier)
            if outcome is None and kind == "hired":
                # Unlisted reasons count as rejections: a hired-type one must be listed as hired.
                rows.append(Row(identifier, name, kind, 'rejected (default): list it as "hired"', True))
                continue
            mapping = outcome or "rejected (default)"
        elif vendor == "ashby":
            mapping = "withdrew" if (kind or "").lower() == "rejectedbycandidate" else "rejected"
        else:
            withdrew = (kind or "").strip().lower() in {t.strip().lower() for t in config.greenhouse_withdrawal_reason_types}
            mapping = "withdrew" if withdrew else "rejected"
        rows.append(Row(identifier, name, kind, mapping, False))
    return rows
