"""faqbot log … and faqbot reload: the volunteers' and admins' tools without Telegram."""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.privacy import load_or_create_key
from bot.store import Store
from tests.support import clean_env, run_faqbot


def faqbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_faqbot(*args, env={"FAQBOT_DB": str(tmp_path / "bot.sqlite3")}, timeout=60)


def seed(tmp_path: Path) -> list[int]:
    async def work() -> list[int]:
        db = tmp_path / "bot.sqlite3"
        store = await Store.open(db, load_or_create_key(None, db.with_suffix(".key")))
        old = datetime.now(UTC) - timedelta(days=200)
        ids = [
            await store.log_question(
                1, 1, "how do I bake bread", reason="unanswered", best_id=None, score=0.0
            ),
            await store.log_question(2, 2, "is my son's reading age sent to the DfE?", reason="volunteer"),
            await store.log_question(
                3, 3, "an old question, my email is a@b.co", reason="unanswered", now=old
            ),
        ]
        await store.set_status(ids[1], "attached", attached_entry="census-data-items")
        await store.close()
        return ids

    return asyncio.run(work())


def test_log_without_a_database_is_a_clear_message(tmp_path: Path) -> None:
    run = faqbot(tmp_path, "log", "list")
    assert run.returncode == 0
    assert "No database" in run.stdout
    assert faqbot(tmp_path, "log", "show", "1").returncode == 1


def test_log_list_show_dismiss(tmp_path: Path) -> None:
    first = seed(tmp_path)[0]
    out = faqbot(tmp_path, "log", "list").stdout
    assert "how do I bake bread" in out
    assert "[email]" in out
    assert "reading age" not in out  # attached is not open
    assert "id" in out.splitlines()[0]
    assert "question" in out.splitlines()[0]
    assert "reading age" in faqbot(tmp_path, "log", "list", "--status", "all").stdout
    show = faqbot(tmp_path, "log", "show", str(first))
    assert show.returncode == 0
    assert "status: open" in show.stdout
    assert faqbot(tmp_path, "log", "dismiss", str(first)).stdout.strip() == f"#{first} dismissed."
    assert "status: dismissed" in faqbot(tmp_path, "log", "show", str(first)).stdout
    assert "already dismissed" in faqbot(tmp_path, "log", "dismiss", str(first)).stdout
    missing = faqbot(tmp_path, "log", "dismiss", "9999")
    assert missing.returncode == 1
    assert "No log item #9999" in missing.stderr


def test_log_export_suggestions_purge(tmp_path: Path) -> None:
    seed(tmp_path)
    out = tmp_path / "log.csv"
    run = faqbot(tmp_path, "log", "export", "--csv", str(out))
    assert run.returncode == 0
    assert "Exported 3" in run.stdout
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3
    assert "user_hash" not in rows[0]
    assert "a@b.co" not in out.read_text()
    bad = faqbot(tmp_path, "log", "export", "--csv", str(tmp_path / "no" / "such" / "dir.csv"))
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    sugg = faqbot(tmp_path, "log", "suggestions").stdout
    parsed = yaml.safe_load(sugg)
    assert parsed == {"alternatives": ["is my son's reading age sent to the DfE?"]}
    assert "# census-data-items" in sugg
    assert "Purged 1 row(s) older than 90 days" in faqbot(tmp_path, "log", "purge").stdout
    assert "Purged 0" in faqbot(tmp_path, "log", "purge").stdout


def test_reload_without_a_running_bot(tmp_path: Path) -> None:
    run = faqbot(tmp_path, "reload")
    assert run.returncode == 1
    assert "No running bot found" in run.stderr


def test_reload_signals_the_bot_by_pid_file(tmp_path: Path) -> None:
    """A stand-in process records the SIGHUP it receives; the pid file points at it."""
    marker = tmp_path / "got-hup"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, signal, sys, time, pathlib\n"
            f"mark = pathlib.Path({str(marker)!r})\n"
            f"fd = os.open({str(tmp_path / 'bot.pid')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"  # like faqbot run: the live bot holds its pid file
            "os.write(fd, str(os.getpid()).encode())\n"
            "signal.signal(signal.SIGHUP, lambda *a: (mark.write_text('x'), sys.exit(0)))\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert child.stdout
        assert child.stdout.readline().strip() == "ready"
        run = faqbot(tmp_path, "reload")
        assert run.returncode == 0
        assert "asked the bot" in run.stdout
        child.wait(timeout=10)
        assert marker.exists()
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()


def test_reload_refuses_a_broken_faq(tmp_path: Path) -> None:
    broken = tmp_path / "knowledge"
    broken.mkdir()
    (broken / "a.yaml").write_text("section: x\nentries: [\n")
    env_run = run_faqbot(
        "reload",
        env={"FAQBOT_KNOWLEDGE": str(broken), "FAQBOT_DB": str(tmp_path / "bot.sqlite3")},
        timeout=60,
    )
    assert env_run.returncode == 1
    assert "a.yaml:" in env_run.stderr
    assert "not asked to reload" in env_run.stderr


def test_reload_never_signals_the_stranger_behind_a_stale_pid_file(tmp_path: Path) -> None:
    """After a SIGKILL the pid file stays; its pid may now be any program, which SIGHUP would kill."""
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "bot.pid").write_text(str(stranger.pid))
        run = faqbot(tmp_path, "reload")
        assert run.returncode == 1, run.stderr
        assert "did not stop cleanly" in run.stderr, run.stderr
        assert stranger.poll() is None  # still alive: it was not signalled
    finally:
        stranger.kill()
        stranger.wait()


def _insert_raw(tmp_path: Path, *texts: str) -> None:
    """Rows as an older faqbot (or a hand edit) may have left them: text stored exactly as given."""
    import sqlite3

    con = sqlite3.connect(tmp_path / "bot.sqlite3")
    for text in texts:
        con.execute(
            "INSERT INTO log (created_at, user_hash, text, updated_at) VALUES (?, 'h', ?, ?)",
            ("2099-01-01T00:00:00+00:00", text, "2099-01-01T00:00:00+00:00"),
        )
    con.commit()
    con.close()


def _terminal_unsafe(text: str) -> list[str]:
    import unicodedata

    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")]


def test_log_list_and_show_never_send_control_characters_to_a_terminal(tmp_path: Path) -> None:
    seed(tmp_path)
    hostile = "red \x1b[31mALERT\x1b[0m bell\x07 nul\x00 \u202eevil\u202c zw\u200bsp"
    _insert_raw(tmp_path, hostile)
    listed = faqbot(tmp_path, "log", "list")
    assert listed.returncode == 0, _terminal_unsafe(listed.stdout)
    assert not _terminal_unsafe(listed.stdout), _terminal_unsafe(listed.stdout)
    assert "\\x1b[31mALERT" in listed.stdout
    assert "\\u202e" in listed.stdout
    item_id = max(int(line.split()[0]) for line in listed.stdout.splitlines()[2:] if line[:1].isdigit())
    shown = faqbot(tmp_path, "log", "show", str(item_id))
    assert shown.returncode == 0
    assert not _terminal_unsafe(shown.stdout)
    assert "\\x07" in shown.stdout
    assert "\\x00" in shown.stdout
    assert "\\u200b" in shown.stdout


def test_csv_export_quotes_every_cell_and_defuses_formulas(tmp_path: Path) -> None:
    import unicodedata

    seed(tmp_path)
    formulas = [
        "=1+1",
        'harmless; =HYPERLINK("http://x")',
        "a;@SUM(A1)",
        "\u200b=cmd|' /C calc'!A0",
        "\uff1dcmd",  # full-width equals sign
        " \ufe62cmd",  # small plus sign, after a space
    ]
    _insert_raw(tmp_path, *formulas)
    out = tmp_path / "log.csv"
    assert faqbot(tmp_path, "log", "export", "--csv", str(out)).returncode == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines)  # every cell quoted
    texts = [row["text"] for row in csv.DictReader(out.open(encoding="utf-8"))]
    for text in texts:
        for piece in text.split(";"):
            shown = unicodedata.normalize("NFKC", piece.replace("\u200b", "")).lstrip()
            assert shown[:1] not in ("=", "+", "-", "@"), (text, piece)
    assert texts[-len(formulas) :] == [
        "'=1+1",
        'harmless;\' =HYPERLINK("http://x")',
        "a;'@SUM(A1)",
        "'\u200b=cmd|' /C calc'!A0",
        "'\uff1dcmd",
        "' \ufe62cmd",
    ]


def test_purge_days_is_validated(tmp_path: Path) -> None:
    seed(tmp_path)
    for days in ("0", "-1", "99999"):
        run = faqbot(tmp_path, "log", "purge", "--days", days)
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr, run.stderr
        assert "from 1 to 3650" in run.stderr
        assert "Nothing was purged" in run.stderr
    assert "Purged 1 row(s) older than 30 days" in faqbot(tmp_path, "log", "purge", "--days", "30").stdout
