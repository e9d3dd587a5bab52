"""Run the real bot (PTB Application, real store) against the fake Bot API, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.config import Settings
from bot.live import LiveFAQ
from bot.store import Store
from bot.telegram.app import build_application
from tests.conftest import SHIPPED
from tests.fake_bot_api import FakeBotAPI
from tests.support import clean_env, wait_until

# The in-process bot runs as `faqbot run` does, which opts in to PTB's timedelta RetryAfter when it starts
# (bot/telegram/app.py: run); subprocesses get a clean environment and do it themselves.
os.environ.setdefault("PTB_TIMEDELTA", "1")

PARENT = 1001
OTHER_PARENT = 1002
VOLUNTEER = 800
ADMIN = 900
VOLUNTEER_CHAT = -5000


@dataclasses.dataclass
class Running:
    api: FakeBotAPI
    app: Application
    store: Store
    live: LiveFAQ
    settings: Settings

    def texts(self, chat_id: int) -> list[str]:
        return [p["text"] for p in self.api.sent("sendMessage", chat_id=chat_id)]

    async def ask(self, text: str, user: int = PARENT, **kwargs: Any) -> dict[str, Any]:
        """Send a message as ``user`` and return the bot's next reply in that chat (params)."""
        before = len(self.api.sent("sendMessage", chat_id=kwargs.get("chat_id", user)))
        self.api.inject_message(user, text, **kwargs)
        calls = await self.api.wait_for("sendMessage", chat_id=kwargs.get("chat_id", user), count=before + 1)
        return calls[before].params

    def last_answer(self) -> str:
        """The text of the latest answerCallbackQuery (the toast or alert the user saw)."""
        return list(self.api.callback_answers.values())[-1].get("text") or ""

    async def press(self, user: int, message: dict[str, Any], data: str) -> None:
        before = len(self.api.callback_answers)
        self.api.inject_callback(user, data, message=message)
        await self.api.wait_for("answerCallbackQuery", count=before + 1)

    def idle(self) -> bool:
        """Every injected update fetched and handled, and no Bot API call in flight."""
        return (
            not self.api.pending_updates
            and self.app.update_queue.empty()
            and self.app.update_processor.current_concurrent_updates == 0
            and not any(c.status == "pending" and c.method != "getUpdates" for c in self.api.calls)
        )

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has finished with everything sent to it, so exact counts can be asserted:
        idle on several polls in a row (an update between the queue and its handler is not missed)."""
        await wait_until(self.idle, timeout, hold=5, what=self.api.describe_calls)


def buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]


def faqbot_env(api: FakeBotAPI | None, db: Path, **extra: str) -> dict[str, str]:
    """Environment for a ``faqbot run`` process: the fake API (or a closed local port), nothing inherited."""
    env = clean_env(
        TELEGRAM_BOT_TOKEN=api.token if api else "123456:TEST-TOKEN",
        FAQBOT_API_URL=api.base_url if api else "http://127.0.0.1:9/bot",
        FAQBOT_DB=str(db),
        FAQBOT_RATE_LIMIT="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


async def start_faqbot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """``faqbot run`` as a real process (stderr piped for the tests that read it), in ``cwd``: a test's own
    folder, so that no ``.env`` of the developer's is read."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_faqbot(proc: asyncio.subprocess.Process, *, graceful: bool = True) -> None:
    """SIGTERM (a clean stop) or SIGKILL, then wait; a process that ignores SIGTERM is killed after 15 s."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
    try:
        await asyncio.wait_for(proc.wait(), 15 if graceful else 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


@asynccontextmanager
async def running_bot(
    tmp_path: Path, knowledge: Path | None = None, *, fake: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Running]:
    """The bot with the shipped (or given) FAQ; ``fake``: FakeBotAPI options; ``overrides``: Settings."""
    async with FakeBotAPI(**(fake or {})) as api:
        settings = Settings(
            token=api.token,
            api_url=api.base_url,
            knowledge_dir=knowledge or SHIPPED,
            db_path=tmp_path / "bot.sqlite3",
            volunteer_chat=VOLUNTEER_CHAT,
            **{  # rate_limit=True may be passed to test AIORateLimiter; staff lists to test removal
                "rate_limit": False,
                "admins": frozenset({ADMIN}),
                "volunteers": frozenset({VOLUNTEER}),
                **overrides,
            },
        )
        live = LiveFAQ(settings.knowledge_dir, settings.match)
        store = await Store.open(settings.db_path, b"k" * 32)
        app = build_application(settings, live, store)
        await app.initialize()
        if app.post_init:  # run_polling() does this; a manual start must too
            await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            yield Running(api, app, store, live, settings)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            if app.post_shutdown:
                await app.post_shutdown(app)  # closes the store
