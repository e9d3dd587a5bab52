"""Keep secrets out of logs: a filter that masks the bot token (and other secrets) in every record.

python-telegram-bot puts the token in some exception messages ("The token `123:ABC` was rejected"),
and request URLs contain it, so a wrong FAQBOT_API_URL or a revoked token would print it to stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "[secret]"


class SecretFilter(logging.Filter):
    """Replace each secret in a record's message, arguments, traceback and stack text with ``[secret]``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        found: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            found.add(secret)
            _, _, tail = secret.partition(":")  # a token's secret half may be logged on its own
            if len(tail) >= 8:
                found.add(tail)
        self._secrets = tuple(sorted(found, key=len, reverse=True))

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: mask what it has
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def install(secrets: Iterable[str | None]) -> SecretFilter:
    """Mask ``secrets`` in everything the root logger writes.

    A filter on a logger only sees records logged on that very logger, so it also goes on each of the
    root logger's handlers, which every propagated record (``telegram.ext``, ``httpx``) passes through.
    """
    mask = SecretFilter(secrets)
    root = logging.getLogger()
    root.addFilter(mask)
    for handler in root.handlers:
        handler.addFilter(mask)
    return mask
