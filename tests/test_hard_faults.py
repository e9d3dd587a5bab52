"""Faults: the Bot API rate-limits, fails, stalls and drops connections; a handler raises; the process is
killed mid-burst; the database is locked or read-only at start. Nothing a parent asked is lost."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import ApplicationBuilder

import bot.telegram.app as app_module
from bot.live import build
from bot.matcher import Outcome
from bot.privacy import load_or_create_key, pseudonymise
from bot.store import Store, StoreError
from bot.telegram.app import SORRY
from tests.conftest import SHIPPED
from tests.fake_bot_api import FakeBotAPI
from tests.support import wait_until
from tests.telegram_harness import Running, faqbot_env, running_bot, start_faqbot, stop_faqbot

FAQBOT = Path(sys.executable).with_name("faqbot")
USERS = range(3001, 3009)  # one chat per question keeps "exactly one reply each" easy to check
ANSWERABLE = [
    "what is a unique pupil number?",
    "what is the school census",
    "what is the national pupil database",
    "how long is data kept",
    "can i opt out of the census",
    "who can see my childs data",
]


def _replies(bot: Running, chat: int) -> list[dict[str, Any]]:
    return bot.api.sent("sendMessage", chat_id=chat)


async def _ask_many(bot: Running, questions: list[str], timeout: float = 15.0) -> list[int]:
    """Each question from its own user at once; wait until every chat has a reply; return the chats."""
    chats = list(USERS)[: len(questions)]
    for chat, text in zip(chats, questions, strict=True):
        bot.api.inject_message(chat, text)
    await wait_until(lambda: all(_replies(bot, c) for c in chats), timeout, what=bot.api.describe_calls)
    await bot.api.wait_consumed()
    return chats


async def _assert_each_answered_once(bot: Running, chats: list[int]) -> None:
    await bot.settle()  # any duplicate or late error reply has been sent by now
    for chat in chats:
        replies = _replies(bot, chat)
        assert len(replies) == 1, [r["text"][:60] for r in replies]
        assert "Sources" in replies[0]["text"]
        assert SORRY not in replies[0]["text"]


async def _wait_for_new_call(api: FakeBotAPI, method: str, seen: int, timeout: float = 5.0) -> None:
    """Wait until a call of ``method`` beyond the first ``seen`` has arrived (it has taken any fault)."""
    await wait_until(lambda: _count(api, method) > seen, timeout, what=f"no new {method} call")


def _count(api: FakeBotAPI, method: str) -> int:
    return sum(c.method == method for c in api.calls)


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bot API read timeouts under 1 s (PTB's default is 5 s), so a stalled response is given up quickly."""

    def builder() -> ApplicationBuilder:
        return ApplicationBuilder().read_timeout(0.8).get_updates_read_timeout(0.5)

    monkeypatch.setattr(app_module, "ApplicationBuilder", builder)


# --------------------------------------------------------------------------- Bot API errors


@pytest.mark.parametrize("rate_limit", [True, False], ids=["AIORateLimiter", "own-retries"])
async def test_429_retry_after_is_honoured_and_nothing_is_lost(tmp_path: Path, rate_limit: bool) -> None:
    async with running_bot(tmp_path, rate_limit=rate_limit) as bot:
        await bot.api.wait_for("setMyCommands")
        bot.api.fail_next("sendMessage", status=429, retry_after=1)
        chats = await _ask_many(bot, ANSWERABLE[:4])
        await _assert_each_answered_once(bot, chats)
        sends = [c for c in bot.api.calls if c.method == "sendMessage"]
        limited = [c for c in sends if c.status == 429]
        assert len(limited) == 1
        for call in limited:  # the retry waited for retry_after, it did not hammer the API
            chat = call.params["chat_id"]
            retry = next(c for c in sends if c.ok and c.params["chat_id"] == chat)
            assert retry.time - call.time >= 0.9, retry.time - call.time


@pytest.mark.parametrize("rate_limit", [True, False], ids=["AIORateLimiter", "own-retries"])
async def test_a_burst_past_telegrams_30_a_second_is_answered_once_each(
    tmp_path: Path, rate_limit: bool
) -> None:
    """The fake refuses (429) past 30 messages a second. PTB's AIORateLimiter keeps under that limit; without
    it Telegram refuses some replies, and the bot's own retries still deliver every one, once."""
    users = range(7001, 7081)
    async with running_bot(
        tmp_path, rate_limit=rate_limit, flood_per_minute=1000, fake={"flood_limit": True}
    ) as bot:
        await bot.api.wait_for("setMyCommands")
        for user in users:
            bot.api.inject_message(user, ANSWERABLE[0])
        await wait_until(lambda: all(_replies(bot, u) for u in users), 30, what=bot.api.describe_calls)
        await bot.settle()
        for user in users:
            [reply] = _replies(bot, user)
            assert "Sources" in reply["text"]
        limited = [c for c in bot.api.calls if c.status == 429]
        if rate_limit:
            assert not limited  # kept under the limit
        else:
            assert limited  # the limit is real


async def test_server_errors_are_retried(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.api.wait_for("setMyCommands")
        bot.api.fail_next("sendMessage", status=500, times=2)
        bot.api.fail_next("sendMessage", status=502, times=1)
        chats = await _ask_many(bot, ANSWERABLE[:3])
        await _assert_each_answered_once(bot, chats)
        statuses = [c.status for c in bot.api.calls if c.method == "sendMessage"]
        assert statuses.count(500) == 2
        assert statuses.count(502) == 1
        assert statuses.count(200) == 3


async def test_server_errors_on_get_updates_are_survived(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        seen = _count(bot.api, "getUpdates")
        bot.api.fail_next("getUpdates", status=500)
        await _wait_for_new_call(bot.api, "getUpdates", seen)
        chats = await _ask_many(bot, ANSWERABLE[:3])
        await _assert_each_answered_once(bot, chats)
        assert sum(c.status == 500 for c in bot.api.calls if c.method == "getUpdates") == 1


# --------------------------------------------------------------------------- stalls and dropped connections


async def test_send_stalled_past_the_read_timeout_is_retried_once(
    tmp_path: Path, short_timeouts: None
) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.api.wait_for("setMyCommands")
        bot.api.delay("sendMessage", 2.0, times=1)
        chats = await _ask_many(bot, ANSWERABLE[:2])
        await _assert_each_answered_once(bot, chats)
        sends = [c for c in bot.api.calls if c.method == "sendMessage"]
        assert [c.status for c in sends].count("cancelled") == 1  # the client gave up on the stalled call
        assert len(bot.api.delivered) == 2  # and the cancelled call had no effect


async def test_poll_stalled_past_the_read_timeout_loses_nothing(tmp_path: Path, short_timeouts: None) -> None:
    async with running_bot(tmp_path) as bot:
        seen = _count(bot.api, "getUpdates")
        bot.api.delay("getUpdates", 2.5, times=1)  # the client gives up after 0.5 s + the 1 s long poll
        await _wait_for_new_call(bot.api, "getUpdates", seen)
        chats = await _ask_many(bot, ANSWERABLE[:3])
        await _assert_each_answered_once(bot, chats)
        assert any(c.status == "cancelled" for c in bot.api.calls if c.method == "getUpdates")


@pytest.mark.parametrize("after_processing", [False, True], ids=["request-lost", "response-lost"])
async def test_dropped_poll_connection_loses_nothing(tmp_path: Path, after_processing: bool) -> None:
    async with running_bot(tmp_path) as bot:
        seen = _count(bot.api, "getUpdates")
        bot.api.drop_next("getUpdates", after_processing=after_processing)
        await _wait_for_new_call(bot.api, "getUpdates", seen)  # this poll has taken the fault
        chats = list(USERS)[:3]
        updates = [bot.api.inject_message(c, q)["update_id"] for c, q in zip(chats, ANSWERABLE, strict=False)]
        await wait_until(lambda: all(_replies(bot, c) for c in chats), 10, what=bot.api.describe_calls)
        await _assert_each_answered_once(bot, chats)
        assert any(c.status == "dropped" for c in bot.api.calls if c.method == "getUpdates")
        if after_processing:  # the updates went out, the response was lost: fetched again, handled once
            assert all(bot.api.delivery_counts[u] >= 2 for u in updates), bot.api.delivery_counts


async def test_dropped_send_before_processing_is_retried_without_duplicate(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.api.wait_for("setMyCommands")
        bot.api.drop_next("sendMessage", times=2)
        chats = await _ask_many(bot, ANSWERABLE[:3])
        await _assert_each_answered_once(bot, chats)
        assert sum(c.status == "dropped" for c in bot.api.calls if c.method == "sendMessage") == 2


async def test_dropped_send_response_still_delivers(tmp_path: Path) -> None:
    """The message went out but the response was lost: the retry may duplicate it (Telegram has no
    idempotency key), but it is never lost, and the bot carries on."""
    async with running_bot(tmp_path) as bot:
        await bot.api.wait_for("setMyCommands")
        chat = USERS[0]
        bot.api.drop_next("sendMessage", after_processing=True, chat_id=chat)
        reply = await bot.ask(ANSWERABLE[0], user=chat)
        assert "Sources" in reply["text"]
        await bot.settle()
        delivered = bot.api.bot_messages(chat)
        assert 1 <= len(delivered) <= 2
        assert all("Sources" in m["text"] for m in delivered)
        assert "Sources" in (await bot.ask(ANSWERABLE[1], user=chat))["text"]


# --------------------------------------------------------------------------- a handler raises


@pytest.mark.parametrize(
    ("method", "question", "error"),
    [
        ("log_question", "zyxt plimf wobble", StoreError("the database is locked")),
    ],
)
async def test_exception_in_a_handler_gets_an_apology_then_normal_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, question: str, error: Exception
) -> None:
    async with running_bot(tmp_path) as bot:
        real = getattr(bot.store, method)
        calls = []

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            if len(calls) == 1:
                raise error
            return await real(*args, **kwargs)

        monkeypatch.setattr(bot.store, method, flaky)
        chat = USERS[0]
        first = await bot.ask(question, user=chat)
        assert first["text"] == SORRY
        second = await bot.ask(question, user=chat)
        assert second["text"] != SORRY
        await bot.settle()
        assert [r["text"] == SORRY for r in _replies(bot, chat)] == [True, False]  # one reply each
        assert "don't know" in second["text"]
        assert await bot.store.count_log(None) == 1


@pytest.mark.parametrize("method", ["count_answer", "add_feedback"])
async def test_failing_analytics_never_block_an_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    """Counting answers and votes is analytics: when it fails the parent still gets the answer (and the
    thank-you), and the failure is logged."""
    async with running_bot(tmp_path) as bot:

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise StoreError("the database is locked")

        monkeypatch.setattr(bot.store, method, broken)
        chat = USERS[0]
        reply = await bot.ask("what is a unique pupil number?", user=chat)
        assert "Sources" in reply["text"]
        assert SORRY not in reply["text"]
        if method == "add_feedback":
            message = bot.api.bot_messages(chat)[-1]
            await bot.press(chat, message, "fb:up:upn")
            assert "Thank you" in (bot.api.callback_answers[max(bot.api.callback_answers)].get("text") or "")
        await asyncio.sleep(0.2)
        assert [r["text"] == SORRY for r in _replies(bot, chat)] == [False]  # one reply, no apology
        expected = "could not count" if method == "count_answer" else "could not record feedback"
        assert any(expected in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


# --------------------------------------------------------------------------- the real process


def _question(i: int) -> str:
    """Unanswerable, unique, and untouched by redaction: 'zyxt plimf' plus the index spelt in letters."""
    letters = "".join("bcdfghjklm"[int(d)] for d in f"{i:03d}")
    return f"zyxt plimf wobble {letters}"


async def test_sigkill_mid_burst_leaves_a_clean_database_with_every_answered_row(tmp_path: Path) -> None:
    snap = build(SHIPPED)
    assert all(snap.match(_question(i)).outcome is Outcome.UNKNOWN for i in range(200))
    secret = "a-test-secret-of-32-characters!!"
    db = tmp_path / "bot.sqlite3"
    async with FakeBotAPI() as api:
        proc = await start_faqbot(
            faqbot_env(api, db, FAQBOT_SECRET=secret, FAQBOT_FLOOD_PER_MINUTE="10000"), tmp_path
        )
        try:
            await _wait_for_new_call(api, "getUpdates", 0, timeout=20)  # it is up and polling
            asked: dict[tuple[int, int], str] = {}
            for i in range(200):
                user = 5000 + i % 40
                update = api.inject_message(user, _question(i))
                asked[(user, update["message"]["message_id"])] = _question(i)
            await wait_until(
                lambda: len(api.delivered) >= 40 or proc.returncode is not None,
                20,
                interval=0.005,
                what=api.describe_calls,
            )
            assert proc.returncode is None, "the bot died before the kill"
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)
        finally:
            await stop_faqbot(proc, graceful=False)
        # the killed process's connections are closed: every call it made has finished one way or another
        await wait_until(lambda: all(c.status != "pending" for c in api.calls if c.method != "getUpdates"))
        delivered = [
            (m["chat"]["id"], m["reply_to_message"]["message_id"])
            for m in api.delivered
            if "reply_to_message" in m
        ]
    assert proc.returncode == -signal.SIGKILL
    assert 40 <= len(delivered) < 200, "the kill was not mid-burst"
    assert all(m in asked for m in delivered)

    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        hashes = {h for (h,) in raw.execute("SELECT DISTINCT user_hash FROM log")}
    finally:
        raw.close()
    key = load_or_create_key(secret, db.with_suffix(".key"))
    store = await Store.open(db, key)
    try:
        rows = await store.list_log(None, limit=1000)
        stored = {(item.text, item.reason) for item in rows}
        for user, message_id in delivered:  # the reply went out only after its row was committed
            assert (asked[(user, message_id)], "unanswered") in stored, asked[(user, message_id)]
        assert {item.text for item in rows} <= set(asked.values())  # no garbage rows
        assert len(rows) == len({item.text for item in rows})  # and no question logged twice
        for user, message_id in delivered:
            text = asked[(user, message_id)]
            [item] = [i for i in rows if i.text == text]
            assert await store.delivery_chat(item.id) == user
        # the surviving database still works
        new_id = await store.log_question(1, 1, "after the crash", reason="unanswered")
        assert (await store.get_log(new_id)).text == "after the crash"
        assert hashes <= {pseudonymise(u, key) for u in range(5000, 5040)}  # pseudonyms, not ids
    finally:
        await store.close()


async def _start_and_wait(env: dict[str, str], cwd: Path, api: FakeBotAPI) -> tuple[int | None, str, bool]:
    """Run ``faqbot run`` until it exits or starts polling; return (exit code, stderr, polled)."""
    proc = await start_faqbot(env, cwd)
    polled = False
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while proc.returncode is None and loop.time() < deadline:
            if any(c.method == "getUpdates" for c in api.calls):
                polled = True
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.05)
    finally:
        await stop_faqbot(proc, graceful=False)
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode(errors="replace")
    return (None if polled else proc.returncode), err, polled


def _assert_one_clear_line(rc: int | None, err: str, polled: bool, *words: str) -> None:
    assert not polled, "the bot started polling instead of refusing to start"
    assert rc not in (None, 0), rc
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if lines and lines[0] == "The configuration has problems:":  # caught by the settings check
        lines = [" ".join(lines)]
    assert len(lines) == 1, lines
    assert all(w in lines[0] for w in words), lines[0]


def _lock_exclusively(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


@dataclasses.dataclass
class _LockedRun:
    proc: subprocess.Popen[bytes]
    db: Path
    started: float
    stderr: bytes = b""
    ended: float | None = None

    def collect(self) -> None:  # in a thread: wait for the exit, note when it happened
        self.stderr = self.proc.communicate()[1]
        self.ended = time.monotonic()


@pytest.fixture(scope="module", autouse=True)
def locked_journal_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_LockedRun]:
    """``faqbot run`` on a rollback-journal database that another connection holds with BEGIN EXCLUSIVE.

    SQLite's busy timeout makes the bot wait 5 s before it gives up, so the run starts in the background
    as soon as this module does, and its own test collects the result later. It talks to nothing: the API
    URL is a closed port on 127.0.0.1, and a correct bot stops before using it.
    """
    tmp = tmp_path_factory.mktemp("locked")
    db = tmp / "bot.sqlite3"
    setup = sqlite3.connect(db)
    setup.execute("CREATE TABLE t (x)")
    setup.commit()
    setup.close()
    holder = _lock_exclusively(db)
    proc = subprocess.Popen(
        [str(FAQBOT), "run"],
        cwd=tmp,
        env=faqbot_env(None, db, FAQBOT_SECRET="s" * 20),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    run = _LockedRun(proc, db, time.monotonic())
    collector = threading.Thread(target=run.collect, daemon=True)
    collector.start()
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.kill()
        collector.join(10)
        holder.close()


def test_locked_database_refuses_to_start_with_one_clear_line(locked_journal_run: _LockedRun) -> None:
    run = locked_journal_run
    deadline = run.started + 15
    while run.ended is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.ended is not None, "faqbot run neither started nor gave up on a locked database in 15 s"
    assert run.ended - run.started < 12  # the busy timeout, not a hang
    err = run.stderr.decode(errors="replace")
    _assert_one_clear_line(run.proc.returncode, err, False, str(run.db), "locked")


async def test_locked_wal_database_refuses_to_start_with_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    store = await Store.open(db, b"s" * 20)  # a real faqbot database (WAL), with the key the bot will use
    await store.close()
    holder = _lock_exclusively(db)
    try:
        async with FakeBotAPI() as api:
            rc, err, polled = await _start_and_wait(
                faqbot_env(api, db, FAQBOT_SECRET="s" * 20), tmp_path, api
            )
    finally:
        holder.close()
    _assert_one_clear_line(rc, err, polled, str(db), "locked")


@pytest.mark.parametrize("what", ["file", "folder"])
async def test_read_only_database_refuses_to_start_with_one_clear_line(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "bot.sqlite3"
    store = await Store.open(db, b"s" * 20)  # the key the bot will use: only the permissions are wrong
    await store.close()
    target = db if what == "file" else folder
    mode = target.stat().st_mode
    target.chmod(0o444 if what == "file" else 0o555)
    try:
        async with FakeBotAPI() as api:
            rc, err, polled = await _start_and_wait(
                faqbot_env(api, db, FAQBOT_SECRET="s" * 20), tmp_path, api
            )
    finally:
        target.chmod(mode)
    _assert_one_clear_line(rc, err, polled, "read-only")


@pytest.mark.parametrize("case", ["short-secret", "short-key-file", "db-under-a-file"])
async def test_bad_key_or_db_path_refuses_to_start_with_one_clear_line(tmp_path: Path, case: str) -> None:
    db = tmp_path / "bot.sqlite3"
    extra: dict[str, str] = {}
    if case == "short-secret":
        extra["FAQBOT_SECRET"] = "short"
    elif case == "short-key-file":
        db.with_suffix(".key").write_bytes(b"tiny")
    else:
        (tmp_path / "a-file").write_text("not a folder")
        db = tmp_path / "a-file" / "bot.sqlite3"
    async with FakeBotAPI() as api:
        rc, err, polled = await _start_and_wait(faqbot_env(api, db, **extra), tmp_path, api)
    _assert_one_clear_line(rc, err, polled)


async def test_a_user_who_blocked_the_bot_is_an_info_line_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(tmp_path) as bot:
        chat = USERS[0]
        bot.api.fail_next(
            "sendMessage", status=403, description="Forbidden: bot was blocked by the user", chat_id=chat
        )
        bot.api.inject_message(chat, ANSWERABLE[0])
        await bot.api.wait_for("sendMessage", chat_id=chat, include_failed=True)
        await bot.api.wait_consumed()
        await asyncio.sleep(0.3)  # an apology, if tried, would have been sent by now
        calls = [
            c for c in bot.api.calls if c.method == "sendMessage" and str(c.params["chat_id"]) == str(chat)
        ]
        assert [c.status for c in calls] == [403]  # no apology that cannot arrive
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("blocked the bot" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
        assert "Sources" in (await bot.ask(ANSWERABLE[1], user=USERS[1]))["text"]  # and it carries on


async def test_one_retry_layer_with_the_rate_limiter_on(tmp_path: Path) -> None:
    """AIORateLimiter's retries used to wrap send.py's: up to 4 x 4 sends of one message. Now each
    message is tried at most MAX_ATTEMPTS times in all."""
    from bot.telegram.send import MAX_ATTEMPTS

    async with running_bot(tmp_path, rate_limit=True) as bot:
        await bot.api.wait_for("setMyCommands")
        chat = USERS[0]
        bot.api.fail_next("sendMessage", status=429, retry_after=1, times=MAX_ATTEMPTS + 2, chat_id=chat)
        bot.api.inject_message(chat, ANSWERABLE[0])
        await bot.api.wait_for("sendMessage", chat_id=chat, timeout=20)  # the first that got through
        sends = [c for c in bot.api.calls if c.method == "sendMessage" and c.params["chat_id"] == chat]
        answer_tries = [c for c in sends if "Sources" in c.params["text"]]
        assert len(answer_tries) == MAX_ATTEMPTS, [c.status for c in answer_tries]
        assert [c.status for c in sends] == [429] * (MAX_ATTEMPTS + 2) + [200]
