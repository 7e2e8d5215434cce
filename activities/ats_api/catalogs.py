"""What the intake reads from the vendors' APIs with the configured keys: their stage and
archive-reason lists (each vendor module's `catalog`), for the intake's names (service/http.py)
and `postinterview intake check-config` (cli/integrate.py); and the lookups a delivery may need
before it can be mapped (`resolver`: a Lever interview's time)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx
import structlog

from activities.ats_api import VENDORS, lever
from activities.ats_api.vendor import Catalog

log = structlog.get_logger()


class NoApiKey(LookupError):
    """The vendor's API key is not configured."""


async def read_catalog(vendor: str, vendor_settings: Mapping[str, str], timeout: float = 10.0) -> Catalog:
    """The vendor's stages and archive reasons; NoApiKey without its key, httpx errors as they come."""
    api = VENDORS[vendor]
    if api.catalog is None:
        raise LookupError(f"{vendor}: no catalog")
    key = (vendor_settings.get(api.key_setting) or "").strip()
    if not key:
        raise NoApiKey(f"{api.key_setting} is not set")
    base = (vendor_settings.get(api.url_setting) or api.default_url).rstrip("/")
    # The vendors' APIs take the key as the basic-auth user name, with no password.
    async with httpx.AsyncClient(base_url=base, auth=(key, ""), timeout=timeout) as http:
        return await api.catalog(http)


def name_loader(vendor_settings: Mapping[str, str], vendors: Iterable[str] = ("lever", "ashby"), timeout: float = 10.0):  # noqa: ANN201 - intake.names.NameLoader
    """The intake's NameLoader: the names of every vendor in `vendors` whose key is set (by
    default those that send ids: Lever, Ashby); None when no key is set. A vendor that fails is
    left out of that load (the intake keeps what it had) and logged."""
    configured = [v for v in vendors if (vendor_settings.get(VENDORS[v].key_setting) or "").strip()]
    if not configured:
        return None

    async def load() -> dict[str, dict[str, dict[str, str]]]:
        names: dict[str, dict[str, dict[str, str]]] = {}
        for vendor in configured:
            try:
                names[vendor] = (await read_catalog(vendor, vendor_settings, timeout)).names()
            except Exception as error:  # noqa: BLE001 - one vendor's outage must not cost the others
                log.warning("vendor names not read", vendor=vendor, error=f"{type(error).__name__}: {error}")
        return names

    return load


def resolver(vendor_settings: Mapping[str, str], timeout: float = 5.0):  # noqa: ANN201 - intake.names.Resolver
    """The intake's Resolver for the lookups it can do with the keys that are set (None: none).
    `lever_interview` (opportunity id, interview id): Lever's interview object, None when gone.
    Short timeout: the vendor waits for our answer meanwhile, and retries after a 503."""
    key = (vendor_settings.get(lever.API.key_setting) or "").strip()
    if not key:
        return None
    base = (vendor_settings.get(lever.API.url_setting) or lever.API.default_url).rstrip("/")

    async def resolve(kind: str, ids: tuple[str, ...]):  # noqa: ANN202
        if kind != "lever_interview":
            raise LookupError(f"no lookup {kind!r}")
        opportunity_id, interview_id = ids
        async with httpx.AsyncClient(base_url=base, auth=(key, ""), timeout=timeout) as http:
            return await lever.interview(http, opportunity_id, interview_id)

    return resolve
