"""Footprint: start-up time to the first reply, and peak memory while serving a burst.

* start-up: "/start" is queued at the fake Bot API, then ``faqbot run`` is started; measured from just
  before the process is created to the bot's reply (also: first getMe, i.e. imports + FAQ + store done,
  and first getUpdates). Fresh database each time, warm embedding cache (as after the first start of a
  deployed bot). Target: <= 2.5 s.
* memory: VmHWM (peak RSS, ``/proc/<pid>/status``) of ``faqbot run`` after start-up and after serving
  a burst of mixed questions from 200 users, with the default rate limiter (replies queue up inside the
  bot) and without it. For scale, the peak RSS of a bare interpreter importing the bot, and of loading
  the FAQ too (the sentence encoder included). Target: <= 250 MB.

    python -m bench.footprint [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, proc_status, summary, table, verdict, warm_embeddings, write_result
from bench.harness import QUESTION_MIX, bot_under_test, inject, plan, question_pools, warm_up

TARGET_STARTUP_S = 2.5
TARGET_RSS_MB = 250.0
FIRST_USER = 20_001


async def startup_once(user: int) -> dict[str, Any]:
    """One cold start: seconds from process creation to getMe, getUpdates and the reply to /start."""
    async with bot_under_test(rate_limit=True, launch=False) as h:
        h.api.inject_message(user, "/start")
        h.launch()
        tr = h.tracker
        ok = await h.wait(lambda: bool(tr.plain.get(user)), 30.0, "the reply to /start")
        if not ok:
            raise RuntimeError(f"no reply to /start within 30 s\n{h.tail()}")
        first: dict[str, float] = {}
        for call in h.api.calls:
            first.setdefault(call.method, call.time - h.started)
        mem = proc_status(h.pid)
        await h.stop()
    return {
        "reply_s": tr.plain[user][0][0] - h.started,
        "getMe_s": first.get("getMe"),
        "getUpdates_s": first.get("getUpdates"),
        "rss_kb": mem.get("VmRSS"),
        "hwm_kb": mem.get("VmHWM"),
    }


async def memory_burst(rate_limit: bool, questions: int, users: int) -> dict[str, Any]:
    """Peak RSS of ``faqbot run`` while it answers ``questions`` mixed questions sent at once."""
    pools = question_pools()
    ids = list(range(FIRST_USER, FIRST_USER + users))
    async with bot_under_test(rate_limit=rate_limit) as h:
        await warm_up(h, [FIRST_USER - 1])
        await asyncio.sleep(0.5)
        idle = proc_status(h.pid)
        tr = h.tracker
        keyed0 = tr.keyed
        t0 = time.monotonic()
        rng = random.Random(13)
        for i, (kind, user) in enumerate(plan(questions, ids, QUESTION_MIX, seed=21)):
            inject(h.api, tr, kind, user, rng.choice(getattr(pools, kind)))
            if i % 25 == 24:
                await asyncio.sleep(0)
        samples: list[float] = []
        deadline = time.monotonic() + questions / 30 * 2 + 60
        while tr.keyed < keyed0 + questions and time.monotonic() < deadline:
            tr.poll()
            if h.proc.poll() is not None:
                raise RuntimeError(f"the bot exited during the burst\n{h.tail()}")
            samples.append(proc_status(h.pid).get("VmRSS", 0) / 1024)
            await asyncio.sleep(0.05)
        wall = time.monotonic() - t0
        after = proc_status(h.pid)
        answered = tr.keyed - keyed0
        await h.stop()
    return {
        "rate_limit": rate_limit,
        "questions": questions,
        "answered": answered,
        "wall_s": wall,
        "idle_rss_mb": idle.get("VmRSS", 0) / 1024,
        "rss_during_mb": summary(samples),
        "peak_rss_mb": after.get("VmHWM", 0) / 1024,
        "final_rss_mb": after.get("VmRSS", 0) / 1024,
    }


def baseline_rss() -> dict[str, float]:
    """Peak RSS (MB) of a fresh interpreter that imports the bot, and that also loads and indexes the FAQ."""
    code = {
        "python": "pass",
        "import bot.telegram.app": "import bot.telegram.app",
        "+ load and index the FAQ": "import bot.telegram.app\nfrom bot.live import build\nbuild(None)",
    }
    out = {}
    for name, body in code.items():
        script = f"{body}\nprint(open('/proc/self/status').read())"
        env = {**os.environ, "FAQBOT_EMBEDDING_CACHE": str(warm_embeddings())}
        text = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=True,
            env=env,
        ).stdout
        hwm = next(line for line in text.splitlines() if line.startswith("VmHWM"))
        out[name] = int(hwm.split()[1]) / 1024
    return out


def run(quick: bool = False) -> dict[str, Any]:
    warm_embeddings()
    reps = 2 if quick else 5
    starts = [asyncio.run(startup_once(FIRST_USER - 100 - i)) for i in range(reps)]
    questions = 200 if quick else 1000
    bursts = [asyncio.run(memory_burst(rl, questions, 200)) for rl in (True, False)]
    base = baseline_rss()

    rows = []
    for key, label in (
        ("getMe_s", "first getMe (imports, FAQ, store, HTTP up)"),
        ("getUpdates_s", "first getUpdates (polling)"),
        ("reply_s", "reply to /start"),
    ):
        values = [s[key] for s in starts if s[key] is not None]
        rows.append([label, statistics.median(values), min(values), max(values)])
    print(
        table(
            f"Start-up: seconds from process creation ({reps} cold starts)",
            ["milestone", "median", "min", "max"],
            rows,
        )
    )
    print()
    mrows = [[name, mb] for name, mb in base.items()]
    mrows.append(
        ["faqbot run, after start-up (median VmHWM)", statistics.median(s["hwm_kb"] for s in starts) / 1024]
    )
    for b in bursts:
        label = "rate limiter on (default)" if b["rate_limit"] else "rate limiter off"
        mrows.append([f"faqbot run, idle before the burst, {label}", b["idle_rss_mb"]])
        mrows.append(
            [
                f"faqbot run, {b['answered']}/{b['questions']} questions, {b['wall_s']:.1f} s, {label}: peak",
                b["peak_rss_mb"],
            ]
        )
    print(table("Memory (MB; peak = VmHWM)", ["process", "MB"], mrows))

    startup = statistics.median(s["reply_s"] for s in starts)
    peak = max(b["peak_rss_mb"] for b in bursts)
    targets = {
        f"start-up to first reply <= {TARGET_STARTUP_S} s (median)": {
            "median_s": startup,
            "max_s": max(s["reply_s"] for s in starts),
            "met": startup <= TARGET_STARTUP_S,
        },
        f"peak RSS <= {TARGET_RSS_MB:.0f} MB": {"peak_mb": peak, "met": peak <= TARGET_RSS_MB},
        "burst answered completely": {"met": all(b["answered"] == b["questions"] for b in bursts)},
    }
    print()
    for name, t in targets.items():
        extra = {k: round(v, 2) for k, v in t.items() if k != "met"}
        print(f"target {name}: {verdict(t['met'])}  {extra if extra else ''}")
    result = {
        "quick": quick,
        "startup": starts,
        "bursts": bursts,
        "baseline_rss_mb": base,
        "targets": targets,
    }
    path = write_result("footprint", result)
    print(f"\nwrote {path}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 start-ups and a 200-question burst")
    args = parser.parse_args(argv)
    run(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
