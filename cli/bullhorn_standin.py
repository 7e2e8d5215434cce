"""A stand-in of Bullhorn's OAuth server and REST API, on loopback: for the tests and `make demo-bullhorn`.

Real HTTP (http.server, one thread per request). It implements only what the connector relies on,
with the shapes of Bullhorn's documentation (README, "Bullhorn"):

- `GET /rest-services/loginInfo?username=` on the global host: the user's data centre (`oauthUrl`,
  `restUrl`). Calls to the global host's `/oauth/*` and `/rest-services/login` answer 307 to the
  data centre, as Bullhorn does for a client that did not look it up.
- `GET {dc}/oauth/authorize?client_id&response_type=code&redirect_uri&state&action=Login&username&password`
  -> 302 to `redirect_uri?code=...&state=...` (the operator's consent, done programmatically);
  `POST {dc}/oauth/token` with `grant_type=authorization_code` (code once) or `refresh_token` (a
  refresh token works once: each use returns a new one, the old one is then refused).
- `POST {dc}/rest-services/login?version=*&access_token=` -> `{"BhRestToken", "restUrl"}`; a session
  expires (`expire_sessions()`, or after `session_seconds`): 401 `Bad 'BhRestToken' or timed-out.`
- `{restUrl}event/subscription/{id}`: PUT subscribes (`type=entity&names=&eventTypes=`), GET
  `?maxEvents=N` takes the next batch (an empty body when there is none), `?requestId=R` gets
  batch R again, `/lastRequestId` the last batch's id.
- `{restUrl}entity/{Entity}/{id[,id...]}?fields=` (one entity: `data` an object; several: a list; to-one
  associations projected as `assoc(field,...)`), `{restUrl}query/{Entity}?where=a.id=1 AND b.id=2&fields=`,
  `PUT {restUrl}entity/Note` and `entity/Task` (created: `changedEntityId`; a Task also queues its INSERTED event),
  `POST {restUrl}entity/{Entity}/{id}` (an update, which queues its UPDATED event).
- `throttle(n)`: the next n REST calls answer 429 with `Retry-After`.

Not Bullhorn: `change(...)` edits an entity the way a recruiter would in Bullhorn, and queues the
event on every subscription that covers it.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

DATA_CENTRE = "/dc9"
CORPORATION = "corp7"

# Which entity a to-one association points at, for `fields=assoc(...)`.
ASSOCIATIONS = {
    "candidate": "Candidate",
    "candidateReference": "Candidate",
    "jobOrder": "JobOrder",
    "jobSubmission": "JobSubmission",
    "sendingUser": "CorporateUser",
    "owner": "CorporateUser",
    "clientCorporation": "ClientCorporation",
    "clientContact": "ClientContact",
    "clientContactReference": "ClientContact",
    "parentAppointment": "Appointment",
}


@dataclass
class _Subscription:
    names: set[str]
    event_types: set[str]
    queue: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    last_request_id: int = 0


class BullhornStandIn:
    """`with BullhornStandIn() as bullhorn:` serves on 127.0.0.1 (`bullhorn.url`) until the block ends."""

    def __init__(self, client_id: str = "standin-client", client_secret: str = "standin-secret", username: str = "api.user", password: str = "standin-password") -> None:
        self.client_id, self.client_secret, self.username, self.password = client_id, client_secret, username, password
        self.entities: dict[str, dict[str, dict[str, Any]]] = {}
        self.subscriptions: dict[str, _Subscription] = {}
        self.codes: dict[str, str] = {}  # authorization code -> redirect_uri
        self.access_tokens: dict[str, float] = {}  # -> expiry
        self.refresh_tokens: set[str] = set()
        self.sessions: dict[str, float] = {}  # BhRestToken -> expiry
        self.session_seconds = 600.0
        self.notes: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query) of every call, for tests
        self._throttled = 0
        self._event_ids = itertools.count(40004219)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # --- running -----------------------------------------------------------------------------

    def __enter__(self) -> BullhornStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> BullhornStandIn:
        standin = self

        class Handler(_Handler):
            bullhorn = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="bullhorn-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The global host (what `rest.bullhornstaffing.com` and `auth.bullhornstaffing.com` are)."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}{DATA_CENTRE}/rest-services/{CORPORATION}/"

    # --- what a recruiter does in Bullhorn ------------------------------------------------------

    def put(self, entity: str, record: Mapping[str, Any]) -> None:
        """Store a record without an event (the account's data before the subscription)."""
        with self._lock:
            self.entities.setdefault(entity, {})[str(record["id"])] = dict(record)

    def change(self, entity: str, entity_id: int | str, event_type: str = "UPDATED", **values: Any) -> str:
        """Insert, update or delete a record and queue its event; the event's id."""
        with self._lock:
            records = self.entities.setdefault(entity, {})
            record = records.setdefault(str(entity_id), {"id": int(entity_id)})
            record.update(values)
            if event_type == "DELETED" and entity != "Appointment":
                records.pop(str(entity_id), None)  # an Appointment is kept, marked isDeleted
            event = {
                "eventId": f"ID:JBM-{next(self._event_ids)}",
                "eventType": "ENTITY",
                "entityName": entity,
                "eventMetadata": {"PERSON_ID": "1"},
                "updatedProperties": sorted(values) if event_type == "UPDATED" else [],
                "entityEventType": event_type,
                "eventTimestamp": int(time.time() * 1000),
                "entityId": int(entity_id),
            }
            for subscription in self.subscriptions.values():
                if entity in subscription.names and event_type in subscription.event_types:
                    subscription.queue.append(event)
            return event["eventId"]

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def throttle(self, calls: int) -> None:
        with self._lock:
            self._throttled = calls

    def pending_events(self, subscription_id: str) -> int:
        with self._lock:
            return len(self.subscriptions[subscription_id].queue)

    # --- the API ---------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append((method, path, {k: v for k, v in query.items() if k in ('requestId', 'maxEvents', 'grant_type')}))
            if path.startswith("/oauth/") or path == "/rest-services/login":
                # The global host: the client should have asked loginInfo for its data centre.
                return 307, {"Location": f"{self.url}{DATA_CENTRE}{path}?{urlencode(query)}"}, b""
            if path == "/rest-services/loginInfo":
                if query.get("username") != self.username:
                    return _json(400, {"errorMessage": "Unknown username", "errorCode": 400})
                return _json(200, {
                    "atsUrl": f"{self.url}{DATA_CENTRE}/BullhornSTAFFING",
                    "oauthUrl": f"{self.url}{DATA_CENTRE}/oauth",
                    "restUrl": f"{self.url}{DATA_CENTRE}/rest-services/",
                    "dataCenterId": 9,
                    "superClusterId": 2,
                })
            if path == f"{DATA_CENTRE}/oauth/authorize":
                return self._authorize(query)
            if path == f"{DATA_CENTRE}/oauth/token" and method == "POST":
                return self._token({**query, **{k: v[0] for k, v in parse_qs(body.decode()).items()}})
            if path == f"{DATA_CENTRE}/rest-services/login" and method == "POST":
                return self._login(query)
            prefix = f"{DATA_CENTRE}/rest-services/{CORPORATION}/"
            if not path.startswith(prefix):
                return _json(404, {"errorMessage": f"no such resource {path}", "errorCode": 404})
            token = headers.get("BhRestToken") or headers.get("bhresttoken") or query.get("BhRestToken")
            if not token:
                return _json(412, {"errorMessage": "Missing BhRestToken", "errorCode": 412})
            if self.sessions.get(token, 0) < time.time():
                return _json(401, {"errorMessage": "Bad 'BhRestToken' or timed-out.", "errorCode": 401})
            if self._throttled > 0:
                self._throttled -= 1
                return 429, {"Retry-After": "1", "Content-Type": "application/json"}, json.dumps({"errorMessage": "Too many requests", "errorCode": 429}).encode()
            return self._rest(method, path.removeprefix(prefix), query, body)

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return _json(400, {"error": "invalid_request"})
        if query.get("username") != self.username or query.get("password") != self.password:
            return 200, {"Content-Type": "text/html"}, b"<html><body>Bullhorn login (stand-in)</body></html>"
        code = secrets.token_urlsafe(12)
        redirect = query.get("redirect_uri", "")
        self.codes[code] = redirect
        location = f"{redirect}{'&' if '?' in redirect else '?'}{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": location}, b""

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _json(400, {"error": "invalid_client", "error_description": "Invalid client credentials"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            if form.get("code") not in self.codes:
                return _json(400, {"error": "invalid_grant", "error_description": "Invalid, expired, or revoked authorization code."})
            del self.codes[form["code"]]
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _json(400, {"error": "invalid_grant", "error_description": "Invalid, expired, or revoked refresh token."})
            self.refresh_tokens.discard(form["refresh_token"])  # a refresh token works once
        else:
            return _json(400, {"error": "unsupported_grant_type"})
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access_tokens[access] = time.time() + 600
        self.refresh_tokens.add(refresh)
        return _json(200, {"access_token": access, "token_type": "Bearer", "expires_in": 600, "refresh_token": refresh})

    def _login(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.access_tokens.pop(query.get("access_token", ""), 0) < time.time() or not query.get("version"):
            return _json(401, {"errorMessage": "Invalid or expired OAuth access token.", "errorCode": 401})
        token = secrets.token_urlsafe(16)
        self.sessions[token] = time.time() + self.session_seconds
        return _json(200, {"BhRestToken": token, "restUrl": self.rest_url})

    def _rest(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = path.split("/")
        if parts[:2] == ["event", "subscription"] and len(parts) >= 3:
            return self._subscription(method, parts[2], parts[3:], query)
        if parts[0] == "entity" and len(parts) == 2 and method == "PUT" and parts[1] in ("Note", "Task"):
            record = json.loads(body or b"{}")
            if parts[1] == "Note":
                record["id"] = len(self.notes) + 1
                self.notes.append(record)
            else:
                # A Task the engine made: in the recruiter's list, and an INSERTED event like any other.
                record["id"] = len(self.entities.get("Task", {})) + 7001
                self.change("Task", record["id"], "INSERTED", **{k: v for k, v in record.items() if k != "id"})
            return _json(200, {"changedEntityType": parts[1], "changedEntityId": record["id"], "changeType": "INSERT"})
        if parts[0] == "entity" and len(parts) == 3 and method == "POST":
            if parts[2] not in self.entities.get(parts[1], {}):
                return _json(404, {"errorMessage": f"Cannot find entity of type '{parts[1]}' with id '{parts[2]}'", "errorCode": 404})
            self.change(parts[1], parts[2], "UPDATED", **json.loads(body or b"{}"))
            return _json(200, {"changedEntityType": parts[1], "changedEntityId": int(parts[2]), "changeType": "UPDATE"})
        if parts[0] == "entity" and len(parts) == 3 and method == "GET":
            records = self.entities.get(parts[1], {})
            found = [self._project(parts[1], records[i], query.get("fields", "id")) for i in parts[2].split(",") if i in records]
            if not found:
                return _json(404, {"errorMessage": f"Cannot find entity of type '{parts[1]}' with id '{parts[2]}'", "errorCode": 404})
            return _json(200, {"data": found[0] if "," not in parts[2] else found})
        if parts[0] == "query" and len(parts) == 2 and method == "GET":
            conditions = dict(re.findall(r"([\w.]+)\s*=\s*'?([\w-]+)'?", query.get("where", "")))
            matches = [
                self._project(parts[1], record, query.get("fields", "id"))
                for record in self.entities.get(parts[1], {}).values()
                if all(str(_path(record, key)) == value for key, value in conditions.items())
            ]
            return _json(200, {"start": 0, "count": len(matches), "data": matches})
        return _json(404, {"errorMessage": f"no such resource {path}", "errorCode": 404})

    def _subscription(self, method: str, subscription_id: str, rest: list[str], query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if method == "PUT":
            names = set(query.get("names", "").split(","))
            types = set(query.get("eventTypes", "").split(","))
            subscription = self.subscriptions.setdefault(subscription_id, _Subscription(names, types))
            return _json(200, {
                "lastRequestId": subscription.last_request_id,
                "subscriptionId": subscription_id,
                "createdOn": int(time.time() * 1000),
                "jmsSelector": f"JMSType='ENTITY' AND BhCorpId=7 AND BhEntityName IN ({','.join(sorted(names))})",
            })
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return _json(404, {"errorMessage": f"subscription {subscription_id} not found", "errorCode": 404})
        if rest == ["lastRequestId"]:
            return _json(200, {"result": subscription.last_request_id})
        if "requestId" in query:
            batch = subscription.batches.get(int(query["requestId"]))
            if batch is None:
                return 200, {}, b""
            return _json(200, {"requestId": int(query["requestId"]), "events": batch})
        count = int(query.get("maxEvents", "0"))
        if count < 1:
            return _json(400, {"errorMessage": "maxEvents is required", "errorCode": 400})
        if not subscription.queue:
            return 200, {}, b""  # nothing new: Bullhorn answers with an empty body
        batch, subscription.queue = subscription.queue[:count], subscription.queue[count:]
        subscription.last_request_id += 1
        subscription.batches[subscription.last_request_id] = batch
        return _json(200, {"requestId": subscription.last_request_id, "events": batch})

    def _project(self, entity: str, record: Mapping[str, Any], fields: str) -> dict[str, Any]:
        projected: dict[str, Any] = {}
        for name, sub in _fields(fields):
            value = record.get(name)
            if sub is not None and isinstance(value, Mapping) and name in ASSOCIATIONS:
                target = self.entities.get(ASSOCIATIONS[name], {}).get(str(value.get("id")), value)
                value = self._project(ASSOCIATIONS[name], target, sub)
            elif isinstance(value, Mapping):
                value = {"id": value.get("id")}
            projected[name] = value
        return projected


def _fields(text: str) -> list[tuple[str, str | None]]:
    """`id,candidate(id,firstName),status` -> [(id, None), (candidate, "id,firstName"), (status, None)]."""
    found, depth, start = [], 0, 0
    for index, char in enumerate(text + ","):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            item = text[start:index].strip()
            if item:
                name, _, sub = item.partition("(")
                found.append((name, sub[:-1] if sub else None))
            start = index + 1
    return found


def _path(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    bullhorn: BullhornStandIn
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, payload = self.bullhorn.answer(self.command, url.path, query, body, self.headers)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the tests and the demo print what matters."""


def seed_agency(bullhorn: BullhornStandIn, submissions: tuple[int, int] = (5501, 5502), candidates: tuple[int, int] = (301, 302)) -> None:
    """An agency's Bullhorn before anything happens: two recruiters, a client with a hiring
    manager, a job order, and two candidates submitted to it (by default JobSubmissions 5501 and 5502)."""
    bullhorn.put("CorporateUser", {"id": 12, "firstName": "Rita", "lastName": "Reyes", "email": "rita.reyes@agency.example"})
    bullhorn.put("CorporateUser", {"id": 13, "firstName": "Omar", "lastName": "Lee", "email": "omar.lee@agency.example"})
    bullhorn.put("ClientCorporation", {"id": 900, "name": "Northwind Bank"})
    bullhorn.put("ClientContact", {"id": 40, "firstName": "Dana", "lastName": "Fox", "email": "dana.fox@northwind.example"})
    bullhorn.put("JobOrder", {"id": 77, "title": "Compliance Analyst", "clientCorporation": {"id": 900}, "clientContact": {"id": 40}, "owner": {"id": 13}})
    bullhorn.put("Candidate", {"id": candidates[0], "firstName": "Kwame", "lastName": "Mensah", "email": "kwame.mensah@example.com", "phone": "+44 20 7946 0101"})
    bullhorn.put("Candidate", {"id": candidates[1], "firstName": "Ana", "lastName": "Lima", "email": "ana.lima@example.com", "mobile": "+44 7700 900302"})
    for submission, candidate in zip(submissions, candidates):
        bullhorn.put(
            "JobSubmission",
            {"id": submission, "status": "Submitted", "isDeleted": False, "candidate": {"id": candidate}, "jobOrder": {"id": 77}, "sendingUser": {"id": 12}},
        )


def consent(bullhorn: BullhornStandIn, authorize_url: str) -> str:
    """What the operator does in the browser: sign in as the API user and agree; the address
    Bullhorn then sends the browser to (carrying the code)."""
    import httpx

    login = urlencode({"action": "Login", "username": bullhorn.username, "password": bullhorn.password})
    response = httpx.get(f"{authorize_url}&{login}", follow_redirects=False)
    if response.status_code != 302:
        raise RuntimeError(f"the stand-in's authorisation answered {response.status_code}")
    return response.headers["Location"]
