"""Send a core :class:`~bot.replies.Reply` through Telegram: split safely, keyboard on the last part.

This is the bot's only retry layer (AIORateLimiter only paces). Each Bot API call is tried at most
``MAX_ATTEMPTS`` times. A 429 means Telegram did not take the message, so retrying it is safe. A
timeout or lost connection is ambiguous: the message may have arrived, and the retry can deliver it
a second time. Delivery is therefore at least once within ``MAX_ATTEMPTS`` tries: a parent may rarely
see a reply twice, but a passing network problem does not lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.replies import Reply, split_html

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ATTEMPTS = 4
MAX_WAIT = 30.0
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in reply.buttons]
    )


async def _with_retries(call: Callable[[], Awaitable[T]], what: str) -> T | None:
    """Run one Bot API call, surviving 429 RetryAfter and passing network errors (bounded)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
            if attempt == MAX_ATTEMPTS:
                raise
            log.warning("%s: rate limited by Telegram, retrying in %.1fs", what, seconds)
            await asyncio.sleep(min(seconds, MAX_WAIT))
        except (TimedOut, NetworkError) as exc:
            if isinstance(exc, BadRequest) or attempt == MAX_ATTEMPTS:
                raise
            log.warning("%s: network problem (%s), retrying", what, type(exc).__name__)
            await asyncio.sleep(0.2 * 2**attempt)
    return None


async def send_reply(bot: Bot, chat_id: int, reply: Reply, *, reply_to: int | None = None) -> Message | None:
    """Send ``reply`` to ``chat_id`` (as a reply to message ``reply_to`` when given); return the last part."""
    parts = split_html(reply.html)
    markup = keyboard(reply)
    last: Message | None = None
    for n, part in enumerate(parts):
        is_last = n == len(parts) - 1
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and n == 0 else None

        async def call(
            part: str = part, is_last: bool = is_last, params: ReplyParameters | None = params
        ) -> Message:
            return await bot.send_message(
                chat_id,
                part,
                parse_mode=ParseMode.HTML,
                reply_markup=markup if is_last else None,
                reply_parameters=params,
                link_preview_options=NO_PREVIEW,
            )

        last = await _with_retries(call, "sendMessage")
    return last


async def edit_reply(bot: Bot, message: Message, reply: Reply) -> None:
    """Replace a bot message's text and buttons (used by topic navigation); fall back to a new message."""
    parts = split_html(reply.html)
    if len(parts) > 1:
        await send_reply(bot, message.chat_id, reply)
        return
    try:
        await _with_retries(
            lambda: bot.edit_message_text(
                parts[0],
                chat_id=message.chat_id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(reply),
                link_preview_options=NO_PREVIEW,
            ),
            "editMessageText",
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            await send_reply(bot, message.chat_id, reply)
