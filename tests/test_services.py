"""The flood guard's per-user memory stays bounded; the log level is configurable; matching threads."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.conversation import understand
from bot.live import LiveFAQ, Snapshot
from bot.matcher import Signals, SignalsMemo
from bot.store import Store
from bot.telegram.app import configure_logging
from bot.telegram.services import FloodGuard, Services


def test_flood_guard_warns_once_a_burst_and_forgets_warnings() -> None:
    guard = FloodGuard(per_minute=2, max_users=100)
    assert guard.allow(1, now=0.0)
    assert guard.allow(1, now=1.0)
    assert not guard.allow(1, now=2.0)
    assert guard.first_refusal(1, now=2.0)
    assert not guard.first_refusal(1, now=3.0)  # one polite note per burst
    assert guard.first_refusal(1, now=70.0)  # a minute on, the old warning has expired
    assert guard.allow(1, now=130.0)  # the window moved on: allowed, and the warning mark cleared
    assert guard.tracked == (1, 0)


def test_flood_guard_memory_is_bounded_under_many_users() -> None:
    guard = FloodGuard(per_minute=1, max_users=50)
    for user in range(10_000):  # each user floods once, all within one second
        now = user / 10_000
        guard.allow(user, now=now)
        assert not guard.allow(user, now=now)
        guard.first_refusal(user, now=now)
    assert guard.tracked[1] <= 50  # capped even while every mark is younger than a minute
    guard.allow(10_001, now=100.0)  # a minute later: idle users' windows are dropped
    assert guard.tracked[0] <= 2


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.NOTSET)


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(
    ("level", "httpx"), [("DEBUG", logging.WARNING), ("INFO", logging.WARNING), ("ERROR", logging.ERROR)]
)
def test_log_level_is_applied(level: str, httpx: int) -> None:
    configure_logging(level)
    assert logging.getLogger().level == logging.getLevelName(level)
    assert logging.getLogger("httpx").level == httpx  # its per-request lines never below WARNING
    assert logging.getLogger("bot.telegram.parents").getEffectiveLevel() == logging.getLevelName(level)


async def test_messages_are_understood_off_the_event_loop_with_the_same_answers(
    tmp_path: Path, snap: Snapshot
) -> None:
    """Services.understand / match run the matcher in worker threads (the encoder is CPU bound), many
    at once, and must give exactly what the plain functions give in the loop's thread."""
    store = await Store.open(tmp_path / "s.sqlite3", b"k" * 32)
    live = LiveFAQ.__new__(LiveFAQ)  # the session's snapshot, without building another
    live.current = snap
    svc = Services(load_settings({}, dotenv=None), live, store)
    census, dfe = snap.kb.entries["school-census"], snap.kb.entries["dfe-retention"]
    messages = [
        ("what is the school census", None),
        ("what about the school?", dfe),  # a follow-up, understood in the previous entry's light
        ("Who does the DfE share pupil data with? And what is a UPN?", None),  # two questions
        ("data", None),
        ("zyxt plimf 17", census),
    ]
    threads: set[str] = set()
    real = snap.matcher.signals

    def signals(question: str, memo: SignalsMemo | None = None) -> Signals | None:
        threads.add(threading.current_thread().name)
        return real(question, memo)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(snap.matcher, "signals", signals)
            turns = await asyncio.gather(*(svc.understand(snap, text, prev) for text, prev in messages))
            matches = await asyncio.gather(*(svc.match(snap, text) for text, _ in messages))
        assert threading.current_thread().name not in threads
        assert all(name.startswith("match") for name in threads)
        assert list(turns) == [understand(snap, text, prev) for text, prev in messages]
        assert list(matches) == [snap.match(text) for text, _ in messages]
        assert turns[1].follow_up_of == "dfe-retention"
        assert turns[2].also is not None
    finally:
        svc.close()
        await store.close()
