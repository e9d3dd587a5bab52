"""What every handler needs, held once in PTB's typed ``bot_data``: settings, the live FAQ, the store."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.config import ConfigError, Settings
from bot.conversation import ConversationMemory, Turn, understand
from bot.knowledge import Entry
from bot.live import LiveFAQ, Snapshot
from bot.matcher import Match
from bot.store import Store

if TYPE_CHECKING:
    from bot.desk.server import Desk

MAX_TRACKED_USERS = 10_000  # per-user structures forget idle users beyond this, so memory stays bounded
# Messages matched at once, off the event loop. The sentence encoder is CPU bound and releases the
# GIL: in worker threads, one message's encoder run overlaps another's and the loop's own work
# (HTTP, the store). Two, for two cores: more would only queue inside onnxruntime.
MATCH_WORKERS = 2


class FloodGuard:
    """Per-user sliding-window limit: at most ``per_minute`` messages a minute from one user.

    Both structures are bounded: idle users' windows are dropped once more than
    ``MAX_TRACKED_USERS`` users are tracked, and the "already warned" marks expire with the window
    (a warning older than a minute is forgotten) and are capped at the same size, oldest first.
    """

    def __init__(
        self, per_minute: int, max_users: int = MAX_TRACKED_USERS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.max_users = max_users
        self.clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._warned: OrderedDict[int, float] = OrderedDict()  # user id -> when warned
        self._swept = clock()

    def allow(self, user_id: int, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        window = self._seen.setdefault(user_id, deque())
        while window and now - window[0] > 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        self._warned.pop(user_id, None)
        if len(self._seen) > self.max_users or now - self._swept > 60.0:
            self.sweep(now)
        return True

    def sweep(self, now: float | None = None) -> None:
        """Let go of the raw ids of users idle for a minute (memory stays bounded; the bot also calls
        this every minute, so an id is held at most two minutes after its user's last message)."""
        now = self.clock() if now is None else now
        self._swept = now
        for uid in [u for u, w in self._seen.items() if not w or now - w[-1] > 60.0]:
            del self._seen[uid]
            self._warned.pop(uid, None)

    def first_refusal(self, user_id: int, now: float | None = None) -> bool:
        """True the first time a user is refused in a burst, so the polite note is sent once."""
        now = self.clock() if now is None else now
        while self._warned:  # expire marks older than the window (they are in warning order)
            oldest, when = next(iter(self._warned.items()))
            if now - when <= 60.0:
                break
            del self._warned[oldest]
        if user_id in self._warned:
            return False
        while len(self._warned) >= self.max_users:  # full: forget the oldest warnings first
            self._warned.popitem(last=False)
        self._warned[user_id] = now
        return True

    @property
    def tracked(self) -> tuple[int, int]:
        """How many users' windows and warning marks are held (for tests and monitoring)."""
        return len(self._seen), len(self._warned)


@dataclass
class Services:
    settings: Settings
    live: LiveFAQ
    store: Store
    flood: FloodGuard = field(init=False)
    # Each chat's last answer, for follow-ups: in memory only, 10 minutes, cleared by /forget.
    conversations: ConversationMemory = field(default_factory=ConversationMemory)

    # Re-reads the configuration (``faqbot run``: the environment over ``.env``) so that /reload and
    # SIGHUP pick up changed staff lists; None where the settings were given in code (tests).
    reread: Callable[[], Settings] | None = None

    _matching: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.flood = FloodGuard(self.settings.flood_per_minute)
        self._matching = ThreadPoolExecutor(MATCH_WORKERS, thread_name_prefix="match")

    async def understand(self, snap: Snapshot, text: str, previous: Entry | None) -> Turn:
        """:func:`bot.conversation.understand` in a matching thread: the same Turn, without
        holding up the event loop for the encoder's milliseconds."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._matching, understand, snap, text, previous)

    async def match(self, snap: Snapshot, text: str) -> Match:
        """``snap.match(text)`` in a matching thread (see :meth:`understand`)."""
        return await asyncio.get_running_loop().run_in_executor(self._matching, snap.match, text)

    def close(self) -> None:
        """Let the matching threads go (the bot is stopping); a match under way finishes first."""
        self._matching.shutdown(wait=False, cancel_futures=True)

    def reload_staff(self) -> str:
        """Adopt the current FAQBOT_ADMINS / FAQBOT_VOLUNTEERS (nothing else changes without a restart).

        Roles are checked on every update and every desk request, so someone removed from a list loses
        access as soon as this runs. Returns one line for the admin; a broken configuration is reported
        and the old lists stay.
        """
        if self.reread is None:
            return ""
        try:
            new = self.reread()
        except ConfigError as exc:
            return f"Staff lists NOT reloaded (the configuration has errors): {exc}"
        old = self.settings
        self.settings = replace(old, admins=new.admins, volunteers=new.volunteers)
        removed = len((old.admins | old.volunteers) - (new.admins | new.volunteers))
        return f"Staff: {len(new.admins)} admin(s), {len(new.volunteers)} volunteer(s); {removed} removed."


class BotData:
    """``application.bot_data``, typed: PTB creates it empty; ``post_init`` fills it in."""

    def __init__(self) -> None:
        self.services: Services | None = None
        self.desk: Desk | None = None


Context: TypeAlias = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)


def services(context: Context) -> Services:
    """The services of a running bot (set in ``post_init``, before any update is handled)."""
    svc = context.bot_data.services
    if svc is None:
        raise RuntimeError("the bot's services are not set up yet (post_init has not run)")
    return svc
