"""Settings from the environment (and an optional ``.env`` file), validated once at start.

Every problem is collected and reported together, one clear line each, so an operator can fix
the whole configuration in one go.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.knowledge import default_knowledge_dir
from bot.matcher import MatchSettings

DEFAULT_API_URL = "https://api.telegram.org/bot"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_WEBHOOK_SECRET = 16  # Telegram allows 1-256 characters; a short one could be guessed


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` has one human-readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def report(self) -> str:
        """The problems as an operator should read them."""
        return "The configuration has problems:\n" + "\n".join(f"  - {p}" for p in self.problems)


@dataclass(frozen=True, slots=True)
class Settings:
    token: str | None = None
    api_url: str = DEFAULT_API_URL
    knowledge_dir: Path = field(default_factory=default_knowledge_dir)
    db_path: Path = Path("faqbot.sqlite3")
    key_file: Path | None = None  # None: beside the database, as <db>.key
    admins: frozenset[int] = frozenset()
    volunteers: frozenset[int] = frozenset()
    volunteer_chat: int | None = None
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"  # behind a reverse proxy; 0.0.0.0 only when asked for
    webhook_port: int = 8443
    webhook_secret: str | None = None
    secret: str | None = None
    retention_days: int = 90
    rate_limit: bool = True
    flood_per_minute: int = 20
    match: MatchSettings = field(default_factory=MatchSettings)
    desk_port: int | None = None
    desk_listen: str = "127.0.0.1"
    desk_url: str | None = None
    log_level: str = "INFO"

    @property
    def key_path(self) -> Path:
        """Where the generated pseudonym key lives (unused when FAQBOT_SECRET is set)."""
        return self.key_file if self.key_file is not None else self.db_path.with_suffix(".key")

    def is_volunteer(self, user_id: int | None) -> bool:
        return user_id is not None and (user_id in self.volunteers or user_id in self.admins)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins


# Every variable the bot reads. Anything else in the environment or in ``.env`` is ignored.
VARIABLES = (
    "TELEGRAM_BOT_TOKEN",
    "FAQBOT_API_URL",
    "FAQBOT_KNOWLEDGE",
    "FAQBOT_DB",
    "FAQBOT_KEY_FILE",
    "FAQBOT_ADMINS",
    "FAQBOT_VOLUNTEERS",
    "FAQBOT_VOLUNTEER_CHAT",
    "FAQBOT_WEBHOOK_URL",
    "FAQBOT_WEBHOOK_LISTEN",
    "FAQBOT_WEBHOOK_PORT",
    "FAQBOT_WEBHOOK_SECRET",
    "FAQBOT_SECRET",
    "FAQBOT_RETENTION_DAYS",
    "FAQBOT_RATE_LIMIT",
    "FAQBOT_FLOOD_PER_MINUTE",
    "FAQBOT_ANSWER_THRESHOLD",
    "FAQBOT_SUGGEST_THRESHOLD",
    "FAQBOT_MARGIN",
    "FAQBOT_DESK_PORT",
    "FAQBOT_DESK_LISTEN",
    "FAQBOT_DESK_URL",
    "FAQBOT_LOG_LEVEL",
)


def read_environment(
    env: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> dict[str, str]:
    """The bot's variables that are set, from ``env`` (default: ``os.environ``) over the ``dotenv`` file.

    Reading ``.env`` (comments, ``export``, quotes, ``${VAR}``) is python-dotenv's job; names are
    case-sensitive. The checks are ours (:func:`load_settings`), so that every problem is listed at
    once, one plain sentence each. (pydantic-settings did the same through python-dotenv, but
    importing it cost every ``faqbot`` command about 0.1 s.)
    """
    merged: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        for name, value in dotenv_values(dotenv, encoding="utf-8").items():
            if name in VARIABLES and value is not None:
                merged[name] = value
    source = os.environ if env is None else env
    for name in VARIABLES:
        value = source.get(name)
        if value is not None:
            merged[name] = value
    return merged


def load_settings(env: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ`` over ``.env``)."""
    merged = read_environment(env, dotenv)
    problems: list[str] = []

    def get(name: str) -> str | None:
        value = merged.get(name, "").strip()
        return value or None

    def integer(name: str, default: int, low: int, high: int) -> int:
        value = get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            problems.append(f"{name} must be a whole number, got {value!r}")
            return default
        if not low <= number <= high:
            problems.append(f"{name} must be between {low} and {high}, got {number}")
            return default
        return number

    def number(name: str, default: float) -> float:
        value = get(name)
        if value is None:
            return default
        try:
            result = float(value)
        except ValueError:
            problems.append(f"{name} must be a number between 0 and 1, got {value!r}")
            return default
        if not 0.0 <= result <= 1.0:
            problems.append(f"{name} must be between 0 and 1, got {result}")
            return default
        return result

    def ids(name: str) -> frozenset[int]:
        value = get(name)
        if value is None:
            return frozenset()
        out = set()
        for part in value.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.add(int(part))
            except ValueError:
                problems.append(f"{name} must be comma-separated Telegram user ids (numbers), got {part!r}")
        return frozenset(out)

    def flag(name: str, default: bool) -> bool:
        value = get(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        problems.append(f"{name} must be true or false, got {value!r}")
        return default

    token = get("TELEGRAM_BOT_TOKEN")
    if token and (":" not in token or " " in token):
        problems.append("TELEGRAM_BOT_TOKEN does not look like a token from @BotFather (123456:ABC-...)")
    api_url = get("FAQBOT_API_URL") or DEFAULT_API_URL
    if not api_url.startswith(("https://", "http://")):
        problems.append(f"FAQBOT_API_URL must start with https:// or http://, got {api_url!r}")
    knowledge = Path(get("FAQBOT_KNOWLEDGE") or default_knowledge_dir())
    if not knowledge.is_dir():
        problems.append(f"FAQBOT_KNOWLEDGE: no such directory: {knowledge}")
    volunteer_chat = None
    if (chat := get("FAQBOT_VOLUNTEER_CHAT")) is not None:
        try:
            volunteer_chat = int(chat)
        except ValueError:
            problems.append(f"FAQBOT_VOLUNTEER_CHAT must be a numeric chat id, got {chat!r}")
    webhook_url = get("FAQBOT_WEBHOOK_URL")
    if webhook_url and not webhook_url.startswith("https://"):
        problems.append("FAQBOT_WEBHOOK_URL must be an https:// URL (Telegram only calls https webhooks)")
    if (secret := get("FAQBOT_SECRET")) is not None and len(secret) < 16:
        problems.append("FAQBOT_SECRET must be at least 16 characters (it keys the pseudonyms of user ids)")
    secret_token = get("FAQBOT_WEBHOOK_SECRET")
    if secret_token and not all(c.isalnum() or c in "_-" for c in secret_token):
        problems.append("FAQBOT_WEBHOOK_SECRET may only contain letters, digits, _ and -")
    elif secret_token and not MIN_WEBHOOK_SECRET <= len(secret_token) <= 256:
        problems.append(
            f"FAQBOT_WEBHOOK_SECRET must be {MIN_WEBHOOK_SECRET} to 256 characters long, "
            f"got {len(secret_token)} (try `openssl rand -hex 32`)"
        )
    if webhook_url and not secret_token:
        problems.append(
            "FAQBOT_WEBHOOK_SECRET is required with FAQBOT_WEBHOOK_URL: without it anyone who can reach "
            "the webhook could send the bot forged updates. Set it to a long random string "
            "(e.g. `openssl rand -hex 32`)"
        )

    defaults = MatchSettings()
    match = MatchSettings(
        answer_threshold=number("FAQBOT_ANSWER_THRESHOLD", defaults.answer_threshold),
        suggest_threshold=number("FAQBOT_SUGGEST_THRESHOLD", defaults.suggest_threshold),
        margin=number("FAQBOT_MARGIN", defaults.margin),
    )
    if match.suggest_threshold > match.answer_threshold:
        problems.append("FAQBOT_SUGGEST_THRESHOLD must not be above FAQBOT_ANSWER_THRESHOLD")

    desk_port = integer("FAQBOT_DESK_PORT", 0, 1, 65535) if get("FAQBOT_DESK_PORT") else None
    desk_url = get("FAQBOT_DESK_URL")
    if desk_url and not desk_url.startswith(("https://", "http://")):
        problems.append(f"FAQBOT_DESK_URL must start with https:// or http://, got {desk_url!r}")

    log_level = (get("FAQBOT_LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(
            f"FAQBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {get('FAQBOT_LOG_LEVEL')!r}"
        )
        log_level = "INFO"

    settings = Settings(
        token=token,
        api_url=api_url,
        knowledge_dir=knowledge,
        db_path=Path(get("FAQBOT_DB") or "faqbot.sqlite3"),
        key_file=Path(key_file) if (key_file := get("FAQBOT_KEY_FILE")) else None,
        admins=ids("FAQBOT_ADMINS"),
        volunteers=ids("FAQBOT_VOLUNTEERS"),
        volunteer_chat=volunteer_chat,
        webhook_url=webhook_url,
        webhook_listen=get("FAQBOT_WEBHOOK_LISTEN") or "127.0.0.1",
        webhook_port=integer("FAQBOT_WEBHOOK_PORT", 8443, 1, 65535),
        webhook_secret=secret_token,
        secret=get("FAQBOT_SECRET"),
        retention_days=integer("FAQBOT_RETENTION_DAYS", 90, 1, 3650),
        rate_limit=flag("FAQBOT_RATE_LIMIT", True),
        flood_per_minute=integer("FAQBOT_FLOOD_PER_MINUTE", 20, 1, 10000),
        match=match,
        desk_port=desk_port or None,
        desk_listen=get("FAQBOT_DESK_LISTEN") or "127.0.0.1",
        desk_url=desk_url.rstrip("/") if desk_url else None,
        log_level=log_level,
    )
    if problems:
        raise ConfigError(problems)
    return settings
