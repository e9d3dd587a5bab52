"""Score a parent's question against the FAQ and decide: answer, suggest, or say "I don't know".

Synchronous, no Telegram; the only I/O is the phrasing-embedding cache file, read and written when
an index is built. Two scorers look at each question:

* lexical: each entry's phrasings (question, alternatives, keywords) are bags of normalised terms;
  the confidence blends the best IDF-weighted cosine with one phrasing and how much of the
  question's weight the entry's vocabulary covers; a naive Bayes posterior over the same terms
  learns from all of an entry's phrasings at once;
* semantic (bot/semantic.py): the mean cosine of the sentence embeddings of the entry's two
  phrasings closest to the question.

Entries are ranked by the semantic score plus shares of the two lexical ones. Whether to answer is
decided by a small logistic regression over evidence about the top entry (both scores, how far each
scorer puts it ahead of the next entry, how many question terms it shares, how close the question is
to the FAQ at all): answer when that probability is high and the evidence agrees, suggest when it is
middling or the question is semantically in the domain, else say "I don't know". Every constant is
named below with why it is there; tools/tune_fusion.py fits the regression.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias, TypeVar

import numpy as np
from rapidfuzz import fuzz

from bot.knowledge import Entry, KnowledgeBase, SmallTalk
from bot.semantic import EmbeddingCache, Encoder, acronyms, default_cache_path, default_encoder, expand
from bot.text import Normaliser, fold, sentences, words

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Where the bot answers, suggests or abstains, on the calibrated probability that its best
    entry is right (see :func:`_confidence`); configurable as FAQBOT_ANSWER_THRESHOLD etc."""

    answer_threshold: float = 0.56
    suggest_threshold: float = 0.1
    # The lead, in fused rank score, the best entry needs over the runner-up to be answered outright.
    margin: float = 0.0
    max_suggestions: int = 3


# --- Lexical scoring (each tuned on dev.yaml and regression.yaml; see the module docstring)
# Confidence = this share of the best single-phrasing cosine + the rest from vocabulary coverage:
# coverage is steadier on long messages, the phrasing cosine rewards one close paraphrase.
_PHRASING_WEIGHT = 0.3
# Answer prose counts this much of a phrasing in coverage: it is about the topic, not how it is asked.
_ANSWER_TEXT_WEIGHT = 0.6
# A term in k of an entry's phrasings belongs to it k/(k+1), relative to 3 phrasings' worth.
_SATURATION = 1.0
# Part of "belongs" that grows with the share of the entry's phrasings using the term.
_SHARE_WEIGHT = 0.6
# A word the FAQ never uses counts against a match, this times as much as a rare word would.
_UNKNOWN_WEIGHT = 1.25
# A question whose terms are exactly one of an entry's phrasings scores at least this.
_EXACT_FLOOR = 0.85
# Naive Bayes over the phrasing counts: Laplace smoothing, and the sharpening of its per-term average.
_NB_ALPHA = 0.5
_NB_TEMPERATURE = 0.2
# Speed on large FAQs: how many entries are scored exactly, found from the question's heaviest terms.
_CANDIDATES = 40
_CANDIDATE_WEIGHT = 0.6


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


# Words that may surround small talk without turning it into a question; they do not count towards
# its length limit either ("r u a real person or a bot lol").
_FILLER = frozenset(
    """there again so much very lot lots guys bot mate all everyone you ok okay
    lol haha hahaha lmao hehe xx""".split()
)


class Matcher:
    """An index over one knowledge base. Immutable once built; build a new one on reload."""

    def __init__(
        self,
        kb: KnowledgeBase,
        settings: MatchSettings | None = None,
        *,
        encoder: Encoder | Callable[[], Encoder] | None = None,
        cache: EmbeddingCache | None = None,
    ) -> None:
        """``encoder`` may be a function that returns one (a future's ``result``): it is called only
        when the lexical index is built, so the model can load in another thread meanwhile."""
        self._encoder_source = encoder if encoder is not None else default_encoder
        self.cache = cache if cache is not None else EmbeddingCache(default_cache_path())
        self._build(kb, settings)

    def _build(self, kb: KnowledgeBase, settings: MatchSettings | None) -> None:
        self.kb = kb
        self.settings = settings or MatchSettings()
        entries = list(kb)
        self._entries = entries
        # Typos are corrected towards the words parents use (phrasings, keywords), not the answers'
        # prose: "lines" must not become "links" because an answer mentions links.
        self.normaliser = Normaliser(
            kb.synonyms, (t for e in entries for t in (*e.phrasings, *e.keywords)), kb.language
        )
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
        self._unknown_idf = _UNKNOWN_WEIGHT * math.log(1 + (n - 0.5) / 1.5)
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
                tf[t][i] += _ANSWER_TEXT_WEIGHT
        k = _SATURATION
        full = 3.0 / (3.0 + k)
        share = _SHARE_WEIGHT
        self._belongs: dict[str, dict[int, float]] = {
            t: {
                i: min(1.0, (x / (x + k)) / full) * (1 - share + share * min(1.0, x / max(count[i], 1)))
                for i, x in per_entry.items()
            }
            for t, per_entry in tf.items()
        }
        # Naive Bayes on the same counts: log P(term | entry) = base (unseen) + gain (seen terms).
        alpha = _NB_ALPHA
        total = [0.0] * len(entries)
        for counts in tf.values():
            for i, x in counts.items():
                total[i] += x
        self._nb_base = [math.log(alpha / (t + alpha * len(tf))) for t in total]
        self._nb_gain: dict[str, dict[int, float]] = {
            t: {i: math.log((x + alpha) / alpha) for i, x in per_entry.items()} for t, per_entry in tf.items()
        }
        # Semantic side: one embedding per phrasing (question and alternatives), rows grouped by entry.
        source = self._encoder_source
        self.encoder: Encoder = source if isinstance(source, Encoder) else source()
        self._acronyms = acronyms(kb.synonyms)
        texts = [t for group in phrasing_texts(entries, self._acronyms) for t in group]
        self._sem = self.cache.embed(self.encoder, texts)
        self._sem_counts = np.array([len(e.phrasings) for e in entries], dtype=np.int64)
        self._sem_starts = np.concatenate(([0], np.cumsum(self._sem_counts)[:-1])).astype(np.int64)
        self._sem_single = self._sem_counts < 2
        self._smalltalk = [
            (st, [" ".join(words(p)) for p in st.patterns], {w for p in st.patterns for w in words(p)})
            for st in kb.smalltalk
        ]
        self._phrasing_words = frozenset(" ".join(words(p)) for e in entries for p in e.phrasings)

    def _w(self, term: str) -> float:
        """A term's weight: its IDF, so that rare, telling words count more than common ones."""
        return self._idf.get(term, self._unknown_idf)

    # ------------------------------------------------------------------ scoring

    def _evidence(self, terms: set[str], entry: int) -> float:
        """How much IDF the question shares with one entry (its phrasings, keywords or answer)."""
        return sum(self._idf.get(t, 0.0) for t in terms if entry in self._belongs.get(t, ()))

    def _lexical(self, terms: set[str]) -> dict[int, tuple[float, float]]:
        """Score the entries for a question's terms: entry index -> (confidence, naive Bayes posterior).

        Candidates come from the question's heaviest terms (the rare ones have short posting lists):
        they are walked in full until they make up most of the question's weight, then only the best
        ``candidates`` entries are scored exactly. On a small FAQ every entry is a candidate.
        """
        if not terms:
            return {}
        # In a fixed order (a set's order changes with the process's hash seed): which candidates the
        # walk below stops at, and so the scores, must not change from one start of the bot to the next.
        weights = {t: self._w(t) for t in sorted(terms)}
        q_weight = sum(weights.values())
        q_norm = math.sqrt(q_weight)
        partial: dict[int, float] = defaultdict(float)
        walked = 0.0
        for t in sorted(weights, key=lambda term: -weights[term]):  # stable: equal weights stay sorted
            belongs = self._belongs.get(t)
            if not belongs:
                continue
            if walked >= _CANDIDATE_WEIGHT * q_weight and len(partial) >= _CANDIDATES:
                break
            w = weights[t]
            for i, strength in belongs.items():
                partial[i] += w * strength
            walked += w
        if len(partial) > _CANDIDATES:
            chosen = heapq.nlargest(_CANDIDATES, partial, key=partial.__getitem__)
        else:
            chosen = list(partial)
        chosen_set = set(chosen)
        covered: dict[int, float] = defaultdict(float)
        dots: dict[tuple[int, int], float] = defaultdict(float)
        for t, w in weights.items():
            belongs = self._belongs.get(t)
            if belongs:
                for i, strength in _among(belongs, chosen_set):
                    covered[i] += w * strength
            postings = self._postings.get(t)
            if postings:
                for i, js in _among(postings, chosen_set):
                    for j in js:
                        dots[(i, j)] += w
        best_phrasing: dict[int, float] = defaultdict(float)
        for (i, j), dot in dots.items():
            cos = dot / (q_norm * self._norms[i][j])
            if cos > best_phrasing[i]:
                best_phrasing[i] = cos
        a = _PHRASING_WEIGHT
        posterior = self._posterior(list(weights), chosen)
        out: dict[int, tuple[float, float]] = {}
        for i in chosen:
            phrasing, coverage = best_phrasing.get(i, 0.0), covered[i] / q_weight
            score = a * phrasing + (1 - a) * coverage
            if phrasing > 0.999:  # the question is one of this entry's phrasings
                score = max(score, _EXACT_FLOOR + (1 - _EXACT_FLOOR) * coverage)
            out[i] = (score, posterior.get(i, 0.0))
        return out

    def encoder_text(self, question: str) -> str:
        """What the sentence encoder is given for a question: typos corrected, acronyms expanded."""
        return expand(self.normaliser.spelled(question), self._acronyms)

    def semantic(self, question: str) -> np.ndarray:
        """Each entry's semantic score: the mean cosine of its two phrasings closest to the question.

        A long message is embedded as a few windows (see :meth:`Encoder.windows`), and each phrasing
        takes its best window. Two phrasings, not one: a single odd phrasing that happens to sit near
        the question is weaker evidence than an entry that is asked that way twice.
        """
        if not self._entries:
            return np.zeros(0, dtype=np.float32)
        text = self.encoder_text(question)
        q = self.encoder.encode(self.encoder.windows(text))
        per_phrasing = (q @ self._sem.T).max(axis=0)
        best = np.maximum.reduceat(per_phrasing, self._sem_starts)
        # the second best of each entry: mask each entry's best once, then take the maximum again
        masked = per_phrasing.copy()
        masked[self._sem_best_slot(per_phrasing, best)] = -1.0
        second = np.maximum.reduceat(masked, self._sem_starts)
        second = np.where(self._sem_single, best, second)
        return np.clip((best + second) / 2, 0.0, 1.0)  # below 0 is as unrelated as 0

    def _sem_best_slot(self, per_phrasing: np.ndarray, best: np.ndarray) -> np.ndarray:
        """The index of each entry's best phrasing in the flat phrasing array."""
        hit = per_phrasing == np.repeat(best, self._sem_counts)
        # the first hit in each entry's slice
        first = np.maximum.reduceat(np.where(hit, -np.arange(len(hit)), -len(hit)), self._sem_starts)
        return -first

    def _posterior(self, terms: list[str], chosen: list[int]) -> dict[int, float]:
        """The naive Bayes posterior of each chosen entry given the question's known terms (uniform prior)."""
        known = [t for t in terms if t in self._nb_gain]
        if not known or not chosen:
            return {}
        loglik = {i: len(known) * self._nb_base[i] for i in chosen}
        for t in known:
            for i, gain in _among(self._nb_gain[t], loglik):
                loglik[i] += gain
        # per-term average, sharpened: a long question should not be more certain just for being long
        scale = 1.0 / (len(known) * _NB_TEMPERATURE)
        top = max(loglik.values())
        odds = {i: math.exp((ll - top) * scale) for i, ll in loglik.items()}
        total = sum(odds.values())
        return {i: o / total for i, o in odds.items()}

    def smalltalk(self, question: str) -> SmallTalk | None:
        """The small-talk item this message is (a greeting, thanks, 'are you a bot?'), if any."""
        ws = words(question)
        if not ws or sum(w not in _FILLER for w in ws) > 8:
            return None
        text = " ".join(ws)
        # Small talk's words in any order ("help me", "what can you do") must not swallow a question
        # the FAQ asks in those words: "how can i help" is the campaign's, not a call for help.
        loose = text not in self._phrasing_words
        for st, patterns, vocab in self._smalltalk:
            if any(text == p or (len(p) > 5 and fuzz.ratio(text, p) >= 88) for p in patterns):
                return st
            if loose and all(w in vocab or w in _FILLER for w in ws) and any(w in vocab for w in ws):
                return st
        return None

    def unknown_terms(self, question: str) -> list[str]:
        """The question's terms that no entry uses ("tutor" in "is there a tutor for it?"): words from
        outside the FAQ's world. Stop words are not terms, so "can they do that?" has none."""
        return [t for t in self.normaliser.terms(question) if t not in self._belongs]

    def ranked(self, question: str, memo: SignalsMemo | None = None) -> list[tuple[Entry, float]]:
        """Every entry with its fused score, best first (empty when the message has no words to match)."""
        return [(self._entries[i], score) for score, i in self.scores(question, memo)]

    def scores(self, question: str, memo: SignalsMemo | None = None) -> list[tuple[float, int]]:
        """Every entry, best ranked first, as (fused score, entry index)."""
        signals = self.signals(question, memo)
        if signals is None:
            return []
        return [(signals.fused[i], i) for i in signals.order]

    def signals(self, question: str, memo: SignalsMemo | None = None) -> Signals | None:
        """Both scorers' view of a question, fused and ranked (None when it has no words to match).

        ``memo``, when given, holds the signals of texts already seen by the caller (one message read
        several ways reads the same text more than once): each text is scored and encoded once.
        """
        if memo is None:
            return self._signals(question)
        if question not in memo:
            memo[question] = self._signals(question)
        return memo[question]

    def _components(self, question: str) -> tuple[set[str], np.ndarray, np.ndarray, np.ndarray]:
        """The question's terms, and each entry's lexical confidence, posterior and semantic score."""
        terms = set(self.normaliser.terms(question))
        n = len(self._entries)
        conf, post = np.zeros(n), np.zeros(n)
        for i, (c, p) in self._lexical(terms).items():
            conf[i], post[i] = c, p
        return terms, conf, post, self.semantic(question).astype(np.float64)

    def _signals(self, question: str) -> Signals | None:
        """The signals of one text (see :meth:`signals`).

        A long message is read twice, whole and as its :func:`ask` (the questions it ends with), and
        the entries are ranked by a blend of the two views: the background before a question in a
        forum post names many topics, and the question says which one the parent wants.
        """
        if not self._entries:
            return None
        terms, conf, post, sem = self._components(question)
        fused = _LEX_WEIGHT * conf + _NB_WEIGHT * post + sem
        asked = ask(question)
        if asked is not None:
            _, conf2, post2, sem2 = self._components(asked)
            w = _ASK_WEIGHT
            conf2, post2, sem2 = ((1 - w) * a + w * b for a, b in ((conf, conf2), (post, post2), (sem, sem2)))
            fused = _LEX_WEIGHT * conf2 + _NB_WEIGHT * post2 + sem2  # the blend ranks
            # the evidence for answering is the stronger of the two views: the regression was fitted
            # on whole messages, and a bare "can they do that?" must not make a clear post look vague
            conf, post, sem = np.maximum(conf, conf2), np.maximum(post, post2), np.maximum(sem, sem2)
        n = len(self._entries)
        lex = _LEX_WEIGHT * conf + _NB_WEIGHT * post
        order = sorted(range(n), key=lambda i: (-fused[i], i))
        best = order[0]
        shared = sum(1 for t in terms if best in self._belongs.get(t, ()))

        def lead(values: np.ndarray) -> float:
            return float(values[best] - (np.delete(values, best).max() if n > 1 else 0.0))

        features = (
            float(conf[best]),
            float(sem[best]),
            lead(sem),
            lead(lex),
            min(shared, 3) / 3,
            float(sem.max()),
        )
        return Signals(tuple(order), tuple(float(f) for f in fused), features)

    def match(self, question: str, memo: SignalsMemo | None = None) -> Match:
        """Decide what to do with one message (``memo``: see :meth:`signals`)."""
        if not fold(question).strip() or not words(question):
            return Match(Outcome.EMPTY, 0.0)
        st = self.smalltalk(question)
        if st is not None:
            return Match(Outcome.SMALLTALK, 0.0, smalltalk=st)
        signals = self.signals(question, memo)
        if signals is None:
            return Match(Outcome.UNKNOWN, 0.0)
        s = self.settings
        p = _confidence(signals.features)
        score = round(p, 4)
        order, fused = signals.order, signals.fused
        best = order[0]
        runner_up = fused[order[1]] if len(order) > 1 else 0.0
        close = [i for i in order[: s.max_suggestions + 1] if fused[i] >= fused[best] - _SUGGEST_SPREAD]
        lone = len(close) == 1 and p >= max(s.suggest_threshold, s.answer_threshold - _LONE_EASING)
        if (p >= s.answer_threshold or lone) and fused[best] - runner_up >= s.margin:
            others = tuple(self._entries[i] for i in close[1 : 1 + s.max_suggestions])
            return Match(Outcome.ANSWER, score, entry=self._entries[best], suggestions=others)
        if p >= s.suggest_threshold or signals.features[5] >= _IN_SCOPE:
            offered = tuple(self._entries[i] for i in close[: s.max_suggestions])
            return Match(Outcome.SUGGEST, score, suggestions=offered)
        return Match(Outcome.UNKNOWN, score)


def phrasing_texts(entries: Collection[Entry], table: dict[str, str]) -> list[list[str]]:
    """Each entry's phrasings as the sentence encoder is given them (``table``: the FAQ's acronyms,
    from :func:`bot.semantic.acronyms`, spelt out). tools/fine_tune_encoder.py trains on exactly these."""
    return [[expand(p, table) for p in e.phrasings] for e in entries]


# --- Long messages
# A message of at least this many words is long: its questions are read on their own as well.
_ASK_MIN_WORDS = 40
# Their share of the blended scores (0.2-0.4 score alike on the long messages of the blind sets;
# more loses the background that says what "it" is, less lets the background decide).
_ASK_WEIGHT = 0.3


def ask(message: str) -> str | None:
    """What a long message asks: its question sentences and the sentence before the first of them
    (it often says what "it" is), or its last two sentences when none ends with "?".

    None when the message is short, or the questions are most of it (nothing to separate).
    """
    if len(message.split()) < _ASK_MIN_WORDS:
        return None
    parts = sentences(message)
    questions = [i for i, s in enumerate(parts) if s.endswith("?")]
    if questions:
        keep = {*questions, max(questions[0] - 1, 0)}
    else:
        keep = set(range(max(len(parts) - 2, 0), len(parts)))
    asked = " ".join(parts[i] for i in sorted(keep))
    return asked if len(asked.split()) < 0.8 * len(message.split()) else None


@dataclass(frozen=True, slots=True)
class Signals:
    """The entries ranked by the fused score, the scores, and the evidence about the best entry."""

    order: tuple[int, ...]
    fused: tuple[float, ...]
    features: tuple[float, ...]


# Signals by question text, kept by a caller for the length of one message (see Matcher.signals).
SignalsMemo: TypeAlias = dict[str, Signals | None]


# --- Fusion and abstention (tools/tune_fusion.py fits and prints these; see README "How matching works")
# Rank by semantic score + these shares of the lexical confidence and the naive Bayes posterior: a
# plateau of equal results on dev.yaml and regression.yaml spans 0.1-0.3 for both.
_LEX_WEIGHT = 0.2
_NB_WEIGHT = 0.15
# A message this close (cosine, two best phrasings) to some entry is about the FAQ's domain: it gets
# suggestions even when no entry is sure. Unrelated questions measure 0.1-0.43 ("christmas fair date
# please" 0.43), vague in-domain ones ("data", "school records", "my childs information") 0.5 and up.
# 0.4-0.45 offer the right entry equally often on every eval set.
_IN_SCOPE = 0.45
# Suggestions: the entries whose fused score is within this of the best one's.
_SUGGEST_SPREAD = 0.25
# A lone candidate (no other entry within the spread) is answered at this much less confidence: the
# one "did you mean" button would be the same answer a tap later. Over every question set, 0.18-0.3
# answer the same 5 more questions right and 1 more out-of-scope one ("my bank says my card details
# were exposed in a data breach").
_LONE_EASING = 0.25
# Logistic regression: P(the best entry is right) from (lexical confidence, semantic score, semantic
# lead over the next entry, lexical lead, shared terms (up to 3, /3), best semantic score of any entry).
_FEATURES = ("lexical", "semantic", "semantic_lead", "lexical_lead", "shared_terms", "in_scope")
_COEFFICIENTS = (1.1, 2.7, -0.1, 0.4, 2.0, 2.6)
_BIAS = -4.8


def _confidence(
    features: tuple[float, ...], coefficients: tuple[float, ...] = _COEFFICIENTS, bias: float = _BIAS
) -> float:
    """The calibrated probability that the fused ranking's best entry is the right answer."""
    z = bias + sum(c * f for c, f in zip(coefficients, features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
