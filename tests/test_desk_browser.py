"""The review desk in a real browser: Debian's Chromium driven by Playwright (no browser download).

Full flow: a parent asks through the fake Bot API, a volunteer gets a link with /desk, opens it in
Chromium, sees the question, replies, and the parent receives the reply. ``.ci/run`` installs
Chromium with apt-get; elsewhere the test is skipped when /usr/bin/chromium is missing (never in CI).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.telegram_harness import PARENT, VOLUNTEER, running_bot

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not shutil.which(CHROMIUM) and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium); CI installs it",
)


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_full_flow_parent_asks_volunteer_replies_in_the_browser(tmp_path: Path) -> None:
    async with running_bot(tmp_path, desk_port=0) as bot, browser() as chromium:
        await bot.ask("is the christmas fair on the 12th or the 19th", user=PARENT)
        reply = await bot.ask("/desk", user=VOLUNTEER)
        link = re.search(r'href="([^"]+)"', reply["text"]).group(1)  # type: ignore[union-attr]
        page = await chromium.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        await page.goto(link)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(re.compile(r"/queue"))
        question = page.locator("blockquote.question").first
        assert await question.inner_text() == "is the christmas fair on the 12th or the 19th"
        await page.get_by_label("Reply to the parent").first.fill("Ask the school office; they hold it.")
        await page.get_by_role("button", name="Send reply").first.click()
        await page.wait_for_selector("text=Sent to the parent")
        got = await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        assert "Ask the school office; they hold it." in got[-1].params["text"]
        assert await page.locator("blockquote.question").count() == 0  # it left the queue
        # the session cookie is not readable from the page, and the CSP let no inline anything run
        assert await page.evaluate("document.cookie") == ""
        assert not errors, errors
        # Attach: type part of an entry's id, pick it, and the parent gets that answer
        await bot.ask("recipe for banana bread please", user=PARENT)
        await bot.ask("zyxt plimf wobble", user=PARENT)
        await bot.ask("qwop blarg 17", user=PARENT)
        await page.goto(link.rsplit("/login/", 1)[0] + "/queue?order=oldest")
        assert await page.locator("blockquote.question").count() == 3
        first = page.locator("article.item").first
        await first.get_by_label("Attach an FAQ answer").fill("upn")
        await first.get_by_role("button", name="Attach").click()
        await page.wait_for_selector("text=The parent has the answer")
        assert "Sources" in bot.texts(PARENT)[-1]
        # Dismiss in bulk: tick the two left, one button
        for box in await page.locator("article.item input[type=checkbox]").all():
            await box.check()
        await page.get_by_role("button", name="Dismiss selected").click()
        await page.wait_for_selector("text=Dismissed 2 question(s)")
        assert await bot.store.count_log("open") == 0
        # a reused link is refused in the browser too
        second = await chromium.new_page()
        await second.goto(link)
        assert "expired or has already been used" in await second.content()


async def test_themes_shows_grouping_then_reloads_itself_without_javascript(tmp_path: Path) -> None:
    from tests.test_desk import log_many

    async with running_bot(tmp_path, desk_port=0) as bot, browser() as chromium:
        await log_many(bot, 400)
        reply = await bot.ask("/desk", user=VOLUNTEER)
        link = re.search(r'href="([^"]+)"', reply["text"]).group(1)  # type: ignore[union-attr]
        context = await chromium.new_context(
            java_script_enabled=False, viewport={"width": 390, "height": 844}
        )
        page = await context.new_page()
        await page.goto(link)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(re.compile(r"/queue"))
        await page.goto(link.rsplit("/login/", 1)[0] + "/themes?days=30")
        assert "Grouping the unanswered questions" in await page.content()
        # the page's meta refresh brings the groups, with scripts switched off in the browser
        await page.wait_for_selector("article.card.theme", timeout=60_000)
        assert "400 unanswered" in await page.content()
        await context.close()
