"""The inbox pages over real HTTP (no browser): who sees what, sign-in and sign-out, and posts
that did not come from the inbox. tests/inbox/test_browser.py drives the same pages in Chromium
against a running process."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from domain.follow_through import TaskKind
from service.settings import Settings
from store.access_store import User
from tests.harness import running_engine
from tests.inbox.service import form_token, give_task, inbox_service, sign_in, task_ids


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'inbox.sqlite3'}"


async def test_signed_out_visits_go_to_the_sign_in_page(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        answer = await http.get("/inbox")
        assert answer.status_code == 303 and answer.headers["location"] == "/inbox/login"
        assert (await http.get("/")).headers["location"] == "/inbox"
        login = await http.get("/inbox/login")
        assert login.status_code == 200 and 'name="token"' in login.text
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
        # A post from a signed-out browser (the cookie expired) goes to the sign-in page too.
        posted = await http.post("/inbox/tasks/1/snooze", data={"for": "1d", "csrf": "x"})
        assert posted.status_code == 303 and posted.headers["location"] == "/inbox/login"


async def test_a_wrong_token_is_refused_with_a_way_forward(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        answer = await http.post("/inbox/login", data={"token": "pie_not-a-real-token"})
        assert answer.status_code == 401
        assert "not valid" in answer.text and "postinterview users token" in answer.text
        assert "postinterview_session" not in answer.headers.get("set-cookie", "")


async def test_signing_in_sets_a_session_of_its_own_and_signing_out_ends_it(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        give_task(service.tasks, "rec-1")
        token = service.access.issue_token("rec-1", "laptop")
        answer = await http.post("/inbox/login", data={"token": token})
        cookie = answer.headers["set-cookie"]
        assert answer.status_code == 303 and answer.headers["location"] == "/inbox"
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http on loopback; Secure when served over https
        session = http.cookies["postinterview_session"]
        assert session != token  # the pasted token is never kept in the browser
        assert (await http.get("/api/me")).json()["id"] == "rec-1"  # the task API takes the session too

        signed_out = await http.get("/inbox/logout")
        assert signed_out.status_code == 303 and signed_out.headers["location"] == "/inbox/login"
        assert service.access.user_for_token(session) is None  # revoked on the server, not just forgotten
        assert service.access.user_for_token(token) is not None  # the token it was exchanged for still works
        assert (await http.get("/inbox")).headers["location"] == "/inbox/login"


async def test_a_sign_in_code_works_once(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        give_task(service.tasks, "rec-1")
        code = service.access.issue_sign_in_code("rec-1")
        assert service.access.user_for_token(code) is None  # a code is never an API token
        assert (await http.post("/inbox/login", data={"token": code})).status_code == 303
        assert (await http.get("/inbox")).status_code == 200
        first_session = http.cookies["postinterview_session"]
        # Signed in, a link for somebody else still works: it switches the session.
        give_task(service.tasks, "rec-2")
        assert "You are signed in as" in (await http.get("/inbox/login")).text
        assert (await http.post("/inbox/login", data={"token": service.access.issue_sign_in_code("rec-2")})).status_code == 303
        assert (await http.get("/api/me")).json()["id"] == "rec-2"
        assert service.access.user_for_token(first_session) is None
        http.cookies.clear()
        again = await http.post("/inbox/login", data={"token": code})
        assert again.status_code == 401 and "used or has expired" in again.text


async def test_a_code_from_a_link_says_whose_account_it_opens_and_signs_in_only_on_the_click(tmp_path: Path):
    """Anybody can print a sign-in link for their own account and send it to somebody else. The
    page's script posts a link's code marked `from_link`: that shows whose account it is and
    signs nobody in, uses nothing up; the button on that page signs in."""
    async with inbox_service(_store(tmp_path)) as service, service.client() as victim:
        give_task(service.tasks, "rec-1", title="Task for the victim")
        give_task(service.tasks, "mallory", title="Task for mallory")
        await sign_in(victim, service.access, "rec-1")
        session = victim.cookies["postinterview_session"]
        code = service.access.issue_sign_in_code("mallory")

        shown = await victim.post("/inbox/login", data={"token": code, "from_link": "1"})
        assert shown.status_code == 200
        assert "This sign-in link is for <strong>Name of mallory</strong> (mallory, recruiter)" in shown.text
        assert "You are signed in as Name of rec-1 (rec-1)" in shown.text
        assert "Sign in as Name of mallory</button>" in shown.text
        assert "set-cookie" not in shown.headers  # no session, none switched
        assert (await victim.get("/api/me")).json()["id"] == "rec-1"
        assert service.access.user_for_token(session) is not None
        assert "Task for mallory" not in (await victim.get("/inbox")).text
        # Shown, not used: the link still works for its owner, with their click.
        confirm = re.search(r'<form id="confirm-sign-in".*?</form>', shown.text, re.S).group(0)
        assert re.search(r'name="token" value="([^"]+)"', confirm).group(1) == code and "from_link" not in confirm
        async with service.client() as owner:
            assert (await owner.post("/inbox/login", data={"token": code, "from_link": "1"})).status_code == 200
            signed_in = await owner.post("/inbox/login", data={"token": code})
            assert signed_in.status_code == 303 and signed_in.headers["location"] == "/inbox"
            assert "Task for mallory" in (await owner.get("/inbox")).text
        # A used, unknown or empty code from a link: refused as before, nobody signed in or out.
        for token in (code, "pis_never-issued", "pie_not-a-token", ""):
            refused = await victim.post("/inbox/login", data={"token": token, "from_link": "1"})
            assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert (await victim.get("/api/me")).json()["id"] == "rec-1"
        # An API token in a link's place is shown, not signed in with, either.
        token = service.access.issue_token("mallory", "laptop")
        assert "This sign-in link is for" in (await victim.post("/inbox/login", data={"token": token, "from_link": "1"})).text
        assert (await victim.get("/api/me")).json()["id"] == "rec-1"


async def test_a_recruiter_sees_their_own_tasks_by_due_time_with_the_overdue_marked(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        later = give_task(service.tasks, "rec-1", "lead-1", due_in=timedelta(days=2), title="Brief the candidate later")
        overdue = give_task(service.tasks, "rec-1", "lead-1", due_in=-timedelta(hours=3), title="Send the feedback, late")
        soon = give_task(service.tasks, "rec-1", "lead-1", kind=TaskKind.BOOK_DEBRIEF, due_in=timedelta(hours=1), title="Book the debrief")
        others = give_task(service.tasks, "rec-2", "lead-1", title="Rec two's task")
        await sign_in(http, service.access, "rec-1")

        page = (await http.get("/inbox")).text
        assert task_ids(page) == [overdue, soon, later]
        assert others not in task_ids(page) and "Rec two" not in page
        assert "Your tasks" in page and "1 overdue" in page
        overdue_card = _card(page, overdue)
        assert 'class="task overdue"' in overdue_card and "Overdue" in overdue_card and "3 h" in overdue_card
        assert "Overdue" not in _card(page, later)
        # Title, the why, the due time, the application, and what can be done.
        assert "Book the debrief" in _card(page, soon) and "Why Book the debrief matters." in _card(page, soon)
        assert "app-1" in _card(page, soon) and "UTC (in " in _card(page, soon)
        # What can be done is on a task once it is opened: the list itself carries no forms.
        assert "<form" not in "".join(_card(page, task) for task in (overdue, soon, later))
        assert 'name="summary"' in _card(await _opened(http, soon), soon) and 'name="interest"' in _card(await _opened(http, soon), soon)
        assert 'value="done"' in _card(await _opened(http, overdue), overdue) and 'name="summary"' not in _card(await _opened(http, overdue), overdue)
        opened = await _opened(http, later)
        assert 'name="for" value="1d"' in _card(opened, later) and 'name="for" value="1w"' in _card(opened, later)
        assert task_ids(opened) == [overdue, soon, later]  # opened in place, the list around it
        assert [task for task in task_ids(opened) if 'name="csrf"' in _card(opened, task)] == [later]
        # Somebody else's task, by its id, is refused: 403, with a page that says why.
        refused = await http.post(f"/inbox/tasks/{others}/snooze", data={"for": "1d", "csrf": form_token(opened)})
        assert refused.status_code == 403 and "Not one of your tasks" in refused.text
        # ... and so is opening it.
        refused = await http.get("/inbox", params={"open": others})
        assert refused.status_code == 403 and "Not one of your tasks" in refused.text
        # Their own filter cannot reach somebody else's tasks either.
        assert (await http.get("/inbox", params={"assignee": "rec-2"})).status_code == 403


async def test_a_lead_sees_the_team_and_an_operator_everybody_with_a_filter(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as lead, service.client() as operator:
        service.access.save_user(User(id="lead-1", name="Leo Lead", role="lead"))
        service.access.save_user(User(id="ops-1", role="operator"))
        mine = give_task(service.tasks, "rec-1", "lead-1", title="Rita's task")
        team = give_task(service.tasks, "rec-2", "lead-1", title="Rob's task")
        elsewhere = give_task(service.tasks, "rec-3", "lead-2", title="Other team's task")

        await sign_in(lead, service.access, "lead-1")
        page = (await lead.get("/inbox")).text
        assert "Your team's tasks" in page
        assert sorted(task_ids(page)) == sorted([mine, team])
        assert "Name of rec-2 (rec-2)" in _card(page, team)  # the assignee is shown
        assert task_ids((await lead.get("/inbox", params={"assignee": "rec-2"})).text) == [team]
        assert (await lead.get("/inbox", params={"assignee": "rec-3"})).status_code == 403
        # A lead gives a task to somebody in the team.
        moved = await lead.post(f"/inbox/tasks/{mine}/reassign", data={"assignee_id": "rec-2", "csrf": form_token(await _opened(lead, mine))})
        assert moved.status_code == 303
        assert service.tasks.task_by_id(mine).assignee_id == "rec-2"
        assert "Given to rec-2" in (await lead.get("/inbox")).text

        await sign_in(operator, service.access, "ops-1")
        page = (await operator.get("/inbox")).text
        assert "Everybody&#39;s tasks" in page or "Everybody's tasks" in page
        assert sorted(task_ids(page)) == sorted([mine, team, elsewhere])
        assert task_ids((await operator.get("/inbox", params={"assignee": "rec-3"})).text) == [elsewhere]


async def test_the_reassign_list_offers_only_whom_one_may_give_a_task_to(tmp_path: Path):
    """A recruiter may give a task to their own team only (their lead and the lead's recruiters),
    a lead to their team, an operator to anybody: the list shows exactly those, never the whole
    user directory (names and ids of everybody at the agency)."""
    async with inbox_service(_store(tmp_path)) as service:
        service.access.save_user(User(id="lead-1", name="Leo Lead", role="lead"))
        service.access.save_user(User(id="ops-1", name="Olga Ops", role="operator"))
        mine = give_task(service.tasks, "rec-1", "lead-1", title="Rita's task")
        give_task(service.tasks, "rec-2", "lead-1", title="Rob's task")
        give_task(service.tasks, "rec-3", "lead-2", title="Other team's task")
        give_task(service.tasks, "rec-4", title="A recruiter without a lead")

        async def offered(user_id: str) -> dict[int, set[str]]:
            async with service.client() as http:
                await sign_in(http, service.access, user_id)
                page = (await http.get("/inbox")).text
                return {task: _reassign_choices(_card(await _opened(http, task), task)) for task in task_ids(page)}

        # rec-1's team: their lead and the lead's other recruiter; not rec-3, rec-4, lead-2 or ops-1.
        assert (await offered("rec-1"))[mine] == {"lead-1", "rec-2"}
        assert (await offered("lead-1"))[mine] == {"lead-1", "rec-2"}
        assert (await offered("ops-1"))[mine] == {"lead-1", "lead-2", "ops-1", "rec-2", "rec-3", "rec-4"}
        # Alone in their team: nobody to give it to, so no reassign form at all.
        assert not any((await offered("rec-4")).values())

        # What the list leaves out, the server refuses too (the one rule).
        async with service.client() as http:
            await sign_in(http, service.access, "rec-1")
            page = await _opened(http, mine)
            refused = await http.post(f"/inbox/tasks/{mine}/reassign", data={"assignee_id": "rec-3", "csrf": form_token(page)})
            assert refused.status_code == 403 and service.tasks.task_by_id(mine).assignee_id == "rec-1"
            moved = await http.post(f"/inbox/tasks/{mine}/reassign", data={"assignee_id": "rec-2", "csrf": form_token(page)})
            assert moved.status_code == 303 and service.tasks.task_by_id(mine).assignee_id == "rec-2"


def _reassign_choices(card: str) -> set[str]:
    form = re.search(r'<select[^>]*name="assignee_id".*?</select>', card, re.S)
    return set(re.findall(r'<option value="([^"]+)"', form.group(0))) if form else set()


async def test_posts_from_elsewhere_are_refused_and_change_nothing(tmp_path: Path):
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        task = give_task(service.tasks, "rec-1")
        await sign_in(http, service.access, "rec-1")
        token = form_token(await _opened(http, task))

        # Another site's page posting with the victim's cookie: wrong Origin.
        forged = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": token}, headers={"origin": "https://evil.example"})
        assert forged.status_code == 403 and "did not come from the inbox" in forged.text
        # No Origin, and a Referer from elsewhere (or none at all).
        http.headers.pop("origin")
        elsewhere = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": token}, headers={"referer": "https://evil.example/x"})
        assert elsewhere.status_code == 403
        assert (await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": token})).status_code == 403
        # The right origin without the session's form token.
        http.headers["origin"] = service.url
        assert (await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": "0" * 64})).status_code == 403
        # Signing in from another site's form is refused too (no login CSRF).
        assert (await http.post("/inbox/login", data={"token": "x"}, headers={"origin": "https://evil.example"})).status_code == 403
        assert service.tasks.task_by_id(task).status == "open"
        assert [e.action for e in service.tasks.history(service.tasks.task_by_id(task).key)] == ["created"]

        # The same post from the inbox itself: snoozed, and a flash message says so once.
        snoozed = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": token})
        assert snoozed.status_code == 303 and snoozed.headers["location"] == "/inbox"
        stored = service.tasks.task_by_id(task)
        assert stored.status == "snoozed" and stored.snoozed_until > datetime.now(UTC) + timedelta(days=6)
        page = (await http.get("/inbox")).text
        assert "Snoozed for 1 week" in page and "Snoozed until" in _card(page, task)
        assert "Snoozed for 1 week" not in (await http.get("/inbox")).text


async def test_behind_a_tls_proxy_the_public_url_is_the_inbox_origin_and_cookies_are_secure(tmp_path: Path):
    """A proxy terminates TLS for https://public.example and forwards plain http to the service,
    with the inside Host, and X-Forwarded-Proto or not (uvicorn trusts it only from its allowed
    addresses). Browsers send Origin https://public.example: the inbox takes PUBLIC_BASE_URL as
    its origin, and its cookies are Secure, whatever the request's own scheme says."""
    settings = Settings.from_env({"PUBLIC_BASE_URL": "https://public.example"})
    async with inbox_service(_store(tmp_path), settings=settings) as service:
        task = give_task(service.tasks, "rec-1")
        for forwarded in ({"x-forwarded-proto": "https"}, {}):
            headers = {"origin": "https://public.example", **forwarded}
            async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http:
                answer = await http.post("/inbox/login", data={"token": service.access.issue_token("rec-1", "laptop")})
                assert answer.status_code == 303, answer.text
                cookie = answer.headers["set-cookie"]
                assert "postinterview_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
                # A browser sends a Secure cookie back only over https: the proxy's side.
                session = re.search(r"postinterview_session=([^;]+)", cookie).group(1)
                http.headers["cookie"] = f"postinterview_session={session}"
                page = await http.get("/inbox", params={"open": task})
                assert page.status_code == 200 and task in task_ids(page.text)
                csrf = form_token(page.text)

                snoozed = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1d", "csrf": csrf})
                assert snoozed.status_code == 303 and "Secure" in snoozed.headers["set-cookie"]  # the flash cookie too
                assert service.tasks.task_by_id(task).status == "snoozed"
                # Another site, the same host over plain http, or the inside address: refused.
                for origin in ("https://evil.example", "http://public.example", service.url):
                    forged = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1w", "csrf": csrf}, headers={"origin": origin})
                    assert forged.status_code == 403, origin
                refused = await http.post("/inbox/login", data={"token": "x"}, headers={"origin": "https://evil.example"})
                assert refused.status_code == 403


async def test_a_local_run_works_on_localhost_and_127_0_0_1_without_secure_cookies(tmp_path: Path):
    """`make run` sets PUBLIC_BASE_URL to http://localhost:PORT; the README opens
    http://127.0.0.1:8000/inbox. Both are this machine: the request's own origin is the site's."""
    settings = Settings.from_env({"PUBLIC_BASE_URL": "http://localhost:8000"})
    async with inbox_service(_store(tmp_path), settings=settings) as service, service.client() as http:
        task = give_task(service.tasks, "rec-1")
        answer = await sign_in(http, service.access, "rec-1")
        assert "Secure" not in answer.headers["set-cookie"]
        page = await http.get("/inbox", params={"open": task})
        assert page.status_code == 200
        snoozed = await http.post(f"/inbox/tasks/{task}/snooze", data={"for": "1d", "csrf": form_token(page.text)})
        assert snoozed.status_code == 303 and service.tasks.task_by_id(task).status == "snoozed"


async def test_a_task_whose_process_has_ended_is_done_with_its_outcome_button(tmp_path: Path, dev_env, task_queue, activity_pool):
    store_url = _store(tmp_path)

    async def temporal():
        return dev_env.client

    async with running_engine(dev_env, store_url, task_queue, activity_pool):
        async with inbox_service(store_url, temporal) as service, service.client() as http:
            # No process runs for this application (it ended): a plain "done" just closes the task.
            task = give_task(service.tasks, "rec-1", title="Send the feedback", application_id="gone-1")
            await sign_in(http, service.access, "rec-1")
            page = await _opened(http, task)
            answer = await http.post(f"/inbox/tasks/{task}/complete", data={"outcome": "done", "note": "sent by email", "csrf": form_token(page)})
            assert answer.status_code == 303
            assert "Done: Send the feedback." in (await http.get("/inbox")).text
            stored = service.tasks.task_by_id(task)
            assert stored.status == "done" and stored.resolved_by == "rec-1" and "sent by email" in stored.outcome
            done_tab = (await http.get("/inbox", params={"show": "done"})).text
            assert task_ids(done_tab) == [task] and "sent by email" in _card(done_tab, task)


async def _opened(http: httpx.AsyncClient, task_id: int) -> str:
    """The inbox with one task opened: the one card that carries forms."""
    answer = await http.get("/inbox", params={"open": task_id})
    assert answer.status_code == 200, answer.text
    return answer.text


def _card(page: str, task_id: int) -> str:
    found = re.search(rf'<article[^>]*data-task-id="{task_id}".*?</article>', page, re.S)
    assert found, f"task {task_id} is not on the page"
    return found.group(0)


async def test_the_task_api_takes_a_change_signed_in_by_the_cookie_only_from_the_inbox_origin(tmp_path: Path):
    # Cross-site request forgery: the session cookie rides along with whatever request the
    # browser makes to the service, so a change it signs must come from the inbox's own pages,
    # as the inbox's forms must. A bearer token is never sent by a browser on its own.
    async with inbox_service(_store(tmp_path)) as service, service.client() as http:
        task = give_task(service.tasks, "rec-1", title="Snooze me")
        await sign_in(http, service.access, "rec-1")
        for headers in ({"origin": "https://evil.example"}, {"origin": "null"}, {"origin": "", "referer": "https://evil.example/x"}):
            forged = await http.post(f"/api/tasks/{task}/snooze", json={"hours": 24}, headers=headers)
            assert forged.status_code == 403 and "own origin" in forged.json()["message"], (headers, forged.text)
            assert (await http.post(f"/api/tasks/{task}/reassign", json={"assignee_id": "rec-2"}, headers=headers)).status_code == 403
        assert service.tasks.task_by_id(task).status == "open" and service.tasks.task_by_id(task).assignee_id == "rec-1"
        assert (await http.get(f"/api/tasks/{task}", headers={"origin": "https://evil.example"})).status_code == 200  # reading changes nothing
        own = await http.post(f"/api/tasks/{task}/snooze", json={"hours": 24})
        assert own.status_code == 200, own.text
        token = service.access.issue_token("rec-1", "script")
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as script:
            by_token = await script.post(f"/api/tasks/{task}/snooze", json={"hours": 48}, headers={"authorization": f"Bearer {token}"})
            assert by_token.status_code == 200, by_token.text
