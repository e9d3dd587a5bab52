"""The one place the live FAQ is held, swapped whole on reload.

A handler takes :attr:`LiveFAQ.current` once per update and uses that snapshot throughout, so a
reload in the middle never mixes two versions of the FAQ within one reply.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge import Entry, KnowledgeBase, load_knowledge
from bot.matcher import Match, Matcher, MatchSettings, SignalsMemo
from bot.semantic import EmbeddingCache, default_cache_path, default_encoder


@dataclass(frozen=True, slots=True)
class Snapshot:
    kb: KnowledgeBase
    matcher: Matcher
    loaded_at: float = field(default_factory=time.time)  # when this FAQ went live (the desk shows it)

    def match(self, question: str, memo: SignalsMemo | None = None) -> Match:
        return self.matcher.match(question, memo)

    def ranked(self, question: str, memo: SignalsMemo | None = None) -> list[tuple[Entry, float]]:
        return self.matcher.ranked(question, memo)

    def unknown_terms(self, question: str) -> list[str]:
        return self.matcher.unknown_terms(question)


@dataclass(frozen=True, slots=True)
class ReloadReport:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    entries: int

    def summary(self) -> str:
        def names(ids: tuple[str, ...]) -> str:
            return ", ".join(ids) if ids else "none"

        return (
            f"Reloaded {self.entries} entries.\n"
            f"Added: {names(self.added)}\nRemoved: {names(self.removed)}\nChanged: {names(self.changed)}"
        )


def build(
    directory: str | Path | None,
    settings: MatchSettings | None = None,
    cache: EmbeddingCache | None = None,
) -> Snapshot:
    """Load, validate and index a knowledge directory (raises KnowledgeError when invalid).

    Phrasing embeddings come from ``cache`` (default: the file at :func:`default_cache_path`), so
    only phrasings it has not seen are encoded. The sentence encoder (hashing and loading a 57 MB
    model, a quarter of a second, with the GIL released) loads in a thread while the FAQ is read
    and its lexical index built, which shortens every start-up; on a reload it is already loaded."""
    with ThreadPoolExecutor(1, thread_name_prefix="encoder-load") as pool:
        encoder = pool.submit(default_encoder)
        kb = load_knowledge(directory)
        return Snapshot(kb, Matcher(kb, settings, cache=cache, encoder=encoder.result))


class LiveFAQ:
    """Holds the current snapshot; :meth:`reload` replaces it in one assignment, or not at all."""

    def __init__(self, directory: str | Path | None, settings: MatchSettings | None = None) -> None:
        self.directory = directory
        self.settings = settings
        # One cache for the bot's life: a reload re-encodes only the phrasings that changed.
        self.cache = EmbeddingCache(default_cache_path())
        self.current: Snapshot = build(directory, settings, self.cache)

    def reload(self) -> ReloadReport:
        """Re-read the directory. On error the old FAQ stays live and KnowledgeError propagates."""
        new = build(self.directory, self.settings, self.cache)
        old = self.current.kb
        old_ids, new_ids = set(old.entries), set(new.kb.entries)
        changed = tuple(sorted(i for i in old_ids & new_ids if old.entries[i] != new.kb.entries[i]))
        self.current = new
        return ReloadReport(
            added=tuple(sorted(new_ids - old_ids)),
            removed=tuple(sorted(old_ids - new_ids)),
            changed=changed,
            entries=len(new.kb),
        )
