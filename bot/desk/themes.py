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
from typing import Any

from bot.text import Normaliser

Vector = dict[str, float] | dict[int, float]
Embed = Callable[[Sequence[str]], list[Vector]]
THRESHOLD = 0.45
# A group is a candidate for a question only if it shares one of the question's heaviest dimensions:
# a group sharing nothing but a common word could not reach the threshold anyway.
CANDIDATE_KEYS = 3


class LexicalEmbedder:
    """TF-IDF vectors over the matcher's terms, L2-normalised; the IDF comes from the texts themselves."""

    def __init__(self, normaliser: Normaliser, cache_size: int = 20_000) -> None:
        self.normaliser = normaliser
        self._bags: dict[str, Counter[str]] = {}  # text -> its terms; the same text recurs a lot
        self._cache_size = cache_size

    def _bag(self, text: str) -> Counter[str]:
        bag = self._bags.get(text)
        if bag is None:
            if len(self._bags) >= self._cache_size:
                self._bags.clear()
            bag = self._bags[text] = Counter(self.normaliser.terms(text))
        return bag

    def __call__(self, texts: Sequence[str]) -> list[Vector]:
        bags = [self._bag(t) for t in texts]
        df: Counter[str] = Counter()
        for bag in bags:
            df.update(bag.keys())
        n = len(texts)
        idf = {t: math.log((1 + n) / (1 + c) + 1) for t, c in df.items()}
        out: list[Vector] = []
        for bag in bags:
            vec = {t: (1 + math.log(c)) * idf[t] for t, c in bag.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            out.append({t: v / norm for t, v in vec.items()})
        return out


def _dot(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    other: dict[Any, float] = b  # keys are all str or all int, the same in both vectors
    return sum(v * other.get(k, 0.0) for k, v in a.items())


@dataclass(frozen=True, slots=True)
class Group:
    """Indices into the vectors grouped, the most central first, and how many questions they stand for."""

    members: tuple[int, ...]
    size: int


def group(
    vectors: Sequence[Vector], weights: Sequence[int] | None = None, threshold: float = THRESHOLD
) -> list[Group]:
    """Group vectors whose cosine with a group's centroid is at least ``threshold``; biggest first.

    ``weights`` counts how many questions each vector stands for (identical texts are embedded once).
    Empty vectors (a question of only stop words) form no group.
    """
    weight = weights or [1] * len(vectors)
    order = sorted(range(len(vectors)), key=lambda i: -weight[i])  # frequent questions seed the groups
    sums: list[dict[Any, float]] = []  # running sum of each group's member vectors
    norms2: list[float] = []  # its squared length, kept up to date
    members: list[list[int]] = []
    index: dict[object, set[int]] = {}
    for i in order:
        vec = vectors[i]
        if not vec:
            continue
        candidates: set[int] = set()
        for key in sorted(vec, key=vec.__getitem__, reverse=True)[:CANDIDATE_KEYS]:  # type: ignore[arg-type]
            found = index.get(key)
            if found:
                candidates |= found
        best, best_sim = -1, threshold
        for g in candidates:
            sim = _dot(vec, sums[g]) / (math.sqrt(norms2[g]) or 1.0)
            if sim >= best_sim:
                best, best_sim = g, sim
        if best < 0:
            best = len(sums)
            sums.append({})
            norms2.append(0.0)
            members.append([])
        total = sums[best]
        for key, v in vec.items():
            v *= weight[i]
            old = total.get(key, 0.0)
            total[key] = old + v
            norms2[best] += 2 * old * v + v * v
            index.setdefault(key, set()).add(best)
        members[best].append(i)
    groups = []
    for g, ids in enumerate(members):
        total = sums[g]
        ranked = sorted(ids, key=lambda i: -_dot(vectors[i], total))
        groups.append(Group(tuple(ranked), sum(weight[i] for i in ids)))
    groups.sort(key=lambda grp: (-grp.size, grp.members[0]))
    return groups
