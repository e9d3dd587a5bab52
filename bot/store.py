"""All the bot's state in one SQLite file (WAL), behind one small async interface.

``Store`` is the whole storage interface: a deployment that outgrows one process could put another
database behind the same methods. What it keeps, and why so little:

* ``log``: questions the bot could not answer (or a parent asked a person about), already redacted,
  tied to a keyed pseudonym of the user rather than the Telegram id, for the volunteers' queue.
* ``delivery``: the raw chat id, only while a volunteer's reply is pending; dropped as soon as the item
  is answered, attached, dismissed, purged or forgotten.
* ``volunteer_session``: a volunteer's "my next message is the reply to item N" (expires after
  ``REPLY_MINUTES``; when item N is deleted the session stays, marked gone, so the volunteer's next
  message is not mistaken for a question).
* ``feedback``: 👍/👎 per entry; ``answer_counts``, ``suggestion_counts``: answered questions and
  questions that got suggestions are counted, never stored.
* ``meta``: a fingerprint of the pseudonym key, so a changed key is noticed instead of silently
  orphaning every row from /forget.

Log ids are never reused (AUTOINCREMENT): a stale volunteer button can only find its own question, or
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import re
import sqlite3
import unicodedata
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import aiosqlite

from bot.privacy import key_fingerprint, pseudonymise, redact

REASONS = ("unanswered", "none_of_these", "feedback", "volunteer")
STATUSES = ("open", "answered", "attached", "dismissed")
UNANSWERED_REASONS = ("unanswered", "none_of_these")
REPLY_MINUTES = 15  # a volunteer's pending reply expires after this long
CSV_COLUMNS = tuple("id created_at reason status best_id score entry_id attached_entry text".split())

# Each migration is one schema version: its statements run in one transaction, then user_version = N.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # v1: the base tables.
    (
        """CREATE TABLE log (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            user_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            best_id TEXT,
            score REAL NOT NULL DEFAULT 0,
            entry_id TEXT,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'answered', 'attached', 'dismissed')),
            attached_entry TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE delivery (
            log_id INTEGER PRIMARY KEY REFERENCES log(id) ON DELETE CASCADE,
            chat_id INTEGER NOT NULL
        )""",
        """CREATE TABLE volunteer_session (
            volunteer_id INTEGER PRIMARY KEY,
            log_id INTEGER NOT NULL REFERENCES log(id) ON DELETE CASCADE,
            mode TEXT NOT NULL DEFAULT 'reply' CHECK (mode IN ('reply')),
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            user_hash TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            helpful INTEGER NOT NULL CHECK (helpful IN (0, 1))
        )""",
        "CREATE INDEX log_user ON log(user_hash)",
        "CREATE INDEX feedback_user ON feedback(user_hash)",
    ),
    # v2: why an item was logged, answered-question counts, and indexes for the queue, stats and purge.
    (
        """ALTER TABLE log ADD COLUMN reason TEXT NOT NULL DEFAULT 'unanswered'
            CHECK (reason IN ('unanswered', 'none_of_these', 'feedback', 'volunteer'))""",
        """CREATE TABLE answer_counts (
            day TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (day, entry_id)
        )""",
        "CREATE INDEX log_status ON log(status, id)",
        "CREATE INDEX log_created ON log(created_at)",
        "CREATE INDEX feedback_created ON feedback(created_at)",
        "CREATE INDEX volunteer_session_log ON volunteer_session(log_id)",
    ),
    # v3: ids never reused (AUTOINCREMENT); a session outlives its deleted item (marked gone); the key
    # fingerprint. Tables are rebuilt with foreign keys off (see _migrate), so no row cascades away.
    (
        """CREATE TABLE log_v3 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            user_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            best_id TEXT,
            score REAL NOT NULL DEFAULT 0,
            entry_id TEXT,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'answered', 'attached', 'dismissed')),
            attached_entry TEXT,
            updated_at TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT 'unanswered'
                CHECK (reason IN ('unanswered', 'none_of_these', 'feedback', 'volunteer'))
        )""",
        "INSERT INTO log_v3 SELECT id, created_at, user_hash, text, best_id, score, entry_id, status,"
        " attached_entry, updated_at, reason FROM log",
        "DROP TABLE log",
        "ALTER TABLE log_v3 RENAME TO log",
        "CREATE INDEX log_user ON log(user_hash)",
        "CREATE INDEX log_status ON log(status, id)",
        "CREATE INDEX log_created ON log(created_at)",
        """CREATE TABLE volunteer_session_v3 (
            volunteer_id INTEGER PRIMARY KEY,
            log_id INTEGER REFERENCES log(id) ON DELETE SET NULL,
            item INTEGER NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "INSERT INTO volunteer_session_v3"
        " SELECT volunteer_id, log_id, log_id, created_at FROM volunteer_session",
        "DROP TABLE volunteer_session",
        "ALTER TABLE volunteer_session_v3 RENAME TO volunteer_session",
        "CREATE INDEX volunteer_session_log ON volunteer_session(log_id)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # v4: how many questions got suggestions each day (a count only, like answer_counts).
    ("CREATE TABLE suggestion_counts (day TEXT PRIMARY KEY, count INTEGER NOT NULL)",),
)
SCHEMA_VERSION = len(MIGRATIONS)

_LOG_COLUMNS = "id, created_at, reason, text, best_id, score, entry_id, status, attached_entry, updated_at"


class StoreError(Exception):
    """The database cannot be used; the message says why in plain words."""


class KeyMismatchError(StoreError):
    """The pseudonym key is not the one the database was written with (see ``key_mismatch_help``)."""


def key_mismatch_help(path: str) -> str:
    """What an operator reads when the key changed: why the bot stops, and the two ways out."""
    return (
        f"The pseudonym key does not match the one {path} was written with (FAQBOT_SECRET changed, or "
        "the key file was lost or replaced). With a new key /forget could not find anyone's earlier "
        "questions, so the bot will not start. Either restore the old key (FAQBOT_SECRET or the key "
        "file), or run `faqbot log reset-key` to delete every logged question, pending reply and vote "
        "and start afresh with the new key."
    )


@dataclass(frozen=True)
class ReplySession:
    """A volunteer's pending reply: ``item`` is the number they saw; ``log_id`` is None once it is gone."""

    item: int
    log_id: int | None
    created_at: str
    expired: bool


@dataclass(frozen=True)
class Forgotten:
    """What /forget removed: the row count, and volunteers whose pending reply it cancelled (id, item)."""

    removed: int
    cancelled: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class LogItem:
    """One logged question as volunteers see it (the text is already redacted; no user identity)."""

    id: int
    created_at: str
    reason: str
    text: str
    best_id: str | None
    score: float
    entry_id: str | None
    status: str
    attached_entry: str | None
    updated_at: str


@dataclass(frozen=True)
class Stats:
    """Figures for the last ``days`` days (``open_queue`` is the queue length now).

    ``unanswered`` counts questions the bot could not answer (reasons 'unanswered' and 'none_of_these').
    """

    days: int
    since: str
    answered: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    feedback_up: dict[str, int] = field(default_factory=dict)
    feedback_down: dict[str, int] = field(default_factory=dict)
    open_queue: int = 0

    @property
    def answered_total(self) -> int:
        return sum(self.answered.values())


@dataclass(frozen=True)
class Claim:
    """An item one volunteer has just closed, and the parent's chat (None if it can no longer be reached)."""

    item: LogItem
    chat_id: int | None


@dataclass(frozen=True)
class LogQuery:
    """A filter over the log for the review desk: status (None for all), reasons, a date range (UTC days)."""

    status: str | None = "open"
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None  # YYYY-MM-DD, inclusive
    reasons: tuple[str, ...] = ()
    newest_first: bool = False
    limit: int = 50
    offset: int = 0

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.status is not None:
            clauses.append("status = ?")
            params.append(self.status)
        if self.since:
            clauses.append("created_at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("created_at < ?")
            params.append(self.until + "T99")  # every time on that day sorts before "T99"
        if self.reasons:
            clauses.append(f"reason IN ({', '.join('?' for _ in self.reasons)})")
            params.extend(self.reasons)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


@dataclass(frozen=True)
class DayCounts:
    """One UTC day: answers and questions given suggestions, counted (never stored as text), and
    items logged, by reason."""

    day: str
    answered: int
    logged: dict[str, int] = field(default_factory=dict)
    suggested: int = 0


def _iso(moment: datetime) -> str:
    """UTC ISO-8601 to the second: one fixed format, so strings sort and compare as times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_INVISIBLE_LEAD = re.compile("^[\\s\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*")


def _formula_like(part: str) -> bool:
    """Would a spreadsheet read this cell (or this ``;``-separated piece of it) as a formula? Spaces,
    zero-width characters and full-width lookalikes (＝, ＋) in front do not hide one."""
    shown = unicodedata.normalize("NFKC", _INVISIBLE_LEAD.sub("", part))
    shown = _INVISIBLE_LEAD.sub("", shown)
    return shown[:1] in _FORMULA_START or part[:1] in ("\t", "\r")


def _csv_cell(value: object) -> object:
    """Neutralise spreadsheet formulas in user text: a cell starting = + - @ would run in Excel. A
    spreadsheet opened with ``;`` as the separator splits a cell there, so each piece is checked."""
    if not isinstance(value, str):
        return value
    return ";".join("'" + part if _formula_like(part) else part for part in value.split(";"))


def _explain(exc: sqlite3.Error, path: str) -> str:
    """A human sentence for the SQLite errors an operator can fix."""
    message = str(exc).lower()
    if "not a database" in message or "malformed" in message or "encrypted" in message:
        return f"{path} is not a SQLite database (or it is damaged). Point FAQBOT_DB at another file."
    if "readonly" in message or "read-only" in message:
        return f"{path} is read-only. The bot needs to write the file and the folder it is in."
    if "locked" in message or "busy" in message:
        return f"{path} is locked by another program. Stop the other bot or tool using it and try again."
    if "unable to open" in message:
        return f"Cannot open {path}: check that the folder exists and is writable."
    return f"The database {path} cannot be used: {exc}"


def _create_private(path: Path) -> None:
    """Create a new database file readable by its owner only (SQLite gives its WAL the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)  # whatever the umask says


def _check_writable(path: Path) -> None:
    """Refuse read-only files and folders up front, so even root gets a clear message, not a surprise."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder {folder} for the database: {exc.strerror}.") from None
    if not folder.is_dir():
        raise StoreError(f"Cannot open {path}: {folder} is not a folder.")
    if not (folder.stat().st_mode & 0o222) or not os.access(folder, os.W_OK):
        raise StoreError(
            f"The folder {folder} is read-only. SQLite needs to create files beside {path.name} there."
        )
    if path.exists():
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a database file.")
        if not (path.stat().st_mode & 0o222) or not os.access(path, os.W_OK):
            raise StoreError(f"{path} is read-only. The bot needs to write the file and the folder it is in.")


class Store:
    """The bot's storage: one aiosqlite connection; several Stores may share a file (WAL, busy timeout)."""

    def __init__(self, db: aiosqlite.Connection, key: bytes, path: str) -> None:
        """Use ``await Store.open(...)``; this only wires up an already prepared connection."""
        self._db = db
        self._key = key
        self._path = path
        self._lock = asyncio.Lock()  # one transaction at a time on this connection

    # ----------------------------------------------------------------------- opening

    @classmethod
    async def open(
        cls, path: str | Path, key: bytes, *, busy_timeout_ms: int = 5000, reset_key: bool = False
    ) -> Store:
        """Open (or create) the database, set it up for concurrent use and migrate it to the latest schema.

        Raises ``StoreError`` with a plain explanation if the file is not a database, is read-only or
        is locked, and ``KeyMismatchError`` if ``key`` is not the key the database was written with.
        ``reset_key=True`` is the way out of that: it deletes every pseudonymised row and adopts ``key``.
        """
        name = str(path)
        if name != ":memory:":
            _check_writable(Path(path))
            _create_private(Path(path))
        try:
            db = await aiosqlite.connect(name, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(_explain(exc, name)) from None
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA secure_delete = ON")  # forgotten text is overwritten, not just unlinked
            async with db.execute("PRAGMA journal_mode = WAL") as cur:
                await cur.fetchone()
            await db.execute("PRAGMA synchronous = NORMAL")
            await _migrate(db, name)
            await _check_key(db, name, key, reset_key)
        except BaseException as exc:
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(_explain(exc, name)) from None
            raise
        return cls(db, key, name)

    async def check_writable(self) -> None:
        """Take and release the write lock once, so a database locked by another program fails now.

        In WAL mode another writer does not stop reads, so opening alone does not notice it.
        """
        try:
            async with self._lock:
                await self._db.execute("BEGIN IMMEDIATE")
                await self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StoreError(_explain(exc, self._path)) from None

    async def close(self) -> None:
        """Close the connection (WAL is checkpointed by SQLite when the last connection closes)."""
        async with self._lock:
            await self._db.close()

    # ----------------------------------------------------------------------- helpers

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """An IMMEDIATE transaction under this Store's lock: takes the write lock up front, so two
        Stores on one file wait for each other (busy timeout) instead of failing mid-way."""
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(_explain(exc, self._path)) from None
            try:
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException as exc:
                await _rollback(self._db)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(_explain(exc, self._path)) from None
                raise

    async def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            try:
                async with self._db.execute(sql, tuple(params)) as cur:
                    return [tuple(row) for row in await cur.fetchall()]
            except sqlite3.Error as exc:
                raise StoreError(_explain(exc, self._path)) from None

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    def _user(self, user_id: int) -> str:
        return pseudonymise(user_id, self._key)

    async def _compact(self) -> None:
        """After deleting personal data, fold the WAL into the file and empty it, so no copy lingers."""
        async with self._lock:
            # If another connection is busy SQLite checkpoints later; secure_delete has zeroed the pages.
            with contextlib.suppress(sqlite3.Error):
                await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # ----------------------------------------------------------------------- writing

    async def log_question(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        reason: str,
        best_id: str | None = None,
        score: float = 0.0,
        entry_id: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Queue a question for volunteers (redacted, pseudonymised) and remember where to reply."""
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}; expected one of {', '.join(REASONS)}")
        stamp = _iso(_now(now))
        async with self._transaction() as db:
            cur = await db.execute(
                "INSERT INTO log (created_at, user_hash, text, reason, best_id, score, entry_id, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (stamp, self._user(user_id), redact(text), reason, best_id, float(score), entry_id, stamp),
            )
            log_id = cur.lastrowid
            await db.execute("INSERT INTO delivery (log_id, chat_id) VALUES (?, ?)", (log_id, chat_id))
        assert log_id is not None
        return log_id

    async def count_answer(self, entry_id: str, *, now: datetime | None = None) -> None:
        """Count one answered question for today (UTC); the question itself is not stored."""
        day = _now(now).astimezone(UTC).date().isoformat()
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO answer_counts (day, entry_id, count) VALUES (?, ?, 1)"
                " ON CONFLICT (day, entry_id) DO UPDATE SET count = count + 1",
                (day, entry_id),
            )

    async def count_suggestion(self, *, now: datetime | None = None) -> None:
        """Count one question that got suggestions today (UTC); neither it nor the entries are stored."""
        day = _now(now).astimezone(UTC).date().isoformat()
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO suggestion_counts (day, count) VALUES (?, 1)"
                " ON CONFLICT (day) DO UPDATE SET count = count + 1",
                (day,),
            )

    async def add_feedback(
        self, user_id: int, entry_id: str, helpful: bool, *, now: datetime | None = None
    ) -> None:
        """Record a 👍 (helpful) or 👎 on an entry."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO feedback (created_at, user_hash, entry_id, helpful) VALUES (?, ?, ?, ?)",
                (_iso(_now(now)), self._user(user_id), entry_id, int(helpful)),
            )

    async def set_status(
        self, log_id: int, status: str, attached_entry: str | None = None, *, now: datetime | None = None
    ) -> bool:
        """Move an item to a status; closing it drops the parent's chat id. False if there is no such item."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        if status == "attached" and not attached_entry:
            raise ValueError("status 'attached' needs the entry id it was attached to")
        async with self._transaction() as db:
            cur = await db.execute(
                "UPDATE log SET status = ?, attached_entry = ?, updated_at = ? WHERE id = ?",
                (status, attached_entry if status == "attached" else None, _iso(_now(now)), log_id),
            )
            found = cur.rowcount > 0
            dropped = 0
            if found and status != "open":
                gone = await db.execute("DELETE FROM delivery WHERE log_id = ?", (log_id,))
                dropped = gone.rowcount
        if dropped:
            await self._compact()  # the chat id must not linger in the WAL
        return found

    # ----------------------------------------------------------------------- the queue

    async def list_log(self, status: str | None = "open", limit: int = 20, offset: int = 0) -> list[LogItem]:
        """Logged items, oldest first; ``status=None`` lists every status."""
        where, params = ("WHERE status = ?", [status]) if status is not None else ("", [])
        rows = await self._rows(
            f"SELECT {_LOG_COLUMNS} FROM log {where} ORDER BY id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [LogItem(*row) for row in rows]

    async def get_log(self, log_id: int) -> LogItem | None:
        rows = await self._rows(f"SELECT {_LOG_COLUMNS} FROM log WHERE id = ?", [log_id])
        return LogItem(*rows[0]) if rows else None

    async def count_log(self, status: str | None = "open") -> int:
        if status is None:
            return int(await self._one("SELECT COUNT(*) FROM log"))
        return int(await self._one("SELECT COUNT(*) FROM log WHERE status = ?", [status]))

    async def delivery_chat(self, log_id: int) -> int | None:
        """The chat to send a volunteer's reply to, while the item is still open."""
        chat = await self._one("SELECT chat_id FROM delivery WHERE log_id = ?", [log_id])
        return None if chat is None else int(chat)

    async def start_reply(self, volunteer_id: int, log_id: int, *, now: datetime | None = None) -> bool:
        """Remember that this volunteer's next message answers ``log_id``. False if the item is gone."""
        async with self._transaction() as db:
            async with db.execute("SELECT 1 FROM log WHERE id = ?", (log_id,)) as cur:
                if await cur.fetchone() is None:
                    return False
            await db.execute(
                "INSERT OR REPLACE INTO volunteer_session (volunteer_id, log_id, item, created_at)"
                " VALUES (?, ?, ?, ?)",
                (volunteer_id, log_id, log_id, _iso(_now(now))),
            )
        return True

    async def pending_reply(self, volunteer_id: int) -> int | None:
        """The item this volunteer is replying to, if it still exists (expired or not)."""
        item = await self._one("SELECT log_id FROM volunteer_session WHERE volunteer_id = ?", [volunteer_id])
        return None if item is None else int(item)

    async def reply_session(self, volunteer_id: int, *, now: datetime | None = None) -> ReplySession | None:
        """This volunteer's pending reply, if any, with whether it has expired or its item is gone."""
        rows = await self._rows(
            "SELECT item, log_id, created_at FROM volunteer_session WHERE volunteer_id = ?", [volunteer_id]
        )
        if not rows:
            return None
        item, log_id, created_at = rows[0]
        cutoff = _iso(_now(now) - timedelta(minutes=REPLY_MINUTES))
        return ReplySession(int(item), log_id, created_at, created_at < cutoff)

    async def end_reply(self, volunteer_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM volunteer_session WHERE volunteer_id = ?", (volunteer_id,))

    async def suggestions(self) -> dict[str, list[str]]:
        """Questions volunteers attached to an entry, grouped by entry id: new ``alternatives`` to paste."""
        rows = await self._rows(
            "SELECT attached_entry, text FROM log WHERE status = 'attached' AND attached_entry IS NOT NULL"
            " ORDER BY attached_entry, id"
        )
        grouped: dict[str, list[str]] = {}
        for entry_id, text in rows:
            grouped.setdefault(entry_id, []).append(text)
        return grouped

    # ----------------------------------------------------------------------- retention and erasure

    async def purge(self, older_than_days: int, now: datetime | None = None) -> int:
        """Delete log items (with their chat ids and sessions) and feedback older than the retention period.

        Returns the number of log and feedback rows removed. Answer counts hold no personal data and stay.
        """
        if older_than_days < 0:
            raise ValueError("older_than_days must not be negative")
        cutoff = _iso(_now(now) - timedelta(days=older_than_days))
        async with self._transaction() as db:
            logs = await db.execute("DELETE FROM log WHERE created_at < ?", (cutoff,))
            votes = await db.execute("DELETE FROM feedback WHERE created_at < ?", (cutoff,))
            removed = logs.rowcount + votes.rowcount
            # a Reply pressed and never used: the volunteer's raw id goes once it is a day old (it
            # expired after REPLY_MINUTES; the day leaves time to tell them so if they write)
            stale = _iso(_now(now) - timedelta(days=1))
            sessions = await db.execute("DELETE FROM volunteer_session WHERE created_at < ?", (stale,))
        if removed or sessions.rowcount:
            await self._compact()
        return removed

    async def forget(self, user_id: int) -> Forgotten:
        """Erase everything about one user: questions, their chat ids, sessions on them, feedback.

        Rows are found by the user's pseudonym and also by the raw id wherever one is held: a question
        whose reply would go to the user's private chat (its chat id is the user id), and the user's
        own pending reply if they are a volunteer. Sessions of other volunteers on the deleted
        questions stay, marked gone, and are returned so those volunteers can be told.
        Returns the number of questions and feedback rows removed (chat ids and sessions belong to a
        question and are not counted separately).
        """
        user = self._user(user_id)
        async with self._transaction() as db:
            mine = (
                "SELECT id FROM log WHERE user_hash = ? UNION SELECT log_id FROM delivery WHERE chat_id = ?"
            )
            async with db.execute(
                f"SELECT volunteer_id, item FROM volunteer_session WHERE log_id IN ({mine})"
                " AND volunteer_id != ? ORDER BY volunteer_id",
                (user, user_id, user_id),
            ) as cur:
                cancelled = tuple((int(v), int(i)) for v, i in await cur.fetchall())
            await db.execute("DELETE FROM volunteer_session WHERE volunteer_id = ?", (user_id,))
            logs = await db.execute(f"DELETE FROM log WHERE id IN ({mine})", (user, user_id))
            await db.execute("DELETE FROM delivery WHERE chat_id = ?", (user_id,))
            votes = await db.execute("DELETE FROM feedback WHERE user_hash = ?", (user,))
            removed = logs.rowcount + votes.rowcount
        await self._compact()
        return Forgotten(removed, cancelled)

    # ----------------------------------------------------------------------- reporting

    async def stats(self, days: int, now: datetime | None = None) -> Stats:
        """Answered per entry, unanswered, feedback per entry in the last ``days`` days; the open queue now.

        Answer counts are per UTC day, so they cover the last ``days`` calendar days including today.
        """
        if days < 1:
            raise ValueError("days must be at least 1")
        moment = _now(now)
        since = _iso(moment - timedelta(days=days))
        first_day = (moment.astimezone(UTC).date() - timedelta(days=days - 1)).isoformat()
        answered = {
            entry: int(n)
            for entry, n in await self._rows(
                "SELECT entry_id, SUM(count) FROM answer_counts WHERE day >= ?"
                " GROUP BY entry_id ORDER BY entry_id",
                [first_day],
            )
        }
        by_reason = {
            reason: int(n)
            for reason, n in await self._rows(
                "SELECT reason, COUNT(*) FROM log WHERE created_at >= ? GROUP BY reason ORDER BY reason",
                [since],
            )
        }
        up: dict[str, int] = {}
        down: dict[str, int] = {}
        for entry, helpful, n in await self._rows(
            "SELECT entry_id, helpful, COUNT(*) FROM feedback WHERE created_at >= ?"
            " GROUP BY entry_id, helpful ORDER BY entry_id",
            [since],
        ):
            (up if helpful else down)[entry] = int(n)
        return Stats(
            days=days,
            since=since,
            answered=answered,
            unanswered=sum(by_reason.get(r, 0) for r in UNANSWERED_REASONS),
            by_reason=by_reason,
            feedback_up=up,
            feedback_down=down,
            open_queue=await self.count_log("open"),
        )

    async def export_csv(self, path_or_file: str | Path | IO[str]) -> int:
        """Write every log item as CSV (no pseudonym) to a path or open text file; returns the row count."""
        rows = await self._rows(f"SELECT {', '.join(CSV_COLUMNS)} FROM log ORDER BY id")
        # In a worker thread: a big log on a slow disk must not stall the bot (or the desk) meanwhile.
        if isinstance(path_or_file, str | Path):
            await asyncio.to_thread(_write_csv_file, Path(path_or_file), rows)
        else:
            await asyncio.to_thread(_write_csv, path_or_file, rows)
        return len(rows)

    # ----------------------------------------------------------------------- the review desk

    async def claim(
        self, log_id: int, status: str, attached_entry: str | None = None, *, now: datetime | None = None
    ) -> Claim | None:
        """Close an open item in one step and hand back where to reply; None if it is not open.

        The UPDATE only matches an open item, inside one write transaction, so when two volunteers
        (Telegram or the desk) act on one question at once exactly one of them gets the claim.
        """
        if status not in STATUSES or status == "open":
            raise ValueError(f"cannot claim an item as {status!r}")
        if status == "attached" and not attached_entry:
            raise ValueError("status 'attached' needs the entry id it was attached to")
        async with self._transaction() as db:
            cur = await db.execute(
                "UPDATE log SET status = ?, attached_entry = ?, updated_at = ?"
                " WHERE id = ? AND status = 'open'",
                (status, attached_entry if status == "attached" else None, _iso(_now(now)), log_id),
            )
            if cur.rowcount == 0:
                return None
            async with db.execute(f"SELECT {_LOG_COLUMNS} FROM log WHERE id = ?", (log_id,)) as rows:
                item = LogItem(*(await rows.fetchone() or ()))
            async with db.execute("SELECT chat_id FROM delivery WHERE log_id = ?", (log_id,)) as rows:
                found = await rows.fetchone()
            await db.execute("DELETE FROM delivery WHERE log_id = ?", (log_id,))
            # A volunteer's pending Telegram reply to this item stays: their next message is then
            # told the item was handled, rather than being taken for a parent's question.
        if found:
            await self._compact()  # the chat id must not linger in the WAL (unclaim puts it back if need be)
        return Claim(item, int(found[0]) if found else None)

    async def unclaim(self, claim: Claim) -> None:
        """Reopen a claimed item after its message could not be sent, so it is not lost."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE log SET status = 'open', attached_entry = NULL, updated_at = ? WHERE id = ?",
                (claim.item.updated_at, claim.item.id),
            )
            if claim.chat_id is not None:
                await db.execute(
                    "INSERT OR IGNORE INTO delivery (log_id, chat_id) SELECT id, ? FROM log WHERE id = ?",
                    (claim.chat_id, claim.item.id),
                )

    async def find_log(self, query: LogQuery) -> tuple[list[LogItem], int]:
        """One page of logged items matching ``query``, and how many match in all."""
        where, params = query.where()
        order = "DESC" if query.newest_first else "ASC"
        rows = await self._rows(
            f"SELECT {_LOG_COLUMNS} FROM log {where}"
            f" ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        )
        total = int(await self._one(f"SELECT COUNT(*) FROM log {where}", params))
        return [LogItem(*row) for row in rows], total

    async def daily(self, days: int, now: datetime | None = None) -> list[DayCounts]:
        """Each UTC day of the last ``days`` days, oldest first: answers and suggestions counted, items
        logged by reason."""
        if days < 1:
            raise ValueError("days must be at least 1")
        today = _now(now).astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        answered = dict(
            await self._rows(
                "SELECT day, SUM(count) FROM answer_counts WHERE day >= ? GROUP BY day", [first.isoformat()]
            )
        )
        suggested = dict(
            await self._rows("SELECT day, count FROM suggestion_counts WHERE day >= ?", [first.isoformat()])
        )
        logged: dict[str, dict[str, int]] = {}
        for day, reason, n in await self._rows(
            "SELECT substr(created_at, 1, 10), reason, COUNT(*) FROM log WHERE created_at >= ? GROUP BY 1, 2",
            [first.isoformat()],
        ):
            logged.setdefault(day, {})[reason] = int(n)
        out = []
        for n in range(days):
            day = (first + timedelta(days=n)).isoformat()
            out.append(
                DayCounts(day, int(answered.get(day, 0)), logged.get(day, {}), int(suggested.get(day, 0)))
            )
        return out

    async def reply_seconds(self, days: int, now: datetime | None = None) -> list[float]:
        """Seconds from question to a volunteer's reply or attached answer, items of the last ``days``."""
        since = _iso(_now(now) - timedelta(days=days))
        rows = await self._rows(
            "SELECT (julianday(updated_at) - julianday(created_at)) * 86400.0 FROM log"
            " WHERE status IN ('answered', 'attached') AND created_at >= ?",
            [since],
        )
        return [float(r[0]) for r in rows]

    async def recent_unanswered(
        self, days: int, limit: int = 5000, now: datetime | None = None
    ) -> list[LogItem]:
        """Unanswered and "None of these" questions of the last ``days`` days, newest first, not yet
        dismissed or attached to an entry: what the FAQ does not cover yet."""
        since = _iso(_now(now) - timedelta(days=days))
        rows = await self._rows(
            f"SELECT {_LOG_COLUMNS} FROM log WHERE created_at >= ? AND reason IN (?, ?)"
            " AND status IN ('open', 'answered') ORDER BY id DESC LIMIT ?",
            [since, *UNANSWERED_REASONS, limit],
        )
        return [LogItem(*row) for row in rows]

    async def queue_sizes(self, days: int, now: datetime | None = None) -> list[int]:
        """How many items were open at the end of each UTC day of the last ``days`` days, oldest first.

        An item counts from the day it was logged until the day it was closed (its last update).
        """
        today = _now(now).astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        change: dict[str, int] = {}
        for day, n in await self._rows("SELECT substr(created_at, 1, 10), COUNT(*) FROM log GROUP BY 1"):
            change[day] = change.get(day, 0) + int(n)
        for day, n in await self._rows(
            "SELECT substr(updated_at, 1, 10), COUNT(*) FROM log WHERE status != 'open' GROUP BY 1"
        ):
            change[day] = change.get(day, 0) - int(n)
        level = sum(n for day, n in change.items() if day < first.isoformat())
        sizes = []
        for k in range(days):
            level += change.get((first + timedelta(days=k)).isoformat(), 0)
            sizes.append(level)
        return sizes

    async def log_version(self) -> tuple[Any, ...]:
        """Changes whenever an item is logged, closed or deleted: a cheap key for caching a page."""
        rows = await self._rows("SELECT COUNT(*), MAX(id), MAX(updated_at) FROM log")
        return tuple(rows[0]) if rows else ()


def _write_csv_file(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        _write_csv(handle, rows)


def _write_csv(handle: IO[str], rows: list[tuple[Any, ...]]) -> None:
    writer = csv.writer(handle, quoting=csv.QUOTE_ALL)  # every cell quoted: no separator can split one
    writer.writerow(CSV_COLUMNS)
    writer.writerows([_csv_cell(value) for value in row] for row in rows)


async def _migrate(db: aiosqlite.Connection, path: str) -> None:
    """Bring the schema to ``SCHEMA_VERSION``, one transaction per version.

    The version is re-read inside each write transaction, so two processes opening a new file at once
    do not both apply the same migration.
    """
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer faqbot (schema v{version}; this one knows up to "
            f"v{SCHEMA_VERSION}). Upgrade faqbot, or use another database file."
        )
    if version == SCHEMA_VERSION:
        return
    # Rebuilding a table drops the old one; with foreign keys on that would cascade to its children.
    # (The pragma cannot change inside a transaction, so it is set around them.)
    await db.execute("PRAGMA foreign_keys = OFF")
    try:
        while version < SCHEMA_VERSION:
            await db.execute("BEGIN IMMEDIATE")
            try:
                async with db.execute("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                version = int(row[0]) if row else 0
                if version < SCHEMA_VERSION:
                    for statement in MIGRATIONS[version]:
                        await db.execute(statement)
                    async with db.execute("PRAGMA foreign_key_check") as cur:
                        if await cur.fetchone() is not None:
                            raise StoreError(f"{path}: migrating to v{version + 1} broke a reference")
                    version += 1
                    await db.execute(f"PRAGMA user_version = {version}")
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise
    finally:
        await db.execute("PRAGMA foreign_keys = ON")


async def _check_key(db: aiosqlite.Connection, path: str, key: bytes, reset_key: bool) -> None:
    """Record the key's fingerprint on first use; refuse a different key (or, on reset, adopt it)."""
    wanted = key_fingerprint(key)
    async with db.execute("SELECT value FROM meta WHERE key = 'key_fingerprint'") as cur:
        row = await cur.fetchone()
    if row is not None and row[0] == wanted:
        return
    if row is not None and not reset_key:
        raise KeyMismatchError(key_mismatch_help(path))
    await db.execute("BEGIN IMMEDIATE")
    try:
        if reset_key:
            for table in ("volunteer_session", "delivery", "feedback", "log"):
                await db.execute(f"DELETE FROM {table}")  # fixed table names
        await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('key_fingerprint', ?)", (wanted,))
        await db.execute("COMMIT")
    except BaseException:
        await _rollback(db)
        raise
    if reset_key:
        with contextlib.suppress(sqlite3.Error):
            await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def _rollback(db: aiosqlite.Connection) -> None:
    """Undo an open transaction; if SQLite already rolled it back, there is nothing to do."""
    with contextlib.suppress(sqlite3.Error):
        await db.execute("ROLLBACK")
