"""A running `faqbot run` reloads its FAQ on SIGHUP, and keeps the old one when the new is broken."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

from tests.conftest import SHIPPED
from tests.fake_bot_api import FakeBotAPI
from tests.telegram_harness import faqbot_env, start_faqbot, stop_faqbot

OLD = "is a 13-character code given to your child"
NEW = "RELOADED-ANSWER-MARKER"


async def ask(api: FakeBotAPI, user: int, text: str) -> str:
    before = len(api.sent("sendMessage", chat_id=user))
    api.inject_message(user, text)
    calls = await api.wait_for("sendMessage", chat_id=user, count=before + 1, timeout=15)
    return calls[before].params["text"]


async def log_line(proc: asyncio.subprocess.Process, needle: str, timeout: float = 15) -> str:
    """The next line of the bot's log (stderr) that contains ``needle``: proof that something happened."""

    async def scan() -> str:
        assert proc.stderr is not None
        while line := (await proc.stderr.readline()).decode(errors="replace"):
            if needle in line:
                return line
        raise AssertionError(f"the bot exited without logging {needle!r}")

    return await asyncio.wait_for(scan(), timeout)


async def test_sighup_reloads_the_running_bot(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge)
    recorded = knowledge / "recorded.yaml"
    assert OLD in recorded.read_text()
    async with FakeBotAPI() as api:
        env = faqbot_env(api, tmp_path / "bot.sqlite3", FAQBOT_KNOWLEDGE=str(knowledge))
        proc = await start_faqbot(env, tmp_path)
        try:
            assert OLD in await ask(api, 1, "what is a unique pupil number")
            polls = api.sent("getUpdates")
            assert polls
            assert all(p["allowed_updates"] == ["message", "edited_message", "callback_query"] for p in polls)
            pid = int((tmp_path / "bot.pid").read_text())
            assert pid == proc.pid
            recorded.write_text(recorded.read_text().replace(OLD, NEW), encoding="utf-8")
            os.kill(pid, signal.SIGHUP)
            assert "Changed: upn" in await log_line(proc, "SIGHUP: Reloaded")
            assert NEW in await ask(api, 2, "what is a unique pupil number")
            (knowledge / "broken.yaml").write_text("section: Broken\nentries: [\n")
            os.kill(pid, signal.SIGHUP)
            assert "broken.yaml" in await log_line(proc, "SIGHUP: FAQ not reloaded")
            assert proc.returncode is None  # still running
            assert NEW in await ask(api, 3, "what is a unique pupil number")  # the last good FAQ
        finally:
            await stop_faqbot(proc)


async def test_reload_adopts_changed_staff_lists_from_the_env_file(tmp_path: Path) -> None:
    """A volunteer removed from FAQBOT_VOLUNTEERS in .env loses access at the next /reload (or SIGHUP),
    without a restart; the real environment still wins over .env, as at start."""
    from bot.telegram.volunteers import UNKNOWN_COMMAND

    admin, volunteer = 500, 800
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"FAQBOT_ADMINS={admin}\nFAQBOT_VOLUNTEERS={volunteer}\n", encoding="utf-8")
    async with FakeBotAPI() as api:
        proc = await start_faqbot(faqbot_env(api, tmp_path / "bot.sqlite3"), tmp_path)
        try:
            assert UNKNOWN_COMMAND not in await ask(api, volunteer, "/queue")
            dotenv.write_text(f"FAQBOT_ADMINS={admin}\nFAQBOT_VOLUNTEERS=\n", encoding="utf-8")
            said = await ask(api, admin, "/reload")
            assert "Staff: 1 admin(s), 0 volunteer(s); 1 removed." in said
            assert await ask(api, volunteer, "/queue") == UNKNOWN_COMMAND
            dotenv.write_text(f"FAQBOT_ADMINS={admin}\nFAQBOT_VOLUNTEERS={volunteer}\n", encoding="utf-8")
            os.kill(proc.pid, signal.SIGHUP)
            assert "Staff: 1 admin(s), 1 volunteer(s); 0 removed." in await log_line(proc, "SIGHUP: Staff")
            assert UNKNOWN_COMMAND not in await ask(api, volunteer, "/queue")
            dotenv.write_text("FAQBOT_ADMINS=not-a-number\n", encoding="utf-8")
            said = await ask(api, admin, "/reload")  # a broken file keeps the old lists
            assert "Staff lists NOT reloaded" in said
            assert UNKNOWN_COMMAND not in await ask(api, volunteer, "/queue")
        finally:
            await stop_faqbot(proc)
