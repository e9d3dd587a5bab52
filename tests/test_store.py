"""The SQLite store: migrations, failure messages, the queue, privacy guarantees, retention, stats."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.privacy import pseudonymise
from bot.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError

KEY = b"test-key-0123456789abcdef-0123456"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
PARENT = 918273645
OTHER_PARENT = 564738291


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "faqbot.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path, KEY)
    yield s
    await s.close()


def query(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the file with plain sqlite3, to check what is really stored."""
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def file_bytes(path: Path) -> bytes:
    """The database and its WAL/SHM files, everything SQLite keeps on disk."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


# --------------------------------------------------------------------------- opening and migrations


async def test_new_file_is_migrated_to_latest(db_path: Path) -> None:
    store = await Store.open(db_path, KEY)
    await store.close()
    assert SCHEMA_VERSION >= 2
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {name for (name,) in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"log", "delivery", "volunteer_session", "feedback", "answer_counts"} <= tables


async def test_v1_database_is_upgraded_and_keeps_its_rows(db_path: Path) -> None:
    con = sqlite3.connect(db_path)
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO log (created_at, user_hash, text, updated_at) VALUES (?, ?, ?, ?)",
        ("2024-01-01T00:00:00+00:00", "abc", "an old question", "2024-01-01T00:00:00+00:00"),
    )
    con.commit()
    con.close()

    store = await Store.open(db_path, KEY)
    try:
        item = await store.get_log(1)
        assert item is not None
        assert item.text == "an old question"
        assert item.reason == "unanswered"
        assert item.status == "open"
        await store.count_answer("entry-a", now=NOW)  # the v2 table exists
        assert (await store.stats(1, now=NOW)).answered == {"entry-a": 1}
    finally:
        await store.close()
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    store = await Store.open(db_path, KEY)
    await store.log_question(PARENT, PARENT, "first", reason="unanswered")
    await store.close()
    store = await Store.open(db_path, KEY)
    try:
        assert await store.count_log() == 1
    finally:
        await store.close()


async def test_wal_and_foreign_keys_are_on(store: Store, db_path: Path) -> None:
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    log_id = await store.log_question(PARENT, PARENT, "q", reason="unanswered")
    await store.start_reply(7, log_id)
    await store.purge(0, now=datetime.now(UTC) + timedelta(days=1))  # deleting the log row cascades
    assert query(db_path, "SELECT COUNT(*) FROM delivery") == [(0,)]
    assert await store.pending_reply(7) is None


async def test_newer_schema_is_refused(db_path: Path) -> None:
    con = sqlite3.connect(db_path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer faqbot"):
        await Store.open(db_path, KEY)


async def test_not_a_database_is_a_clear_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is a text file, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a SQLite database"):
        await Store.open(db_path, KEY)


async def test_read_only_file_is_a_clear_error(db_path: Path) -> None:
    await (await Store.open(db_path, KEY)).close()
    db_path.chmod(0o444)
    try:
        with pytest.raises(StoreError, match="read-only"):
            await Store.open(db_path, KEY)
    finally:
        db_path.chmod(0o644)


async def test_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="read-only"):
            await Store.open(folder / "faqbot.sqlite3", KEY)
    finally:
        folder.chmod(0o755)


async def test_parent_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StoreError, match="folder"):
        await Store.open(tmp_path / "plain" / "faqbot.sqlite3", KEY)


async def test_locked_database_is_a_clear_error(db_path: Path) -> None:
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            await Store.open(db_path, KEY, busy_timeout_ms=100)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store = await Store.open(db_path, KEY)  # once released, it opens
    await store.close()


# --------------------------------------------------------------------------- the queue


async def test_log_list_and_status_transitions(store: Store) -> None:
    first = await store.log_question(
        PARENT, 111, "first question", reason="unanswered", best_id="a", score=0.4
    )
    second = await store.log_question(PARENT, 111, "second question", reason="none_of_these")
    third = await store.log_question(OTHER_PARENT, 222, "third question", reason="volunteer")
    assert [i.id for i in await store.list_log()] == [first, second, third]
    assert [i.text for i in await store.list_log(limit=2, offset=1)] == ["second question", "third question"]
    item = await store.get_log(first)
    assert item is not None
    assert (item.reason, item.best_id, item.score, item.status) == ("unanswered", "a", 0.4, "open")
    assert await store.delivery_chat(first) == 111

    assert await store.set_status(first, "answered")
    assert await store.delivery_chat(first) is None
    assert await store.set_status(second, "attached", attached_entry="entry-b")
    assert await store.delivery_chat(second) is None
    assert await store.delivery_chat(third) == 222
    assert await store.count_log("open") == 1
    assert await store.count_log(None) == 3
    assert [i.id for i in await store.list_log("answered")] == [first]
    attached = await store.get_log(second)
    assert attached is not None
    assert attached.attached_entry == "entry-b"

    assert await store.set_status(third, "dismissed")
    assert await store.delivery_chat(third) is None
    assert await store.set_status(third, "open")  # reopening does not bring the chat id back
    assert await store.delivery_chat(third) is None
    assert await store.list_log("open") == [await store.get_log(third)]

    assert not await store.set_status(9999, "dismissed")
    assert await store.get_log(9999) is None
    with pytest.raises(ValueError, match="unknown status 'lost'"):
        await store.set_status(first, "lost")
    with pytest.raises(ValueError, match="needs the entry id"):
        await store.set_status(first, "attached")
    with pytest.raises(ValueError, match="unknown reason 'bored'"):
        await store.log_question(PARENT, 1, "q", reason="bored")


async def test_volunteer_reply_sessions(store: Store) -> None:
    log_id = await store.log_question(PARENT, 111, "q", reason="unanswered")
    assert await store.pending_reply(42) is None
    assert await store.start_reply(42, log_id)
    assert await store.pending_reply(42) == log_id
    assert await store.pending_reply(43) is None
    await store.end_reply(42)
    assert await store.pending_reply(42) is None
    assert not await store.start_reply(42, 9999)
    assert await store.pending_reply(42) is None


async def test_text_is_redacted_and_no_raw_user_id_is_stored(store: Store, db_path: Path) -> None:
    await store.log_question(
        PARENT, 31337, "my son is called Tom, email tom.mum@example.com or 07700 900123", reason="unanswered"
    )
    await store.add_feedback(PARENT, "entry-a", True)
    items = await store.list_log()
    assert items[0].text == "my son is called [name], email [email] or [phone]"
    rows = query(db_path, "SELECT user_hash FROM log UNION ALL SELECT user_hash FROM feedback")
    assert rows == [(pseudonymise(PARENT, KEY),)] * 2
    raw = file_bytes(db_path)
    assert b"log" in raw  # the scan does read the database
    for secret in (str(PARENT).encode(), b"tom.mum@example.com", b"07700 900123", b"Tom,"):
        assert secret not in raw


async def test_pseudonym_is_stable_across_reopen(db_path: Path) -> None:
    store = await Store.open(db_path, KEY)
    await store.log_question(PARENT, PARENT, "q", reason="unanswered")
    await store.close()

    other_key = await Store.open(db_path, b"another-key-entirely-0123456789")
    try:
        assert await other_key.forget(PARENT) == 0  # a different key cannot find the user
    finally:
        await other_key.close()
    store = await Store.open(db_path, KEY)
    try:
        assert await store.forget(PARENT) == 1
    finally:
        await store.close()


async def test_suggestions_group_attached_questions(store: Store) -> None:
    ids = [await store.log_question(PARENT, 1, f"question {n}", reason="unanswered") for n in range(5)]
    await store.set_status(ids[0], "attached", attached_entry="opt-out")
    await store.set_status(ids[1], "dismissed")
    await store.set_status(ids[2], "attached", attached_entry="retention")
    await store.set_status(ids[3], "attached", attached_entry="opt-out")
    assert await store.suggestions() == {"opt-out": ["question 0", "question 3"], "retention": ["question 2"]}


# --------------------------------------------------------------------------- retention and erasure


async def test_purge_removes_exactly_the_old_rows(store: Store, db_path: Path) -> None:
    ages = {"40 days": 40, "31 days": 31, "29 days": 29, "today": 0}
    ids = {
        label: await store.log_question(PARENT, 5, label, reason="unanswered", now=NOW - timedelta(days=d))
        for label, d in ages.items()
    }
    await store.add_feedback(PARENT, "old", False, now=NOW - timedelta(days=40))
    await store.add_feedback(PARENT, "new", True, now=NOW - timedelta(days=1))
    await store.count_answer("entry-a", now=NOW - timedelta(days=60))

    assert await store.purge(30, now=NOW) == 3
    assert [i.id for i in await store.list_log(None)] == [ids["29 days"], ids["today"]]
    assert query(db_path, "SELECT entry_id FROM feedback") == [("new",)]
    assert query(db_path, "SELECT log_id FROM delivery ORDER BY log_id") == [
        (ids["29 days"],),
        (ids["today"],),
    ]
    assert query(db_path, "SELECT COUNT(*) FROM answer_counts") == [(1,)]  # counts are not personal
    assert await store.purge(30, now=NOW) == 0


async def test_forget_removes_exactly_that_users_rows(store: Store, db_path: Path) -> None:
    mine = [
        await store.log_question(PARENT, PARENT, "zebra crossing question", reason="unanswered"),
        await store.log_question(PARENT, PARENT, "another zebra", reason="volunteer"),
    ]
    await store.add_feedback(PARENT, "entry-a", False)
    await store.start_reply(42, mine[0])
    theirs = await store.log_question(OTHER_PARENT, OTHER_PARENT, "giraffe question", reason="unanswered")
    await store.add_feedback(OTHER_PARENT, "entry-a", True)
    await store.start_reply(43, theirs)

    assert await store.forget(PARENT) == 3
    assert [i.id for i in await store.list_log(None)] == [theirs]
    assert await store.delivery_chat(mine[0]) is None
    assert await store.delivery_chat(theirs) == OTHER_PARENT
    assert await store.pending_reply(42) is None
    assert await store.pending_reply(43) == theirs
    assert query(db_path, "SELECT user_hash FROM feedback") == [(pseudonymise(OTHER_PARENT, KEY),)]
    assert b"zebra" not in file_bytes(db_path)  # erased, not just unlinked
    assert b"giraffe" in file_bytes(db_path)
    assert await store.forget(PARENT) == 0


# --------------------------------------------------------------------------- concurrency


async def test_two_stores_writing_at_once_lose_nothing(db_path: Path) -> None:
    a = await Store.open(db_path, KEY)
    b = await Store.open(db_path, KEY)
    try:
        ids = await asyncio.gather(
            *(a.log_question(PARENT, 1, f"a {n}", reason="unanswered") for n in range(100)),
            *(b.log_question(OTHER_PARENT, 2, f"b {n}", reason="unanswered") for n in range(100)),
            *(a.count_answer("entry-a") for _ in range(50)),
            *(b.count_answer("entry-a") for _ in range(50)),
        )
        log_ids = ids[:200]
        assert len(set(log_ids)) == 200
        assert await a.count_log() == 200
        assert await b.count_log() == 200
        texts = {i.text for i in await b.list_log(limit=500)}
        assert texts == {f"a {n}" for n in range(100)} | {f"b {n}" for n in range(100)}
        assert (await a.stats(1)).answered == {"entry-a": 100}
    finally:
        await a.close()
        await b.close()


# --------------------------------------------------------------------------- reporting


async def test_stats_figures(store: Store) -> None:
    for _ in range(3):
        await store.count_answer("opt-out", now=NOW)
    await store.count_answer("opt-out", now=NOW - timedelta(days=6))
    await store.count_answer("retention", now=NOW - timedelta(days=2))
    await store.count_answer("retention", now=NOW - timedelta(days=20))
    await store.log_question(PARENT, 1, "a", reason="unanswered", now=NOW - timedelta(days=1))
    await store.log_question(PARENT, 1, "b", reason="none_of_these", now=NOW - timedelta(days=3))
    old = await store.log_question(PARENT, 1, "c", reason="unanswered", now=NOW - timedelta(days=10))
    await store.log_question(PARENT, 1, "d", reason="volunteer", now=NOW - timedelta(hours=1))
    await store.set_status(old, "dismissed")
    await store.add_feedback(PARENT, "opt-out", True, now=NOW - timedelta(days=1))
    await store.add_feedback(OTHER_PARENT, "opt-out", True, now=NOW - timedelta(days=2))
    await store.add_feedback(PARENT, "opt-out", False, now=NOW - timedelta(days=3))
    await store.add_feedback(PARENT, "retention", False, now=NOW - timedelta(days=9))

    week = await store.stats(7, now=NOW)
    assert week.answered == {"opt-out": 4, "retention": 1}
    assert week.answered_total == 5
    assert week.unanswered == 2
    assert week.by_reason == {"unanswered": 1, "none_of_these": 1, "volunteer": 1}
    assert week.feedback_up == {"opt-out": 2}
    assert week.feedback_down == {"opt-out": 1}
    assert week.open_queue == 3

    month = await store.stats(30, now=NOW)
    assert month.answered == {"opt-out": 4, "retention": 2}
    assert month.unanswered == 3
    assert month.feedback_down == {"opt-out": 1, "retention": 1}
    assert month.open_queue == 3


async def test_export_csv(store: Store, tmp_path: Path) -> None:
    first = await store.log_question(
        PARENT, 1, "=HYPERLINK(evil) from 07700 900123", reason="unanswered", best_id="a", score=0.25
    )
    second = await store.log_question(
        PARENT, 1, 'plain, with "quotes"\nand lines', reason="feedback", entry_id="b"
    )
    await store.set_status(first, "attached", attached_entry="opt-out")

    buffer = io.StringIO()
    assert await store.export_csv(buffer) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert list(rows[0]) == [
        "id", "created_at", "reason", "status", "best_id", "score", "entry_id", "attached_entry", "text",
    ]  # fmt: skip
    assert [int(r["id"]) for r in rows] == [first, second]
    assert rows[0]["status"] == "attached"
    assert rows[0]["attached_entry"] == "opt-out"
    assert rows[0]["text"] == "'=HYPERLINK(evil) from [phone]"  # no formula runs in a spreadsheet
    assert float(rows[0]["score"]) == 0.25
    assert rows[1]["text"] == 'plain, with "quotes"\nand lines'
    assert rows[1]["entry_id"] == "b"
    assert rows[1]["reason"] == "feedback"
    assert pseudonymise(PARENT, KEY) not in buffer.getvalue()

    target = tmp_path / "export.csv"
    assert await store.export_csv(target) == 2
    assert target.read_bytes().decode("utf-8") == buffer.getvalue()


async def test_key_file_and_database_stay_separate(db_path: Path) -> None:
    """The store never writes its key into the database file."""
    store = await Store.open(db_path, KEY)
    await store.log_question(PARENT, 1, "q", reason="unanswered")
    await store.close()
    assert KEY not in file_bytes(db_path)
    assert os.path.getsize(db_path) > 0
