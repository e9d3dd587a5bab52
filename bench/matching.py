"""Matching: per-question latency, questions/s and load time on the shipped FAQ and generated 500/5,000-entry
FAQs, plus ``faqbot match --json`` end to end.

Questions are ``tests/data/regression.yaml`` (147 blind-written questions: answerable, vague and
off-topic), timed one call at a time with ``perf_counter_ns``:

* ``cold``  - the first pass on a freshly built matcher (typo corrections and stems not yet cached);
* ``warm``  - the same questions repeated (what a cache-friendly workload sees);
* ``typos`` - the questions with a fresh random typo in each repetition, so correction is never cached
  (closest to real parents' questions, which are new text each time).

Targets: p99 <= 1 ms on the shipped FAQ, <= 5 ms at 5,000 entries, cost growing no worse than linearly.

    python -m bench.matching [--quick]
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    add_typo,
    faqbot_command,
    regression_questions,
    summary,
    table,
    verdict,
    write_result,
)
from bench.genfaq import generate
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.text import words

TARGET_P99_MS = {"shipped": 1.0, "5000": 5.0}


def time_questions(matcher: Matcher, questions: list[str]) -> list[float]:
    """Milliseconds per ``matcher.match`` call, one sample per question."""
    out = []
    clock = time.perf_counter_ns
    for q in questions:
        t0 = clock()
        matcher.match(q)
        out.append((clock() - t0) / 1e6)
    return out


def bench_faq(name: str, directory: Path | None, quick: bool) -> dict[str, Any]:
    """Load/index time and latency rows for one FAQ directory (None: the shipped one)."""
    questions = regression_questions()
    loads, indexes = [], []
    reps = 1 if quick or name == "5000" else 3
    matcher: Matcher | None = None
    for _ in range(reps):
        matcher = None
        gc.collect()
        t0 = time.perf_counter()
        kb = load_knowledge(directory)
        t1 = time.perf_counter()
        matcher = Matcher(kb)
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        indexes.append(t2 - t1)
    assert matcher is not None
    kb = matcher.kb
    vocab = len({w for e in kb for p in (*e.phrasings, *e.keywords, e.answer) for w in words(p)})
    rows: dict[str, Any] = {}
    cold = time_questions(matcher, questions)  # first sight of every question on this matcher
    rows["cold"] = {**summary(cold), "qps": len(cold) / (sum(cold) / 1e3)}

    budget = 1.5 if quick else 8.0  # seconds of matching per row
    warm: list[float] = []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline and len(warm) < 200_000:
        warm += time_questions(matcher, questions)
    rows["warm"] = {**summary(warm), "qps": len(warm) / (sum(warm) / 1e3)}

    rng = random.Random(7)
    typos: list[float] = []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline and len(typos) < 200_000:
        typos += time_questions(matcher, [add_typo(q, rng) for q in questions])
    rows["typos"] = {**summary(typos), "qps": len(typos) / (sum(typos) / 1e3)}
    return {
        "entries": len(kb),
        "phrasings": kb.phrasing_count,
        "vocabulary": vocab,
        "load_s": statistics.median(loads),
        "index_s": statistics.median(indexes),
        "rows": rows,
    }


def bench_cli(quick: bool) -> dict[str, Any]:
    """``faqbot match --json`` on 0 and 1,000 lines (subprocess): start-up and per-line cost."""
    questions = regression_questions()
    lines = [questions[i % len(questions)] for i in range(1000)]
    payload = ("\n".join(lines) + "\n").encode()
    runs = 1 if quick else 3
    cmd = [*faqbot_command(), "match", "--json"]

    def once(data: bytes) -> tuple[float, int]:
        t0 = time.perf_counter()
        out = subprocess.run(cmd, input=data, capture_output=True, timeout=120, cwd=ROOT, check=True)
        return time.perf_counter() - t0, len(out.stdout.splitlines())

    empty = [once(b"")[0] for _ in range(runs)]
    full = []
    for _ in range(runs):
        seconds, count = once(payload)
        if count != len(lines):
            raise RuntimeError(f"faqbot match --json wrote {count} lines for {len(lines)} questions")
        full.append(seconds)
    start, total = statistics.median(empty), statistics.median(full)
    return {
        "lines": len(lines),
        "runs": runs,
        "startup_s": start,
        "total_s": total,
        "per_line_ms": (total - start) / len(lines) * 1e3,
        "lines_per_s": len(lines) / (total - start) if total > start else math.nan,
    }


def run(quick: bool = False) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="faqbench-") as tmp:
        sizes["shipped"] = bench_faq("shipped", None, quick)
        for n in (500, 5000):
            if quick and n > 500:
                continue
            directory = generate(n, Path(tmp) / f"faq{n}")
            sizes[str(n)] = bench_faq(str(n), directory, quick)
    cli = bench_cli(quick)

    header = ["FAQ", "entries", "phrasings", "vocab", "load s", "index s", "total s"]
    print(
        table(
            "Matching: FAQ size and load time (load_knowledge, then Matcher build; median)",
            header,
            [
                [
                    k,
                    v["entries"],
                    v["phrasings"],
                    v["vocabulary"],
                    v["load_s"],
                    v["index_s"],
                    v["load_s"] + v["index_s"],
                ]
                for k, v in sizes.items()
            ],
        )
    )
    rows = []
    for k, v in sizes.items():
        for kind, r in v["rows"].items():
            rows.append([f"{k} {kind}", r["n"], r["p50"], r["p90"], r["p99"], r["max"], r["qps"]])
    print()
    print(
        table(
            "Matching: latency of one question (ms)",
            ["FAQ / set", "n", "p50", "p90", "p99", "max", "q/s"],
            rows,
        )
    )

    checks: dict[str, Any] = {}
    for size, target in TARGET_P99_MS.items():
        if size in sizes:
            worst = max(r["p99"] for r in sizes[size]["rows"].values())
            checks[f"p99 <= {target} ms at {size}"] = {"worst_p99_ms": worst, "met": worst <= target}
    if "500" in sizes and "5000" in sizes:
        growth = {}
        for kind in ("cold", "warm", "typos"):
            a, b = sizes["500"]["rows"][kind]["p50"], sizes["5000"]["rows"][kind]["p50"]
            growth[kind] = math.log(b / a) / math.log(10)
        for part in ("load_s", "index_s"):
            growth[part] = math.log(sizes["5000"][part] / sizes["500"][part]) / math.log(10)
        checks["cost grows no worse than linearly (500 -> 5000 exponent <= 1)"] = {
            "exponents": growth,
            "met": all(x <= 1.1 for x in growth.values()),
        }
    print()
    print(
        table(
            "faqbot match --json (subprocess, shipped FAQ, median)",
            ["lines", "start-up s", "total s", "per line ms", "lines/s"],
            [[cli["lines"], cli["startup_s"], cli["total_s"], cli["per_line_ms"], cli["lines_per_s"]]],
        )
    )
    print()
    for name, check in checks.items():
        detail = {k: round(v, 3) if isinstance(v, float) else v for k, v in check.items() if k != "met"}
        if "exponents" in detail:
            detail = {k: round(v, 2) for k, v in check["exponents"].items()}
        print(f"target {name}: {verdict(check['met'])}  {detail}")
    result = {"quick": quick, "sizes": sizes, "cli": cli, "targets": checks}
    path = write_result("matching", result)
    print(f"\nwrote {path}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (no 5,000-entry FAQ)")
    args = parser.parse_args(argv)
    run(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
