"""Profile the hot paths behind each benchmark figure (cProfile and ``-X importtime``; stdlib only).

    python -m bench.profiling [--quick] [--only matcher load bot startup]

* ``matcher``: ``Matcher.match`` over the regression questions (with typos) on the shipped FAQ and on a
  generated 5,000-entry FAQ;
* ``load``: ``load_knowledge`` and the ``Matcher`` build of the 5,000-entry FAQ;
* ``bot``: ``faqbot run`` under cProfile (main thread: the event loop; matching runs in worker threads,
  which cProfile does not see) while it serves the capacity burst;
* ``startup``: the slowest imports of ``faqbot run`` (``-X importtime``) and the peak RSS of each big
  dependency imported alone.

Prints the top functions and writes everything to ``bench/results/profile.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import RESULTS, ROOT, add_typo, regression_questions
from bench.e2e import _burst
from bench.genfaq import generate
from bench.harness import MIX, bot_under_test, plan, question_pools, warm_up
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.semantic import single_threaded_blas

OUT: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    OUT.append(text)


def top(stats: pstats.Stats, sort: str, limit: int) -> str:
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    head = [line for line in lines[:start] if "function calls" in line]
    return "\n".join(head + lines[start:]).rstrip()


def profiled(fn: Callable[[], object]) -> pstats.Stats:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    return pstats.Stats(prof)


def profile_matcher(tmp: Path, quick: bool) -> None:
    questions = regression_questions()
    rng = random.Random(1)
    mixed = [q for _ in range(5) for q in questions] + [add_typo(q, rng) for _ in range(5) for q in questions]
    faqs: list[tuple[str, Path | None]] = [("shipped", None), ("5000", generate(5000, tmp / "faq5000"))]
    for name, directory in faqs[:1] if quick else faqs:
        matcher = Matcher(load_knowledge(directory))
        stats = profiled(lambda m=matcher: [m.match(q) for q in mixed])
        say(f"\n--- matcher: {len(mixed)} questions on the {name} FAQ (by own time)")
        say(top(stats, "tottime", 12))


def profile_load(tmp: Path, quick: bool) -> None:
    directory = generate(500 if quick else 5000, tmp / "faqload")
    holder: list[object] = []
    stats = profiled(lambda: holder.append(load_knowledge(directory)))
    say(f"\n--- load_knowledge of {directory.name} (by own time)")
    say(top(stats, "tottime", 12))
    kb = holder[0]
    stats = profiled(lambda: Matcher(kb))  # type: ignore[arg-type]
    say(f"\n--- Matcher build of {directory.name} (by own time)")
    say(top(stats, "tottime", 12))


async def _serve_burst(out: Path, updates: int, sampler: str) -> None:
    if sampler == "pyinstrument":  # sampling: much less distortion of small, hot functions
        prefix = [sys.executable, "-m", "pyinstrument", "-r", "pstats", "-o", str(out), "-i", "0.0005"]
    else:
        prefix = [sys.executable, "-m", "cProfile", "-o", str(out)]
    prefix += ["-m", "bot"]
    pools = question_pools()
    users = list(range(30_001, 30_301))
    async with bot_under_test(rate_limit=False, prefix=prefix) as h:
        h.grace = 180.0
        await warm_up(h, users)
        result = await _burst(h, plan(updates, users, MIX), pools, timeout=180)
        await h.stop()
    say(f"\n--- faqbot run under {sampler}: {result['updates']} updates at {result['updates_per_s']:.0f}/s")


# Where the bot's time goes, as (label, file suffix, function): cumulative time in each.
BREAKDOWN = (
    ("handling updates (PTB process_update)", "_application.py", "process_update"),
    ("  HTTP requests to the Bot API (Bot._post)", "_bot.py", "_post"),
    (
        "    httpcore pool: assign requests to connections",
        "connection_pool.py",
        "_assign_requests_to_connections",
    ),
    (
        "    httpcore current_async_library (import sniffio fails)",
        "_synchronization.py",
        "current_async_library",
    ),
    ("  matching (Matcher.match)", "matcher.py", "match"),
    ("  rendering replies (render_match)", "replies.py", "render_match"),
    ("  store transactions (Store._transaction)", "store.py", "_transaction"),
    ("parsing updates (Update.de_json)", "_update.py", "de_json"),
    ("polling (Bot.get_updates)", "_bot.py", "get_updates"),
)


def breakdown(stats: pstats.Stats) -> None:
    total = stats.total_tt  # type: ignore[attr-defined]
    found = {(Path(f[0]).name, f[2]): v[3] for f, v in stats.stats.items()}  # type: ignore[attr-defined]
    say(f"\n(breakdown, cumulative seconds and share of {total:.1f} s profiled)")
    for label, name, func in BREAKDOWN:
        seconds = found.get((name, func))
        if seconds is not None:
            say(f"{seconds:8.2f} {seconds / total:6.1%}  {label}")


def profile_bot(tmp: Path, quick: bool, sampler: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bot-{sampler}.prof"  # kept: `python -m pstats <file>` to dig further
    asyncio.run(_serve_burst(out, 500 if quick else 3000, sampler))
    stats = pstats.Stats(str(out))
    breakdown(stats)
    say("(by own time)")
    say(top(stats, "tottime", 30))
    say("\n(by cumulative time)")
    say(top(stats, "cumulative", 45))
    say("\n(who imports at run time: callers of importlib's _find_and_load)")
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_callers("_find_and_load")
    say("\n".join(line for line in buf.getvalue().splitlines()[:25] if line.strip()))


def profile_startup() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bot.cli, bot.telegram.app"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if len(name) - len(name.lstrip()) <= 2:  # top-level imports only
                rows.append((int(parts[1]), name.strip()))
    rows.sort(reverse=True)
    say("\n--- startup: slowest top-level imports (-X importtime, cumulative ms)")
    for us, name in rows[:15]:
        say(f"{us / 1000:8.1f}  {name}")
    say(f"{sum(us for us, _ in rows) / 1000:8.1f}  total of top-level imports")
    say("\n--- startup: peak RSS (MB) of a fresh interpreter importing one dependency")
    for module in (
        "pass",
        "yaml",
        "pydantic",
        "rapidfuzz.process",
        "snowballstemmer",
        "aiosqlite",
        "httpx",
        "telegram",
        "telegram.ext",
        "apscheduler.schedulers.asyncio",
        "tornado.web",
        "bot.live",
        "bot.telegram.app",
    ):
        code = module if module == "pass" else f"import {module}"
        script = f"{code}\nprint([x for x in open('/proc/self/status') if x.startswith('VmHWM')][0])"
        text = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
        ).stdout
        mb = int(text.split()[1]) / 1024 if text.startswith("VmHWM") else float("nan")
        say(f"{mb:8.1f}  {code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller FAQs and bursts")
    parser.add_argument("--only", nargs="+", choices=("matcher", "load", "bot", "startup"))
    parser.add_argument(
        "--sampler",
        choices=("cProfile", "pyinstrument"),
        default="cProfile",
        help="profiler for the bot (pyinstrument must be pip-installed; it samples, so distorts less)",
    )
    args = parser.parse_args(argv)
    single_threaded_blas()  # as faqbot does at start (bot/cli.py main)
    todo = args.only or ["matcher", "load", "bot", "startup"]
    with tempfile.TemporaryDirectory(prefix="faqprof-") as name:
        tmp = Path(name)
        if "matcher" in todo:
            profile_matcher(tmp, args.quick)
        if "load" in todo:
            profile_load(tmp, args.quick)
        if "bot" in todo:
            profile_bot(tmp, args.quick, args.sampler)
        if "startup" in todo:
            profile_startup()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profile.txt").write_text("\n".join(OUT) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS / 'profile.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
