"""What every handler needs, held once in ``application.bot_data``: settings, the live FAQ, the store."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram.ext import ContextTypes

from bot.config import Settings
from bot.conversation import ConversationMemory
from bot.live import LiveFAQ
from bot.store import Store

KEY = "services"


class FloodGuard:
    """Per-user sliding-window limit: at most ``per_minute`` messages a minute from one user."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._warned: set[int] = set()
        self._swept = clock()

    def allow(self, user_id: int, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        window = self._seen.setdefault(user_id, deque())
        while window and now - window[0] > 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        self._warned.discard(user_id)
        if len(self._seen) > 10000 or now - self._swept > 60.0:
            self.sweep(now)
        return True

    def sweep(self, now: float | None = None) -> None:
        """Let go of the raw ids of users idle for a minute (memory stays bounded; the bot also calls
        this every minute, so an id is held at most two minutes after its user's last message)."""
        now = self.clock() if now is None else now
        self._swept = now
        for uid in [u for u, w in self._seen.items() if not w or now - w[-1] > 60.0]:
            del self._seen[uid]
            self._warned.discard(uid)

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a user is refused in a burst, so the polite note is sent once."""
        if user_id in self._warned:
            return False
        self._warned.add(user_id)
        return True


@dataclass
class Services:
    settings: Settings
    live: LiveFAQ
    store: Store
    flood: FloodGuard = field(init=False)
    # Each chat's last answer, for follow-ups: in memory only, 10 minutes, cleared by /forget.
    conversations: ConversationMemory = field(default_factory=ConversationMemory)

    def __post_init__(self) -> None:
        self.flood = FloodGuard(self.settings.flood_per_minute)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data[KEY]
