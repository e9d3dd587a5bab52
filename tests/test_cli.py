"""The faqbot command: the match --json line contract, check's exit codes, ask, chat, help."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import match_json, match_lines
from bot.knowledge import load_knowledge
from bot.live import Snapshot
from tests.conftest import SHIPPED, VALID_ENTRY, write_knowledge
from tests.support import TEST_EMBEDDING_CACHE, clean_env
from tests.support import run_faqbot as faqbot

COMMANDS = ("check", "ask", "match", "chat", "run", "reload", "log")


def test_help_lists_every_command() -> None:
    out = faqbot("--help").stdout
    listed = set(re.findall(r"\b[a-z]+\b", out))  # whole words: "running" is not "run"
    missing = [c for c in COMMANDS if c not in listed]
    assert not missing, out


def test_subprocesses_ignore_the_developers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A FAQBOT_ setting in the shell running the tests must not reach the faqbot under test."""
    monkeypatch.setenv("FAQBOT_KNOWLEDGE", "/no/such/knowledge")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:from-the-shell")
    run = faqbot("check")
    assert run.returncode == 0, run.stdout + run.stderr


def test_subprocesses_keep_their_embeddings_in_the_tests_cache(tmp_path: Path) -> None:
    """The faqbot under test never reads or rewrites the user's ~/.cache: it embeds into the tests'
    own cache, which the test process uses too."""
    home = tmp_path / "home"
    home.mkdir()
    run = faqbot("match", "--json", stdin="what is a upn\n", env={"HOME": str(home)})
    assert run.returncode == 0, run.stderr
    assert not (home / ".cache" / "faqbot").exists()
    assert os.environ["FAQBOT_EMBEDDING_CACHE"] == str(TEST_EMBEDDING_CACHE)
    assert TEST_EMBEDDING_CACHE.exists()


def test_match_json_line_contract() -> None:
    lines = [
        "what is the school census",
        "",
        "hi",
        "whats the arsenal score",
        "ünïcødé 🤖 emoji",
        "npd opt out?",
    ]
    run = faqbot("match", "--json", stdin="\n".join(lines) + "\n")
    assert run.returncode == 0, run.stderr
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(out) == len(lines)
    for obj in out:
        assert set(obj) == {"id", "score", "suggestions"}
        assert 0.0 <= obj["score"] <= 1.0
        assert len(obj["suggestions"]) <= 3
    assert out[0]["id"] == "school-census"
    assert out[1] == {"id": None, "score": 0.0, "suggestions": []}
    assert out[2]["id"] is None  # small talk
    assert out[3]["id"] is None  # out of scope


def test_match_json_a_thousand_lines_and_odd_bytes() -> None:
    questions = [f"question {i} about the census and the npd" for i in range(998)] + [
        "\x00\x07 nul",
        "\u202e rtl",
    ]
    run = faqbot("match", "--json", stdin="\n".join(questions) + "\n")
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 1000


def test_match_json_concurrent_lines_answer_as_one_at_a_time(snap: Snapshot) -> None:
    """match_lines matches several lines at once; every line must come out as match_json alone gives it,
    in input order. Long messages (several encoder windows), typos, small talk and blanks mixed in."""
    items = yaml.safe_load((Path(__file__).parent / "data" / "regression.yaml").read_text(encoding="utf-8"))
    questions = [" ".join(str(item["q"]).split()) for item in items][:60]
    long_post = "We moved house last year and it was a stressful time for all of us. " * 14
    lines = [*questions, "", "hi", long_post + "Does the new school get his records?", "wot is a upn"]
    lines += [f"{q} and the census?" for q in questions[:20]]
    written: list[str] = []
    match_lines(snap, (line + "\n" for line in lines), written.append, lambda: None)
    one_by_one = [json.dumps(match_json(snap, line), ensure_ascii=False) + "\n" for line in lines]
    assert written == one_by_one


def test_match_json_answers_a_line_before_the_next_is_typed() -> None:
    """Interactive use through a pipe: the answer to a line arrives while the next is not yet sent."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "match", "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        for question, want in (("what is a upn", "upn"), ("what is the school census", "school-census")):
            proc.stdin.write(question + "\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())["id"] == want  # blocks until that line's answer
        proc.stdin.close()
        assert proc.stdout.read() == ""
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_match_json_windows_line_endings() -> None:
    run = faqbot("match", "--json", stdin="what is a upn\r\n\r\n")
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert out[0]["id"] == "upn"
    assert out[1]["id"] is None


def test_check_exit_codes(tmp_path: Path) -> None:
    ok = faqbot("check")
    assert ok.returncode == 0
    assert f"{len(load_knowledge(SHIPPED).entries)} entries" in ok.stdout
    bad = write_knowledge(tmp_path, {"s.yaml": VALID_ENTRY.replace("answer:", "anwser:")})
    run = faqbot("check", str(bad))
    assert run.returncode == 1
    assert "s.yaml:6: unknown key 'anwser'" in run.stdout


def test_match_with_broken_knowledge_fails_cleanly(tmp_path: Path) -> None:
    bad = write_knowledge(tmp_path, {"s.yaml": "section: [oops\n"})
    run = faqbot("match", "--json", "--knowledge", str(bad), stdin="hello\n")
    assert run.returncode == 1
    assert "YAML syntax error" in run.stderr
    assert "Traceback" not in run.stderr


def test_ask_prints_answer_and_sources() -> None:
    run = faqbot("ask", "what is a unique pupil number")
    assert run.returncode == 0
    assert "Sources" in run.stdout
    assert "https://" in run.stdout
    assert "<b>" not in run.stdout


def test_chat_session() -> None:
    run = faqbot("chat", stdin="hello\nwhat is the national pupil database\n1\n/topics\n1\n/quit\n")
    assert run.returncode == 0, run.stderr
    assert "Hello!" in run.stdout
    assert "National Pupil Database" in run.stdout
    assert "Choose a topic" in run.stdout


def test_chat_stores_nothing_you_type(tmp_path: Path) -> None:
    """Chat mode says "Nothing you type here is stored" (and the README): no file it could write, in
    its folder, its HOME or the embedding cache, holds any of the text typed, not even an unanswered
    question that the Telegram bot would log for volunteers."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    marker = "zqxjv-unanswerable-marker"
    stdin = f"what is a upn\nmy son zqxjv asked {marker}\n/volunteer\n/quit\n"
    run = faqbot("chat", stdin=stdin, cwd=cwd, env={"HOME": str(home)})
    assert run.returncode == 0, run.stderr
    assert "Nothing you type here is stored" in run.stdout
    written = [p for p in (*home.rglob("*"), *cwd.rglob("*"), TEST_EMBEDDING_CACHE) if p.is_file()]
    assert not [p for p in written if b"zqxjv" in p.read_bytes()]
    assert not list(cwd.iterdir())


def test_chat_survives_end_of_input() -> None:
    assert faqbot("chat", stdin="what is a upn").returncode == 0


def test_no_command_prints_help_and_exits_2() -> None:
    run = faqbot()
    assert run.returncode == 2
    assert "usage: faqbot" in run.stderr
    assert {"check", "run", "log"} <= set(re.findall(r"\b[a-z]+\b", run.stderr))


@pytest.mark.parametrize(
    "args",
    [
        ("check",),
        ("ask", "what is a upn"),
        ("match", "--json"),
        ("chat",),
        ("run",),
        ("reload",),
        ("log", "list"),
    ],
)
def test_every_command_reports_config_errors(args: tuple[str, ...], tmp_path: Path) -> None:
    """A broken setting is reported (exit 2, every problem listed), never silently replaced by a default."""
    env = {"FAQBOT_LOG_LEVEL": "loud", "FAQBOT_ANSWER_THRESHOLD": "high", "FAQBOT_DB": str(tmp_path / "x.db")}
    run = faqbot(*args, stdin="what is a upn\n", env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "The configuration has problems" in run.stderr
    assert "FAQBOT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'" in run.stderr
    assert "FAQBOT_ANSWER_THRESHOLD" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.db").exists()


def test_dotenv_in_the_working_folder_is_read(tmp_path: Path) -> None:
    dotenv = "export FAQBOT_ANSWER_THRESHOLD='0.2'\nFAQBOT_MARGIN=2\n"
    (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    run = faqbot("check", cwd=tmp_path)
    assert run.returncode == 2
    assert "FAQBOT_MARGIN must be between 0 and 1, got 2.0" in run.stderr


def test_run_without_token_explains_what_to_do(tmp_path: Path) -> None:
    run = faqbot("run", env={"TELEGRAM_BOT_TOKEN": "", "FAQBOT_DB": str(tmp_path / "x.sqlite3")})
    assert run.returncode == 2
    assert "@BotFather" in run.stderr
    assert "faqbot chat" in run.stderr
    assert "Traceback" not in run.stderr


def test_run_with_bad_config_lists_every_problem(tmp_path: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "123:abc", "FAQBOT_RETENTION_DAYS": "soon", "FAQBOT_ADMINS": "alice"}
    run = faqbot("run", env=env)
    assert run.returncode == 2
    assert "FAQBOT_RETENTION_DAYS" in run.stderr
    assert "FAQBOT_ADMINS" in run.stderr


FIRST = "how long does the DfE keep my daughter's data?"
FOLLOW_UP = "what about the school?"  # after FIRST: school-retention; alone: suggestions only


def test_chat_understands_follow_ups_until_forget() -> None:
    run = faqbot("chat", stdin=f"{FIRST}\n{FOLLOW_UP}\n/forget\n{FOLLOW_UP}\n/quit\n")
    assert run.returncode == 0, run.stderr
    turns = run.stdout.split("you> ")[1:]
    assert "How long does the DfE keep my child's data?" in turns[0]
    assert "How long does a school keep my child's records?" in turns[1].splitlines()[1]  # answered
    assert "forgot the last topic" in turns[2]
    assert "Did you mean" in turns[3]


def test_chat_says_when_a_follow_up_gets_the_same_answer_again() -> None:
    sar = "how do i find out what data the school holds on my son"
    run = faqbot("chat", stdin=f"{sar}\nis there a fee for that?\n")
    turns = run.stdout.split("you> ")[1:]
    assert "answer you just had" not in turns[0]
    assert turns[1].splitlines()[1] == "That is covered in the answer you just had. Here it is again:"
    assert "How do I find out what data is held on my child?" in turns[1]


def test_match_json_is_the_same_whatever_the_hash_seed() -> None:
    """Python orders a set of words differently in every process; the scores must not follow it.
    Long messages have terms of equal weight where the lexical scorer stops walking candidates:
    before that walk had a fixed order, some of these questions scored differently from seed to seed."""
    path = Path(__file__).parent / "data" / "blind3" / "questions.yaml"
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    stdin = "\n".join(" ".join(str(i["q"]).split()) for i in items) + "\n"
    seeds = ("0", "1", "2")
    runs = {faqbot("match", "--json", stdin=stdin, env={"PYTHONHASHSEED": seed}).stdout for seed in seeds}
    assert len(runs) == 1
    assert len(next(iter(runs)).splitlines()) == len(items)


def test_match_json_is_stateless() -> None:
    """One question per line, each on its own: a follow-up line does not see the line before."""
    run = faqbot("match", "--json", stdin=f"{FIRST}\n{FOLLOW_UP}\n")
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert first["id"] == "dfe-retention"
    assert second["id"] is None
    assert "school-retention" in second["suggestions"]


def test_ask_offers_a_second_question_and_is_honest_about_other_scripts() -> None:
    run = faqbot("ask", "How long does the DfE keep my son's data? And can I get it deleted?")
    assert "How long does the DfE keep my child's data?" in run.stdout
    assert "Also: Can I get my child's data deleted?" in run.stdout
    run = faqbot("ask", "هل يمكنني حذف بيانات ابني؟")
    assert "only understand English" in run.stdout
    assert "in words" not in run.stdout


def test_chat_more_detail_button(tmp_path: Path) -> None:
    text = VALID_ENTRY.replace(
        "    answer: The first answer.\n",
        "    answer: The first answer.\n    detail: The longer story.\n",
    )
    directory = write_knowledge(tmp_path, {"section.yaml": text})
    run = faqbot("chat", "--knowledge", str(directory), stdin="What is the first entry?\n1\n/quit\n")
    assert run.returncode == 0, run.stderr
    assert "[1] ➕ More detail" in run.stdout
    answer, _, after = run.stdout.partition("[1] ➕ More detail")
    assert "The first answer." in answer
    assert "The longer story." not in answer
    assert "The longer story." in after
    assert "more detail" in after
