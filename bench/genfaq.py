"""Generate large FAQs with the shipped FAQ's structure and text, for the matching benchmark.

Entry ``k`` is a variant of shipped entry ``k mod 39``: its question and every alternative are the
shipped phrasings reworded around a *topic* (one made-up word unique to the entry, plus one from a
shared pool of ``n / 10``), with one phrasing borrowed from another shipped entry; the answer is the
shipped answer about that topic, with the same sources, keywords plus the topic, and ``related``
pointing at the variants of the shipped related entries. So the number of phrasings grows with ``n``
and the vocabulary grows too (about 1.1 new words an entry), as it would in a bigger real FAQ.
``_synonyms.yaml`` and ``_smalltalk.yaml`` are copied unchanged.

    python -m bench.genfaq 5000 /tmp/faq5000     # writes the directory and checks that it loads
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import yaml

from bench.common import ROOT, pseudo_word
from bot.knowledge import MAX_ANSWER_CHARS, Entry, load_knowledge
from bot.text import words

SHIPPED = ROOT / "knowledge"
ENTRIES_PER_FILE = 50
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
TEMPLATES = (
    "{p} for the {a} {b}",
    "{p} ({a})",
    "{a} {b}: {p}",
    "{p} in the {a} {b} return",
    "what about the {a} {b}, {p}",
    "{p} - i mean for {a}",
)


def _topic_words(n: int, rng: random.Random, known: set[str]) -> tuple[list[str], list[str]]:
    """``n`` unique made-up words (one an entry) and a shared pool of ``n / 10`` more."""
    pool_size = max(20, n // 10)
    seen = set(known)
    out: list[str] = []
    while len(out) < n + pool_size:
        word = pseudo_word(rng)
        if len(word) >= 4 and word not in seen:
            seen.add(word)
            out.append(word)
    return out[:n], out[n:]


def _answer(base: Entry, a: str, b: str, c: str) -> str:
    """The shipped answer about the topic, kept within the answer limit."""
    intro = f"For the {a} {b} collection: "
    extra = f"\n\nThe same applies to {a} records kept by the {c} service; ask them for a copy."
    paragraphs = base.answer.split("\n\n")
    while len(paragraphs) > 1 and len(intro + "\n\n".join(paragraphs) + extra) > MAX_ANSWER_CHARS:
        paragraphs.pop()
    text = intro + "\n\n".join(paragraphs) + extra
    return text if len(text) <= MAX_ANSWER_CHARS else base.answer


def generate(n: int, directory: Path, seed: int = 1) -> Path:
    """Write an FAQ of ``n`` entries into ``directory`` (created; must be empty or absent)."""
    rng = random.Random(seed)
    kb = load_knowledge(SHIPPED)
    bases = list(kb)
    known = {w for e in bases for p in (*e.phrasings, e.answer) for w in words(p)}
    unique, pool = _topic_words(n, rng, known)
    ids = [f"{bases[k % len(bases)].id}-g{k // len(bases)}" for k in range(n)]
    id_set = set(ids)
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("_synonyms.yaml", "_smalltalk.yaml"):
        shutil.copy(SHIPPED / name, directory / name)
    for start in range(0, n, ENTRIES_PER_FILE):
        entries = []
        for k in range(start, min(n, start + ENTRIES_PER_FILE)):
            base = bases[k % len(bases)]
            generation = k // len(bases)
            a, b, c = unique[k], rng.choice(pool), rng.choice(pool)
            other = rng.choice([e for e in bases if e.id != base.id])
            phrasings = [*base.alternatives, rng.choice(other.alternatives)]
            alternatives = [
                rng.choice(TEMPLATES).format(p=p.rstrip("?").lower(), a=a, b=b) for p in phrasings
            ]
            related = [f"{r}-g{generation}" for r in base.related if f"{r}-g{generation}" in id_set]
            entries.append(
                {
                    "id": ids[k],
                    "question": f"{base.question.rstrip('?')} for the {a} {b}?",
                    "alternatives": alternatives,
                    "answer": _answer(base, a, b, c),
                    "sources": [{"title": s.title, "url": s.url} for s in base.sources],
                    "related": related,
                    "keywords": [*base.keywords, a, f"{a} {b}"],
                }
            )
        title = f"{bases[start % len(bases)].section}: {pool[(start // ENTRIES_PER_FILE) % len(pool)]}"
        data = {"section": f"{title} {start // ENTRIES_PER_FILE + 1}", "entries": entries}
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        (directory / f"section-{start // ENTRIES_PER_FILE:04d}.yaml").write_text(text, encoding="utf-8")
    return directory


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[0].isdigit():
        print("usage: python -m bench.genfaq N DIRECTORY", file=sys.stderr)
        return 2
    directory = generate(int(args[0]), Path(args[1]))
    kb = load_knowledge(directory)
    vocab = {w for e in kb for p in (*e.phrasings, e.answer) for w in words(p)}
    print(f"{directory}: {len(kb)} entries, {kb.phrasing_count} phrasings, {len(vocab)} distinct words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
