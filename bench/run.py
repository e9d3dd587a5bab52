"""Run every benchmark: ``python -m bench [--quick] [--only NAME ...]`` (or ``python bench/run.py``).

Each prints its tables and writes ``bench/results/<name>.json``; a summary of the targets comes last.
Run from the repository root with the project's ``[test]`` extra installed (aiohttp for the fake Bot API).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make `bench`, `bot` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import desk, e2e, footprint, matching
from bench.common import ROOT, verdict

BENCHMARKS = {
    "matching": matching.run,
    "e2e": e2e.run,
    "footprint": footprint.run,
    "desk": desk.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the faqbot benchmarks.")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (smaller sizes and bursts)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    summary: list[tuple[str, str, bool]] = []
    t0 = time.perf_counter()
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name}{' (quick)' if args.quick else ''} ===\n", flush=True)
        result = bench(args.quick)
        for target, check in result["targets"].items():
            summary.append((name, target, bool(check["met"])))
    # Other processes on the machine inflate every latency: say how busy it was.
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n=== targets ({time.perf_counter() - t0:.0f} s; load average at the end {load}) ===")
    for name, target, met in summary:
        print(f"{verdict(met):7} {name}: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
