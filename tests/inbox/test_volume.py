"""The task API and the inbox at an agency's volume: thousands of open tasks for one person, read
a page at a time (keyset cursors), counted, filtered and sorted by the store, on SQLite and
PostgreSQL. How fast a page is, is measured in bench/inbox_volume.py, not asserted here;
tests/inbox/test_browser.py opens the first of 5,000 in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.inbox.service import CLIENTS, KINDS, form_token, give_task, inbox_service, many_tasks, sign_in, task_ids

COUNT = 1234
OVERDUE_EVERY = 7


async def _all_pages(http: httpx.AsyncClient, headers: dict[str, str], **params: object) -> tuple[list[dict], list[dict]]:
    """Every task, following next_cursor, and the pages' envelopes."""
    seen: list[dict] = []
    pages: list[dict] = []
    cursor = None
    for _ in range(100):  # bounded: 1234 tasks at 500 a page is 3 pages
        answer = await http.get("/api/tasks", params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages.append(page)
        seen.extend(page["tasks"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
    raise AssertionError("the cursors never ended")


async def test_the_task_api_pages_through_thousands_by_cursor_with_the_count(database_url: str):
    async with inbox_service(database_url) as service, httpx.AsyncClient(base_url=service.url, timeout=60) as http:
        ids = many_tasks(service.tasks, "rec-1", COUNT, lead="lead-1", overdue_every=OVERDUE_EVERY)
        many_tasks(service.tasks, "rec-2", 30, lead="lead-9")  # another team's: never on rec-1's pages
        rita = {"Authorization": f"Bearer {service.access.issue_token('rec-1', 'test')}"}

        first = (await http.get("/api/tasks", headers=rita)).json()
        overdue = len(range(0, COUNT, OVERDUE_EVERY))
        assert (len(first["tasks"]), first["total"], first["overdue"], first["limit"]) == (50, COUNT, overdue, 50)
        assert first["previous_cursor"] is None and first["next_cursor"]
        # The overdue ones first (due a day ago), then by due time; ties broken by id.
        assert [t["overdue"] for t in first["tasks"][:overdue]] == [True] * min(overdue, 50)

        everything, pages = await _all_pages(http, rita, limit=500)
        assert [len(p["tasks"]) for p in pages] == [500, 500, COUNT - 1000]
        assert sorted(t["id"] for t in everything) == sorted(ids)  # each once, none of rec-2's
        due = [(t["due_at"], t["id"]) for t in everything]
        assert due == sorted(due)
        # Back from the third page to the second: the same tasks as going forwards.
        back = (await http.get("/api/tasks", params={"limit": 500, "cursor": pages[2]["previous_cursor"]}, headers=rita)).json()
        assert [t["id"] for t in back["tasks"]] == [t["id"] for t in pages[1]["tasks"]]
        assert back["next_cursor"] and back["previous_cursor"]

        # Latest due first: the same tasks, the other way round.
        latest, _ = await _all_pages(http, rita, limit=500, sort="-due")
        assert [t["id"] for t in latest] == [t["id"] for t in reversed(everything)]

        # Filters, each counted by the store: a kind, a client, overdue, a due window; combined.
        kind, client = KINDS[1].value, CLIENTS[2]
        by_kind, pages = await _all_pages(http, rita, kind=kind, limit=200)
        assert {t["kind"] for t in by_kind} == {kind} and len(by_kind) == pages[0]["total"] == len(range(1, COUNT, len(KINDS)))
        by_client, pages = await _all_pages(http, rita, client=client, limit=200)
        assert {t["client"] for t in by_client} == {client} and len(by_client) == pages[0]["total"]
        late, pages = await _all_pages(http, rita, overdue="true", limit=500)
        assert len(late) == pages[0]["total"] == pages[0]["overdue"] == overdue
        both, pages = await _all_pages(http, rita, kind=kind, client=client, limit=500)
        assert len(both) == pages[0]["total"] == len([i for i in range(COUNT) if KINDS[i % len(KINDS)].value == kind and CLIENTS[i % len(CLIENTS)] == client])
        several, _ = await _all_pages(http, rita, kind=[KINDS[0].value, KINDS[1].value], limit=500)
        assert {t["kind"] for t in several} == {KINDS[0].value, KINDS[1].value}
        window = {"due_after": datetime.now(UTC).isoformat(), "due_before": everything[-1]["due_at"]}
        upcoming, pages = await _all_pages(http, rita, limit=500, **window)
        assert len(upcoming) == pages[0]["total"] == COUNT - overdue - 1

        # A lead reads the team's; an operator everybody's, narrowed to one assignee.
        lead = {"Authorization": f"Bearer {service.access.issue_token('lead-1', 'test')}"}
        assert (await http.get("/api/tasks", headers=lead)).json()["total"] == COUNT
        service.access.save_user(service.access.user("lead-1").model_copy(update={"id": "ops-1", "role": "operator"}))
        ops = {"Authorization": f"Bearer {service.access.issue_token('ops-1', 'test')}"}
        assert (await http.get("/api/tasks", headers=ops)).json()["total"] == COUNT + 30
        assert (await http.get("/api/tasks", params={"assignee": "rec-2"}, headers=ops)).json()["total"] == 30

        # Cursors are the store's own, for one order: anything else is a clear 400, never a page.
        for cursor, sort in (("not-a-cursor", "due"), (first["next_cursor"], "-due"), ("WyJkdWUiLCI5OTk5LTEyLTMxIiwxLDBd", "due")):
            refused = await http.get("/api/tasks", params={"cursor": cursor, "sort": sort}, headers=rita)
            assert refused.status_code == 400 and "cursor" in refused.json()["message"], refused.text
        for params in ({"limit": 0}, {"limit": 501}, {"sort": "title"}, {"kind": "nap"}):
            assert (await http.get("/api/tasks", params=params, headers=rita)).status_code == 422, params


async def test_the_inbox_shows_a_page_of_thousands_and_opens_one_task_with_its_forms(database_url: str):
    async with inbox_service(database_url) as service, service.client() as http:
        many_tasks(service.tasks, "rec-1", COUNT, lead="lead-1", overdue_every=OVERDUE_EVERY)
        await sign_in(http, service.access, "rec-1")

        first = await http.get("/inbox")
        page = first.text
        overdue = len(range(0, COUNT, OVERDUE_EVERY))
        assert len(task_ids(page)) == 50 and f"{COUNT} to do" in page and f"{overdue} overdue" in page
        assert "<form" not in "".join(re.findall(r"<article.*?</article>", page, re.S))  # no forms until one is opened
        # A page of 50 cards is small whatever the total (it was 10 MB for 3,000).
        assert len(first.content) < 100_000, len(first.content)

        # Page two, from the Next link; it links back.
        next_href = _href(page, "next")
        second = (await http.get(next_href)).text
        assert len(task_ids(second)) == 50 and not set(task_ids(second)) & set(task_ids(page))
        assert _href(second, "prev") and "First page" in second
        assert task_ids((await http.get(_href(second, "prev"))).text) == task_ids(page)

        # A task on page two opened: its forms, in place; acting on it comes back to page two.
        chosen = task_ids(second)[3]
        opened_url = re.search(rf'href="([^"]*open={chosen}[^"]*)#task-{chosen}"', second).group(1).replace("&amp;", "&")
        opened = (await http.get(opened_url)).text
        assert task_ids(opened) == task_ids(second)
        assert 'name="for" value="1d"' in _article(opened, chosen)
        back = re.search(r'name="back" value="([^"]*)"', _article(opened, chosen)).group(1).replace("&amp;", "&")
        snoozed = await http.post(f"/inbox/tasks/{chosen}/snooze", data={"for": "1d", "csrf": form_token(opened), "back": back})
        assert snoozed.status_code == 303
        location = urlsplit(snoozed.headers["location"])
        assert location.path == "/inbox" and parse_qs(location.query)["cursor"] == parse_qs(urlsplit(next_href).query)["cursor"]
        assert "open" not in parse_qs(location.query)
        # A "back" that tries to lead elsewhere is rebuilt from what it says: only the inbox.
        other = task_ids(second)[4]
        elsewhere = await http.post(f"/inbox/tasks/{other}/snooze", data={"for": "1d", "csrf": form_token(opened), "back": "https://evil.example/?x=1"})
        assert elsewhere.headers["location"] == "/inbox"

        # Filters: a client and overdue only, with the count of what they select.
        client = CLIENTS[1]
        filtered = (await http.get("/inbox", params={"client": client, "overdue": "1"})).text
        expected = len([i for i in range(0, COUNT, OVERDUE_EVERY) if CLIENTS[i % len(CLIENTS)] == client])
        assert f"{expected} to do" in filtered and len(task_ids(filtered)) == min(expected, 50)
        assert all(f">{client}<" in _article(filtered, task) for task in task_ids(filtered))
        assert f'<option value="{client}" selected>' in filtered
        # Sorted by the latest due first, 25 a page.
        latest = (await http.get("/inbox", params={"sort": "-due", "limit": "25"})).text
        assert len(task_ids(latest)) == 25 and task_ids(latest)[0] == max(task_ids(page) + task_ids(latest))
        # A task outside the page (a link to it) opens above the list.
        last = task_ids(latest)[0]
        assert task_ids((await http.get("/inbox", params={"open": last})).text)[0] == last
        # A mangled cursor: a page that says so, not an error.
        mangled = await http.get("/inbox", params={"cursor": "nonsense"})
        assert mangled.status_code == 400 and "first page" in mangled.text


async def test_a_refused_debrief_on_page_two_comes_back_opened_on_page_two(tmp_path):
    """Without Temporal the desk cannot hand the debrief over: 503, the page again with the task
    opened where it was, the reason beside the form and what was typed kept."""
    async with inbox_service(f"sqlite:///{tmp_path / 'store.sqlite3'}") as service, service.client() as http:
        many_tasks(service.tasks, "rec-1", 80, overdue_every=0)
        debrief = give_task(service.tasks, "rec-1", kind=KINDS[0], due_in=timedelta(hours=10), title="Book the late debrief", application_id="late-1")
        await sign_in(http, service.access, "rec-1")
        second = (await http.get(_href((await http.get("/inbox")).text, "next"))).text
        assert debrief in task_ids(second)
        cursor = parse_qs(urlsplit(_href((await http.get("/inbox")).text, "next")).query)["cursor"][0]
        opened = (await http.get("/inbox", params={"cursor": cursor, "open": debrief})).text
        form = {"summary": "Met the hiring manager; keen on the team.", "interest": "4", "csrf": form_token(opened), "back": f"cursor={cursor}"}
        answer = await http.post(f"/inbox/tasks/{debrief}/complete", data=form)
        assert answer.status_code == 503
        assert task_ids(answer.text) == task_ids(second)
        card = _article(answer.text, debrief)
        assert 'role="alert"' in card and "Met the hiring manager; keen on the team." in card and 'name="back" value="cursor=' in card


def _href(page: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    assert found, f"no {rel} link"
    return found.group(1).replace("&amp;", "&")


def _article(page: str, task_id: int) -> str:
    found = re.search(rf'<article[^>]*data-task-id="{task_id}".*?</article>', page, re.S)
    assert found, f"task {task_id} is not on the page"
    return found.group(0)
