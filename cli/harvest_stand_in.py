"""A local stand-in of Greenhouse Harvest: the calls the engine makes, answered as Greenhouse's
documentation says (developers.greenhouse.io/harvest.html), from data held in memory.

For `postinterview run` on a machine without a Greenhouse account (the engine's Greenhouse calls
point at it, and `postinterview demo-webhooks` schedules an interview there) and for the tests. It
serves, behind Basic auth with the API key as user name:

- `GET /v1/scheduled_interviews` with `updated_after`, `updated_before`, `ends_after`, `starts_after`
  (at or after / before), `per_page` (1-500, default 100) and `page`; the `Link` header names the
  `next` and `last` pages as absolute URLs (none when one page holds everything);
- `GET /v1/scheduled_interviews/{id}` (404 once deleted), `GET /v1/applications/{id}`,
  `GET /v1/candidates/{id}`;
- `X-RateLimit-Limit` and `X-RateLimit-Remaining` per 10-second window; over the limit (or when a
  test asks for it with `throttle`), 429 with `Retry-After` and `X-RateLimit-Reset`.

What it holds is changed in-process (`schedule`, `delete`, ...) or, from another process (the
demo), over `POST /_stand-in/{interviews|applications|candidates}` and
`DELETE /_stand-in/interviews/{id}`, behind the same key. Not Greenhouse's: never expose it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

WINDOW_SECONDS = 10


def harvest_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class HarvestStandIn:
    api_key: str
    rate_limit: int = 50
    interviews: dict[str, dict[str, Any]] = field(default_factory=dict)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The latest requests' paths and queries, in order (tests read what the engine asked).
    requests: list[str] = field(default_factory=list)
    # Where what it holds is kept between runs (`postinterview run`'s data directory), if anywhere.
    path: Path | None = None
    _throttled: list[int] = field(default_factory=list)
    _window: tuple[float, int] = (0.0, 0)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what it holds -------------------------------------------------------------------------

    def schedule(self, interview: dict[str, Any]) -> dict[str, Any]:
        """Add or replace a scheduled interview (by id); `updated_at` is now, as Greenhouse sets it."""
        with self._lock:
            stored = {**interview, "updated_at": harvest_now()}
            earlier = self.interviews.get(str(interview["id"])) or {}
            stored.setdefault("created_at", earlier.get("created_at") or stored["updated_at"])
            self.interviews[str(interview["id"])] = stored
            self._save()
            return stored

    def delete(self, interview_id: str) -> bool:
        with self._lock:
            found = self.interviews.pop(str(interview_id), None) is not None
            self._save()
            return found

    def add_application(self, application: dict[str, Any]) -> None:
        with self._lock:
            self.applications[str(application["id"])] = application
            self._save()

    def add_candidate(self, candidate: dict[str, Any]) -> None:
        with self._lock:
            self.candidates[str(candidate["id"])] = candidate
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        held = {"interviews": self.interviews, "applications": self.applications, "candidates": self.candidates}
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(json.dumps(held), encoding="utf-8")
        os.replace(temporary, self.path)

    @classmethod
    def kept_in(cls, path: Path, api_key: str) -> HarvestStandIn:
        """A stand-in holding what it held when it last ran with `path`."""
        stand_in = cls(api_key=api_key, path=path)
        if path.exists():
            try:
                held = json.loads(path.read_text(encoding="utf-8"))
                stand_in.interviews, stand_in.applications, stand_in.candidates = held["interviews"], held["applications"], held["candidates"]
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged file: start empty (it is a stand-in's scratch data)
        return stand_in

    def throttle(self, times: int, retry_after: int = 1) -> None:
        """Answer the next `times` requests with 429 and this Retry-After."""
        with self._lock:
            self._throttled.extend([retry_after] * times)

    # --- answering -----------------------------------------------------------------------------

    def answer(self, method: str, target: str, authorization: str | None, body: bytes, host: str) -> tuple[int, dict[str, str], Any]:
        if not self._authorised(authorization):
            return 401, {"WWW-Authenticate": 'Basic realm="Harvest"'}, {"message": "Invalid Basic Auth credentials"}
        parts = urlsplit(target)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/")
        if path.startswith("/_stand-in/"):
            return self._admin(method, path, body)
        with self._lock:
            self.requests = [*self.requests[-999:], target]
            limited = self._rate(host)
        if limited is not None:
            return limited
        headers = self._rate_headers()
        if method != "GET":
            return 405, headers, {"message": "the stand-in serves reads only"}
        with self._lock:
            if path == "/v1/scheduled_interviews":
                return self._list(query, headers, host)
            for prefix, table in (
                ("/v1/scheduled_interviews/", self.interviews),
                ("/v1/applications/", self.applications),
                ("/v1/candidates/", self.candidates),
            ):
                if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                    found = table.get(path[len(prefix) :])
                    return (200, headers, found) if found is not None else (404, headers, {"message": "Resource not found"})
        return 404, headers, {"message": "Resource not found"}

    def _authorised(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, _ = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.api_key

    def _rate(self, host: str) -> tuple[int, dict[str, str], Any] | None:
        now = time.time()
        start, used = self._window
        if now - start >= WINDOW_SECONDS:
            start, used = now, 0
        if self._throttled:
            retry = self._throttled.pop(0)
            return 429, {"Retry-After": str(retry), "X-RateLimit-Reset": str(int(now) + retry)}, {"message": "Rate limit exceeded"}
        if used >= self.rate_limit:
            retry = max(1, int(start + WINDOW_SECONDS - now + 0.999))
            return 429, {"Retry-After": str(retry), "X-RateLimit-Reset": str(int(start + WINDOW_SECONDS))}, {"message": "Rate limit exceeded"}
        self._window = (start, used + 1)
        return None

    def _rate_headers(self) -> dict[str, str]:
        with self._lock:
            _, used = self._window
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(max(0, self.rate_limit - used))}

    def _list(self, query: dict[str, str], headers: dict[str, str], host: str) -> tuple[int, dict[str, str], Any]:
        try:
            per_page = int(query.get("per_page", "100"))
            page = int(query.get("page", "1"))
            bounds = {name: _moment(query[name]) for name in ("updated_after", "updated_before", "ends_after", "starts_after") if name in query}
        except ValueError:
            return 422, headers, {"message": "Validation error", "errors": [{"message": "invalid per_page, page or timestamp"}]}
        if not 1 <= per_page <= 500 or page < 1:
            return 422, headers, {"message": "Validation error", "errors": [{"message": "per_page must be between 1 and 500"}]}

        def when(interview: dict[str, Any], end: str) -> datetime | None:
            value = interview.get(end) or {}
            text = value.get("date_time") or value.get("date")
            return _moment(text) if text else None

        def wanted(interview: dict[str, Any]) -> bool:
            updated = _moment(interview["updated_at"])
            if "updated_after" in bounds and updated < bounds["updated_after"]:
                return False
            if "updated_before" in bounds and updated >= bounds["updated_before"]:
                return False
            ends = when(interview, "end")
            if "ends_after" in bounds and (ends is None or ends < bounds["ends_after"]):
                return False
            starts = when(interview, "start")
            return not ("starts_after" in bounds and (starts is None or starts < bounds["starts_after"]))

        matching = [self.interviews[key] for key in sorted(self.interviews, key=lambda k: (len(k), k)) if wanted(self.interviews[key])]
        last = max(1, -(-len(matching) // per_page))
        links = []
        base = f"http://{host}/v1/scheduled_interviews?"
        kept = {name: value for name, value in query.items() if name not in ("page", "per_page")}
        if page < last:
            links.append(f'<{base}{urlencode({**kept, "page": page + 1, "per_page": per_page})}>; rel="next"')
        if page > 1:
            links.append(f'<{base}{urlencode({**kept, "page": page - 1, "per_page": per_page})}>; rel="prev"')
        if last > 1:
            links.append(f'<{base}{urlencode({**kept, "page": last, "per_page": per_page})}>; rel="last"')
        if links:
            headers = {**headers, "Link": ",\n ".join(links).replace("\n", "")}
        return 200, headers, matching[(page - 1) * per_page : page * per_page]

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        what = path.removeprefix("/_stand-in/")
        if method == "DELETE" and what.startswith("interviews/"):
            return (204, {}, None) if self.delete(what.removeprefix("interviews/")) else (404, {}, {"message": "Resource not found"})
        if method != "POST":
            return 405, {}, {"message": "POST or DELETE"}
        try:
            item = json.loads(body)
        except ValueError:
            return 400, {}, {"message": "not JSON"}
        match what:
            case "interviews":
                return 200, {}, self.schedule(item)
            case "applications":
                self.add_application(item)
            case "candidates":
                self.add_candidate(item)
            case _:
                return 404, {}, {"message": "Resource not found"}
        return 200, {}, item


class _Handler(BaseHTTPRequestHandler):
    stand_in: HarvestStandIn

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.stand_in.answer(self.command, self.path, self.headers.get("Authorization"), body, self.headers.get("Host", ""))
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the engine's logs say what it asked; the stand-in stays quiet


class StandInServer:
    """The stand-in served on loopback from a thread: `url` once started; `stop()` to end."""

    def __init__(self, stand_in: HarvestStandIn, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"stand_in": stand_in})
        self.stand_in = stand_in
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="harvest-stand-in", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- `postinterview run`'s local stand-in --------------------------------------------------------

ENV_FILENAME = "harvest-stand-in.env"
DATA_FILENAME = "harvest-stand-in.json"
# How often the local poller asks the stand-in: often enough for a demo to see its debrief at once.
LOCAL_POLL_SECONDS = "5"


def start_local_stand_in(data_dir: Path) -> tuple[StandInServer, dict[str, str]]:
    """For `postinterview run` without a Greenhouse API key: the stand-in on a free loopback port,
    holding what it held last time (DATA_DIR/harvest-stand-in.json), with a fresh key; its URL and
    key are written to DATA_DIR/harvest-stand-in.env (mode 0600) for `demo-webhooks`. The server,
    and the variables that point the engine at it (and turn its interview poller on)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    server = StandInServer(HarvestStandIn.kept_in(data_dir / DATA_FILENAME, key))
    variables = {
        "GREENHOUSE_HARVEST_URL": server.url,
        "GREENHOUSE_HARVEST_API_KEY": key,
        "GREENHOUSE_INTERVIEW_POLL_SECONDS": LOCAL_POLL_SECONDS,
        "GREENHOUSE_ACCOUNT": "local-stand-in",
    }
    path = data_dir / ENV_FILENAME
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write("# The local Greenhouse Harvest stand-in of `postinterview run` (not Greenhouse). Rewritten at every run.\n")
        handle.write(f"GREENHOUSE_HARVEST_URL={server.url}\nGREENHOUSE_HARVEST_API_KEY={key}\n")
    return server, variables


def read_local_stand_in(data_dir: Path) -> tuple[str, str] | None:
    """(URL, key) of the stand-in the running `postinterview run` serves, if it serves one."""
    path = data_dir / ENV_FILENAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = dict(line.strip().partition("=")[::2] for line in lines if "=" in line and not line.startswith("#"))
    url, key = values.get("GREENHOUSE_HARVEST_URL"), values.get("GREENHOUSE_HARVEST_API_KEY")
    return (url, key) if url and key else None
