"""The review desk over HTTP: sign-in, refusals, CSRF, CSP, and Queue/Entries/Themes actions.

The real bot runs against the fake Bot API with the desk on a free local port; an aiohttp client
plays the browser (tests/test_desk_browser.py drives real Chromium through the full flow).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.desk.server import Desk
from tests.conftest import VALID_ENTRY, write_knowledge
from tests.support import wait_until
from tests.telegram_harness import ADMIN, PARENT, VOLUNTEER, VOLUNTEER_CHAT, Running, running_bot

OUTSIDER = 4242


def desk_of(bot: Running) -> Desk:
    desk = bot.app.bot_data.desk
    assert desk is not None
    return desk


async def link_for(bot: Running, user: int) -> str:
    reply = await bot.ask("/desk", user=user)
    found = re.search(r'href="([^"]+)"', reply["text"])
    assert found, reply["text"]
    return found.group(1)


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, link: str) -> str:
    """Open the link, press Sign in; return the queue page's HTML."""
    async with http.get(link) as resp:
        assert resp.status == 200
        page = await resp.text()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    async with http.post(link.rsplit("/login/", 1)[0] + "/login", data={"token": token}) as resp:
        assert resp.status == 200, resp.status
        assert resp.url.path.endswith("/queue"), resp.url
        return await resp.text()


PENDING = "Grouping the unanswered questions"


async def themes_page(http: aiohttp.ClientSession, url: str) -> str:
    """The Themes page once its grouping is done: follow its self-reload as a browser would."""
    for _ in range(240):
        async with http.get(url) as resp:
            assert resp.status == 200, resp.status
            html = await resp.text()
        if PENDING not in html:
            return html
        assert '<meta http-equiv="refresh"' in html  # the pending page reloads itself, no script
        await asyncio.sleep(0.25)
    raise AssertionError("the Themes page never finished grouping")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]


@asynccontextmanager
async def desk_bot(tmp_path: Path, **overrides: object) -> AsyncIterator[Running]:
    async with running_bot(tmp_path, desk_port=0, **overrides) as bot:
        yield bot


async def test_desk_is_off_unless_configured(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert bot.app.bot_data.desk is None
        assert "not switched on" in (await bot.ask("/desk", user=VOLUNTEER))["text"]


async def test_sign_in_reply_and_pages(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread <b>please</b>", user=PARENT)
        link = await link_for(bot, VOLUNTEER)
        async with client() as http:
            async with http.get(link) as resp:
                csp = resp.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp
                assert "script-src" not in csp
            base = link.rsplit("/login/", 1)[0]
            for path in ("/static/desk.css", "/static/nothing.js", "/nowhere"):
                async with http.get(base + path) as resp:
                    assert resp.headers["Content-Security-Policy"] == csp, path
            queue = await sign_in(http, link)
            assert "recipe for banana bread &lt;b&gt;please&lt;/b&gt;" in queue  # escaped
            assert "<b>please</b>" not in queue
            cookie = next(c for c in http.cookie_jar if c.key == "faqbot_desk")
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"
            item = (await bot.store.list_log("open"))[0]
            data = {"csrf": csrf_of(queue), "id": str(item.id), "action": "reply", "text": "Try the library."}
            async with http.post(link.rsplit("/login/", 1)[0] + "/queue/act", data=data) as resp:
                assert resp.status == 200
                assert "Sent to the parent" in await resp.text()
            assert "Try the library." in bot.texts(PARENT)[-1]
            assert (await bot.store.get_log(item.id)).status == "answered"  # type: ignore[union-attr]
            base = link.rsplit("/login/", 1)[0]
            for page in ("overview?days=7", "overview?days=90", "entries", "themes", "queue?state=all"):
                async with http.get(f"{base}/{page}") as resp:
                    html = await resp.text()
                    assert resp.status == 200, page
                    assert str(PARENT) not in html  # never a chat id
            # the same item again, as a second volunteer would: refused, nothing more sent
            sent = len(bot.texts(PARENT))
            async with http.post(f"{base}/queue/act", data=data) as resp:
                assert "already handled" in await resp.text()
            assert len(bot.texts(PARENT)) == sent


async def test_stale_and_reused_links_are_refused(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        link = await link_for(bot, VOLUNTEER)
        async with client() as http:
            await sign_in(http, link)
        async with client() as http, http.get(link) as resp:  # reused
            assert resp.status == 401
            assert "expired or has already been used" in await resp.text()
        desk = desk_of(bot)
        stale = await link_for(bot, VOLUNTEER)
        real_clock = desk.auth.clock
        desk.auth.clock = lambda: real_clock() + 601  # eleven minutes later
        async with client() as http, http.get(stale) as resp:
            assert resp.status == 401
        desk.auth.clock = real_clock
        token = stale.rsplit("/", 1)[1]
        async with client() as http:
            desk.auth.clock = lambda: real_clock() + 601
            async with http.post(stale.rsplit("/login/", 1)[0] + "/login", data={"token": token}) as resp:
                assert resp.status == 401
            desk.auth.clock = real_clock
            async with http.get(stale.rsplit("/login/", 1)[0] + "/queue") as resp:
                assert resp.status == 401  # the failed attempt started no session


async def test_outsider_gets_no_link_and_sees_only_how_to_sign_in(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        reply = await bot.ask("/desk", user=OUTSIDER)
        assert "href" not in reply["text"]
        assert "don't know that command" in reply["text"]
        base = desk_of(bot).base_url
        async with client() as http:
            for path in ("/", "/queue", "/themes", "/entries", "/nope"):
                async with http.get(base + path) as resp:
                    assert resp.status == 401
                    assert "send <code>/desk</code>" in await resp.text()
            async with http.post(base + "/queue/act", data={"action": "dismiss", "id": "1"}) as resp:
                assert resp.status == 401


async def test_missing_csrf_token_is_refused(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        link = await link_for(bot, VOLUNTEER)
        item = (await bot.store.list_log("open"))[0]
        async with client() as http:
            await sign_in(http, link)
            base = desk_of(bot).base_url
            for data in (
                {"action": "dismiss", "id": str(item.id)},
                {"action": "dismiss", "id": "1", "csrf": "0" * 64},
            ):
                async with http.post(base + "/queue/act", data=data) as resp:
                    assert resp.status == 403
        assert (await bot.store.get_log(item.id)).status == "open"  # type: ignore[union-attr]


async def test_volunteer_cannot_reload_but_admin_sees_file_line_errors(tmp_path: Path) -> None:
    knowledge = write_knowledge(tmp_path, {"a.yaml": VALID_ENTRY})
    async with desk_bot(tmp_path, knowledge=knowledge) as bot:
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            base = desk_of(bot).base_url
            assert "Reload the FAQ" not in (await (await http.get(base + "/entries")).text())
            async with http.post(base + "/entries/reload", data={"csrf": csrf_of(html)}) as resp:
                assert resp.status == 403
                assert "Only admins" in await resp.text()
        (knowledge / "a.yaml").write_text(VALID_ENTRY.replace("answer: The first answer.", "anwser: x"))
        async with client() as http:
            html = await sign_in(http, await link_for(bot, ADMIN))
            async with http.post(base + "/entries/reload", data={"csrf": csrf_of(html)}) as resp:
                text = await resp.text()
                assert resp.status == 422
                assert "NOT reloaded" in text
                assert re.search(r"a\.yaml:\d+: ", text), text
            assert bot.live.current.kb.get("first-entry") is not None  # the old FAQ stays live


async def test_removed_volunteer_loses_access_at_once(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot, client() as http:
        await sign_in(http, await link_for(bot, VOLUNTEER))
        base = desk_of(bot).base_url
        assert (await http.get(base + "/queue")).status == 200
        svc = bot.app.bot_data.services
        svc.settings = dataclasses.replace(svc.settings, volunteers=frozenset())
        async with http.get(base + "/queue") as resp:
            assert resp.status == 401
        svc.settings = dataclasses.replace(svc.settings, volunteers=frozenset({VOLUNTEER}))
        async with http.get(base + "/queue") as resp:
            assert resp.status == 401  # the old session ended; a new link is needed


async def test_sign_out_ends_the_session(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            base = desk_of(bot).base_url
            cookie = next(c for c in http.cookie_jar if c.key == "faqbot_desk").value
            async with http.post(base + "/logout", data={"csrf": csrf_of(html)}) as resp:
                assert "signed out" in await resp.text()
        async with aiohttp.ClientSession(cookies={"faqbot_desk": cookie}) as http:
            assert (await http.get(base + "/queue")).status == 401  # the old cookie is dead


async def test_attach_and_bulk_dismiss(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        for text in ("recipe for banana bread", "zyxt plimf", "qwop blarg"):
            await bot.ask(text, user=PARENT)
        a, b, c = (i.id for i in await bot.store.list_log("open"))
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            base = desk_of(bot).base_url
            token = csrf_of(html)
            data = {"csrf": token, "action": "attach", "id": str(a), "entry": "upn"}
            async with http.post(base + "/queue/act", data=data) as resp:
                assert "kept as a new phrasing" in await resp.text()
            assert "Sources" in bot.texts(PARENT)[-1]
            assert (await bot.store.suggestions()) == {"upn": ["recipe for banana bread"]}
            form = aiohttp.FormData([("csrf", token), ("action", "dismiss"), ("id", str(b)), ("id", str(c))])
            async with http.post(base + "/queue/act", data=form) as resp:
                assert "Dismissed 2 question(s)" in await resp.text()
        assert await bot.store.count_log("open") == 0


async def log_many(bot: Running, n: int) -> None:
    """Log ``n`` distinct unanswered questions straight into the store, as a busy month would."""
    subjects = (
        "school trip",
        "lunch menu",
        "uniform shop",
        "sports day",
        "parking",
        "homework club",
        "choir",
        "swimming",
        "book fair",
        "nativity",
        "term dates",
        "after-school club",
        "lost property",
        "music lessons",
        "school photos",
        "parents evening",
        "reading books",
        "packed lunches",
        "science week",
        "bike shed",
    )
    asks = (
        "when is the",
        "how much is the",
        "who runs the",
        "can my son join the",
        "what time is the",
        "where do I pay for the",
        "is there a",
        "who do I email about the",
        "why was my kid left out of the",
        "any news on the",
        "what happened to the",
        "do we need to book the",
        "is it too late for the",
        "how do I sign up for the",
        "what should she bring to the",
        "has anyone heard about the",
        "who organises the",
        "how long is the",
        "can grandparents come to the",
        "is the",
    )
    for k in range(n):
        text = f"{asks[k % len(asks)]} {subjects[(k // len(asks)) % len(subjects)]} {k // 400 or ''}".strip()
        await bot.store.log_question(PARENT, PARENT, text + "?", reason="unanswered")


async def test_a_first_themes_view_renders_at_once_while_it_groups(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await log_many(bot, 400)
        async with client() as http:
            await sign_in(http, await link_for(bot, VOLUNTEER))
            url = desk_of(bot).base_url + "/themes?days=30"
            async with http.get(url) as resp:
                first = await resp.text()
                assert resp.status == 200
            # 400 new wordings to read: not done within the page's wait, so it says so and reloads
            assert PENDING in first
            assert '<meta http-equiv="refresh" content="2">' in first
            assert "<script" not in first
            assert '/themes?days=30">reload it now</a>' in first
            done = await themes_page(http, url)
            assert "400 unanswered" in done
            assert done.count('<article class="card theme">') >= 5
            # grouped once: the next view is the cached result, not a new grouping
            assert PENDING not in await (await http.get(url)).text()
            assert not desk_of(bot).matches.grouping


async def test_new_questions_are_matched_for_the_queue_before_anyone_looks(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread please", user=PARENT)
        matches = desk_of(bot).matches
        # no page was opened: the desk's warmer matched it in the background
        await wait_until(lambda: "recipe for banana bread please" in matches._guesses, timeout=20)
        async with client() as http:
            queue = await sign_in(http, await link_for(bot, VOLUNTEER))
        assert "recipe for banana bread please" in queue


async def test_a_queue_page_never_waits_long_for_guesses_and_a_reload_shows_them(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await log_many(bot, 100)
        async with client() as http:
            await sign_in(http, await link_for(bot, VOLUNTEER))
            url = desk_of(bot).base_url + "/queue?page=2"  # a page the desk does not match ahead
            first = await (await http.get(url)).text()
            assert first.count('<blockquote class="question"') == 50
            # 50 questions to match take longer than the page waits: it says so instead of stalling
            assert "reload the page for its best guesses" in first

            async def guessed() -> bool:
                page = await (await http.get(url)).text()
                pending = "reload the page for its best guesses" in page
                return not pending and page.count("Best guesses:") == 50

            await wait_until(guessed, timeout=30, interval=0.2)


async def test_themes_group_by_meaning_and_admin_attaches(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        for text in (
            "who runs the christmas fair stalls",
            "best recipe for banana bread",
            "which stalls are at the christmas fair",
            "banana bread recipe please",
            "how do I bake a loaf with ripe bananas",  # shares only "banana" with them: grouped by meaning
            "zyxt plimf wobble",
        ):
            await bot.ask(text, user=PARENT)
        async with client() as http:
            html = await sign_in(http, await link_for(bot, ADMIN))
            base = desk_of(bot).base_url
            page = await themes_page(http, base + "/themes")
            first = page.split('<article class="card theme">')[1]
            assert '<span class="count">3</span>' in first
            assert first.count("banana bread") == 2
            assert "ripe bananas" in first
            second = page.split('<article class="card theme">')[2]
            assert '<span class="count">2</span>' in second
            assert second.count("christmas fair") == 2
            ids = re.findall(r'name="id" value="(\d+)"', first)
            form = aiohttp.FormData([("csrf", csrf_of(html)), ("entry", "upn"), ("days", "30")])
            for i in ids:
                form.add_field("id", i)
            async with http.post(base + "/themes/attach", data=form) as resp:
                assert "3 question(s) kept as phrasings of upn" in await resp.text()
            draft = await (await http.get(base + "/themes/draft?ids=" + ",".join(ids))).text()
            assert "alternatives:" in draft
            assert "banana bread" in draft
        assert len((await bot.store.suggestions())["upn"]) == 3


async def test_logs_never_hold_a_sign_in_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with desk_bot(tmp_path) as bot:
        link = await link_for(bot, VOLUNTEER)
        async with client() as http:
            await sign_in(http, link)
        token = link.rsplit("/", 1)[1]
        # (PTB itself logs every message it sends at DEBUG; faqbot run logs at INFO)
        ours = [r.getMessage() for r in caplog.records if r.name.startswith(("bot.", "tornado"))]
        assert any("/login/" in m for m in ours)  # requests are logged ...
        assert not any(token in m for m in ours)  # ... without the token


async def test_telegram_and_desk_act_on_the_same_items(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        [item] = await bot.store.list_log("open")
        card = (await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT))[0].result
        bot.api.start_chat(VOLUNTEER)  # Telegram lets the bot write only to people who pressed Start
        await bot.press(VOLUNTEER, card, f"q:r:{item.id}")  # Telegram: "my next message is the reply"
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER)
        async with client() as http:  # meanwhile an admin answers it on the desk
            html = await sign_in(http, await link_for(bot, ADMIN))
            data = {"csrf": csrf_of(html), "id": str(item.id), "action": "reply", "text": "From the desk."}
            async with http.post(desk_of(bot).base_url + "/queue/act", data=data) as resp:
                assert "Sent to the parent" in await resp.text()
            queue = await (await http.get(desk_of(bot).base_url + "/queue")).text()
            assert "recipe for banana bread" not in queue  # handled: gone from the desk's queue
        before = len(bot.texts(VOLUNTEER))
        bot.api.inject_message(VOLUNTEER, "From Telegram.")
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=before + 1)
        assert "can no longer be answered" in bot.texts(VOLUNTEER)[-1]
        parent = bot.texts(PARENT)
        assert sum("A volunteer replied" in t for t in parent) == 1
        assert "From the desk." in parent[-1]
        assert await bot.store.count_log(None) == 1  # the volunteer's text was not logged as a question
        await bot.press(VOLUNTEER, card, f"q:d:{item.id}")  # and the Telegram card now refuses
        assert "no longer open" in bot.last_answer()


async def test_desk_link_only_in_a_private_chat(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        bot.api.inject_message(VOLUNTEER, "/desk", chat_id=VOLUNTEER_CHAT, chat_type="group")
        sent = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        assert "private chat" in sent[-1].params["text"]
        assert "href" not in sent[-1].params["text"]


async def test_a_busy_port_leaves_the_bot_running_without_the_desk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running_bot(tmp_path, desk_port=port) as bot:
            assert bot.app.bot_data.desk is None
            assert "not switched on" in (await bot.ask("/desk", user=VOLUNTEER))["text"]
            assert "upn" in (await bot.ask("what is a unique pupil number?"))["text"].lower()
    assert any("cannot listen" in r.getMessage() for r in caplog.records)


async def test_https_url_gives_a_secure_cookie_under_its_path(tmp_path: Path) -> None:
    async with desk_bot(tmp_path, desk_url="https://desk.example.org/review") as bot:
        link = await link_for(bot, VOLUNTEER)
        assert link.startswith("https://desk.example.org/review/login/")
        local = f"http://127.0.0.1:{desk_of(bot).port}/review"  # what the reverse proxy would forward to
        token = link.rsplit("/", 1)[1]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{local}/login/{token}") as resp:
                assert resp.status == 200
                assert 'action="/review/login"' in await resp.text()
            async with http.post(f"{local}/login", data={"token": token}, allow_redirects=False) as resp:
                assert resp.status == 303
                assert resp.headers["Location"] == "/review/queue"
                cookie = resp.headers["Set-Cookie"]
            assert "Secure" in cookie
            assert "HttpOnly" in cookie
            assert "Path=/review" in cookie
            assert "SameSite=Strict" in cookie


async def test_junk_in_urls_and_forms_gets_a_page_not_an_error(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        async with client() as http:
            html = await sign_in(http, await link_for(bot, ADMIN))
            base = desk_of(bot).base_url
            for query in (
                "/queue?state=<b>&order=x&since=2026-02-31&until=99999-01-01&page=-3",
                "/queue?page=99999999999999999999&since=%00",
                "/overview?days=1000000",
                "/themes?days=abc",
                "/themes/draft?ids=1,abc,,-2,99999999999999999999",
                "/entries?days=%F0%9F%98%80",
                "/queue?note=themed&n=<script>&entry=<script>",
            ):
                async with http.get(base + query) as resp:
                    text = await resp.text()
                    assert resp.status == 200, query
                    assert "<script>" not in text
            token = csrf_of(html)
            for form in (
                {"action": "reply", "id": "abc", "text": "x"},
                {"action": "reply", "id": "999999", "text": "x"},
                {"action": "attach", "id": "1", "entry": "no-such-entry"},
                {"action": "explode", "id": "1"},
                {"action": "reply", "id": "1", "text": "   "},
                {"action": "dismiss", "back": "state=<b>&page=x"},
            ):
                async with http.post(base + "/queue/act", data={"csrf": token, **form}) as resp:
                    assert resp.status == 200, form
        assert await bot.store.count_log("open") == 1  # none of that closed the question
