"""Security and privacy hardening (issue 12), through the real bot and the fake Bot API (and real
`faqbot run` processes where the item is about the process): stale volunteer buttons, /forget in groups
and after a key change, pending replies, the token in stderr, the pid file, stable section buttons."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.logmask import SecretFilter
from bot.store import Store
from bot.telegram.volunteers import GONE
from tests.conftest import SHIPPED, VALID_ENTRY
from tests.fake_bot_api import FakeBotAPI
from tests.telegram_harness import (
    ADMIN,
    OTHER_PARENT,
    PARENT,
    VOLUNTEER,
    VOLUNTEER_CHAT,
    Running,
    buttons,
    faqbot_env,
    running_bot,
    start_faqbot,
    stop_faqbot,
)
from tests.test_hard_faults import _assert_one_clear_line, _start_and_wait
from tests.test_hard_reload_auth import _press

UNKNOWN = "zyxt plimf wobble"


async def _card(bot: Running, count: int) -> dict:
    """The volunteer-chat card of the ``count``-th logged question."""
    await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT, count=count)
    return bot.api.bot_messages(VOLUNTEER_CHAT)[count - 1]


# --------------------------------------------------------------------------- item 2: ids never reused


async def test_a_stale_reply_button_never_reaches_another_parent(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask(UNKNOWN)
        [old] = await bot.store.list_log("open")
        old_card = await _card(bot, 1)
        await bot.ask("/forget")
        await bot.ask(UNKNOWN + " again", user=OTHER_PARENT)
        [new] = await bot.store.list_log("open")
        assert new.id != old.id  # the forgotten id is not handed out again
        answer = await _press(bot, VOLUNTEER, old_card, f"q:r:{old.id}")
        assert answer == {"text": GONE, "show_alert": True}
        assert await bot.store.reply_session(VOLUNTEER) is None
        before = len(bot.texts(OTHER_PARENT))
        await bot.ask("Hello, this is the school. Please send us your bank details.", user=VOLUNTEER)
        await asyncio.sleep(0.2)
        assert len(bot.texts(OTHER_PARENT)) == before  # nothing reached the other parent
        assert (await bot.store.get_log(new.id)).status == "open"


# --------------------------------------------------------------------------- item 3: /forget is complete


async def test_a_question_logged_by_another_group_member_is_the_askers_to_forget(tmp_path: Path) -> None:
    group = -777
    async with running_bot(tmp_path) as bot:
        for question, data in [("@test_faq_bot data", "none"), ("@test_faq_bot what is a upn", "fb:dn:upn")]:
            bot.api.inject_message(PARENT, question, chat_id=group, chat_type="group")
            [call] = await bot.api.wait_for(
                "sendMessage", lambda p, d=data: d in str(p.get("reply_markup")), chat_id=group
            )
            reply = call.result
            await _press(bot, OTHER_PARENT, reply, data)  # another member presses the asker's button
        assert await bot.store.count_log(None) == 2
        await bot.ask("/forget", user=OTHER_PARENT)
        assert await bot.store.count_log(None) == 2  # the presser's /forget does not take them
        forgot = await bot.ask("/forget", user=PARENT)
        assert "(2 records removed)" in forgot["text"]
        assert await bot.store.count_log(None) == 0
        with sqlite3.connect(bot.settings.db_path) as con:
            texts = con.execute("SELECT text FROM log").fetchall()
        assert texts == []


def _buttons(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b.get("callback_data") for row in rows for b in row]


async def test_a_changed_key_stops_the_bot_with_a_way_out(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    store = await Store.open(db, b"the-old-secret-0123456789")
    await store.log_question(PARENT, PARENT, "a question from before", reason="unanswered")
    await store.close()
    async with FakeBotAPI() as api:
        env = faqbot_env(api, db, FAQBOT_SECRET="a-new-secret-0123456789")
        rc, err, polled = await _start_and_wait(env, tmp_path, api)
        _assert_one_clear_line(rc, err, polled, "does not match", "faqbot log reset-key")
        refused = await asyncio.create_subprocess_exec(
            *_faqbot("log", "reset-key"), env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
        )
        _, said = await refused.communicate()
        assert refused.returncode == 1
        assert b"--yes" in said
        reset = await asyncio.create_subprocess_exec(
            *_faqbot("log", "reset-key", "--yes"), env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
        )
        await reset.communicate()
        assert reset.returncode == 0
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM log").fetchone() == (0,)
        _, err, polled = await _start_and_wait(env, tmp_path, api)
        assert polled, err  # the bot now starts with the new key


def _faqbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


# --------------------------------------------------------------------------- items 11 and 14: pending replies


async def _start_reply(bot: Running) -> tuple[int, dict]:
    await bot.ask(UNKNOWN)
    [item] = await bot.store.list_log("open")
    card = await _card(bot, 1)
    bot.api.start_chat(VOLUNTEER)  # Telegram: the bot may write only to people who pressed Start
    await bot.press(VOLUNTEER, card, f"q:r:{item.id}")
    [prompt] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER)
    return item.id, prompt.params


async def test_the_reply_prompt_says_who_it_reaches_and_for_how_long(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        item_id, prompt = await _start_reply(bot)
        assert f"#{item_id}" in prompt["text"]
        assert UNKNOWN in prompt["text"]
        assert "private chat" in prompt["text"]
        assert "15 minutes" in prompt["text"]


async def test_a_pending_reply_expires_after_15_minutes(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        item_id, _ = await _start_reply(bot)
        with sqlite3.connect(bot.settings.db_path) as con:  # the volunteer wandered off for 16 minutes
            con.execute("UPDATE volunteer_session SET created_at = datetime('now', '-16 minutes')")
        parent_before = len(bot.texts(PARENT))
        said = await bot.ask("what is a upn", user=VOLUNTEER)
        assert "expired" in said["text"]
        assert "NOT sent" in said["text"]
        await asyncio.sleep(0.2)
        assert len(bot.texts(PARENT)) == parent_before
        assert (await bot.store.get_log(item_id)).status == "open"
        assert "Sources" in (await bot.ask("what is a upn", user=VOLUNTEER))["text"]  # back to normal


async def test_forget_cancels_a_pending_reply_and_tells_the_volunteer(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        item_id, _ = await _start_reply(bot)
        await bot.ask("/forget")
        [_, told] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=2)
        assert f"#{item_id}" in told.params["text"]
        assert "cancelled" in told.params["text"]
        said = await bot.ask("Here is my careful answer to your question.", user=VOLUNTEER)
        assert "NOT sent" in said["text"]
        await asyncio.sleep(0.2)
        assert not any("careful answer" in t for t in bot.texts(PARENT))
        assert await bot.store.count_log(None) == 0  # the reply was not taken for a new question


# --------------------------------------------------------------------------- item 5: the token in stderr


@pytest.mark.parametrize("status", [401, 404])
async def test_a_rejected_token_is_never_printed(tmp_path: Path, status: int) -> None:
    """A revoked token (401) or a wrong FAQBOT_API_URL path (404): PTB logs the token in its exception."""
    async with FakeBotAPI(token="123456:AAH-very-secret-token-part") as api:
        api.fail_next("getMe", status=status, times=100)
        rc, err, polled = await _start_and_wait(faqbot_env(api, tmp_path / "bot.sqlite3"), tmp_path, api)
    assert not polled, err
    assert rc == 1, err
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in err
    assert "AAH-very-secret-token-part" not in err
    assert "123456:" not in err
    assert "[secret]" in err  # the record was there, masked


def test_the_mask_covers_arguments_and_tracebacks() -> None:
    mask = SecretFilter(["42:topsecret-value", None])
    try:
        raise ValueError("token 42:topsecret-value rejected")
    except ValueError:
        args = ("bot42", "topsecret-value")
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "url %s/%s", args, sys.exc_info())
    assert mask.filter(record)
    text = logging.Formatter().format(record)
    assert "topsecret-value" not in text
    assert "[secret]" in text


# --------------------------------------------------------------------------- item 15: the pid file


async def test_the_pid_file_is_locked_while_the_bot_lives_and_trusted_only_then(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    async with FakeBotAPI() as api:
        env = faqbot_env(api, db)
        first = await start_faqbot(env, tmp_path)
        try:
            await api.wait_for("getUpdates", timeout=20)
            second = await asyncio.create_subprocess_exec(
                *_faqbot("run"), env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
            )
            _, err = await asyncio.wait_for(second.communicate(), 20)
            assert second.returncode == 1, err
            assert b"already using" in err, err
            assert int((tmp_path / "bot.pid").read_text()) == first.pid  # the second one left it alone
        finally:
            await stop_faqbot(first, graceful=False)  # SIGKILL: the pid file stays behind
        assert (tmp_path / "bot.pid").exists()
        reload = await asyncio.create_subprocess_exec(
            *_faqbot("reload"), env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
        )
        _, err = await reload.communicate()
        assert reload.returncode == 1, err
        assert b"did not stop cleanly" in err, err


# --------------------------------------------------------------------------- item 20: stable section buttons


async def test_an_old_section_button_opens_the_same_section_after_a_reload(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge)
    async with running_bot(tmp_path, knowledge=knowledge) as bot:
        topics = await bot.ask("/topics")
        old_message = bot.api.bot_messages(PARENT)[-1]
        first_data = buttons(topics)[0]
        first_title = topics["reply_markup"]["inline_keyboard"][0][0]["text"]
        (knowledge / "aaa-new.yaml").write_text(VALID_ENTRY)  # a new section sorts first
        assert "Reloaded" in (await bot.ask("/reload", user=ADMIN))["text"]
        new_first = (await bot.ask("/topics"))["reply_markup"]["inline_keyboard"][0][0]["text"]
        assert new_first != first_title  # the positions really moved
        await bot.press(PARENT, old_message, first_data)
        [edit] = await bot.api.wait_for("editMessageText")
        assert edit.params["text"] == f"<b>{first_title}</b>", edit.params["text"]
        await bot.press(PARENT, old_message, "sec:0")  # an old positional button: out of date, not wrong
        assert "out of date" in bot.last_answer()


# ------------------------------------------------------------------------- item 6: where staff commands work


async def test_staff_commands_work_only_in_private_and_in_the_volunteer_chat(tmp_path: Path) -> None:
    other_group = -4343
    async with running_bot(tmp_path) as bot:
        await bot.ask(UNKNOWN)  # an open question /queue would post
        await _card(bot, 1)
        for user, command in ((VOLUNTEER, "/queue"), (ADMIN, "/stats"), (ADMIN, "/queue")):
            bot.api.inject_message(user, command, chat_id=other_group, chat_type="group")
        bot.api.inject_message(PARENT, "@test_faq_bot what is a upn", chat_id=other_group, chat_type="group")
        await bot.api.wait_for("sendMessage", lambda p: "Sources" in p["text"], chat_id=other_group)
        await bot.api.wait_consumed()
        await asyncio.sleep(0.3)
        assert len(bot.texts(other_group)) == 1  # only the answer to the parent: no queue, no stats
        card = bot.api.bot_messages(VOLUNTEER_CHAT)[0]
        stray = dict(card, chat={"id": other_group, "type": "group", "title": "Test group"})
        [item] = await bot.store.list_log("open")
        assert await _press(bot, VOLUNTEER, stray, f"q:d:{item.id}") == {}  # a button there is refused
        assert (await bot.store.get_log(item.id)).status == "open"
        bot.api.inject_message(VOLUNTEER, "/queue", chat_id=VOLUNTEER_CHAT, chat_type="group")
        await bot.api.wait_for("sendMessage", lambda p: "open question" in p["text"], chat_id=VOLUNTEER_CHAT)
        assert "open question" in (await bot.ask("/queue", user=VOLUNTEER))["text"]
        assert "Last 7 days" in (await bot.ask("/stats", user=ADMIN))["text"]


# --------------------------------------------------------------------------- item 10: a lone surrogate


async def test_a_lone_surrogate_is_logged_with_the_character_replaced(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask(UNKNOWN + " \ud800 end")
        assert "don't know" in reply["text"]
        assert "went wrong" not in reply["text"]
        [item] = await bot.store.list_log("open")
        assert item.text == UNKNOWN + " \ufffd end"


# --------------------------------------------------------------------------- item 13: the key kept apart


async def test_the_key_file_can_live_apart_from_the_database(tmp_path: Path) -> None:
    data, secrets = tmp_path / "data", tmp_path / "secrets"
    data.mkdir()
    db, key = data / "bot.sqlite3", secrets / "faqbot.key"
    async with FakeBotAPI() as api:
        env = faqbot_env(api, db, FAQBOT_KEY_FILE=str(key))
        _, err, polled = await _start_and_wait(env, tmp_path, api)
        assert polled, err
    assert key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert not db.with_suffix(".key").exists()  # nothing beside the database for a backup to pick up
    listed = await asyncio.create_subprocess_exec(
        *_faqbot("log", "list"), env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await listed.communicate()
    assert listed.returncode == 0
    assert b"No open questions" in out
