"""The flood guard's per-user memory stays bounded; the log level is configurable."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.telegram.app import configure_logging
from bot.telegram.services import FloodGuard


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
