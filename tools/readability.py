"""Flesch reading ease of every FAQ answer (and "More detail" text), as parents read it.

The markup is removed first: a link counts as its label, ``**bold**`` as its words, and each line
(a bullet or a paragraph) as its own sentence, because that is how it reads on a phone. Prints one
score per text, then the median and the minimum. Issue 10 asks for a median of at least 60 and no
text below 45; ``tests/test_readability.py`` holds that floor.

    python tools/readability.py [KNOWLEDGE_DIR]
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import textstat

from bot.knowledge import KnowledgeBase, load_knowledge

MEDIAN_FLOOR = 60.0
MINIMUM_FLOOR = 45.0

_LINK_RE = re.compile(r"\[([^\]\n]+)\]\((https://[^\s)]+)\)")
_SENTENCE_END = ".!?:;"


@dataclass(frozen=True, slots=True)
class Score:
    """The reading ease of one text: an entry's ``answer`` or its ``detail``."""

    entry_id: str
    part: str  # "answer" or "detail"
    score: float

    @property
    def name(self) -> str:
        return self.entry_id if self.part == "answer" else f"{self.entry_id} (detail)"


def plain_text(markup: str) -> str:
    """The words a parent reads: links as their labels, no bold markers or bullets, a line per sentence."""
    lines = []
    for line in markup.splitlines():
        text = line.strip()
        if text.startswith("- "):
            text = text[2:]
        text = _LINK_RE.sub(r"\1", text).replace("**", "").strip()
        if not text:
            continue
        lines.append(text if text[-1] in _SENTENCE_END else text + ".")
    return "\n".join(lines)


def reading_ease(markup: str) -> float:
    return float(textstat.flesch_reading_ease(plain_text(markup)))


def scores(kb: KnowledgeBase) -> Iterator[Score]:
    """Every answer, and every detail text, in the FAQ's order."""
    for entry in kb:
        yield Score(entry.id, "answer", reading_ease(entry.answer))
        if entry.detail:
            yield Score(entry.id, "detail", reading_ease(entry.detail))


def main(argv: list[str]) -> int:
    kb = load_knowledge(argv[0] if argv else None)
    results = list(scores(kb))
    width = max(len(r.name) for r in results)
    for r in sorted(results, key=lambda r: r.score):
        flag = "  below the floor" if r.score < MINIMUM_FLOOR else ""
        print(f"{r.name:<{width}}  {r.score:6.1f}{flag}")
    values = [r.score for r in results]
    median, lowest = statistics.median(values), min(values)
    print(
        f"\n{len(values)} texts: median {median:.1f} (floor {MEDIAN_FLOOR:.0f}), "
        f"minimum {lowest:.1f} (floor {MINIMUM_FLOOR:.0f})"
    )
    return 0 if median >= MEDIAN_FLOOR and lowest >= MINIMUM_FLOOR else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
