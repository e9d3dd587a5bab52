"""Normalise parents' messages into matching terms.

Case, accents and apostrophes are folded; words are typo-corrected against the FAQ's own
vocabulary, reduced to their stems (Snowball/Porter2), multi-word synonyms and jargon are
folded to one canonical term, and stop words are dropped. The same pipeline runs over the FAQ
phrasings and the questions, so both sides meet in one vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib.resources import files
from typing import cast

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_POSSESSIVE_RE = re.compile(r"'(s|)$")
_SURFACE_WORD_RE = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Language:
    """The everyday-English data the normaliser uses, read from ``knowledge/`` support files.

    ``stop_words`` (``_stopwords.txt``) say nothing about a topic; ``irregular`` maps verb forms the
    stemmer cannot join to their verb ("kept" -> keep; ``_irregular_verbs.txt``); ``misspellings``
    maps everyday words as typed to the words meant ("wot" -> what; ``_misspellings.txt``).
    """

    stop_words: frozenset[str] = frozenset()
    irregular: Mapping[str, str] = field(default_factory=dict)
    misspellings: Mapping[str, str] = field(default_factory=dict)


_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter2 stem of one lowercase word (digits and short words pass through)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    return cast(str, _stemmer.stemWord(word))  # snowballstemmer is untyped


@cache
def common_words() -> frozenset[str]:
    """Everyday English words of five letters or more (``bot/common_words.txt``)."""
    text = files("bot").joinpath("common_words.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def fold(text: str) -> str:
    """Lowercase, strip accents, unify apostrophes; control characters become spaces, zero-width ones go."""
    if text.isascii():  # the common case: no accents to strip, only control characters
        return _ASCII_CONTROL_RE.sub(" ", text).replace("`", "'").lower()
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    # Control characters (newlines, tabs) separate words; invisible format characters do not.
    text = "".join(
        " " if unicodedata.category(c) == "Cc" else c
        for c in text
        if not unicodedata.combining(c) and unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn")
    )
    return text.casefold()


def words(text: str) -> list[str]:
    """The words of ``text``, folded, with possessives and contractions joined ("child's" → "child")."""
    out = []
    for raw in _WORD_RE.findall(fold(text)):
        w = _POSSESSIVE_RE.sub("", raw) if raw.endswith(("'s", "'")) else raw
        out.append(w.replace("'", ""))
    return out


def _incidental_number(word: str) -> bool:
    """Ages, counts and year groups ("my 6 year old", "2 lines") say nothing about the topic; years do."""
    return word.isdigit() and len(word) < 4


class Normaliser:
    """Turns text into matching terms for one knowledge base (its vocabulary and synonyms)."""

    def __init__(
        self,
        synonyms: Sequence[Sequence[str]] = (),
        vocabulary: Iterable[str] = (),
        language: Language | None = None,
    ) -> None:
        language = language or Language()
        self._stop = language.stop_words
        self._irregular = language.irregular
        self._misspellings = language.misspellings
        # Word forms of stop words ("gets", "worries") are stop words too. Only for stop words of four
        # letters or more: a short one's stem meets topic words ("ids" -> "id", "owns" -> "own").
        self._stop_stems = frozenset(stem(w) for w in self._stop if len(w) > 3)
        self._phrases: dict[tuple[str, ...], str] = {}
        for group in synonyms:
            canonical = "_".join(self._stems(group[0]))
            for term in group:
                key = tuple(self._stems(term))
                if key:
                    self._phrases.setdefault(key, canonical)
        self._max_phrase = max((len(k) for k in self._phrases), default=1)
        self._vocab: set[str] = set()
        self._stem_vocab: set[str] = set()
        self._fix_cache: dict[str, str] = {}
        self._english = common_words()
        self.add_vocabulary(vocabulary)

    def stem(self, word: str) -> str:
        """The stem of one folded word, irregular verb forms joined to their verb first."""
        return stem(self._irregular.get(word, word))

    def words(self, text: str) -> list[str]:
        """The words of ``text`` (see :func:`words`), everyday misspellings spelt right ("wot" -> what)."""
        out: list[str] = []
        for w in words(text):
            fixed = self._misspellings.get(w)
            if fixed is None:
                out.append(w)
            else:
                out.extend(words(fixed))
        return out

    def _stems(self, text: str) -> list[str]:
        return [self.stem(w) for w in self.words(text)]

    def spelled(self, text: str) -> str:
        """``text`` as typed, with everyday misspellings and typos of FAQ words corrected: what the
        sentence encoder sees ("wot is the shcool cenus" -> "what is the school census")."""

        def fix(match: re.Match[str]) -> str:
            raw = match.group(0)
            w = raw.lower()
            fixed = self._misspellings.get(w) or self.correct(w)
            return raw if fixed == w else fixed

        return _SURFACE_WORD_RE.sub(fix, fold(text))

    def add_vocabulary(self, texts: Iterable[str]) -> None:
        """Teach the typo corrector the words of the FAQ (surface forms and their stems)."""
        for text in texts:
            for w in self.words(text):
                self._vocab.add(w)
                self._stem_vocab.add(self.stem(w))
        for key in self._phrases:
            self._stem_vocab.update(key)
        # Corrections keep the first letter, so each word is only compared with its letter's bucket.
        self._by_letter: dict[str, list[str]] = {}
        for w in sorted(w for w in self._vocab if len(w) >= 3):
            self._by_letter.setdefault(w[0], []).append(w)
        self._fix_cache.clear()

    def correct(self, word: str) -> str:
        """The FAQ word nearest to an unknown ``word``, or ``word`` itself when unsure.

        Conservative on purpose, because a wrong correction turns an unrelated word into a topic word
        ("bread" is one edit from "break" and "read"): only words of five letters or more, one edit
        (two for long words), the same first letter, and exactly one nearest candidate; and never a
        word that is everyday English in its own right ("score" is not a typo for "store").
        """
        if len(word) < 5 or not word.isalpha() or word in self._vocab or word in self._stop:
            return word
        if word in self._english:
            return word
        if self.stem(word) in self._stem_vocab:
            return word
        cached = self._fix_cache.get(word)
        if cached is not None:
            return cached
        limit = 1 if len(word) < 8 else 2
        bucket = self._by_letter.get(word[0], [])
        found = process.extract(word, bucket, scorer=OSA.distance, score_cutoff=limit, limit=2)
        fixed = word
        if found:
            best = min(d for _, d, _ in found)
            nearest = [w for w, d, _ in found if d == best]
            if len(nearest) == 1 and not (best == 1 and self._first_letter_neighbour(word)):
                fixed = nearest[0]
        if len(self._fix_cache) > 50000:
            self._fix_cache.clear()
        self._fix_cache[word] = fixed
        return fixed

    def _first_letter_neighbour(self, word: str) -> bool:
        """Is a FAQ word one edit away by changing the first letter ("bread" -> "read", "dread")?

        Such a word makes the correction ambiguous; only an edit at the start can reach it.
        """
        letters = "abcdefghijklmnopqrstuvwxyz"
        rest = word[1:]
        variants = {rest, word[1] + word[0] + word[2:]}
        variants.update(c + rest for c in letters if c != word[0])
        variants.update(c + word for c in letters)
        return any(v in self._vocab for v in variants)

    def terms(self, text: str, *, correct: bool = True) -> list[str]:
        """The matching terms of ``text``, in order, with repeats (callers dedupe if they wish)."""
        ws = self.words(text)
        if correct:
            ws = [self.correct(w) for w in ws]
        stems = [self.stem(w) for w in ws]
        out: list[str] = []
        i = 0
        while i < len(stems):
            for n in range(min(self._max_phrase, len(stems) - i), 0, -1):
                canonical = self._phrases.get(tuple(stems[i : i + n]))
                if canonical is not None:
                    out.append(canonical)
                    i += n
                    break
            else:
                w = ws[i]
                if w not in self._stop and stems[i] not in self._stop_stems and not _incidental_number(w):
                    out.append(stems[i])
                i += 1
        return out


# A sentence ends at ".", "!" or "?" followed by a space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    """The sentences of a message, in order, each stripped, none empty."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
