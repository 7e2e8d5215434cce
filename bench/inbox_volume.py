"""The recruiter inbox and the task API at an agency's volume: how fast the first page is.

    python bench/inbox_volume.py                 # 5,000 open tasks for one recruiter, SQLite
    python bench/inbox_volume.py --tasks 20000 --repeat 20

One run seeds a fresh SQLite store with `--tasks` open tasks for one recruiter (kinds, clients and
due times in turn, one in seven overdue: tests/inbox/service.py `many_tasks`), serves the real HTTP
service (`service.http.http_app`: the intake's app with the task API and the inbox) on loopback in
a subprocess of its own, then measures, each `--repeat` times (median and worst):

  (a) GET /api/tasks, the first page (50) and a page deep in the list (by its cursor), and a
      filtered one (a client, overdue only): server answer time as the client sees it;
  (b) GET /inbox, the first page: answer time and size of the HTML;
  (c) in headless Chromium (Debian's /usr/bin/chromium through Playwright, if present): from
      navigation to the first page's `load` event, and from clicking a task to its forms shown
      (the page with the task opened, loaded). Target: the first page usable in under 2 s.

It prints the figures and PASS/MISS against the target; exit 0 either way (2 if it could not run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from store.access_store import AccessStore  # noqa: E402
from store.task_store import TaskStore  # noqa: E402
from tests.inbox.service import CLIENTS, many_tasks  # noqa: E402

TARGET_SECONDS = 2.0
RECRUITER = "rec-bench"

SERVE = """
import sys
from service.embedded_http import embedded_server
from service.http import http_app
from service.settings import Settings
from store.intake_store import IntakeStore
from inbox.desk import TaskDesk
from store.access_store import AccessStore
from store.task_store import TaskStore
from tests.intake.test_service import config

async def no_temporal():
    raise RuntimeError("the bench runs without Temporal")

url, port = sys.argv[1], int(sys.argv[2])
tasks = TaskStore(url)
desk = TaskDesk(tasks, AccessStore(tasks.engine), no_temporal)
app, close = http_app(Settings(database_url=url), config(), IntakeStore(url), desk=desk)
import asyncio
asyncio.run(embedded_server(app, "127.0.0.1", port).serve())
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summary(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms, worst {max(samples) * 1000:7.1f} ms"


async def timed(http: httpx.AsyncClient, url: str, repeat: int, **kwargs: object) -> tuple[list[float], httpx.Response]:
    samples = []
    answer = None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await http.get(url, **kwargs)  # type: ignore[arg-type]
        samples.append(time.perf_counter() - started)
        answer.raise_for_status()
    assert answer is not None
    return samples, answer


async def browser_figures(base: str, token: str, repeat: int) -> dict[str, list[float]] | str:
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return "playwright is not installed"
    if not Path(chromium).exists():
        return f"no Chromium at {chromium}"
    figures: dict[str, list[float]] = {"first page load": [], "open a task": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{base}/inbox/login")
            await page.get_by_label("Your token").fill(token)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_selector("article")
            for _ in range(repeat):
                started = time.perf_counter()
                await page.goto(f"{base}/inbox", wait_until="load")
                figures["first page load"].append(time.perf_counter() - started)
                assert await page.locator("article").count() == 50
                started = time.perf_counter()
                await page.locator("article h2 a").nth(5).click()
                await page.wait_for_load_state("load")
                await page.locator("article.opened form").first.wait_for()
                figures["open a task"].append(time.perf_counter() - started)
        finally:
            await browser.close()
    return figures


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="inbox-volume-"))
    url = f"sqlite:///{workdir / 'store.sqlite3'}"
    store = TaskStore(url)
    started = time.perf_counter()
    many_tasks(store, RECRUITER, args.tasks, lead="lead-bench")
    seeded = time.perf_counter() - started
    token = AccessStore(store.engine).issue_token(RECRUITER, "bench")
    store.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-c", SERVE, url, str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60, headers={"origin": base}) as http:
            for _ in range(200):
                try:
                    await http.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                print("the HTTP service did not start", file=sys.stderr)
                return 2
            bearer = {"Authorization": f"Bearer {token}"}
            print(f"{args.tasks} open tasks for one recruiter (seeded in {seeded:.1f} s), SQLite, {args.repeat} requests each\n")
            first, answer = await timed(http, "/api/tasks", args.repeat, headers=bearer)
            body = answer.json()
            # A page deep in the list: follow the cursor 20 pages on.
            cursor = body["next_cursor"]
            for _ in range(19):
                cursor = (await http.get("/api/tasks", params={"cursor": cursor}, headers=bearer)).json()["next_cursor"]
            deep, _ = await timed(http, "/api/tasks", args.repeat, params={"cursor": cursor}, headers=bearer)
            filtered, filtered_answer = await timed(http, "/api/tasks", args.repeat, params={"client": CLIENTS[0], "overdue": "true"}, headers=bearer)
            print(f"(a) GET /api/tasks first page (50 of {body['total']}, {len(answer.content) / 1024:.0f} KiB): {summary(first)}")
            print(f"    page 21 by its cursor:                         {summary(deep)}")
            print(f"    a client's overdue ({filtered_answer.json()['total']}):                       {summary(filtered)}")
            token_page = await http.post("/inbox/login", data={"token": token})
            assert token_page.status_code == 303
            inbox, page = await timed(http, "/inbox", args.repeat)
            print(f"(b) GET /inbox first page ({len(page.content) / 1024:.0f} KiB HTML, {page.text.count('<form')} forms): {summary(inbox)}")
        figures = await browser_figures(base, token, args.repeat)
        if isinstance(figures, str):
            print(f"(c) Chromium: skipped ({figures})")
        else:
            load, opening = figures["first page load"], figures["open a task"]
            verdict = "PASS" if statistics.median(load) < TARGET_SECONDS and max(load) < TARGET_SECONDS else "MISS"
            print(f"(c) Chromium, first page loaded:  {summary(load)}   target < {TARGET_SECONDS:.0f} s: {verdict}")
            print(f"    a task opened (its forms shown): {summary(opening)}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="open tasks for the one recruiter (default 5000)")
    parser.add_argument("--repeat", type=int, default=10, help="requests (and page loads) per figure")
    parser.add_argument("--keep", action="store_true", help="keep the store's directory")
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(run(args)))
    except KeyboardInterrupt:
        sys.exit(2)


if __name__ == "__main__":
    main()
