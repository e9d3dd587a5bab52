"""Score a parent's question against the FAQ and decide: answer, suggest, or say "I don't know".

Pure and synchronous: no I/O, no Telegram. Each entry's phrasings (its question, alternatives
and keywords) are indexed as bags of normalised terms. A question is scored against an entry by

* the best cosine similarity with any one phrasing (IDF-weighted, so rare words count more), and
* how much of the question's weight the entry's whole vocabulary covers (answer words count less),

blended into a confidence in 0..1. The entries are ranked by that confidence plus a share of a
naive Bayes posterior over the same terms: treating each entry's phrasings as examples of how its
topic is asked, it picks the right one of two close neighbours more often than either similarity
does alone (it learns from every phrasing at once, where the cosine only sees the best one).

Unknown words carry full weight in the question, so a message about something the FAQ never
mentions scores low instead of matching on one shared word.
The bot answers outright only when the best score is high *and* leads the runner-up by a margin
(as QnA Maker does); otherwise it offers "did you mean" suggestions, or abstains.
"""

from __future__ import annotations

import gc
import heapq
import math
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from rapidfuzz import fuzz

from bot.knowledge import Entry, KnowledgeBase, SmallTalk
from bot.text import Normaliser, fold, words

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """The thresholds that decide between answering, suggesting and abstaining (tuned on dev.yaml)."""

    answer_threshold: float = 0.3
    suggest_threshold: float = 0.15
    margin: float = 0.0
    # The IDF the best entry must share with the question to answer outright: "data" or "my child"
    # alone match everything a little and deserve suggestions, not a confident answer.
    min_evidence: float = 0.25
    # A question whose terms are exactly one of an entry's phrasings scores at least this.
    exact_floor: float = 0.85
    max_suggestions: int = 3
    phrasing_weight: float = 0.3
    answer_text_weight: float = 0.6
    saturation: float = 1.0
    weight_power: float = 1.0
    share_weight: float = 0.6
    unknown_weight: float = 1.25
    # Ranking: naive Bayes over the phrasing counts (answer words count ``answer_text_weight``),
    # Laplace-smoothed by ``nb_alpha``; its posterior (per-term log-likelihood / ``nb_temperature``)
    # times ``nb_weight`` is added to the confidence to rank. The thresholds apply to the confidence.
    nb_weight: float = 0.5
    nb_alpha: float = 0.5
    nb_temperature: float = 0.2
    # Speed on large FAQs: how many entries are scored exactly, found from the question's heaviest terms.
    candidates: int = 40
    candidate_weight: float = 0.6


class Outcome(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    UNKNOWN = "unknown"
    SMALLTALK = "smalltalk"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Match:
    """What the matcher decided for one question."""

    outcome: Outcome
    score: float
    entry: Entry | None = None
    suggestions: tuple[Entry, ...] = ()
    smalltalk: SmallTalk | None = None

    @property
    def best_id(self) -> str | None:
        if self.entry:
            return self.entry.id
        return self.suggestions[0].id if self.suggestions else None


def _among(table: Mapping[int, _V], entries: Collection[int]) -> Iterator[tuple[int, _V]]:
    """The (entry, value) pairs of ``table`` for the given entries, walking whichever is shorter:
    a common term's table lists most of a large FAQ, a rare one's only a few entries."""
    if len(table) > len(entries):
        return ((i, table[i]) for i in entries if i in table)
    return ((i, v) for i, v in table.items() if i in entries)


# Words that may surround small talk without turning it into a question.
_FILLER = frozenset("there again so much very lot lots guys bot mate all everyone you ok okay".split())


class Matcher:
    """An index over one knowledge base. Immutable once built; build a new one on reload."""

    def __init__(self, kb: KnowledgeBase, settings: MatchSettings | None = None) -> None:
        # The index is hundreds of thousands of small containers and no cycles: collecting while
        # building them only rescans them, which made the build grow faster than the FAQ.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(kb, settings)
        finally:
            if was_enabled:
                gc.enable()

    def _build(self, kb: KnowledgeBase, settings: MatchSettings | None) -> None:
        self.kb = kb
        self.settings = settings or MatchSettings()
        entries = list(kb)
        self._entries = entries
        # Typos are corrected towards the words parents use (phrasings, keywords), not the answers'
        # prose: "lines" must not become "links" because an answer mentions links.
        self.normaliser = Normaliser(kb.synonyms, (t for e in entries for t in (*e.phrasings, *e.keywords)))
        norm = self.normaliser.terms
        # Phrasing bags (question, alternatives, and the keywords as one more phrasing).
        phrasings: list[tuple[int, frozenset[str]]] = []
        entry_terms: list[set[str]] = []
        answer_terms: list[set[str]] = []
        for i, e in enumerate(entries):
            bags = [frozenset(norm(p, correct=False)) for p in e.phrasings]
            if e.keywords:
                bags.append(frozenset(norm(" ".join(e.keywords), correct=False)))
            bags = [b for b in bags if b]
            phrasings.extend((i, b) for b in bags)
            entry_terms.append(set().union(*bags) if bags else set())
            answer_terms.append(set(norm(e.answer, correct=False)))
        n = max(len(entries), 1)
        df: dict[str, int] = defaultdict(int)
        for i in range(len(entries)):
            for t in entry_terms[i] | answer_terms[i]:
                df[t] += 1
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # A word the FAQ never uses counts against a match, as much as a fairly rare word would.
        self._unknown_idf = self.settings.unknown_weight * math.log(1 + (n - 0.5) / 1.5)
        # Phrasing norms, and postings: term -> entry -> the indices of its phrasings with that term.
        self._norms: list[list[float]] = [[] for _ in entries]
        postings: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i, bag in phrasings:
            for t in bag:
                postings[t][i].append(len(self._norms[i]))
            self._norms[i].append(math.sqrt(sum(self._w(t) for t in bag)))
        self._postings: dict[str, dict[int, tuple[int, ...]]] = {
            t: {i: tuple(js) for i, js in per_entry.items()} for t, per_entry in postings.items()
        }
        # Concentration: how strongly each term belongs to each entry. A term in many of an entry's
        # phrasings is telling; one in a single phrasing, or only in the answer text, is weak.
        tf: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for t, per_entry in postings.items():
            for i, js in per_entry.items():
                tf[t][i] = float(len(js))  # how many of entry i's phrasings use t
        count = [len(norms) for norms in self._norms]
        for i, terms in enumerate(answer_terms):
            for t in terms:
                tf[t][i] += self.settings.answer_text_weight
        k = self.settings.saturation
        full = 3.0 / (3.0 + k)
        share = self.settings.share_weight
        self._belongs: dict[str, dict[int, float]] = {
            t: {
                i: min(1.0, (x / (x + k)) / full) * (1 - share + share * min(1.0, x / max(count[i], 1)))
                for i, x in per_entry.items()
            }
            for t, per_entry in tf.items()
        }
        # Naive Bayes on the same counts: log P(term | entry) = base (unseen) + gain (seen terms).
        alpha = self.settings.nb_alpha
        total = [0.0] * len(entries)
        for per_entry in tf.values():
            for i, x in per_entry.items():
                total[i] += x
        self._nb_base = [math.log(alpha / (t + alpha * len(tf))) for t in total]
        self._nb_gain: dict[str, dict[int, float]] = {
            t: {i: math.log((x + alpha) / alpha) for i, x in per_entry.items()} for t, per_entry in tf.items()
        }
        self._smalltalk = [
            (st, [" ".join(words(p)) for p in st.patterns], {w for p in st.patterns for w in words(p)})
            for st in kb.smalltalk
        ]

    def _w(self, term: str) -> float:
        """A term's weight: a power of its IDF, so that rare, telling words count more than common ones."""
        return self._idf.get(term, self._unknown_idf) ** self.settings.weight_power

    # ------------------------------------------------------------------ scoring

    def scores(self, question: str) -> list[tuple[float, int]]:
        """Every entry with a non-zero score, best ranked first, as (confidence, entry index)."""
        return [(score, i) for _, score, i in self._score_terms(set(self.normaliser.terms(question)))]

    def _evidence(self, terms: set[str], entry: int) -> float:
        """How much IDF the question shares with one entry (its phrasings, keywords or answer)."""
        return sum(self._idf.get(t, 0.0) for t in terms if entry in self._belongs.get(t, ()))

    def _score_terms(self, terms: set[str]) -> list[tuple[float, float, int]]:
        """Score the entries for a question's terms, best first, as (rank key, confidence, entry index).

        Candidates come from the question's heaviest terms (the rare ones have short posting lists):
        they are walked in full until they make up most of the question's weight, then only the best
        ``candidates`` entries are scored exactly. On a small FAQ every entry is a candidate.
        """
        if not terms:
            return []
        weights = {t: self._w(t) for t in terms}
        q_weight = sum(weights.values())
        q_norm = math.sqrt(q_weight)
        s = self.settings
        partial: dict[int, float] = defaultdict(float)
        walked = 0.0
        for t in sorted(terms, key=lambda term: -weights[term]):
            belongs = self._belongs.get(t)
            if not belongs:
                continue
            if walked >= s.candidate_weight * q_weight and len(partial) >= s.candidates:
                break
            w = weights[t]
            for i, strength in belongs.items():
                partial[i] += w * strength
            walked += w
        if len(partial) > s.candidates:
            chosen = heapq.nlargest(s.candidates, partial, key=partial.__getitem__)
        else:
            chosen = list(partial)
        chosen_set = set(chosen)
        covered: dict[int, float] = defaultdict(float)
        dots: dict[tuple[int, int], float] = defaultdict(float)
        for t, w in weights.items():
            for table, add in ((self._belongs.get(t), True), (self._postings.get(t), False)):
                if not table:
                    continue
                for i, value in _among(table, chosen_set):
                    if add:
                        covered[i] += w * value
                    else:
                        for j in value:
                            dots[(i, j)] += w
        best_phrasing: dict[int, float] = defaultdict(float)
        for (i, j), dot in dots.items():
            cos = dot / (q_norm * self._norms[i][j])
            if cos > best_phrasing[i]:
                best_phrasing[i] = cos
        a = s.phrasing_weight
        scored = []
        for i in chosen:
            phrasing, coverage = best_phrasing.get(i, 0.0), covered[i] / q_weight
            score = a * phrasing + (1 - a) * coverage
            if phrasing > 0.999:  # the question is one of this entry's phrasings
                score = max(score, s.exact_floor + (1 - s.exact_floor) * coverage)
            scored.append((score, i))
        posterior = self._posterior(terms, chosen)
        ranked = [(score + s.nb_weight * posterior.get(i, 0.0), score, i) for score, i in scored]
        ranked.sort(key=lambda row: (-row[0], row[2]))
        return ranked

    def _posterior(self, terms: set[str], chosen: list[int]) -> dict[int, float]:
        """The naive Bayes posterior of each chosen entry given the question's known terms (uniform prior)."""
        known = [t for t in terms if t in self._nb_gain]
        if not known or not chosen or self.settings.nb_weight == 0:
            return {}
        loglik = {i: len(known) * self._nb_base[i] for i in chosen}
        for t in known:
            for i, gain in _among(self._nb_gain[t], loglik):
                loglik[i] += gain
        # per-term average, sharpened: a long question should not be more certain just for being long
        scale = 1.0 / (len(known) * self.settings.nb_temperature)
        top = max(loglik.values())
        odds = {i: math.exp((ll - top) * scale) for i, ll in loglik.items()}
        total = sum(odds.values())
        return {i: o / total for i, o in odds.items()}

    def smalltalk(self, question: str) -> SmallTalk | None:
        """The small-talk item this message is (a greeting, thanks, 'are you a bot?'), if any."""
        ws = words(question)
        if not ws or len(ws) > 8:
            return None
        text = " ".join(ws)
        for st, patterns, vocab in self._smalltalk:
            if any(text == p or (len(p) > 5 and fuzz.ratio(text, p) >= 88) for p in patterns):
                return st
            if all(w in vocab or w in _FILLER for w in ws) and any(w in vocab for w in ws):
                return st
        return None

    def match(self, question: str) -> Match:
        """Decide what to do with one message."""
        if not fold(question).strip() or not words(question):
            return Match(Outcome.EMPTY, 0.0)
        st = self.smalltalk(question)
        if st is not None:
            return Match(Outcome.SMALLTALK, 0.0, smalltalk=st)
        terms = set(self.normaliser.terms(question))
        ranked = self._score_terms(terms)
        s = self.settings
        if not ranked or ranked[0][1] < s.suggest_threshold:
            top = round(min(ranked[0][1], 1.0), 4) if ranked else 0.0
            return Match(Outcome.UNKNOWN, top)
        lead, best, best_i = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        floor = max(s.suggest_threshold, best * 0.5)
        score = round(min(best, 1.0), 4)
        confident = best >= s.answer_threshold and lead - runner_up >= s.margin
        if confident and self._evidence(terms, best_i) >= s.min_evidence:
            others = tuple(self._entries[i] for _, sc, i in ranked[1 : 1 + s.max_suggestions] if sc >= floor)
            return Match(Outcome.ANSWER, score, entry=self._entries[best_i], suggestions=others)
        close = tuple(self._entries[i] for _, sc, i in ranked[: s.max_suggestions] if sc >= floor)
        return Match(Outcome.SUGGEST, score, suggestions=close)
