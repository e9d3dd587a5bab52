"""Reload under load (never a mixed FAQ, never a lost or failed reply) and authorisation: people who are
not volunteers or admins get nothing from staff commands and buttons, and forged callback data is
refused politely, with no state change and no exception."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from bot.knowledge import load_knowledge
from bot.telegram.app import SORRY
from bot.telegram.parents import STALE
from tests.conftest import SHIPPED
from tests.support import wait_until
from tests.telegram_harness import ADMIN, PARENT, VOLUNTEER, VOLUNTEER_CHAT, Running, running_bot

OUTSIDER = 4242
OLD_UPN, NEW_UPN = "13-character code given", "13-character code (REV-B) given"
OLD_NPD = "question: What is the National Pupil Database (NPD)?"
NEW_NPD = "question: REV-B What is the National Pupil Database (NPD)?"
NOTHING_TO_PASS_ON = "Please type your question again and I'll pass it on."
BROKEN = "section: Broken\nentries:\n  - id: Bad Id\n    anwser: typo\n"


def _dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        tables = [t for (t,) in names.fetchall()]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    finally:
        conn.close()


def _bot_output(bot: Running) -> list[tuple[str, Any, int | str]]:
    """Everything the bot did that a user could see (messages, edits), with its outcome."""
    methods = ("sendmessage", "editmessagetext", "editmessagereplymarkup")
    return [
        (c.method, c.params.get("chat_id"), c.status) for c in bot.api.calls if c.method.lower() in methods
    ]


def _button_labels(params: dict[str, Any]) -> dict[str, str]:
    rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b.get("callback_data"): b["text"] for row in rows for b in row}


# --------------------------------------------------------------------------- reload under load

STREAM = [
    "what is a upn",
    "what is the national pupil database",
    "zyxt plimf wobble",
    "hi",
    "data",
    "how long is data kept",
]


def _version(text: str, params: dict[str, Any]) -> str | None:
    """'old' or 'new' for replies that show the changed FAQ; fails on a reply mixing the two."""
    if OLD_UPN in text or NEW_UPN in text:
        assert (OLD_UPN in text) != (NEW_UPN in text), text[:300]
        answer = "new" if NEW_UPN in text else "old"
        label = _button_labels(params).get("a:national-pupil-database")
        assert label is not None, _button_labels(params)
        assert ("new" if label.startswith("REV-B") else "old") == answer, (answer, label)  # one FAQ, not two
        return answer
    if "National Pupil Database (NPD)?</b>" in text:
        return "new" if text.startswith("<b>REV-B What is") else "old"
    return None


async def test_reload_under_load_never_mixes_or_loses_replies(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge)
    recorded, sharing = knowledge / "recorded.yaml", knowledge / "sharing.yaml"
    assert recorded.read_text().count(OLD_UPN) == 1
    assert sharing.read_text().count(OLD_NPD) == 1
    async with running_bot(tmp_path, knowledge=knowledge, flood_per_minute=1000) as bot:
        api = bot.api
        old = bot.live.current
        recorded.write_text(recorded.read_text().replace(OLD_UPN, NEW_UPN))
        sharing.write_text(sharing.read_text().replace(OLD_NPD, NEW_NPD))
        injected: dict[tuple[int, int], tuple[str, float]] = {}
        reloaded, broken_done = asyncio.Event(), asyncio.Event()

        async def stream() -> None:
            for i in range(100):
                if i == 60:
                    await reloaded.wait()  # some questions certainly come after the reload
                if i == 85:
                    await broken_done.wait()  # and after the failed one
                user = 6000 + i % 10
                text = STREAM[i % len(STREAM)]
                if "zyxt" in text:
                    text += " " + "bcdfghjklm"[i % 10]
                update = api.inject_message(user, text)
                injected[(user, update["message"]["message_id"])] = (text, time.monotonic())
                await asyncio.sleep(0.008)

        parents = {str(6000 + i) for i in range(10)}

        def parent_replies() -> list[Any]:
            return [c for c in api.calls if c.method == "sendMessage" and str(c.params["chat_id"]) in parents]

        task = asyncio.create_task(stream())
        try:
            await wait_until(
                lambda: len([c for c in parent_replies() if c.ok]) >= 15,
                15,
                interval=0.005,
                what=api.describe_calls,
            )
            reload_sent = time.monotonic()
            api.inject_message(ADMIN, "/reload")
            [first] = await api.wait_for("sendMessage", chat_id=ADMIN, timeout=10)
            reloaded.set()
            entries = len(load_knowledge(knowledge).entries)
            assert f"Reloaded {entries} entries" in first.params["text"], first.params["text"]
            assert "Changed: national-pupil-database, upn" in first.params["text"]
            new = bot.live.current
            assert new is not old
            (knowledge / "broken.yaml").write_text(BROKEN)
            await asyncio.sleep(0.05)
            api.inject_message(ADMIN, "/reload")
            second = (await api.wait_for("sendMessage", chat_id=ADMIN, count=2, timeout=10))[1]
            broken_done.set()
            assert "NOT reloaded" in second.params["text"]
            assert "broken.yaml" in second.params["text"]
            assert bot.live.current is new  # the broken FAQ changed nothing
            await asyncio.wait_for(task, 15)
            await wait_until(
                lambda: len([c for c in parent_replies() if c.ok]) >= 100, 15, what=api.describe_calls
            )
            await bot.settle()
        finally:
            task.cancel()

        calls = parent_replies()
        assert all(c.ok for c in calls), [c for c in calls if not c.ok]
        by_question: dict[tuple[int, int], list[Any]] = {}
        for c in calls:
            key = (int(c.params["chat_id"]), (c.params.get("reply_parameters") or {}).get("message_id"))
            by_question.setdefault(key, []).append(c)
        assert set(by_question) == set(injected)  # every question answered, nothing else sent to parents
        assert all(len(v) == 1 for v in by_question.values())  # exactly once
        versions = {"old": 0, "new": 0}
        for key, [call] in by_question.items():
            text, asked_at = injected[key]
            reply = call.params["text"]
            assert SORRY not in reply
            assert "NOT reloaded" not in reply
            assert "Reloaded" not in reply
            version = _version(reply, call.params)
            if "upn" in text or "national pupil" in text:
                assert version is not None, (text, reply[:200])
                versions[version] += 1
                if call.time < reload_sent:
                    assert version == "old", text  # answered before anyone asked for a reload
                if asked_at > first.time:
                    assert version == "new", text  # asked after the reload was reported
        assert versions["old"] >= 2, versions
        assert versions["new"] >= 2, versions
        assert len(api.sent("sendMessage", chat_id=ADMIN)) == 2


# --------------------------------------------------------------------------- authorisation


async def _setup_queue(bot: Running) -> tuple[int, dict[str, Any]]:
    """An open item from a parent, the volunteer-chat card for it, and a volunteer mid-reply on it."""
    await bot.ask("zyxt plimf wobble")
    [item] = await bot.store.list_log("open")
    [card] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
    await bot.store.start_reply(VOLUNTEER, item.id)
    return item.id, card.result


async def test_staff_commands_from_outsiders_look_exactly_like_unknown_commands(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge)
    async with running_bot(tmp_path, knowledge=knowledge, flood_per_minute=1000) as bot:
        item_id, _ = await _setup_queue(bot)
        await bot.ask("what is a upn")  # something for /stats to reveal
        recorded = knowledge / "recorded.yaml"
        recorded.write_text(recorded.read_text().replace(OLD_UPN, NEW_UPN))  # a reload would show
        live = bot.live.current
        db_before = _dump(bot.settings.db_path)
        output_before = _bot_output(bot)
        baseline = await bot.ask("/frobnicate", user=OUTSIDER)
        commands = [
            "/queue",
            "/reload",
            "/stats",
            "/cancel",
            "/queue 5",
            "/reload now please",
            "/stats@test_faq_bot",
            "/cancel@test_faq_bot",
        ]
        for command in commands:
            reply = await bot.ask(command, user=OUTSIDER)
            assert reply == baseline, (command, reply)
        await bot.settle()
        assert bot.live.current is live
        assert _dump(bot.settings.db_path) == db_before
        assert await bot.store.pending_reply(VOLUNTEER) == item_id  # /cancel by someone else: untouched
        assert _bot_output(bot)[len(output_before) :] == [("sendMessage", OUTSIDER, 200)] * (
            len(commands) + 1
        )
        # the same commands from the right people do work, so the refusal above was a real one
        assert "open question" in (await bot.ask("/queue", user=VOLUNTEER))["text"]
        assert "upn: 1 answered" in (await bot.ask("/stats", user=ADMIN))["text"]


async def test_staff_commands_from_outsiders_in_a_group_look_like_unknown_commands(tmp_path: Path) -> None:
    group = -4242
    async with running_bot(tmp_path, flood_per_minute=1000) as bot:
        for command in ("/frobnicate", "/queue", "/stats", "/reload", "/cancel", "/queue@test_faq_bot"):
            bot.api.inject_message(OUTSIDER, command, chat_id=group, chat_type="group")
        bot.api.inject_message(OUTSIDER, "@test_faq_bot what is a upn", chat_id=group, chat_type="group")
        [sentinel] = await bot.api.wait_for("sendMessage", lambda p: "Sources" in p["text"], chat_id=group)
        await bot.settle()
        texts = bot.texts(group)
        assert texts == [sentinel.params["text"]], texts  # like /frobnicate: no reply to any of them


async def _press(bot: Running, user: int, message: dict[str, Any], data: str) -> dict[str, Any] | None:
    """Press a button; return the callback answer's params, or None if the bot answered with an error."""
    answers, sorries = len(bot.api.callback_answers), len(bot.api.sent("sendMessage"))
    update = bot.api.inject_callback(user, data, message=message)
    query_id = update["callback_query"]["id"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while query_id not in bot.api.callback_answers:
        if any(SORRY in p["text"] for p in bot.api.sent("sendMessage")[sorries:]):
            return None
        assert loop.time() < deadline, f"{data!r} was never answered\n{bot.api.describe_calls()}"
        await asyncio.sleep(0.01)
    assert len(bot.api.callback_answers) == answers + 1
    answer = dict(bot.api.callback_answers[query_id])
    del answer["callback_query_id"]
    return answer


async def test_volunteer_buttons_from_outsiders_do_nothing_and_reveal_nothing(tmp_path: Path) -> None:
    async with running_bot(tmp_path, flood_per_minute=1000) as bot:
        item_id, card = await _setup_queue(bot)
        await bot.ask("hello", user=OUTSIDER)
        own = bot.api.bot_messages(OUTSIDER)[-1]
        db_before = _dump(bot.settings.db_path)
        output_before = _bot_output(bot)
        presses = [
            f"q:r:{item_id}",
            f"q:a:{item_id}",
            f"q:e:{item_id}:upn",
            f"q:d:{item_id}",
            "q:m:0",
            "q:d:999999",
            f"q:e:{item_id}:no-such",
            "q:zzz",
            "q:r:" + "9" * 40,
        ]
        answers = []
        for message in (card, own):  # on the volunteer-chat card itself, and in the outsider's own chat
            for data in presses:
                answers.append(await _press(bot, OUTSIDER, message, data))
        assert answers == [{}] * len(answers)  # a bare acknowledgement: no text, no alert, same for all
        await bot.settle()
        assert _dump(bot.settings.db_path) == db_before
        assert _bot_output(bot) == output_before  # no message, no edit, anywhere
        assert await bot.store.pending_reply(OUTSIDER) is None
        # "reply" was refused, so the outsider's next message is just a question, not a reply to the parent
        parent_before = len(bot.texts(PARENT))
        assert "don't know" in (await bot.ask("zyxt plimf wobble wobble", user=OUTSIDER))["text"]
        await bot.settle()
        assert len(bot.texts(PARENT)) == parent_before
        assert (await bot.store.get_log(item_id)).status == "open"


PARENT_FORGERIES = [
    "a:" + "x" * 200,
    "a:ünïcødé-✓",
    "a:",
    "sec:-1",
    "sec:99999999999999999999",
    "sec:",
    "sec:١٢٣",
    "sec:1.5",
    "sec: 1",
    "fb:dn:no-such",
    "fb:up:",
    "fb:xx:upn",
    "fb:",
    "x" * 300,
    "é" * 100,
    ":",
    "topicsx",
    "vol:" + "\x00" * 10,
    "a:upn\x00",
    "'; DROP TABLE log; --",
]


async def test_forged_callback_data_is_refused_politely_without_state_change(tmp_path: Path) -> None:
    async with running_bot(tmp_path, flood_per_minute=1000) as bot:
        item_id, card = await _setup_queue(bot)
        await bot.ask("zyxt plimf again", user=PARENT)
        items = await bot.store.list_log("open")
        other_id = next(i.id for i in items if i.id != item_id)
        await bot.store.set_status(other_id, "dismissed")
        topics = await bot.ask("/topics", user=PARENT)
        message = bot.api.bot_messages(PARENT)[-1]
        assert message["text"] == "Choose a topic:"
        assert topics["text"] == "Choose a topic:"
        db_before = _dump(bot.settings.db_path)
        output_before = _bot_output(bot)

        for data in PARENT_FORGERIES:
            answer = await _press(bot, PARENT, message, data)
            assert answer == {"text": STALE, "show_alert": True}, (data, answer)
        # on a message that answers no question: nothing to pass on ("none:extra" was never a button: the
        # codec refuses it as out of date)
        assert await _press(bot, PARENT, message, "none") == {"text": NOTHING_TO_PASS_ON, "show_alert": True}
        assert await _press(bot, PARENT, message, "none:extra") == {"text": STALE, "show_alert": True}
        # another user's log id, and volunteer actions, from a parent: refused, revealing nothing (empty data,
        # which Telegram never sends, reaches the volunteer handler through PTB and is refused there too)
        for data in (f"q:d:{item_id}", f"q:r:{item_id}", f"q:e:{item_id}:upn", "q:m:0", ""):
            assert await _press(bot, PARENT, message, data) == {}, data
        # a volunteer's forged or stale buttons
        volunteer_forgeries = {
            "q:d:999999": "question is gone",
            f"q:d:{other_id}": "no longer open",  # already dismissed
            f"q:e:{item_id}:no-such-entry": "no longer exists",
            f"q:e:{item_id}": "not valid",
            f"q:e:{item_id}:upn:extra": "not valid",
            f"q:x:{item_id}": "not valid",
            "q:r:": "not valid",
            "q:r:abc": "not valid",
            "q:m:-1": "not valid",
            "q:d:" + "9" * 13: "not valid",
            "q:d:-5": "not valid",
            "q:ü:1": "not valid",
            "q": "out of date",  # no colon: not a volunteer button at all
            "q:" + "x" * 200: "not valid",
        }
        for data, expected in volunteer_forgeries.items():
            answer = await _press(bot, VOLUNTEER, card, data)
            assert answer is not None, data
            assert expected in (answer.get("text") or ""), (data, answer)
            assert answer.get("show_alert") is True, (data, answer)
        await bot.settle()
        assert _dump(bot.settings.db_path) == db_before
        assert _bot_output(bot) == output_before  # only toasts: no message, no edit, no apology
        assert bot.api.message(PARENT, message["message_id"])["text"] == "Choose a topic:"
        assert await bot.store.pending_reply(VOLUNTEER) == item_id
        assert "Sources" in (await bot.ask("what is a upn", user=PARENT))["text"]  # and the bot still works


@pytest.mark.parametrize(
    ("user", "data"), [(PARENT, "sec:²"), (PARENT, "sec:1²"), (VOLUNTEER, "q:d:²"), (VOLUNTEER, "q:m:①")]
)
async def test_unicode_digits_in_callback_data_are_refused_politely(
    tmp_path: Path, user: int, data: str
) -> None:
    async with running_bot(tmp_path, flood_per_minute=1000) as bot:
        await bot.ask("/topics", user=user)
        message = bot.api.bot_messages(user)[-1]
        answer = await _press(bot, user, message, data)
        assert answer is not None
        assert answer.get("show_alert") is True, answer
        await bot.settle()
        assert not any(SORRY in t for t in bot.texts(user))
