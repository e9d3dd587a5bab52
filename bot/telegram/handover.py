"""A volunteer's answer reaching the parent: the one path used by Telegram's Reply/Attach and the desk.

Each action first *claims* the item in the store (one atomic UPDATE of an open item), then sends.
So when two volunteers act on one question at once, from Telegram or the desk, exactly one message
reaches the parent; if sending fails, the claim is undone and the item goes back to the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from telegram import Bot
from telegram.error import Forbidden

from bot.knowledge import Entry, KnowledgeBase
from bot.replies import Reply, escape, render_entry
from bot.store import Store
from bot.telegram.send import send_reply

log = logging.getLogger(__name__)


class Handover(StrEnum):
    SENT = "sent"  # the parent has the message; the item is closed
    UNREACHABLE = "unreachable"  # closed, but the parent's chat is no longer known (forgotten, purged)
    GONE = "gone"  # not open any more: someone else handled it, or it was deleted
    FAILED = "failed"  # Telegram refused or could not be reached; the item is open again


def volunteer_reply(question: str, text: str) -> Reply:
    """The message a parent gets when a volunteer replies (the volunteer's text is shown as typed)."""
    return Reply(
        f"💬 <b>A volunteer replied to your question</b> <i>{escape(question)}</i>\n\n{escape(text)}"
    )


def _blocked(log_id: int) -> Handover:
    """403: the parent blocked the bot (or it left their group). No retry can reach them, so the item
    stays closed, its chat id already dropped; logged at INFO, as for any update (issue 12, item 17)."""
    log.info("#%s: the parent's chat refuses the bot (blocked or left); the item is closed", log_id)
    return Handover.UNREACHABLE


async def _hand_over(
    bot: Bot,
    store: Store,
    log_id: int,
    status: str,
    messages: Callable[[str], list[Reply]],
    *,
    entry: str | None,
) -> Handover:
    """Claim item ``log_id`` with ``status``, then send the parent ``messages(question)``; undo on failure."""
    claim = await store.claim(log_id, status, attached_entry=entry)
    if claim is None:
        return Handover.GONE
    if claim.chat_id is None:
        return Handover.UNREACHABLE
    try:
        for reply in messages(claim.item.text):
            await send_reply(bot, claim.chat_id, reply)
    except Forbidden:
        return _blocked(log_id)
    except Exception:
        what = "attached answer" if entry else "volunteer reply"
        log.warning("could not deliver the %s to #%s; it is open again", what, log_id, exc_info=True)
        await store.unclaim(claim)
        return Handover.FAILED
    return Handover.SENT


async def send_volunteer_reply(bot: Bot, store: Store, log_id: int, text: str) -> Handover:
    """Claim item ``log_id`` as answered and send ``text`` to the parent who asked it."""
    return await _hand_over(
        bot, store, log_id, "answered", lambda question: [volunteer_reply(question, text)], entry=None
    )


async def send_attached_entry(
    bot: Bot, store: Store, log_id: int, entry: Entry, kb: KnowledgeBase
) -> Handover:
    """Claim item ``log_id`` as attached to ``entry`` (a new phrasing for it); send the parent its answer."""

    def messages(question: str) -> list[Reply]:
        header = Reply(f"A volunteer found an answer to your question: <i>{escape(question)}</i>")
        return [header, render_entry(entry, kb)]

    return await _hand_over(bot, store, log_id, "attached", messages, entry=entry.id)


async def dismiss(store: Store, log_id: int) -> bool:
    """Dismiss an open item; False if it was no longer open."""
    return await store.claim(log_id, "dismissed") is not None
