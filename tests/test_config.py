"""Settings: environment and .env, defaults, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_API_URL, ConfigError, load_settings, read_environment


def test_defaults(tmp_path: Path) -> None:
    s = load_settings({}, dotenv=None)
    assert s.token is None
    assert s.api_url == DEFAULT_API_URL
    assert s.retention_days == 90
    assert s.rate_limit is True
    assert s.webhook_url is None
    assert s.knowledge_dir.is_dir()
    assert s.db_path == Path("faqbot.sqlite3")


def test_values_are_parsed() -> None:
    s = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "FAQBOT_API_URL": "http://127.0.0.1:9/bot",
            "FAQBOT_ADMINS": "1, 2;3",
            "FAQBOT_VOLUNTEERS": "4",
            "FAQBOT_VOLUNTEER_CHAT": "-100",
            "FAQBOT_RETENTION_DAYS": "30",
            "FAQBOT_RATE_LIMIT": "off",
            "FAQBOT_ANSWER_THRESHOLD": "0.5",
        },
        dotenv=None,
    )
    assert s.admins == {1, 2, 3}
    assert s.volunteers == {4}
    assert s.volunteer_chat == -100
    assert s.is_admin(1)
    assert s.is_volunteer(1)
    assert s.is_volunteer(4)
    assert not s.is_admin(4)
    assert not s.is_volunteer(5)
    assert s.retention_days == 30
    assert s.rate_limit is False
    assert s.match.answer_threshold == 0.5


def test_every_problem_is_listed() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            {
                "TELEGRAM_BOT_TOKEN": "not a token",
                "FAQBOT_API_URL": "ftp://x",
                "FAQBOT_ADMINS": "alice",
                "FAQBOT_RETENTION_DAYS": "-1",
                "FAQBOT_RATE_LIMIT": "maybe",
                "FAQBOT_WEBHOOK_URL": "http://insecure.example",
                "FAQBOT_ANSWER_THRESHOLD": "2",
                "FAQBOT_KNOWLEDGE": "/no/such/dir",
            },
            dotenv=None,
        )
    text = "\n".join(info.value.problems)
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "FAQBOT_API_URL",
        "FAQBOT_ADMINS",
        "FAQBOT_RETENTION_DAYS",
        "FAQBOT_RATE_LIMIT",
        "FAQBOT_WEBHOOK_URL",
        "FAQBOT_ANSWER_THRESHOLD",
        "FAQBOT_KNOWLEDGE",
        "FAQBOT_WEBHOOK_SECRET",  # a webhook needs one
    ):
        assert name in text
    assert len(info.value.problems) == 9


def test_dotenv_file_and_environment_precedence(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport TELEGRAM_BOT_TOKEN='123:fromfile'\nFAQBOT_RETENTION_DAYS=7\n\nnot a line\n",
        encoding="utf-8",
    )
    assert read_environment({}, env_file)["TELEGRAM_BOT_TOKEN"] == "123:fromfile"
    s = load_settings({"FAQBOT_RETENTION_DAYS": "14"}, dotenv=env_file)
    assert s.token == "123:fromfile"
    assert s.retention_days == 14  # the real environment wins
    assert read_environment({}, tmp_path / "missing.env") == {}
    assert read_environment({"FAQBOT_DB": "x", "UNRELATED": "y"}, None) == {"FAQBOT_DB": "x"}


def test_process_environment_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no mapping given, ``os.environ`` is read, and it wins over the file."""
    env_file = tmp_path / ".env"
    env_file.write_text("FAQBOT_RETENTION_DAYS=7\nFAQBOT_FLOOD_PER_MINUTE=5\n", encoding="utf-8")
    monkeypatch.setenv("FAQBOT_RETENTION_DAYS", "21")
    monkeypatch.delenv("FAQBOT_FLOOD_PER_MINUTE", raising=False)
    s = load_settings(dotenv=env_file)
    assert s.retention_days == 21
    assert s.flood_per_minute == 5


def test_log_level() -> None:
    assert load_settings({}, dotenv=None).log_level == "INFO"
    assert load_settings({"FAQBOT_LOG_LEVEL": "debug"}, dotenv=None).log_level == "DEBUG"
    with pytest.raises(ConfigError) as info:
        load_settings({"FAQBOT_LOG_LEVEL": "loud"}, dotenv=None)
    assert info.value.problems == [
        "FAQBOT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'"
    ]


def test_webhook_listens_locally_and_needs_a_strong_secret() -> None:
    url = {"FAQBOT_WEBHOOK_URL": "https://bot.example.org/telegram"}
    assert load_settings({}, dotenv=None).webhook_listen == "127.0.0.1"
    with pytest.raises(ConfigError, match="FAQBOT_WEBHOOK_SECRET is required"):
        load_settings(url, dotenv=None)
    with pytest.raises(ConfigError, match="16 to 256 characters"):
        load_settings({**url, "FAQBOT_WEBHOOK_SECRET": "short"}, dotenv=None)
    s = load_settings({**url, "FAQBOT_WEBHOOK_SECRET": "a" * 32}, dotenv=None)
    assert s.webhook_secret == "a" * 32
    assert s.webhook_listen == "127.0.0.1"
