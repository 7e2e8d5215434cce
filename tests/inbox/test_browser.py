"""The inbox end to end in a real browser: Debian's headless Chromium driven by Playwright, the
real worker on the dev server, the real HTTP service.

Playwright is told where Chromium is (`executable_path`): it never downloads a browser of its own.
Without Playwright or Chromium the tests skip and say what is missing, except where
REQUIRE_BROWSER is set (CI installs Chromium: .ci/run), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from process_client import deliver_event, process_status
from tests.events import GOOD_DEBRIEF, Application
from tests.harness import eventually, running_engine, status_when
from tests.inbox.service import CLIENTS, give_task, inbox_service, many_tasks

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM_PATH)"
    return None


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    if (missing := _missing()) is not None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set: {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_a_recruiter_signs_in_records_a_debrief_and_the_process_moves_on(browser, tmp_path: Path, dev_env, task_queue, activity_pool):
    from playwright.async_api import expect

    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = Application(source="api")

    async def temporal():
        return dev_env.client

    async with running_engine(dev_env, store_url, task_queue, activity_pool) as tasks:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await eventually(lambda: [t.kind for t in tasks.tasks(status="open", process_id=app.workflow_id)] == ["book_debrief"])
        async with inbox_service(store_url, temporal) as service:
            token = service.access.issue_token(app.recruiter["id"], "browser test")
            page = await browser.new_page()

            # Signed out: the inbox sends the browser to the sign-in page.
            await page.goto(f"{service.url}/inbox")
            assert page.url == f"{service.url}/inbox/login"
            await page.get_by_label("Your token").fill(token)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()

            task = page.locator("article[data-kind=book_debrief]")
            await expect(task).to_have_count(1)
            await expect(task.get_by_role("heading")).to_contain_text("Book a debrief call with Ada Lovelace (round 1)")
            await expect(task.locator(".application")).to_have_text(app.application_id)
            await expect(task.locator("form")).to_have_count(0)  # the list carries no forms

            # Opened, the task shows its forms in place.
            await task.get_by_role("heading").get_by_role("link").click()
            task = page.locator("article[data-kind=book_debrief]")
            await expect(task).to_have_class(re.compile(r"\bopened\b"))

            # A debrief that tells the client nothing: the process's reason, beside the form, the text kept.
            await task.get_by_label("How did it go?").fill("I think it went well, let me know when you hear something.")
            await task.get_by_label("How keen is the candidate").select_option("4")
            await task.get_by_role("button", name="Record the debrief").click()
            task = page.locator("article[data-kind=book_debrief]")
            await expect(task.get_by_role("alert")).to_contain_text("A debrief must tell the client something")
            await expect(task.get_by_label("How did it go?")).to_have_value("I think it went well, let me know when you hear something.")
            await expect(task.get_by_label("How keen is the candidate")).to_have_value("4")
            assert (await process_status(dev_env.client, app.source, app.application_id)).stage == "debrief"

            # A real debrief: accepted, the task done, the process on to the client's decision.
            await task.get_by_label("How did it go?").fill(GOOD_DEBRIEF["summary"])
            await task.get_by_label("How keen is the candidate").select_option(str(GOOD_DEBRIEF["interest"]))
            await task.get_by_label("Their concerns").fill(GOOD_DEBRIEF["concerns"])
            await task.get_by_label("Their questions for the client").fill("\n".join(GOOD_DEBRIEF["questions_for_client"]))
            await task.get_by_label("What the interviewers asked").fill(GOOD_DEBRIEF["reflections"])
            await task.get_by_role("button", name="Record the debrief").click()
            await expect(page.get_by_role("status")).to_contain_text("Debrief recorded: Book a debrief call with Ada Lovelace")
            assert page.url == f"{service.url}/inbox"
            await expect(page.locator("article[data-kind=book_debrief]")).to_have_count(0)

            await page.get_by_role("link", name="Done", exact=True).click()
            done = page.locator("article[data-kind=book_debrief]")
            await expect(done).to_have_attribute("data-status", "done")
            await expect(done.locator(".outcome")).to_contain_text("debriefed")

            status = await status_when(dev_env.client, app.source, app.application_id, lambda s: s.stage == "awaiting_client", what="the process to move on")
            assert [(d.round, d.interest, d.recorded_at is not None) for d in status.debriefs] == [(1, GOOD_DEBRIEF["interest"], True)]
            assert not [t for t in status.open_tasks if t.kind == "book_debrief"]

            await page.get_by_role("link", name="Sign out").click()
            assert page.url == f"{service.url}/inbox/login"


async def test_a_sign_in_link_signs_in_once(browser, tmp_path: Path):
    from playwright.async_api import expect

    async with inbox_service(f"sqlite:///{tmp_path / 'store.sqlite3'}") as service:
        give_task(service.tasks, "rec-9", title="Send the feedback to the client")
        code = service.access.issue_sign_in_code("rec-9")
        page = await browser.new_page()
        await page.goto(f"{service.url}/inbox/login#code={code}")
        # Never signed in by the link alone: the page says whose account it opens, and waits.
        await expect(page.locator(".link-for")).to_contain_text("This sign-in link is for Name of rec-9 (rec-9, recruiter)")
        assert "postinterview_session" not in {cookie["name"] for cookie in await page.context.cookies()}
        assert "#" not in page.url and code not in page.url
        await page.get_by_role("button", name="Sign in as Name of rec-9").click()
        await expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
        await expect(page.locator("article h2")).to_have_text("Send the feedback to the client")
        assert "#" not in page.url and code not in page.url

        # The same link again, in another browser: the code is used up.
        elsewhere = await browser.new_context()
        again = await elsewhere.new_page()
        await again.goto(f"{service.url}/inbox/login#code={code}")
        await expect(again.get_by_role("alert")).to_contain_text("used or has expired")
        await elsewhere.close()


async def test_a_link_someone_sent_never_signs_a_signed_in_person_into_their_account(browser, tmp_path: Path):
    """Mallory prints a sign-in link for herself and sends it to Rita, who is signed in. Opening it
    must not switch Rita into Mallory's inbox (where Rita's debriefs would be Mallory's to read)."""
    from playwright.async_api import expect

    async with inbox_service(f"sqlite:///{tmp_path / 'store.sqlite3'}") as service:
        give_task(service.tasks, "rita", title="Rita's task")
        give_task(service.tasks, "mallory", title="Mallory's task")
        page = await browser.new_page()
        await page.goto(f"{service.url}/inbox/login")
        await page.get_by_label("Your token").fill(service.access.issue_token("rita", "browser test"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("article h2")).to_have_text("Rita's task")

        await page.goto(f"{service.url}/inbox/login#code={service.access.issue_sign_in_code('mallory')}")
        await expect(page.locator(".link-for")).to_contain_text("Name of mallory (mallory")
        await page.wait_for_load_state("networkidle")
        await page.goto(f"{service.url}/inbox")
        await expect(page.locator("article h2")).to_have_text("Rita's task")
        await expect(page.locator(".me")).to_contain_text("rita")


async def test_a_recruiter_with_5000_open_tasks_gets_a_usable_first_page(browser, tmp_path: Path):
    """An agency's volume: 5,000 open tasks for one person. The first page is 50 tasks with the
    count, filters and a next page; a task opened shows its forms and acting on it works. How
    fast is measured by bench/inbox_volume.py (it printed the figures in bench/README.md)."""
    from playwright.async_api import expect

    async with inbox_service(f"sqlite:///{tmp_path / 'store.sqlite3'}") as service:
        many_tasks(service.tasks, "rec-5k", 5000, lead="lead-5k")
        page = await browser.new_page()
        await page.goto(f"{service.url}/inbox/login")
        await page.get_by_label("Your token").fill(service.access.issue_token("rec-5k", "browser test"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
        await expect(page.locator(".count")).to_contain_text("5000 to do, 715 overdue; 50 on this page")
        await expect(page.locator("article")).to_have_count(50)
        await expect(page.locator("article form")).to_have_count(0)

        # Open the third task: its forms in place; snooze it, back on the first page, 4,999 to do.
        third = page.locator("article").nth(2)
        title = await third.get_by_role("heading").inner_text()
        await third.get_by_role("heading").get_by_role("link").click()
        opened = page.locator("article.opened")
        await expect(opened.get_by_role("heading")).to_have_text(title)
        await opened.get_by_role("button", name="1 week").click()
        await expect(page.get_by_role("status")).to_contain_text(f"Snoozed for 1 week: {title}")
        await expect(page.locator(".count")).to_contain_text("5000 to do")  # a snoozed task still waits
        await expect(page.locator("article.opened")).to_have_count(0)

        # The next page, then a client's overdue ones only.
        await page.get_by_role("link", name="Next page").click()
        await expect(page.locator("article")).to_have_count(50)
        await expect(page.get_by_role("link", name="First page")).to_be_visible()
        await page.get_by_label("Client").select_option(CLIENTS[0])
        await page.get_by_label("Overdue only").check()
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator(".count")).to_contain_text("143 to do, 143 overdue")
        await expect(page.locator("article .client").first).to_have_text(CLIENTS[0])
        await expect(page.locator("article.overdue")).to_have_count(50)


async def test_a_referee_fills_the_questionnaire_and_the_recruiter_sees_the_report_with_its_flags(browser, tmp_path: Path, dev_env, task_queue, activity_pool):
    """The reference questionnaire in Chromium (a refused first try, its answers kept), then the
    recruiter's inbox: the application's task counts the report, opened it shows it with its
    fraud signals (a Gmail address naming a company; the browser that sent the candidate's own
    debrief; answered seconds after the request)."""
    from playwright.async_api import expect

    from inbox.links import LinkSigner
    from service.settings import LinkSection, Settings
    from tests.inbox.test_links import NEW_KEY, link_in

    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = Application(source="api")
    references = app.event(
        "references.requested",
        {"referees": [{"id": "ref-1", "name": "Grace Hopper", "email": "grace.hopper@gmail.com", "relationship": "former manager"}], "required_before_offer": True},
    )

    async def temporal():
        return dev_env.client

    settings = Settings(temporal_address=dev_env.client.service_client.config.target_host, task_queue=task_queue, links=LinkSection(LINK_SIGNING_KEYS=NEW_KEY))
    async with running_engine(dev_env, store_url, task_queue, activity_pool, links=LinkSigner([NEW_KEY])) as tasks:
        await deliver_event(dev_env.client, app.interview(1), task_queue)
        await deliver_event(dev_env.client, references, task_queue)
        await deliver_event(dev_env.client, app.event("referee.consented", {"referee_id": "ref-1"}), task_queue)
        link = await link_in(tasks, f"{app.workflow_id}-referee-ref-1/request")
        debrief_link = await link_in(tasks, f"{app.workflow_id}/debrief/1/questions")
        async with inbox_service(store_url, temporal, settings=settings) as service:
            # The candidate sends their debrief from this browser (its own form's post is accepted:
            # the link pages' referrer policy keeps the Origin the CSRF check needs).
            candidate = await browser.new_page()
            await candidate.goto(f"{service.url}{debrief_link}")
            await candidate.get_by_label("How did it go?").fill(GOOD_DEBRIEF["summary"])
            await candidate.get_by_label("How much do you want the role now?").select_option(str(GOOD_DEBRIEF["interest"]))
            await candidate.get_by_label("Any concerns, however small?").fill(GOOD_DEBRIEF["concerns"])
            await candidate.get_by_role("button", name="Send my debrief").click()
            await expect(candidate.locator("main")).to_contain_text("Your debrief is with your recruiter")

            # The referee's questionnaire, answered from the same browser: flagged, not refused.
            referee = await browser.new_page()
            await referee.goto(f"{service.url}{link}")
            await expect(referee.get_by_role("heading", name="Your reference")).to_be_visible()
            await referee.get_by_label("Your name and job title").fill("Grace Hopper, Head of Compliance")
            await referee.get_by_label("How do you know the candidate?").fill("I was her manager in the compliance team")
            await referee.get_by_label("Where did you work together?").fill("Initech")
            await referee.get_by_label("Since when have you known them?").fill("2019-04")
            await referee.get_by_label("What are their main strengths?").fill("Rigorous and calm under deadline pressure.")
            # Areas to develop left out: refused, said beside the question, the rest kept.
            await referee.get_by_label("Would you work with them again?").select_option("5")
            await referee.get_by_role("button", name="Send my reference").click()
            await expect(referee.get_by_role("alert")).to_contain_text("Some answers need another look")
            await expect(referee.locator("#problem-areas_to_develop")).to_have_text("Please answer this question.")
            await expect(referee.get_by_label("Where did you work together?")).to_have_value("Initech")
            await expect(referee.get_by_label("Would you work with them again?")).to_have_value("5")
            await referee.get_by_label("Which areas could they develop?").fill("Could delegate more to junior analysts.")
            await referee.get_by_role("button", name="Send my reference").click()
            await expect(referee.get_by_role("heading", name="Thank you")).to_be_visible()
            await expect(referee.locator("main")).to_contain_text("Your reference is with the recruiter")
            await status_when(
                dev_env.client, app.source, app.application_id, lambda s: [r.state for r in s.referees] == ["responded"], what="the reference in"
            )

            page = await browser.new_page()
            await page.goto(f"{service.url}/inbox/login")
            await page.get_by_label("Your token").fill(service.access.issue_token(app.recruiter["id"], "browser test"))
            await page.get_by_role("button", name="Sign in").click()
            task = page.locator("article[data-kind=book_debrief]")
            # Nothing left to do on the application (the referee was quick): the report is above the list.
            recent = page.get_by_role("region", name="Recent reference reports").locator("details.recent-report")
            await expect(recent).to_have_count(1)
            await expect(recent.locator("summary")).to_contain_text(f"Grace Hopper, Head of Compliance for application {app.application_id}")
            await expect(recent.locator("summary")).to_contain_text("3 to check")
            await recent.locator("summary").click()
            report = recent.locator(".reference-report")
            await expect(report.get_by_role("heading")).to_contain_text("Grace Hopper, Head of Compliance <grace.hopper@gmail.com>")
            flags = report.locator(".flag")
            await expect(flags).to_have_count(3)
            await expect(flags.nth(0)).to_contain_text("free-mail address (gmail.com) while naming a company (Initech)")
            await expect(flags.nth(1)).to_contain_text("same network address and browser that opened the candidate's own link")
            await expect(flags.nth(2)).to_contain_text("after the request was sent")
            await expect(report.locator("dd[data-question=areas_to_develop]")).to_have_text("Could delegate more to junior analysts.")
            await expect(report.locator("dd[data-question=work_again]")).to_have_text("5")

            # The application's done debrief task, opened, counts and shows it too.
            await page.get_by_role("link", name="Done", exact=True).click()
            done = page.locator("article[data-kind=book_debrief]")
            await expect(done.locator(".references")).to_contain_text("1 report in, 1 flagged")
            await done.get_by_role("heading").get_by_role("link").click()
            await expect(page.locator("article.opened .reference-report .flag")).to_have_count(3)
