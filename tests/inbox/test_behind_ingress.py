"""The inbox behind a Kubernetes ingress that terminates TLS, without PUBLIC_BASE_URL: the ingress
forwards plain http with the public Host and X-Forwarded-Proto: https. The service believes that
header only from the proxies FORWARDED_ALLOW_IPS names (uvicorn's proxy headers), so the same
form post is the inbox's own when it comes through a trusted ingress, and a cross-scheme post
(refused) when anybody else claims to be one.

Served by uvicorn exactly as `postinterview intake` serves it (service.http.http_app and the
embedded server with the settings' trusted proxies); the ingress here is the test's client on
loopback, so trusting it means trusting 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from inbox.desk import TaskDesk
from service.embedded_http import embedded_server
from service.http import http_app
from service.settings import Settings, SettingsError
from store.access_store import AccessStore
from store.intake_store import IntakeStore
from store.task_store import TaskStore
from tests.harness import eventually, free_port
from tests.inbox.service import form_token, give_task
from tests.intake.test_service import config

PUBLIC = "https://inbox.agency.example"
# What an ingress adds in front of the service.
INGRESS_HEADERS = {"host": "inbox.agency.example", "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7", "origin": PUBLIC}


async def _no_temporal():
    raise RuntimeError("no Temporal in this test")


@asynccontextmanager
async def service_behind_ingress(tmp_path: Path, environ: dict[str, str]) -> AsyncIterator[tuple[str, TaskStore, AccessStore]]:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    settings = Settings.from_env({**environ, "DATABASE_URL": store_url})
    tasks = TaskStore(store_url)
    desk = TaskDesk(tasks, AccessStore(tasks.engine), _no_temporal)
    intake_store = IntakeStore(store_url)
    app, close = http_app(settings, config(), intake_store, desk=desk)
    port = free_port()
    server = embedded_server(app, "127.0.0.1", port, forwarded_allow_ips=settings.http.trusted_proxies())
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the service to listen")
    try:
        yield f"http://127.0.0.1:{port}", tasks, desk.access
    finally:
        server.should_exit = True
        await serving
        close()
        intake_store.close()


async def test_through_a_trusted_ingress_the_forwarded_https_origin_is_the_inboxs_own(tmp_path: Path):
    async with service_behind_ingress(tmp_path, {"FORWARDED_ALLOW_IPS": "127.0.0.1"}) as (url, tasks, access):
        task = give_task(tasks, "rec-1")
        async with httpx.AsyncClient(base_url=url, headers=INGRESS_HEADERS, timeout=30) as http:
            answer = await http.post("/inbox/login", data={"token": access.issue_token("rec-1", "laptop")})
            assert answer.status_code == 303, answer.text
            cookie = answer.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie, cookie
            session = re.search(r"postinterview_session=([^;]+)", cookie).group(1)
            http.headers["cookie"] = f"postinterview_session={session}"
            page = await http.get(f"/inbox?open={task}")  # a task's forms show once it is opened
            assert page.status_code == 200
            snoozed = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1d", "csrf": form_token(page.text)})
            assert snoozed.status_code == 303, snoozed.text
            assert tasks.task_by_id(task).status == "snoozed"
            # The same site over plain http is another origin, ingress or not.
            forged = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": form_token(page.text)}, headers={"origin": "http://inbox.agency.example"})
            assert forged.status_code == 403


async def test_forwarded_headers_from_an_untrusted_address_change_nothing(tmp_path: Path):
    # Only the ingress at 10.0.0.5 is trusted; a client on loopback claiming https is not it.
    async with service_behind_ingress(tmp_path, {"FORWARDED_ALLOW_IPS": "10.0.0.5"}) as (url, tasks, access):
        give_task(tasks, "rec-1")
        async with httpx.AsyncClient(base_url=url, headers=INGRESS_HEADERS, timeout=30) as http:
            answer = await http.post("/inbox/login", data={"token": access.issue_token("rec-1", "laptop")})
            assert answer.status_code == 403, "an https origin on a request that arrived over http"


def test_an_unusable_forwarded_allow_ips_is_named():
    assert Settings.from_env({}).http.trusted_proxies() == "127.0.0.1"
    assert Settings.from_env({"FORWARDED_ALLOW_IPS": " 10.0.0.0/8, 192.168.1.4 "}).http.trusted_proxies() == "10.0.0.0/8,192.168.1.4"
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS: 'ingress' is not an IP address"):
        Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8,ingress"}).http.trusted_proxies()
