"""Shared helpers for the benchmarks: statistics, tables, JSON results, question sets, the bot subprocess."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REGRESSION = ROOT / "tests" / "data" / "regression.yaml"
# The phrasing embeddings of every FAQ the benchmarks build (git-ignored with the results).
EMBEDDING_CACHE = RESULTS / "embeddings.npz"

# A parent's context before the question, for 1,000-character messages (forum posts, letters).
LONG_CONTEXT = (
    "We have had a really difficult year. My son moved schools in the autumn after some problems with "
    "bullying, and the new school has been much better, but the paperwork has been endless and I keep being "
    "asked to fill in forms about him, his health, who he lives with and what support he gets. His dad and I "
    "are separated, so everything comes twice and nobody seems to know who has which version. I have "
    "started keeping a folder of every letter the school sends home. "
)


def long_message(question: str, length: int = 1000) -> str:
    """``question`` after as much of :data:`LONG_CONTEXT` as makes ``length`` characters."""
    context = (LONG_CONTEXT * (length // len(LONG_CONTEXT) + 1))[: max(length - len(question) - 1, 0)]
    return f"{context.rstrip()} {question}"[-length:]


if str(ROOT) not in sys.path:  # `python bench/run.py` and `python bench/e2e.py` import bot and tests
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- statistics and output


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, max, mean and count of a sample."""
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: ints as is, floats with ``digits`` significant figures."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value != 0 and abs(value) < 10 ** (digits - 1):
            return f"{value:.{digits}g}"
        return f"{value:,.0f}"
    return str(value)


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table (first column left-aligned, the others right-aligned)."""
    cells = [list(header)] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title]
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine and run details added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- question sets


def regression_questions() -> list[str]:
    """The blind-written questions of ``tests/data/regression.yaml`` (answerable and not)."""
    items = yaml.safe_load(REGRESSION.read_text(encoding="utf-8")) or []
    return [str(item["q"]) for item in items if isinstance(item, dict) and item.get("q")]


_ONSETS = "b bl br c cl cr d dr f fl fr g gl gr h j k l m n p pl pr qu r s sc sk sl sp st t tr v w z".split()
_VOWELS = "a e i o u ai ea ee oa ou ie".split()
_CODAS = ["", "", "", "n", "r", "l", "s", "m", "t", "nd", "st", "rk", "x", "ck"]


def pseudo_word(rng: random.Random, syllables: int | None = None) -> str:
    """A pronounceable made-up word ("dreastock", "plimf"), for vocabulary the FAQ does not have."""
    n = syllables or rng.choice((1, 2, 2, 2, 3))
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(n))


def gibberish(rng: random.Random) -> str:
    """An unanswerable message like "zyxt plimf 17": made-up words and a number."""
    words = [pseudo_word(rng) for _ in range(rng.randint(2, 4))]
    words.insert(rng.randrange(len(words) + 1), str(rng.randint(2, 99)))
    return " ".join(words)


def add_typo(text: str, rng: random.Random) -> str:
    """``text`` with one random edit (swap, drop, double or replace a letter) in one word of 5+ letters."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    pos = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        w = w[:pos] + w[pos + 1] + w[pos] + w[pos + 2 :]
    elif kind == 1:
        w = w[:pos] + w[pos + 1 :]
    elif kind == 2:
        w = w[:pos] + w[pos] + w[pos:]
    else:
        w = w[:pos] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[pos + 1 :]
    words[i] = w
    return " ".join(words)


# --------------------------------------------------------------------------- the bot as a subprocess


def faqbot_command() -> list[str]:
    """``faqbot`` from the running interpreter's environment (or ``python -m bot``)."""
    script = Path(sys.executable).parent / "faqbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def warm_embeddings() -> Path:
    """Embed the shipped FAQ's phrasings into the benchmarks' own cache (a no-op once done), so every
    bot the benchmarks start has a warm cache, as a deployed bot has after its first start."""
    from bot.live import build
    from bot.semantic import EmbeddingCache

    build(None, cache=EmbeddingCache(EMBEDDING_CACHE))
    return EMBEDDING_CACHE


def bot_env(token: str, api_url: str, db: Path, **extra: str) -> dict[str, str]:
    """The environment for ``faqbot run``: ours without any FAQBOT_/TELEGRAM_ settings, plus the given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAQBOT_", "TELEGRAM_"))}
    env.update(
        FAQBOT_EMBEDDING_CACHE=str(EMBEDDING_CACHE),
        TELEGRAM_BOT_TOKEN=token,
        FAQBOT_API_URL=api_url,
        FAQBOT_DB=str(db),
        FAQBOT_FLOOD_PER_MINUTE="10000",  # the most config.py accepts (100000 is rejected); ample here
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_bot(workdir: Path, env: dict[str, str], prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Start ``faqbot run`` in ``workdir`` (no .env there), logging to ``workdir/bot.log``.

    ``prefix`` replaces the command's program, e.g. ``[python, "-m", "cProfile", "-o", f, "-m", "bot"]``.
    """
    cmd = [*prefix, "run"] if prefix else [*faqbot_command(), "run"]
    log = (workdir / "bot.log").open("ab")
    try:
        return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def stop_bot(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> int | None:
    """SIGINT (PTB's graceful stop), then SIGKILL after ``grace`` seconds; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process in kB, from ``/proc/<pid>/status``."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_problems(workdir: Path, limit: int = 5) -> tuple[int, list[str]]:
    """How many WARNING/ERROR lines the bot logged, and the first few."""
    path = workdir / "bot.log"
    if not path.exists():
        return 0, []
    bad = [
        line
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if " ERROR " in line or " WARNING " in line or line.startswith("Traceback")
    ]
    return len(bad), bad[:limit]


def log_tail(workdir: Path, lines: int = 20) -> str:
    path = workdir / "bot.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
