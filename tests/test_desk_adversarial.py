"""The desk and the privacy claims under attack: a second adversarial review (each test failed first).

The real bot runs against the fake Bot API with the desk on a free local port; aiohttp plays the
browser (or the attacker's page).
"""

from __future__ import annotations

import logging
import re
import socket
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fake_bot_api import FakeBotAPI
from tests.support import wait_until
from tests.telegram_harness import (
    ADMIN,
    OTHER_PARENT,
    PARENT,
    VOLUNTEER,
    VOLUNTEER_CHAT,
    faqbot_env,
    start_faqbot,
    stop_faqbot,
)
from tests.test_desk import OUTSIDER, client, csrf_of, desk_bot, desk_of, link_for, sign_in, themes_page


async def test_unicode_digits_in_urls_and_forms_get_a_page_not_a_500(tmp_path: Path) -> None:
    """'²' passes str.isdigit() but int() rejects it: it used to crash the handler (500, a traceback)."""
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            base = desk_of(bot).base_url
            for query in ("/queue?page=%C2%B2", "/themes/draft?ids=%C2%B2,%E2%91%A0"):
                async with http.get(base + query) as resp:
                    assert resp.status == 200, query
            for form in (
                {"action": "dismiss", "id": "²"},
                {"action": "reply", "id": "①", "text": "x"},
                {"action": "dismiss", "back": "page=²"},
            ):
                async with http.post(base + "/queue/act", data={"csrf": csrf_of(html), **form}) as resp:
                    assert resp.status == 200, form
        assert await bot.store.count_log("open") == 1


async def test_a_cross_site_page_cannot_sign_a_volunteer_in_or_post_for_them(tmp_path: Path) -> None:
    """Login CSRF: sign-in had no CSRF token, so another site could post an insider's own link and sign
    a colleague's browser into the insider's session. Every POST from another origin is now refused."""
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        link = await link_for(bot, VOLUNTEER)
        token = link.rsplit("/", 1)[1]
        base = desk_of(bot).base_url
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            async with client() as http:
                async with http.post(f"{base}/login", data={"token": token}, headers=headers) as resp:
                    assert resp.status == 403, headers
                assert not [c for c in http.cookie_jar if c.key == "faqbot_desk"]
        async with client() as http:
            async with http.get(link) as resp:
                assert resp.status == 200  # the refused attempts did not spend the link
            html = await sign_in(http, link)  # a same-origin form post (as the browser sends it) works
            data = {"csrf": csrf_of(html), "action": "dismiss", "id": "1"}
            evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
            async with http.post(f"{base}/queue/act", data=data, headers=evil) as resp:
                assert resp.status == 403
            assert await bot.store.count_log("open") == 1
            async with http.post(f"{base}/queue/act", data=data, headers={"Origin": base}) as resp:
                assert "Dismissed 1" in await resp.text()
        assert await bot.store.count_log("open") == 0


async def test_forget_ends_the_users_desk_sign_ins_and_drops_cached_question_text(tmp_path: Path) -> None:
    """/forget says "I deleted everything I held about you": that includes a volunteer's desk sessions
    and unused links (their Telegram id, in memory), and the desk's cache of question texts."""
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        desk = desk_of(bot)
        async with client() as http:
            await sign_in(http, await link_for(bot, VOLUNTEER))
            unused = await link_for(bot, VOLUNTEER)
            assert (await http.get(desk.base_url + "/queue")).status == 200
            # the queue page (or the desk's warmer) matched it and keeps its guesses in memory
            await wait_until(lambda: desk.matches.holds("recipe for banana bread"), timeout=20)
            await bot.ask("/forget", user=PARENT)
            assert not desk.matches.holds("recipe for banana bread")  # the parent's text is gone from memory
            await bot.ask("/forget", user=VOLUNTEER)
            async with http.get(desk.base_url + "/queue") as resp:
                assert resp.status == 401  # the volunteer's session ended
        async with client() as http, http.get(unused) as resp:
            assert resp.status == 401  # and their unused link too


async def test_the_retention_purge_also_empties_the_desks_text_cache(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        desk = desk_of(bot)
        async with client() as http:
            await sign_in(http, await link_for(bot, VOLUNTEER))
            await themes_page(http, desk.base_url + "/themes")
        assert desk.matches.holds("recipe for banana bread")
        assert bot.app.job_queue is not None
        [job] = bot.app.job_queue.get_jobs_by_name("purge")
        await job.run(bot.app)
        assert not desk.matches.holds("recipe for banana bread")


async def test_removing_a_volunteer_means_editing_the_list_and_restarting(tmp_path: Path) -> None:
    """The README's way to take someone's access away: the lists are read at start, and a restart ends
    every desk session (they live in memory only), so the removed volunteer's cookie and /desk fail."""
    async with desk_bot(tmp_path) as bot, client() as http:
        await sign_in(http, await link_for(bot, VOLUNTEER))
        cookie = next(c for c in http.cookie_jar if c.key == "faqbot_desk").value
        unused = await link_for(bot, VOLUNTEER)
    async with desk_bot(tmp_path, volunteers=frozenset()) as bot:  # the list edited, the bot restarted
        base = desk_of(bot).base_url
        async with aiohttp.ClientSession(cookies={"faqbot_desk": cookie}) as http:
            assert (await http.get(base + "/queue")).status == 401
            async with http.get(base + "/login/" + unused.rsplit("/", 1)[1]) as resp:
                assert resp.status == 401
        assert "don't know that command" in (await bot.ask("/desk", user=VOLUNTEER))["text"]


async def test_removing_a_volunteer_and_reloading_ends_their_desk_access_at_once(tmp_path: Path) -> None:
    """/reload re-reads the staff lists (``Services.reread``; ``faqbot run`` passes the real loader):
    the removed volunteer's session and unused link stop working at the next request, no restart."""
    import dataclasses

    async with desk_bot(tmp_path) as bot, client() as http:
        await sign_in(http, await link_for(bot, VOLUNTEER))
        unused = await link_for(bot, VOLUNTEER)
        base = desk_of(bot).base_url
        assert (await http.get(base + "/queue")).status == 200
        svc = bot.app.bot_data.services
        assert svc is not None
        edited = dataclasses.replace(svc.settings, volunteers=frozenset())
        svc.reread = lambda: edited
        said = (await bot.ask("/reload", user=ADMIN))["text"]
        assert "1 removed" in said
        assert (await http.get(base + "/queue")).status == 401
        async with http.get(unused) as resp:  # the page with the Sign in button still shows ...
            token = re.search(r'name="token" value="([^"]+)"', await resp.text())
        assert token is not None
        async with http.post(base + "/login", data={"token": token.group(1)}) as resp:
            assert resp.status == 401  # ... but signing in is refused
        assert "don't know that command" in (await bot.ask("/desk", user=VOLUNTEER))["text"]


async def test_privacy_answer_says_forget_leaves_the_volunteer_chat_copy(tmp_path: Path) -> None:
    """/forget cannot reach the copy of a question posted in the volunteers' group; /privacy must say so."""
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        assert "deleted everything" in (await bot.ask("/forget", user=PARENT))["text"]
        assert bot.api.sent("deleteMessage") == []  # the copy stays in the group
        assert any("banana bread" in t for t in bot.texts(VOLUNTEER_CHAT))
        privacy = (await bot.ask("/privacy", user=PARENT))["text"]
        assert "/forget cannot delete them" in privacy
        assert "volunteers' group" in privacy


async def test_info_logs_hold_no_text_nor_ids(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`faqbot run` logs at INFO: through a whole desk flow (ask, sign in, reply, a blocked parent,
    /forget), no record holds the question, the reply, a user id or a sign-in or session token."""
    caplog.set_level(logging.INFO)
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for zanzibar banana bread", user=PARENT)
        await bot.ask("zanzibar plimf wobble", user=OTHER_PARENT)
        link = await link_for(bot, VOLUNTEER)
        async with client() as http:
            html = await sign_in(http, link)
            session = next(c for c in http.cookie_jar if c.key == "faqbot_desk").value
            first, second = (i.id for i in await bot.store.list_log("open"))
            base = desk_of(bot).base_url
            data = {"csrf": csrf_of(html), "action": "reply", "id": str(first), "text": "Try the quokka."}
            async with http.post(base + "/queue/act", data=data) as resp:
                assert "Sent to the parent" in await resp.text()
            bot.api.fail_next("sendMessage", status=403, chat_id=OTHER_PARENT)
            data = {**data, "id": str(second)}
            async with http.post(base + "/queue/act", data=data) as resp:
                assert resp.status == 200
        await bot.ask("/forget", user=PARENT)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records if r.levelno >= logging.INFO)
    for secret in ("zanzibar", "quokka", session):
        assert secret not in text, secret
    assert not any(mentions(text, n) for n in (PARENT, OTHER_PARENT, VOLUNTEER))
    assert link.rsplit("/", 1)[1] not in text


async def test_a_parent_who_blocked_the_bot_closes_the_item_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 item 17 on the desk's path: a 403 (the parent blocked the bot) was logged as a WARNING
    with a traceback and the item reopened with "please try again", a retry that can never work."""
    caplog.set_level(logging.INFO)
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        [item] = await bot.store.list_log("open")
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            bot.api.fail_next("sendMessage", status=403, chat_id=PARENT)
            data = {"csrf": csrf_of(html), "action": "reply", "id": str(item.id), "text": "Hello."}
            async with http.post(desk_of(bot).base_url + "/queue/act", data=data) as resp:
                assert "can no longer be reached" in await resp.text()
        assert await bot.store.count_log("open") == 0
        assert await bot.store.delivery_chat(item.id) is None  # the chat id is not kept for a retry
    handover = [r for r in caplog.records if r.name == "bot.telegram.handover"]
    assert handover
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in handover)


async def test_telegram_name_and_username_are_never_stored(tmp_path: Path) -> None:
    """bot-privacy: "your Telegram name, username and phone number are not stored". Read the raw file."""
    async with desk_bot(tmp_path) as bot:
        who = {"first_name": "Zebedee", "username": "zeb_parent_77"}
        bot.api.inject_message(PARENT, "zyxt plimf wobble", **who)
        bot.api.inject_message(PARENT, "/volunteer is a sausage roll data", **who)
        group = {"chat_id": -777, "chat_type": "group", **who}
        bot.api.inject_message(PARENT, "@test_faq_bot zyxt plimf group", **group)
        await bot.api.wait_for("sendMessage", chat_id=-777)
        await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        assert await bot.store.count_log(None) == 3
        files = [p for p in tmp_path.iterdir() if p.name.startswith("bot.sqlite3")]
        raw = b"".join(p.read_bytes() for p in files)
        assert b"plimf" in raw  # the logged questions are there ...
        for secret in (b"Zebedee", b"zeb_parent_77"):
            assert secret not in raw  # ... but not who asked


async def test_desk_in_an_unrelated_group_gives_no_link_to_anyone(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        for user in (VOLUNTEER, ADMIN, OUTSIDER):
            bot.api.inject_message(user, "/desk", chat_id=-778, chat_type="group")
        await wait_until(lambda: len(bot.api.sent("getUpdates")) > 0 and bot.idle(), hold=20)
        assert bot.texts(-778) == []  # staff commands are silent in other groups, as unknown ones are
        assert not any("/login/" in t for u in (VOLUNTEER, ADMIN, OUTSIDER) for t in bot.texts(u))
        assert not desk_of(bot).auth._links  # no link was even made


async def test_signing_in_again_ends_the_browsers_previous_session(tmp_path: Path) -> None:
    """A second sign-in in the same browser (say, as another volunteer) left the first session alive."""
    async with desk_bot(tmp_path) as bot:
        base = desk_of(bot).base_url
        async with client() as http:
            await sign_in(http, await link_for(bot, VOLUNTEER))
            first = next(c for c in http.cookie_jar if c.key == "faqbot_desk").value
            await sign_in(http, await link_for(bot, ADMIN))
        async with aiohttp.ClientSession(cookies={"faqbot_desk": first}) as http:
            assert (await http.get(base + "/queue")).status == 401


async def test_follow_up_memory_never_reaches_the_database(tmp_path: Path) -> None:
    """bot-privacy: the last answer is remembered "in memory only, never on disk". After an answer and a
    follow-up that used it, the database holds only per-day answer counts: no row about this person."""
    from tests.test_telegram_conversation import FIRST, FOLLOW_UP, answered

    async with desk_bot(tmp_path) as bot:
        assert answered(await bot.ask(FIRST)) == "dfe-retention"
        assert answered(await bot.ask(FOLLOW_UP)) == "school-retention"  # the memory was used
        db = sqlite3.connect(tmp_path / "bot.sqlite3")
        try:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            filled = {t for t in tables if db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]}
            counts = db.execute("SELECT entry_id, count FROM answer_counts ORDER BY entry_id").fetchall()
        finally:
            db.close()
        assert filled <= {"answer_counts", "meta", "sqlite_sequence"}, filled
        assert counts == [("dfe-retention", 1), ("school-retention", 1)]


async def test_a_question_given_suggestions_is_only_counted(tmp_path: Path) -> None:
    """bot-privacy: a question the bot suggests answers for is not kept: one number per day, no text,
    no entry ids, no user. The Overview's "got suggestions" series reads that number."""
    from tests.test_telegram_conversation import FOLLOW_UP

    async with desk_bot(tmp_path) as bot:
        assert "Did you mean" in str((await bot.ask(FOLLOW_UP))["text"])  # no context: suggestions
        db = sqlite3.connect(tmp_path / "bot.sqlite3")
        try:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            filled = {t for t in tables if db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]}
            rows = db.execute("SELECT * FROM suggestion_counts").fetchall()
        finally:
            db.close()
        assert filled <= {"suggestion_counts", "meta", "sqlite_sequence"}, filled
        assert [count for _, count in rows] == [1]
        assert [d.suggested for d in await bot.store.daily(1)] == [1]


async def test_every_desk_response_forbids_framing_sniffing_caching_and_referrers(tmp_path: Path) -> None:
    """The README: pages allow no scripts, no framing and no referrer (the link page above all)."""
    async with desk_bot(tmp_path) as bot:
        link = await link_for(bot, VOLUNTEER)
        base = desk_of(bot).base_url
        async with client() as http:
            responses = [await http.get(link), await http.get(base + "/queue"), await http.get(base + "/x")]
            await sign_in(http, link)
            for path in ("/queue", "/themes", "/overview", "/entries", "/themes/draft?ids=1", "/nowhere"):
                responses.append(await http.get(base + path))
            responses.append(await http.post(base + "/queue/act", data={"action": "dismiss"}))  # no CSRF
            for resp in responses:
                h = resp.headers
                assert "default-src 'none'" in h["Content-Security-Policy"], resp.url
                assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
                assert "script-src" not in h["Content-Security-Policy"]
                assert h["X-Frame-Options"] == "DENY"
                assert h["Referrer-Policy"] == "no-referrer"
                assert h["X-Content-Type-Options"] == "nosniff"
                assert h["Cache-Control"] == "no-store"
                resp.release()


async def test_the_origin_check_accepts_the_public_url_however_it_is_written(tmp_path: Path) -> None:
    """Behind a reverse proxy the browser's Origin is FAQBOT_DESK_URL's, not the forwarded address."""
    async with desk_bot(tmp_path, desk_url="https://Desk.Example.org:443/review") as bot:
        link = await link_for(bot, VOLUNTEER)
        local = f"http://127.0.0.1:{desk_of(bot).port}/review"
        token = link.rsplit("/", 1)[1]
        async with aiohttp.ClientSession() as http:
            headers = {"Origin": "https://desk.example.org", "Sec-Fetch-Site": "same-origin"}
            async with http.post(
                f"{local}/login", data={"token": token}, headers=headers, allow_redirects=False
            ) as resp:
                assert resp.status == 303


async def test_a_real_faqbot_run_serves_the_desk_and_its_stderr_holds_no_secrets(tmp_path: Path) -> None:
    """`faqbot run` as a process: a parent asks, a volunteer signs in and replies on the desk, the parent
    sends /forget, the bot stops. Its stderr (what an operator keeps) has no token, question or id."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FakeBotAPI() as api:
        env = faqbot_env(
            api, tmp_path / "bot.sqlite3", FAQBOT_DESK_PORT=str(port), FAQBOT_VOLUNTEERS=str(VOLUNTEER)
        )
        proc = await start_faqbot(env, tmp_path)
        try:
            await api.wait_for("getUpdates", timeout=30)
            api.inject_message(PARENT, "recipe for zanzibar banana bread")
            await api.wait_for("sendMessage", chat_id=PARENT)
            api.inject_message(VOLUNTEER, "/desk")
            [sent] = await api.wait_for("sendMessage", chat_id=VOLUNTEER)
            link = re.search(r'href="([^"]+)"', sent.params["text"]).group(1)  # type: ignore[union-attr]
            assert link.startswith(f"http://127.0.0.1:{port}/login/")
            async with client() as http:
                html = await sign_in(http, link)
                assert "zanzibar" in html
                item = re.search(r'name="id" value="(\d+)"', html).group(1)  # type: ignore[union-attr]
                data = {"csrf": csrf_of(html), "action": "reply", "id": item, "text": "Try the quokka."}
                async with http.post(f"http://127.0.0.1:{port}/queue/act", data=data) as resp:
                    assert "Sent to the parent" in await resp.text()
                session = next(c for c in http.cookie_jar if c.key == "faqbot_desk").value
            texts = [c.params["text"] for c in await api.wait_for("sendMessage", chat_id=PARENT, count=2)]
            assert "Try the quokka." in texts[-1]
            api.inject_message(PARENT, "/forget")
            await api.wait_for("sendMessage", chat_id=PARENT, count=3)
        finally:
            await stop_faqbot(proc)
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
    assert "review desk listening" in err
    token = link.rsplit("/", 1)[1]
    for secret in ("zanzibar", "quokka", token, session, api.token.split(":")[1]):
        assert secret not in err, secret
    messages = re.sub(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "", err)  # not the timestamps
    assert not mentions(messages, PARENT)
    assert not mentions(messages, VOLUNTEER)


def mentions(text: str, number: int) -> bool:
    """Does ``text`` hold this id as a number of its own (not inside a port like 38004)?"""
    return re.search(rf"(?<![\d-]){number}(?!\d)", text) is not None


async def test_a_volunteer_cannot_use_the_admins_theme_attach(tmp_path: Path) -> None:
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        [item] = await bot.store.list_log("open")
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            data = {"csrf": csrf_of(html), "entry": "upn", "days": "30", "id": str(item.id)}
            async with http.post(desk_of(bot).base_url + "/themes/attach", data=data) as resp:
                assert resp.status == 403
                assert "Only admins" in await resp.text()
        assert (await bot.store.get_log(item.id)).status == "open"  # type: ignore[union-attr]
        assert len(bot.texts(PARENT)) == 1  # the parent got nothing more


async def test_the_flood_limit_lets_go_of_a_raw_user_id_within_two_minutes(tmp_path: Path) -> None:
    """The flood limit keyed its windows by raw Telegram id and let go only past 10,000 users: after
    /forget ("I deleted everything I held about you") the parent's id stayed in memory for good."""
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        await bot.ask("/forget", user=PARENT)
        flood = bot.app.bot_data.services.flood
        assert PARENT in flood._seen  # still counting this minute's messages: a flood stays limited
        assert flood.allow(OTHER_PARENT, now=time.monotonic() + 121)  # two minutes on, anyone writes
        assert PARENT not in flood._seen
        assert PARENT not in flood._warned
        await bot.ask("recipe for banana bread", user=PARENT)
        assert PARENT in flood._seen
        flood.clock = lambda: time.monotonic() + 121  # nobody writes again for two minutes ...
        assert bot.app.job_queue is not None
        [job] = bot.app.job_queue.get_jobs_by_name("context")
        await job.run(bot.app)  # ... and the bot's minute job lets go all the same
        assert PARENT not in flood._seen


async def test_markup_in_a_question_stays_text_on_every_page_that_shows_it(tmp_path: Path) -> None:
    evil = 'zyxt </pre></textarea><svg onload=alert(1)> "quoted" & plimf'
    async with desk_bot(tmp_path) as bot:
        await bot.ask(evil, user=PARENT)
        [item] = await bot.store.list_log("open")
        assert "<svg" in item.text  # stored as typed (redaction keeps markup); escaping is the desk's job
        async with client() as http:
            await sign_in(http, await link_for(bot, ADMIN))
            base = desk_of(bot).base_url
            pages = ("/queue", "/themes", f"/themes/draft?ids={item.id}", "/overview", "/queue?state=all")
            for path in pages:
                async with http.get(base + path) as resp:
                    html = await resp.text() if path != "/themes" else await themes_page(http, base + path)
                    assert resp.status == 200, path
                    assert "<svg onload" not in html, path
                    assert "</pre></textarea>" not in html, path
            assert "&lt;svg onload=alert(1)&gt;" in await (await http.get(base + "/queue")).text()
