#!/usr/bin/env python3
"""Score follow-up understanding: the % of follow-ups resolved to the right entry.

Usage: python tools/score_followups.py [PAIRS.yaml] [--knowledge DIR] [--misses]

PAIRS.yaml is a list of {first: question, first_id: entry it is answered with, q: follow-up, id:
expected entry (or a list of acceptable ids)}. Each follow-up is understood with ``first_id`` as the
chat's last answer, exactly as the bot would after answering it; "resolved" means answered outright
with the expected entry. Also printed: the same when the context is whatever the bot itself answered
to ``first`` (the live conversation), and the follow-ups alone, without any context (the baseline).
The last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.conversation import understand
from bot.live import Snapshot, build
from bot.matcher import Match, Outcome

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "data" / "followups.yaml"


def _answered(match: Match) -> str | None:
    return match.entry.id if match.outcome is Outcome.ANSWER and match.entry else None


def _ids(expected: object) -> set[str]:
    return {str(i) for i in expected} if isinstance(expected, list) else {str(expected)}


def score(snap: Snapshot, pairs: list[dict[str, object]]) -> dict[str, object]:
    """Counts for one set: resolved with the given context, in the live conversation, and alone."""
    resolved = live = alone = offered = first_right = wrong = alone_wrong = 0
    misses: list[str] = []
    for pair in pairs:
        want = _ids(pair["id"])
        q = str(pair["q"])
        previous = snap.kb.get(str(pair["first_id"]))
        if previous is None:
            raise SystemExit(f"unknown first_id {pair['first_id']!r}")
        turn = understand(snap, q, previous)
        got = _answered(turn.match)
        resolved += got in want
        wrong += got is not None and got not in want
        offered += got in want or any(e.id in want for e in turn.match.suggestions)
        first = _answered(understand(snap, str(pair["first"])).match)
        first_right += first == previous.id
        context = snap.kb.get(first) if first else None
        live += _answered(understand(snap, q, context).match) in want
        by_itself = _answered(snap.match(q))
        alone += by_itself in want
        alone_wrong += by_itself is not None and by_itself not in want
        if got not in want:
            shown = got or f"{turn.match.outcome.value} {[e.id for e in turn.match.suggestions]}"
            misses.append(f"after {previous.id}: {q!r} -> {shown}, want {'/'.join(sorted(want))}")
    return {
        "n": len(pairs),
        "resolved": resolved,
        "offered": offered,
        "live": live,
        "alone": alone,
        "first_right": first_right,
        "wrong": wrong,
        "alone_wrong": alone_wrong,
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="?", default=str(DEFAULT))
    ap.add_argument("--knowledge", default=None, help="FAQ directory (default: the shipped one)")
    ap.add_argument("--misses", action="store_true", help="list every follow-up not resolved")
    args = ap.parse_args(argv)
    pairs = yaml.safe_load(Path(args.pairs).read_text(encoding="utf-8")) or []
    r = score(build(args.knowledge), pairs)
    n = max(int(r["n"]), 1)

    def pct(key: str) -> str:
        return f"{100 * int(r[key]) / n:.1f} %"

    print(f"{r['n']} follow-up pairs from {args.pairs}")
    print(f"  resolved to the right entry (context = first_id):   {pct('resolved')}")
    print(f"  right entry answered or offered:                    {pct('offered')}")
    print(f"  live conversation (context = the bot's own answer):  {pct('live')}")
    print(f"  first questions answered with first_id:             {pct('first_right')}")
    print(f"  answered outright with a wrong entry:               {pct('wrong')}")
    print(f"  follow-ups alone, without context (baseline):       {pct('alone')}")
    print(f"  ... of which answered outright with a wrong entry:  {pct('alone_wrong')}")
    if args.misses:
        for line in r["misses"]:
            print("  miss:", line)
    print(f"follow-ups resolved {pct('resolved')} (live {pct('live')}, without context {pct('alone')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
