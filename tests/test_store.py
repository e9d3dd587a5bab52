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
from bot.store import MIGRATIONS, SCHEMA_VERSION, Forgotten, KeyMismatchError, Store, StoreError

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

    # a different key could not find the user, so the store refuses it and says how to get out
    with pytest.raises(KeyMismatchError, match="faqbot log reset-key"):
        await Store.open(db_path, b"another-key-entirely-0123456789")
    store = await Store.open(db_path, KEY)
    try:
        assert (await store.forget(PARENT)).removed == 1
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


async def test_purge_drops_a_stale_reply_session_and_its_raw_id(store: Store, db_path: Path) -> None:
    """A volunteer who pressed Reply and never wrote kept their raw Telegram id in the database for
    ever (the README says: only while the reply is pending). The daily purge drops sessions a day old."""
    long_ago = NOW - timedelta(days=40)
    old = await store.log_question(PARENT, PARENT, "question", reason="unanswered", now=long_ago)
    fresh = await store.log_question(PARENT, PARENT, "question 2", reason="unanswered", now=NOW)
    await store.start_reply(42, old, now=NOW - timedelta(days=2))  # expired long ago, item purged below
    await store.start_reply(43, fresh, now=NOW - timedelta(days=2))  # expired, item still open
    await store.start_reply(44, fresh, now=NOW - timedelta(minutes=5))  # pending
    await store.purge(30, now=NOW)
    assert query(db_path, "SELECT volunteer_id FROM volunteer_session") == [(44,)]


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

    assert await store.forget(PARENT) == Forgotten(3, cancelled=((42, mine[0]),))
    assert [i.id for i in await store.list_log(None)] == [theirs]
    assert await store.delivery_chat(mine[0]) is None
    assert await store.delivery_chat(theirs) == OTHER_PARENT
    assert await store.pending_reply(42) is None  # the item is gone; the session remembers which
    assert (await store.reply_session(42)).item == mine[0]
    assert await store.pending_reply(43) == theirs
    assert query(db_path, "SELECT user_hash FROM feedback") == [(pseudonymise(OTHER_PARENT, KEY),)]
    assert b"zebra" not in file_bytes(db_path)  # erased, not just unlinked
    assert b"giraffe" in file_bytes(db_path)
    assert (await store.forget(PARENT)).removed == 0


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


# --------------------------------------------------------------------------- hardening (issue 12)


def _v2_database(path: Path) -> None:
    """A database as faqbot wrote it before ids were AUTOINCREMENT (schema v2), with one open item."""
    con = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        for statement in migration:
            con.execute(statement)
    con.execute("PRAGMA user_version = 2")
    con.execute(
        "INSERT INTO log (id, created_at, user_hash, text, updated_at) VALUES (5, ?, 'h', 'old q', ?)",
        ("2024-06-01T00:00:00+00:00", "2024-06-01T00:00:00+00:00"),
    )
    con.execute("INSERT INTO delivery (log_id, chat_id) VALUES (5, 1234)")
    con.execute("INSERT INTO volunteer_session (volunteer_id, log_id, created_at) VALUES (7, 5, 'x')")
    con.close()


async def test_v2_database_migrates_keeping_every_row_and_reference(db_path: Path) -> None:
    _v2_database(db_path)
    store = await Store.open(db_path, KEY)
    try:
        assert (await store.get_log(5)).text == "old q"
        assert await store.delivery_chat(5) == 1234  # rebuilding the log table cascaded nothing away
        assert await store.pending_reply(7) == 5
        assert query(db_path, "PRAGMA foreign_key_check") == []
        new = await store.log_question(PARENT, PARENT, "new q", reason="unanswered")
        assert new == 6
    finally:
        await store.close()


async def test_log_ids_are_never_reused(store: Store) -> None:
    """The newest item is deleted (by /forget): the next question must get a new id, so a stale button
    for the old id can never act on someone else's question."""
    first = await store.log_question(PARENT, PARENT, "first", reason="unanswered")
    last = await store.log_question(OTHER_PARENT, OTHER_PARENT, "second", reason="unanswered")
    await store.forget(OTHER_PARENT)
    await store.purge(0, now=NOW + timedelta(days=3650))
    again = await store.log_question(PARENT, PARENT, "third", reason="unanswered")
    assert again > last > first
    assert await store.get_log(last) is None


async def test_key_reset_deletes_every_pseudonymised_row_and_adopts_the_key(db_path: Path) -> None:
    store = await Store.open(db_path, KEY)
    log_id = await store.log_question(PARENT, PARENT, "zebra question", reason="unanswered")
    await store.add_feedback(PARENT, "upn", True)
    await store.start_reply(7, log_id)
    await store.count_answer("upn")
    await store.close()
    new_key = b"a-brand-new-key-0123456789abcdef"
    with pytest.raises(KeyMismatchError):
        await Store.open(db_path, new_key)
    store = await Store.open(db_path, new_key, reset_key=True)
    await store.close()
    for table in ("log", "delivery", "volunteer_session", "feedback"):
        assert query(db_path, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    assert query(db_path, "SELECT count FROM answer_counts") == [(1,)]  # not personal: kept
    assert b"zebra" not in file_bytes(db_path)
    await (await Store.open(db_path, new_key)).close()  # the new key is now the database's key


async def test_forget_also_finds_rows_by_the_raw_chat_id(db_path: Path) -> None:
    """A row whose pseudonym was made with another key (written before the fingerprint existed) is still
    found by /forget, through the chat id held to deliver its reply."""
    store = await Store.open(db_path, b"an-old-lost-key-0123456789abcdef")
    await store.log_question(PARENT, PARENT, "zebra question", reason="unanswered")
    await store.close()
    con = sqlite3.connect(db_path)
    con.execute("DELETE FROM meta")  # as if written by a faqbot without the fingerprint
    con.commit()
    con.close()
    store = await Store.open(db_path, KEY)
    try:
        assert (await store.forget(PARENT)).removed == 1
        assert await store.count_log(None) == 0
    finally:
        await store.close()
    assert b"zebra" not in file_bytes(db_path)


async def test_forget_drops_the_forgetting_volunteers_own_session(store: Store) -> None:
    item = await store.log_question(PARENT, PARENT, "q", reason="unanswered")
    await store.start_reply(OTHER_PARENT, item)  # OTHER_PARENT is also a volunteer here
    await store.forget(OTHER_PARENT)
    assert await store.reply_session(OTHER_PARENT) is None  # a raw id held: gone too
    assert (await store.get_log(item)).status == "open"


async def test_reply_sessions_expire(store: Store) -> None:
    item = await store.log_question(PARENT, PARENT, "q", reason="unanswered")
    await store.start_reply(7, item, now=NOW)
    assert not (await store.reply_session(7, now=NOW + timedelta(minutes=14))).expired
    assert (await store.reply_session(7, now=NOW + timedelta(minutes=16))).expired


async def test_database_file_and_wal_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "faqbot.sqlite3"
        store = await Store.open(db, KEY)
        await store.log_question(PARENT, PARENT, "q", reason="unanswered")
        for path in (db, Path(f"{db}-wal")):
            assert path.stat().st_mode & 0o777 == 0o600, path
        await store.close()
    finally:
        os.umask(old)


CHAT = 0x5A4B3C2D1E0F  # six bytes: SQLite stores this integer as exactly these big-endian bytes


@pytest.mark.parametrize("how", ["dismiss", "answer", "forget"])
async def test_raw_chat_id_does_not_linger_in_the_wal(store: Store, db_path: Path, how: str) -> None:
    item = await store.log_question(PARENT, CHAT, "q", reason="unanswered")
    raw = CHAT.to_bytes(6, "big")
    assert raw in file_bytes(db_path)
    if how == "forget":
        await store.forget(CHAT)
    else:
        await store.set_status(item, "dismissed" if how == "dismiss" else "answered")
    assert await store.delivery_chat(item) is None
    assert raw not in file_bytes(db_path)
