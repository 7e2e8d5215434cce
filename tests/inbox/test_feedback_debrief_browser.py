"""The debrief on a feedback task, in the inbox (headless Chromium, as tests/inbox/test_browser.py
drives it) and in the task API: the real worker on the dev server, the real HTTP service.

The client asks for feedback before the candidate is debriefed: the opened task says the debrief
is not in yet; once it is recorded, the same task shows it (summary, interest, concerns, the
questions for the client), and `GET /api/tasks` carries it."""

from __future__ import annotations

from pathlib import Path

import httpx

from process_client import deliver_event
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually, running_engine
from tests.inbox.service import inbox_service
from tests.inbox.test_browser import browser  # noqa: F401  (the fixture)


async def test_the_opened_feedback_task_shows_the_debrief_and_the_api_carries_it(browser, tmp_path: Path, dev_env, task_queue, activity_pool):  # noqa: F811
    from playwright.async_api import expect

    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = Application(source="api")

    async def temporal():
        return dev_env.client

    async with running_engine(dev_env, store_url, task_queue, activity_pool) as tasks:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, app.event("client.feedback_requested"), task_queue)
        key = f"{app.workflow_id}/feedback/1/send"
        await eventually(lambda: tasks.task(key), what="the feedback task")
        async with inbox_service(store_url, temporal) as service:
            token = service.access.issue_token(app.recruiter["id"], "browser test")
            page = await browser.new_page()
            await page.goto(f"{service.url}/inbox/login")
            await page.get_by_label("Your token").fill(token)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()

            # In the list: the why, no debrief section (only the opened task carries it).
            task = page.locator("article[data-kind=send_feedback]")
            await expect(task).to_have_count(1)
            await expect(task.get_by_role("heading", level=2)).to_have_text("Send Ada Lovelace's debrief to Acme Capital")
            await expect(task.locator(".feedback-debrief")).to_have_count(0)
            await expect(task.locator(".why")).not_to_contain_text("not in yet")

            # Opened before the debrief is in: it says so.
            await task.get_by_role("heading", level=2).get_by_role("link").click()
            task = page.locator("article[data-kind=send_feedback]")
            section = task.locator(".feedback-debrief")
            await expect(section).to_have_attribute("data-debrief-status", "not_in_yet")
            await expect(section).to_contain_text("Not in yet")

            # The debrief comes in: the same task, opened again, shows it.
            await deliver_event(dev_env.client, app.event("candidate.debriefed", GOOD_DEBRIEF), task_queue)
            await eventually(lambda: "Summary:" in tasks.task(key).instructions, what="the task to get the debrief")
            await page.reload()  # the same address (`?open=<id>#task-<id>`), fetched again
            task = page.locator("article[data-kind=send_feedback]")
            await expect(task).to_have_count(1)
            section = task.locator(".feedback-debrief")
            await expect(section).to_have_attribute("data-debrief-status", "in")
            await expect(section.get_by_role("heading")).to_have_text("The candidate's debrief of round 1")
            await expect(section.locator(".debrief-summary")).to_have_text(GOOD_DEBRIEF["summary"])
            await expect(section.locator(".debrief-interest")).to_have_text("4 out of 5")
            await expect(section.locator(".debrief-concerns")).to_have_text(GOOD_DEBRIEF["concerns"])
            await expect(section.locator(".debrief-questions li")).to_have_text(GOOD_DEBRIEF["questions_for_client"])
            await expect(section.locator(".debrief-reflections")).to_have_text(GOOD_DEBRIEF["reflections"])
            # The why above it is the task's why, not the debrief a second time.
            await expect(task.locator(".why")).not_to_contain_text("Summary:")

            # The task API carries it, structured.
            async with httpx.AsyncClient(base_url=service.url, headers={"Authorization": f"Bearer {token}"}) as http:
                listed = (await http.get("/api/tasks", params={"kind": "send_feedback"})).json()
                [view] = listed["tasks"]
                assert view["debrief"] == {
                    "status": "in",
                    "round": 1,
                    "summary": GOOD_DEBRIEF["summary"],
                    "interest": 4,
                    "concerns": GOOD_DEBRIEF["concerns"],
                    "questions_for_client": GOOD_DEBRIEF["questions_for_client"],
                    "reflections": GOOD_DEBRIEF["reflections"],
                }
                one = (await http.get(f"/api/tasks/{view['id']}")).json()
                assert one["debrief"] == view["debrief"] and "debrief added" in [e["action"] for e in one["history"]]
                # Other tasks carry none.
                others = (await http.get("/api/tasks", params={"status": ["open", "done", "cancelled"]})).json()["tasks"]
                assert {t["kind"]: t["debrief"] for t in others if t["kind"] != "send_feedback"} == {"urgent_debrief": None, "book_debrief": None}
