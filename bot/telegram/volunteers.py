"""Handlers for volunteers (the queue: reply, attach, dismiss) and admins (reload, stats).

Anyone not configured gets exactly the reply an unknown command gets, and the attempt is logged
without its text, so the commands reveal nothing about themselves. Staff too get that reply outside a
private chat and the volunteer chat.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeAlias

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import Forbidden

from bot.callbacks import (
    QueueAttach,
    QueueAttachEntry,
    QueueDismiss,
    QueueMore,
    QueueReply,
    VolunteerButton,
    decode,
)
from bot.knowledge import KnowledgeBase, KnowledgeError
from bot.replies import Button, Reply, escape, label
from bot.store import REPLY_MINUTES, LogItem
from bot.telegram.handover import Handover, dismiss, send_attached_entry, send_volunteer_reply
from bot.telegram.send import edit_reply, send_reply
from bot.telegram.services import Context, services

log = logging.getLogger(__name__)
PAGE = 5
ATTACH_PAGE = 10  # answers per page of the attach picker
UNKNOWN_COMMAND = "Sorry, I don't know that command. Send /help to see what I can do."
CANT_WRITE_TO_YOU = (
    "I can't message you privately yet. Open a chat with me and press Start, then press Reply again."
)
GONE = "This question is gone: the parent deleted it with /forget, or it passed the retention period."


async def _refuse(update: Update, context: Context, what: str) -> None:
    user = update.effective_user
    log.warning("refused %s for unauthorised user (update %s)", what, update.update_id)
    if update.callback_query:
        await update.callback_query.answer()
        return
    # Exactly what an unknown command gets: a reply in private chats, silence in groups.
    chat = update.effective_chat
    if chat and user and chat.type == ChatType.PRIVATE:
        await send_reply(context.bot, chat.id, Reply(UNKNOWN_COMMAND))


def _is_volunteer(update: Update, context: Context) -> bool:
    user = update.effective_user
    return services(context).settings.is_volunteer(user.id if user else None)


def _is_admin(update: Update, context: Context) -> bool:
    user = update.effective_user
    return services(context).settings.is_admin(user.id if user else None)


def _staff_place(update: Update, context: Context) -> bool:
    """Staff commands and buttons work only in a private chat or in FAQBOT_VOLUNTEER_CHAT, so parents'
    questions are never posted to some other group a volunteer happens to be in."""
    chat = update.effective_chat
    if chat is None:
        return False
    return chat.type == ChatType.PRIVATE or chat.id == services(context).settings.volunteer_chat


P = ParamSpec("P")
Handler: TypeAlias = Callable[Concatenate[Update, Context, P], Coroutine[Any, Any, None]]


def staff_only(allowed: Callable[[Update, Context], bool], what: str) -> Callable[[Handler[P]], Handler[P]]:
    """Run the handler only for configured staff; anyone else gets the unknown-command reply."""

    def wrap(handler: Handler[P]) -> Handler[P]:
        async def guarded(update: Update, context: Context, /, *args: P.args, **kwargs: P.kwargs) -> None:
            if not allowed(update, context) or not _staff_place(update, context):
                await _refuse(update, context, what)
                return
            await handler(update, context, *args, **kwargs)

        functools.update_wrapper(guarded, handler)
        return guarded

    return wrap


def _item_reply(item: LogItem) -> Reply:
    best = f" · best guess: {escape(item.best_id)} ({item.score:.2f})" if item.best_id else ""
    text = (
        f"<b>#{item.id}</b> · {escape(item.reason)} · {escape(item.created_at[:16].replace('T', ' '))}"
        f"{best}\n"
        f"{escape(item.text)}"
    )
    buttons = (
        (
            Button("💬 Reply", QueueReply(item.id)),
            Button("📎 Attach", QueueAttach(item.id)),
            Button("🗑 Dismiss", QueueDismiss(item.id)),
        ),
    )
    return Reply(text, buttons)


def _attach_picker(item_id: int, kb: KnowledgeBase, page: int) -> Reply | None:
    """One page of the "attach to which answer?" list, with Prev/Next: Telegram takes at most 100 buttons
    in a keyboard, and the FAQ may grow past that. None for a page that does not exist."""
    entries = list(kb)
    pages = max(1, -(-len(entries) // ATTACH_PAGE))
    if not 0 <= page < pages:
        return None
    shown = entries[page * ATTACH_PAGE : (page + 1) * ATTACH_PAGE]
    rows: list[tuple[Button, ...]] = [
        (Button(label(e.question), QueueAttachEntry(item_id, e.id)),) for e in shown
    ]
    nav = [Button("◀ Prev", QueueAttach(item_id, page - 1))] if page > 0 else []
    nav += [Button("Next ▶", QueueAttach(item_id, page + 1))] if page + 1 < pages else []
    if nav:
        rows.append(tuple(nav))
    where = f" (page {page + 1} of {pages})" if pages > 1 else ""
    return Reply(f"Attach <b>#{item_id}</b> to which answer?{where}", tuple(rows))


def _excerpt(text: str, limit: int = 300) -> str:
    """The start of a question, enough to recognise it (the card above has it in full)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def notify_volunteers(context: Context, log_id: int) -> None:
    """Post a newly logged question to the volunteer chat, when one is configured."""
    svc = services(context)
    chat = svc.settings.volunteer_chat
    if chat is None:
        return
    item = await svc.store.get_log(log_id)
    if item is None:
        return
    try:
        await send_reply(context.bot, chat, _item_reply(item))
    except Exception:
        log.warning("could not notify the volunteer chat %s about #%s", chat, log_id, exc_info=True)


# --------------------------------------------------------------------------- volunteers


@staff_only(_is_volunteer, "/queue")
async def queue(update: Update, context: Context, offset: int = 0) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    store = services(context).store
    total = await store.count_log("open")
    items = await store.list_log("open", limit=PAGE, offset=offset)
    if not items:
        await send_reply(context.bot, chat.id, Reply("The queue is empty. Thank you!"))
        return
    await send_reply(
        context.bot,
        chat.id,
        Reply(f"<b>{total}</b> open question(s), oldest first ({offset + 1}–{offset + len(items)}):"),
    )
    for item in items:
        await send_reply(context.bot, chat.id, _item_reply(item))
    if offset + len(items) < total:
        await send_reply(
            context.bot, chat.id, Reply("More:", ((Button("Next ▶", QueueMore(offset + PAGE)),),))
        )


@staff_only(_is_volunteer, "a volunteer button")
async def queue_button(update: Update, context: Context) -> None:
    """Volunteer buttons: ``q:r:ID`` reply, ``q:a:ID`` attach (pages ``q:a:ID:PAGE``, then ``q:e:ID:ENTRY``),
    ``q:d:ID`` dismiss, ``q:m:OFFSET`` next page."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    svc = services(context)
    press = decode(query.data)
    if not isinstance(press, VolunteerButton):
        await query.answer("That button is not valid.", show_alert=True)
        return
    if isinstance(press, QueueMore):
        await query.answer()
        await queue(update, context, offset=press.offset)
        return
    item = await svc.store.get_log(press.item_id)
    message = query.message if isinstance(query.message, Message) else None
    if item is None:
        await query.answer(GONE, show_alert=True)
        return
    if item.status != "open":
        await query.answer("That question is no longer open.", show_alert=True)
        return
    kb = svc.live.current.kb
    if isinstance(press, QueueReply):
        chat_id = await svc.store.delivery_chat(item.id)
        if chat_id is None:
            await query.answer("The parent of that question can no longer be reached.", show_alert=True)
            return
        await svc.store.start_reply(query.from_user.id, item.id)
        where = "in their private chat with the bot" if chat_id > 0 else "in the group where they asked"
        try:
            await send_reply(
                context.bot,
                query.from_user.id,
                Reply(
                    f"Send your reply to <b>#{item.id}</b> as your next message, within {REPLY_MINUTES} "
                    f"minutes. It goes, exactly as you type it, to the parent who asked this, {where}:\n"
                    f"<i>{escape(_excerpt(item.text))}</i>\n\nSend /cancel to stop."
                ),
            )
        except Forbidden:  # Telegram lets a bot write only to people who have started it
            await svc.store.end_reply(query.from_user.id)
            await query.answer(CANT_WRITE_TO_YOU, show_alert=True)
            return
        await query.answer()
    elif isinstance(press, QueueAttach) and message and press.page is None:
        await query.answer()
        picker = _attach_picker(item.id, kb, 0)
        assert picker is not None  # page 0 always exists
        await send_reply(context.bot, message.chat_id, picker)
    elif isinstance(press, QueueAttach) and message and press.page is not None:
        picker = _attach_picker(item.id, kb, press.page)
        if picker is None:
            await query.answer("That button is not valid.", show_alert=True)
            return
        await query.answer()
        await edit_reply(context.bot, message, picker)
    elif isinstance(press, QueueAttachEntry):
        entry = kb.get(press.entry_id)
        if entry is None:
            await query.answer("That answer no longer exists.", show_alert=True)
            return
        outcome = await send_attached_entry(context.bot, svc.store, item.id, entry, kb)
        if outcome in (Handover.GONE, Handover.FAILED):
            await query.answer(HANDOVER_NOTES[outcome].format(id=item.id), show_alert=True)
            return
        await query.answer(
            "Attached." if outcome is Handover.SENT else "Attached (the parent can no longer be reached)."
        )
        if message:
            await edit_reply(
                context.bot, message, Reply(f"#{item.id} attached to <b>{escape(entry.id)}</b>.")
            )
    elif isinstance(press, QueueDismiss):
        if not await dismiss(svc.store, item.id):
            await query.answer("That question is no longer open.", show_alert=True)
            return
        await query.answer("Dismissed.")
        if message:
            await edit_reply(context.bot, message, Reply(f"#{item.id} dismissed."))
    else:
        await query.answer("That button is not valid.", show_alert=True)


async def handle_volunteer_message(update: Update, context: Context) -> bool:
    """If a volunteer has a reply pending, deliver this message to the parent. True when handled."""
    user, message = update.effective_user, update.effective_message
    if not user or not message or not message.text or not _is_volunteer(update, context):
        return False
    store = services(context).store
    session = await store.reply_session(user.id)
    if session is None:
        return False
    await store.end_reply(user.id)
    if session.log_id is None:
        await send_reply(
            context.bot,
            message.chat_id,
            Reply(f"#{session.item} was deleted by the parent (/forget), so your message was NOT sent."),
        )
        return True
    if session.expired:
        await send_reply(
            context.bot,
            message.chat_id,
            Reply(
                f"Your reply to #{session.item} expired ({REPLY_MINUTES} minutes passed), so this message "
                "was NOT sent. Press Reply on the question again to answer it."
            ),
        )
        return True
    log_id = session.log_id
    outcome = await send_volunteer_reply(context.bot, store, log_id, message.text)
    await send_reply(context.bot, message.chat_id, Reply(HANDOVER_NOTES[outcome].format(id=log_id)))
    return True


HANDOVER_NOTES = {
    Handover.SENT: "Sent. #{id} is marked answered.",
    Handover.UNREACHABLE: "#{id} is closed, but the parent can no longer be reached.",
    Handover.GONE: "#{id} can no longer be answered (it was closed or deleted).",
    Handover.FAILED: "Telegram did not take the message; #{id} is still open. Please try again.",
}


async def tell_cancelled(context: Context, cancelled: tuple[tuple[int, int], ...]) -> None:
    """Tell volunteers that /forget deleted the question they were replying to."""
    for volunteer_id, item in cancelled:
        try:
            await send_reply(
                context.bot,
                volunteer_id,
                Reply(
                    f"The parent who asked #{item} deleted their data with /forget, so your reply to it "
                    "is cancelled. If you send it anyway, it will not be delivered."
                ),
            )
        except Exception:
            log.warning("could not tell volunteer about cancelled reply #%s", item, exc_info=True)


@staff_only(_is_volunteer, "/cancel")
async def cancel(update: Update, context: Context) -> None:
    user, chat = update.effective_user, update.effective_chat
    if not user or not chat:
        return
    await services(context).store.end_reply(user.id)
    await send_reply(context.bot, chat.id, Reply("Cancelled."))


# --------------------------------------------------------------------------- admins


@staff_only(_is_admin, "/reload")
async def reload_command(update: Update, context: Context) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    text = await reload_text(context)
    await send_reply(context.bot, chat.id, Reply(escape(text)))


async def reload_text(context: Context) -> str:
    """Reload the staff lists, then the FAQ off the event loop; a broken FAQ leaves the old one live."""
    svc = services(context)
    staff = svc.reload_staff()
    staff = f"\n{staff}" if staff else ""
    try:
        report = await asyncio.to_thread(svc.live.reload)
    except KnowledgeError as exc:
        lines = "\n".join(exc.errors[:30])
        more = f"\n… and {len(exc.errors) - 30} more" if len(exc.errors) > 30 else ""
        return f"The FAQ was NOT reloaded; the old one stays live. Errors:\n{lines}{more}{staff}"
    return report.summary() + staff


@staff_only(_is_admin, "/stats")
async def stats(update: Update, context: Context) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    store = services(context).store
    parts = []
    for days in (7, 30):
        s = await store.stats(days)
        lines = [f"<b>Last {days} days</b>", f"Unanswered: {s.unanswered} · open queue: {s.open_queue}"]
        ids = sorted(
            set(s.answered) | set(s.feedback_up) | set(s.feedback_down), key=lambda i: -s.answered.get(i, 0)
        )
        for entry_id in ids[:25]:
            lines.append(
                f"• {escape(entry_id)}: {s.answered.get(entry_id, 0)} answered, "
                f"👍 {s.feedback_up.get(entry_id, 0)} 👎 {s.feedback_down.get(entry_id, 0)}"
            )
        parts.append("\n".join(lines))
    await send_reply(context.bot, chat.id, Reply("\n\n".join(parts)))
