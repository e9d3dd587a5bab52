"""What each desk page shows, computed from the store and the live FAQ (no HTTP, no HTML here).

Every figure a page needs comes from a few aggregate queries, so a page stays fast with a large log.
The desk shows question text (already redacted when logged), never a pseudonym or a chat id: the
store's ``LogItem`` carries neither.
"""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import yaml

from bot.desk import charts
from bot.desk.themes import Group, group
from bot.knowledge import Entry
from bot.live import Snapshot
from bot.replies import is_number
from bot.store import LogItem, LogQuery, Store

log = logging.getLogger(__name__)

PAGE_SIZE = 50
STATES = ("open", "answered", "attached", "dismissed", "all")
PERIODS = (7, 30, 90)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: str | None) -> str | None:
    """A valid YYYY-MM-DD or None (anything else in a filter is ignored, never an error page)."""
    if not value or not _DATE_RE.match(value):
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value


@dataclass(frozen=True, slots=True)
class QueueFilter:
    state: str = "open"
    newest_first: bool = False
    since: str | None = None
    until: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> QueueFilter:
        state = args.get("state", "open")
        page = args.get("page", "1")
        return cls(
            state=state if state in STATES else "open",
            newest_first=args.get("order") == "newest",
            since=_day(args.get("since")),
            until=_day(args.get("until")),
            page=int(page) if is_number(page) and 0 < len(page) < 7 and int(page) > 0 else 1,
        )

    def query_string(self, **changes: object) -> str:
        """This filter as URL parameters (with ``changes``), for links and for coming back after a POST."""
        values = {
            "state": self.state,
            "order": "newest" if self.newest_first else "oldest",
            "since": self.since or "",
            "until": self.until or "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True, slots=True)
class Guess:
    entry_id: str
    question: str
    score: float


@dataclass(frozen=True, slots=True)
class Row:
    item: LogItem
    guesses: tuple[Guess, ...] | None  # None: still being matched (the page did not wait for it)

    @property
    def asked(self) -> str:
        return self.item.created_at[:16].replace("T", " ")


REASON_LABELS = {
    "unanswered": "not answered",
    "none_of_these": "“None of these”",
    "feedback": "“not helpful” on an answer",
    "volunteer": "asked for a person",
}


class MatchCache:
    """The live matcher's verdicts on logged texts, kept until the FAQ is reloaded (bounded).

    A queue page asks for 50 texts' guesses and a Themes page for hundreds of nearest entries; the
    same texts come back page after page, so each is matched once per FAQ version. Themes' sentence
    embeddings of the texts are kept too, while the encoder stays the same (a reload that keeps the
    model does not re-embed the log).
    """

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._snap: Snapshot | None = None
        self._guesses: dict[str, tuple[Guess, ...]] = {}
        self._being_matched: set[str] = set()
        self._nearest: dict[str, tuple[str | None, float]] = {}
        self._encoder: object = None
        self._vectors: dict[str, np.ndarray] = {}
        # Bumped by clear(): a grouping that was running when texts were forgotten keeps nothing.
        self.generation = 0
        self.themes_key: tuple[object, ...] | None = None
        self.themes: Themes | None = None
        # Groupings under way in the background, by the key of the page they are for.
        self.grouping: dict[tuple[object, ...], asyncio.Task[Themes]] = {}
        self.grouping_lock = asyncio.Lock()
        self.running: set[asyncio.Task[None]] = set()  # queue pages' matching that outlived the page

    def _check(self, snap: Snapshot) -> None:
        if snap is not self._snap:
            self._snap = snap
            self._guesses.clear()
            self._nearest.clear()
        if snap.matcher.encoder is not self._encoder:
            self._encoder = snap.matcher.encoder
            self._vectors.clear()
        if len(self._guesses) + len(self._nearest) > self._size:
            self._guesses.clear()
            self._nearest.clear()
        if len(self._vectors) > self._size:
            self._vectors.clear()

    def holds(self, text: str) -> bool:
        """Is this question text held in memory here?"""
        in_themes = self.themes is not None and any(
            i.text == text for t in self.themes.groups for i in t.items
        )
        return text in self._guesses or text in self._nearest or text in self._vectors or in_themes

    def clear(self) -> None:
        """Drop every cached question text and vector: after /forget or the retention purge deleted some."""
        self._guesses.clear()
        self._nearest.clear()
        self._vectors.clear()
        self.generation += 1
        self.themes_key = self.themes = None
        self.grouping.clear()

    def matched(self, task: asyncio.Task[None]) -> None:
        """A queue page's matching is done: let it go, and log it if it failed."""
        self.running.discard(task)
        _log_failure(task, "matching the queue's questions failed")

    def known_guesses(self, snap: Snapshot, text: str) -> tuple[Guess, ...] | None:
        """The guesses of ``text`` if they were worked out for this FAQ version, else None."""
        self._check(snap)
        return self._guesses.get(text)

    async def work_out_guesses(self, snap: Snapshot, texts: list[str]) -> None:
        """Match those ``texts`` that have no guesses yet, in a worker thread (the bot's loop stays free)."""
        self._check(snap)
        # texts another page or the warmer is matching right now are left to it (reloads don't pile up)
        missing = [t for t in dict.fromkeys(texts) if t not in self._guesses and t not in self._being_matched]
        if not missing:
            return
        generation = self.generation
        self._being_matched.update(missing)
        try:
            found = await asyncio.to_thread(lambda: {t: guesses_of(snap, t) for t in missing})
        finally:
            self._being_matched.difference_update(missing)
        self._check(snap)
        if generation == self.generation and snap is self._snap:  # not forgotten or reloaded meanwhile
            self._guesses.update(found)

    def nearest(self, snap: Snapshot, text: str) -> tuple[str | None, float]:
        """The entry ``match()`` would answer or suggest first, and its score."""
        self._check(snap)
        found = self._nearest.get(text)
        if found is None:
            match = snap.match(text)
            found = self._nearest[text] = (match.best_id, match.score)
        return found

    def known_vectors(self, snap: Snapshot, texts: list[str]) -> dict[str, np.ndarray]:
        """The cached sentence embeddings of those ``texts`` that have one."""
        self._check(snap)
        return {t: v for t in texts if (v := self._vectors.get(t)) is not None}

    def known_nearest(self, snap: Snapshot, texts: list[str]) -> dict[str, tuple[str | None, float]]:
        """The cached :meth:`nearest` of those ``texts`` that have one."""
        self._check(snap)
        return {t: v for t in texts if (v := self._nearest.get(t)) is not None}

    def keep(
        self,
        vectors: Mapping[str, np.ndarray],
        nearest: Mapping[str, tuple[str | None, float]],
        generation: int,
    ) -> None:
        """Cache embeddings and nearest entries computed in a worker thread, unless the cache was
        cleared since ``generation`` (their texts may have been forgotten meanwhile)."""
        if generation == self.generation:
            self._vectors.update(vectors)
            self._nearest.update(nearest)


def guesses_of(snap: Snapshot, text: str, limit: int = 3) -> tuple[Guess, ...]:
    """The matcher's ``limit`` best entries for a question, with their fused scores."""
    entries = list(snap.kb.entries.values())
    return tuple(
        Guess(entries[i].id, entries[i].question, round(min(score, 1.0), 2))
        for score, i in snap.matcher.scores(text)[:limit]
    )


# The queue views a volunteer opens first: their guesses are worked out as questions arrive.
FIRST_VIEWS = (QueueFilter(), QueueFilter(newest_first=True), QueueFilter(state="all", newest_first=True))


async def warm(store: Store, snap: Snapshot, cache: MatchCache) -> None:
    """Work out the guesses of the first page of each usual queue view, so its next view is quick."""
    for flt in FIRST_VIEWS:
        items, _ = await store.find_log(_log_query(flt))
        await cache.work_out_guesses(snap, [item.text for item in items])


def _log_query(flt: QueueFilter) -> LogQuery:
    return LogQuery(
        status=None if flt.state == "all" else flt.state,
        since=flt.since,
        until=flt.until,
        newest_first=flt.newest_first,
        limit=PAGE_SIZE,
        offset=(flt.page - 1) * PAGE_SIZE,
    )


# A queue page waits this long for the guesses of questions nobody has matched yet (the desk
# matches new questions in the background, so this is for filtered views and later pages).
QUEUE_WAIT_S = 0.06


async def queue(
    store: Store, snap: Snapshot, flt: QueueFilter, cache: MatchCache, wait: float = QUEUE_WAIT_S
) -> tuple[list[Row], int]:
    """A page of the log as ``flt`` asks, each question with the matcher's best guesses if known."""
    items, total = await store.find_log(_log_query(flt))
    texts = [item.text for item in items]
    matching = asyncio.create_task(cache.work_out_guesses(snap, texts))
    cache.running.add(matching)  # held until done: the loop keeps only a weak reference to a task
    matching.add_done_callback(cache.matched)
    await asyncio.wait({matching}, timeout=wait)  # if not done, it goes on: a reload shows them
    return [Row(item, cache.known_guesses(snap, item.text)) for item in items], total


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class EntryRow:
    entry: Entry
    answered: int
    up: int
    down: int


async def entries(store: Store, snap: Snapshot, days: int) -> list[EntryRow]:
    stats = await store.stats(days)
    return [
        EntryRow(
            e, stats.answered.get(e.id, 0), stats.feedback_up.get(e.id, 0), stats.feedback_down.get(e.id, 0)
        )
        for e in snap.kb
    ]


def loaded_at(snap: Snapshot) -> str:
    return datetime.fromtimestamp(snap.loaded_at, UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class Overview:
    days: int
    per_day: str
    per_day_legend: str
    top: str
    votes: str
    queue: str
    open_now: int
    median_reply: str
    replies: int
    answered: int
    unknown: int


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


async def overview(store: Store, snap: Snapshot, days: int, now: datetime | None = None) -> Overview:
    daily = await store.daily(days, now=now)
    stats = await store.stats(days, now=now)
    labels = [d.day for d in daily]
    series = [
        charts.Series(
            "answered (including picked suggestions)", "s-answered", tuple(d.answered for d in daily)
        ),
        charts.Series("got suggestions", "s-suggested", tuple(d.suggested for d in daily)),
        charts.Series("not answered", "s-unknown", tuple(d.logged.get("unanswered", 0) for d in daily)),
        charts.Series(
            "asked for a person, or “not helpful”",
            "s-person",
            tuple(d.logged.get("volunteer", 0) + d.logged.get("feedback", 0) for d in daily),
        ),
    ]
    top = sorted(stats.answered.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    voted = sorted(
        set(stats.feedback_up) | set(stats.feedback_down),
        key=lambda e: (-(stats.feedback_up.get(e, 0) + stats.feedback_down.get(e, 0)), e),
    )[:10]
    sizes = await store.queue_sizes(days, now=now)
    waits = await store.reply_seconds(days, now=now)
    return Overview(
        days=days,
        per_day=charts.stacked_days(labels, series, f"Questions per day, last {days} days"),
        per_day_legend=charts.legend(series),
        top=charts.bars(top, "s-answered", "Most-asked entries"),
        votes=charts.votes(
            [(e, stats.feedback_up.get(e, 0), stats.feedback_down.get(e, 0)) for e in voted],
            "Feedback per entry",
        ),
        queue=charts.line(labels, sizes, "s-queue", "Open questions at the end of each day"),
        open_now=stats.open_queue,
        median_reply=_duration(statistics.median(waits)) if waits else "–",
        replies=len(waits),
        answered=stats.answered_total,
        unknown=stats.unanswered,
    )


# --------------------------------------------------------------------------- themes


@dataclass(frozen=True, slots=True)
class Theme:
    items: tuple[LogItem, ...]
    nearest: Entry | None
    score: float

    @property
    def ids(self) -> str:
        return ",".join(str(i.id) for i in self.items[:60])

    def samples(self, limit: int = 8) -> list[tuple[str, str, int]]:
        """Distinct texts, most central first, as (text, their item ids joined by commas, how many)."""
        by_text: dict[str, list[int]] = {}
        for item in self.items:
            by_text.setdefault(item.text, []).append(item.id)
        return [(t, ",".join(map(str, ids)), len(ids)) for t, ids in list(by_text.items())[:limit]]

    def distinct(self) -> int:
        return len({i.text for i in self.items})

    def rest_ids(self, shown: int = 8) -> str:
        """The ids of the items whose wording is not among the first ``shown`` distinct texts."""
        first = {t for t, _, _ in self.samples(shown)}
        return ",".join(str(i.id) for i in self.items if i.text not in first)


# At most this many questions are grouped, the newest of the period: each new wording costs a
# sentence embedding (a few ms on a shared core), and 2,000 show well what parents ask.
MAX_THEME_ITEMS = 2000


@dataclass(frozen=True, slots=True)
class Themes:
    groups: list[Theme]
    count: int  # questions grouped
    limited: bool  # the period held more than MAX_THEME_ITEMS: only the newest were grouped


async def themes(
    store: Store,
    snap: Snapshot,
    days: int,
    cache: MatchCache,
    now: datetime | None = None,
    limit: int = MAX_THEME_ITEMS,
) -> Themes:
    """Groups of the newest ``limit`` unanswered questions of the last ``days`` days, biggest first.

    Each distinct text is embedded once by the live matcher's sentence encoder (vectors are cached
    per text). Embedding and grouping run in a worker thread, so a large log does not hold up the
    bot's event loop, and the result is kept until the log or the FAQ changes.
    """
    key = await _themes_key(store, snap, days, limit)
    if now is None and cache.themes_key == key and cache.themes is not None:
        return cache.themes
    items = await store.recent_unanswered(days, limit=limit + 1, now=now)
    limited = len(items) > limit
    items = items[:limit]
    if not items:
        return Themes([], 0, False)
    by_text: dict[str, list[LogItem]] = {}
    for item in items:
        by_text.setdefault(item.text, []).append(item)
    texts = list(by_text)
    known = cache.known_vectors(snap, texts)
    known_nearest = cache.known_nearest(snap, texts)
    missing = [t for t in texts if t not in known]
    generation = cache.generation
    matcher = snap.matcher

    def work() -> tuple[dict[str, np.ndarray], list[Group], dict[str, tuple[str | None, float]]]:
        # the text as the matcher's encoder sees it: "shcool cenus" meets "school census"
        new: dict[str, np.ndarray] = {}
        if missing:
            embedded = matcher.encoder.encode([matcher.encoder_text(t) for t in missing])
            new = dict(zip(missing, embedded, strict=True))
        vectors = np.stack([known[t] if t in known else new[t] for t in texts])
        groups = group(vectors, [len(by_text[t]) for t in texts])
        # the nearest entry of each group's most central texts: a full match each, so here too
        nearest: dict[str, tuple[str | None, float]] = {}
        for grp in groups:
            for text in (texts[i] for i in grp.members[:5]):
                if text not in known_nearest:
                    match = snap.match(text)
                    nearest[text] = (match.best_id, match.score)
        return new, groups, nearest

    async with cache.grouping_lock:  # one grouping at a time: the next one finds these vectors cached
        if generation == cache.generation:
            known |= cache.known_vectors(snap, missing)
            missing = [t for t in missing if t not in known]
        new, groups, nearest_new = await asyncio.to_thread(work)
    cache.keep(new, nearest_new, generation)
    found = known_nearest | nearest_new
    out = []
    for grp in groups:
        members = tuple(item for i in grp.members for item in by_text[texts[i]])
        votes: Counter[str] = Counter()
        best_score: dict[str, float] = {}
        for text in (texts[i] for i in grp.members[:5]):  # the most central ones
            best_id, score = found[text]
            if best_id:
                votes[best_id] += 1
                best_score[best_id] = max(best_score.get(best_id, 0.0), score)
        nearest = snap.kb.get(votes.most_common(1)[0][0]) if votes else None
        out.append(Theme(members, nearest, round(best_score.get(nearest.id, 0.0), 2) if nearest else 0.0))
    result = Themes(out, len(items), limited)
    if now is None and generation == cache.generation:
        cache.themes_key, cache.themes = key, result
    return result


async def _themes_key(store: Store, snap: Snapshot, days: int, limit: int) -> tuple[object, ...]:
    """What a Themes result depends on: the period, the FAQ version and the log's version."""
    return (days, limit, id(snap), await store.log_version())


# A Themes page waits this long for its grouping, then says "grouping…" and reloads itself: every
# desk page renders within 100 ms, even the first view after many new questions were logged.
THEMES_WAIT_S = 0.05


async def themes_soon(
    store: Store, snap: Snapshot, days: int, cache: MatchCache, wait: float = THEMES_WAIT_S
) -> Themes | None:
    """The :func:`themes` of ``days``, or None if they are still being grouped after ``wait`` seconds.

    The grouping goes on in the background, so the next view (the pending page reloads itself)
    finds it done and cached. A grouping that fails is dropped, so the next view starts it afresh.
    """
    key = await _themes_key(store, snap, days, MAX_THEME_ITEMS)
    if cache.themes_key == key and cache.themes is not None:
        return cache.themes
    task = cache.grouping.get(key)
    if task is None:
        task = cache.grouping[key] = asyncio.create_task(themes(store, snap, days, cache))
        task.add_done_callback(lambda done: _grouped(cache, key, done))
    done, _ = await asyncio.wait({task}, timeout=wait)
    return task.result() if done else None


def _grouped(cache: MatchCache, key: tuple[object, ...], task: asyncio.Task[Themes]) -> None:
    """Forget a finished grouping (its result is cached by :func:`themes`); log it if it failed."""
    if cache.grouping.get(key) is task:
        del cache.grouping[key]
    _log_failure(task, "grouping the Themes failed")


def _log_failure(task: asyncio.Task[Any], what: str) -> None:
    """Log the error of a background task nobody awaited (else asyncio warns it was never retrieved)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error(what, exc_info=error)


def draft_yaml(questions: list[str]) -> str:
    """A knowledge-file skeleton with these questions as phrasings, to fill in and paste into knowledge/."""
    entry = {
        "id": "new-entry-id",
        "question": questions[0] if questions else "",
        "alternatives": questions[1:],
        "answer": "TODO: first sentence answers directly.\n",
        "sources": [{"title": "TODO: source title", "url": "https://www.gov.uk/"}],
    }
    text = yaml.safe_dump(
        {"section": "TODO section", "entries": [entry]}, sort_keys=False, allow_unicode=True, width=100
    )
    return "# Fill in the TODOs, keep at least 4 alternatives, then run: faqbot check\n" + text


def parse_ids(values: list[str], limit: int = 500) -> list[int]:
    """Item ids from form fields ('12' or '12,13,14'); junk is skipped."""
    out: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if is_number(part) and len(part) < 13:
                out.append(int(part))
    return list(dict.fromkeys(out))[:limit]


def period(value: str | None, default: int = 30) -> int:
    return int(value) if value in ("7", "30", "90") else default
