"""Helpers every test module shares: a clean environment for subprocesses, and waiting on a condition."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

# What a child process may inherit from the developer's shell: enough to find programs, a home and a locale.
KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")

# The tests' own phrasing-embedding cache, for the test process and every faqbot it starts: never the
# user's ~/.cache, which a running bot or another checkout's tools may rewrite meanwhile. (Once, with
# such processes busy on the machine, the hash-seed test saw two different outputs; it did not happen
# again, but the faqbot processes under test were reading ~/.cache, against what conftest promises.)
TEST_EMBEDDING_CACHE = Path(tempfile.gettempdir()) / f"faqbot-test-{os.getuid()}" / "embeddings.npz"


def clean_env(**needed: str) -> dict[str, str]:
    """An environment with nothing of the developer's but PATH, HOME and the locale, plus ``needed``.

    No FAQBOT_* or TELEGRAM_* setting (nor PYTHON* tweak) leaks in from the shell running the tests;
    the one FAQBOT_ setting given is the tests' own embedding cache (``needed`` may override it).
    """
    env = {k: os.environ[k] for k in KEPT_VARIABLES if k in os.environ}
    env["PYTHONIOENCODING"] = "utf-8"
    env["FAQBOT_EMBEDDING_CACHE"] = str(TEST_EMBEDDING_CACHE)
    env.update(needed)
    return env


def run_faqbot(
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` in a clean environment and (unless ``cwd``) an empty folder with no ``.env``."""
    with tempfile.TemporaryDirectory(prefix="faqbot-cwd-") as empty:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=cwd or empty,
            env=clean_env(**(env or {})),
            timeout=timeout,
            check=False,
        )


async def wait_until(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = 5.0,
    *,
    hold: int = 1,
    interval: float = 0.01,
    what: str | Callable[[], str] = "",
) -> None:
    """Poll ``predicate`` (sync or async) until it is true ``hold`` times in a row; TimeoutError after
    ``timeout`` seconds. Use instead of a fixed sleep: fast when the bot is fast, patient when CI is slow."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    streak = 0
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        streak = streak + 1 if result else 0
        if streak >= hold:
            return
        if loop.time() > deadline:
            detail = what() if callable(what) else what
            raise TimeoutError(f"condition not met within {timeout}s" + (f": {detail}" if detail else ""))
        await asyncio.sleep(interval)
