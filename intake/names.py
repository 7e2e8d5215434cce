"""What the vendors' ids stand for: stage and archive-reason names, read from each vendor's API;
and the type of the lookups a delivery may need before it can be mapped (`Resolver`).

Lever sends stage and archive-reason ids only (Ashby schedules name their stage by id too), and
a task that says "Lever archive reason 63dd55b2-..." tells a recruiter nothing. The intake keeps
the names in memory: loaded from the vendors' APIs when the service starts, reloaded every
`REFRESH_SECONDS`, and sooner (at most once a `MIN_RELOAD_SECONDS`) when a delivery names an id
the cache does not hold (a stage added since). The adapters only read the cache, so mapping a
delivery never waits for a vendor; an id still unknown is written as the id, and the log says so.

The loader (which API calls, with which key) is handed in by the HTTP service (service/http.py,
from activities/ats_api/): the intake itself makes no outbound calls.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

log = structlog.get_logger()

__all__ = ["KINDS", "NameLoader", "Resolver", "VendorNames"]

# What a vendor's ids can name: its pipeline stages and its archive (rejection) reasons.
KINDS = ("stages", "archive_reasons")

# vendor -> {kind -> {id -> name}}; a vendor without an API key is simply absent.
NameLoader = Callable[[], Awaitable[Mapping[str, Mapping[str, Mapping[str, str]]]]]

# What a delivery lacks, read from the vendor's API while the vendor waits for our answer:
# (Delivery.lookup.kind, its ids) -> the vendor's object, or None when the vendor no longer has
# it. Any exception means the API could not answer: the intake answers 503 and stores nothing,
# so the vendor delivers again later.
Resolver = Callable[[str, tuple[str, ...]], Awaitable[Mapping[str, Any] | None]]

REFRESH_SECONDS = 15 * 60
MIN_RELOAD_SECONDS = 60


class VendorNames:
    """The names by (vendor, kind, id). Thread-safe: the adapters read it from request handlers."""

    def __init__(self, names: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None) -> None:
        self._lock = threading.Lock()
        self._names: dict[tuple[str, str], dict[str, str]] = {}
        self._missed = threading.Event()
        if names:
            self.replace(names)

    def name(self, vendor: str, kind: str, identifier: str | None) -> str | None:
        """The name of `identifier`, or None (and a reload is asked for)."""
        if not identifier:
            return None
        with self._lock:
            found = self._names.get((vendor, kind), {}).get(identifier)
        if found is None:
            self._missed.set()
        return found

    def label(self, vendor: str, kind: str, identifier: str) -> str:
        """Its name when known, else the id itself (never nothing)."""
        return self.name(vendor, kind, identifier) or identifier

    def replace(self, names: Mapping[str, Mapping[str, Mapping[str, str]]]) -> None:
        with self._lock:
            for vendor, kinds in names.items():
                for kind, by_id in kinds.items():
                    self._names[(vendor, kind)] = {str(k): str(v) for k, v in by_id.items() if v}

    def known(self) -> dict[str, int]:
        with self._lock:
            return {f"{vendor}.{kind}": len(by_id) for (vendor, kind), by_id in self._names.items()}

    async def load(self, loader: NameLoader) -> None:
        """One load; a vendor that fails keeps what was cached, and the log says why."""
        try:
            names = await loader()
        except Exception as error:  # noqa: BLE001 - a vendor outage must not stop the intake
            log.warning("vendor names not loaded", error=f"{type(error).__name__}: {error}")
            return
        self.replace(names)
        log.info("vendor names loaded", **self.known())

    async def keep_loaded(self, loader: NameLoader, stop: asyncio.Event) -> None:
        """Load now, then every REFRESH_SECONDS, or sooner after a miss (at most once a minute)."""
        last = 0.0
        while not stop.is_set():
            self._missed.clear()
            last = time.monotonic()
            await self.load(loader)
            deadline = last + REFRESH_SECONDS
            while not stop.is_set() and time.monotonic() < deadline:
                if self._missed.is_set() and time.monotonic() - last >= MIN_RELOAD_SECONDS:
                    break
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
