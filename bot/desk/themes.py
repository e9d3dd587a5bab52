"""Themes: group the questions the FAQ could not answer by meaning, biggest group first.

Vectors come from ``embed(texts)``. For now that is :class:`LexicalEmbedder`: TF-IDF over the
matcher's own normalised terms (typos corrected, synonyms folded, stop words dropped), so "GDPR
deletion" and "erase my sons data" meet where the FAQ's synonyms say they do. A sentence encoder
can replace it: any ``Callable[[Sequence[str]], list[Vector]]`` works, and a dense vector can be
passed as ``dict(enumerate(vector))``.

Grouping is single-pass leader clustering against group centroids, through an inverted index from
each dimension to the groups that use it, so it stays fast for thousands of questions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.text import Normaliser

Vector = dict[str, float] | dict[int, float]
Embed = Callable[[Sequence[str]], list[Vector]]
THRESHOLD = 0.45


class LexicalEmbedder:
    """TF-IDF vectors over the matcher's terms, L2-normalised; the IDF comes from the texts themselves."""

    def __init__(self, normaliser: Normaliser) -> None:
        self.normaliser = normaliser

    def __call__(self, texts: Sequence[str]) -> list[Vector]:
        bags = [Counter(self.normaliser.terms(t)) for t in texts]
        df: Counter[str] = Counter()
        for bag in bags:
            df.update(bag.keys())
        n = len(texts)
        out: list[Vector] = []
        for bag in bags:
            vec = {t: (1 + math.log(c)) * math.log((1 + n) / (1 + df[t]) + 1) for t, c in bag.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            out.append({t: v / norm for t, v in vec.items()})
        return out


def _dot(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class Group:
    """Indices into the texts grouped, the most central first."""

    members: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.members)


def group(vectors: Sequence[Vector], threshold: float = THRESHOLD) -> list[Group]:
    """Group vectors whose cosine with a group's centroid is at least ``threshold``; biggest first.

    Empty vectors (a question of only stop words) form no group.
    """
    sums: list[dict] = []  # running sum of each group's member vectors
    members: list[list[int]] = []
    index: dict[object, set[int]] = {}
    for i, vec in enumerate(vectors):
        if not vec:
            continue
        candidates: set[int] = set()
        for key in vec:
            candidates |= index.get(key, set())
        best, best_sim = -1, threshold
        for g in candidates:
            total = sums[g]
            norm = math.sqrt(sum(v * v for v in total.values())) or 1.0
            sim = _dot(vec, total) / norm
            if sim >= best_sim:
                best, best_sim = g, sim
        if best < 0:
            best = len(sums)
            sums.append({})
            members.append([])
        total = sums[best]
        for key, v in vec.items():
            total[key] = total.get(key, 0.0) + v
            index.setdefault(key, set()).add(best)
        members[best].append(i)
    groups = []
    for g, ids in enumerate(members):
        total = sums[g]
        ranked = sorted(ids, key=lambda i: -_dot(vectors[i], total))
        groups.append(Group(tuple(ranked)))
    groups.sort(key=lambda grp: (-len(grp), grp.members[0]))
    return groups
