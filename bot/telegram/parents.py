"""Handlers for parents: commands, free-text questions, topic buttons, feedback, "None of these"."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.callbacks import Feedback, MoreDetail, NoneOfThese, OpenEntry, OpenSection, Topics, decode
from bot.conversation import ascii_digits, chat_key
from bot.matcher import Outcome
from bot.replies import (
    TOPICS,
    Reply,
    escape,
    render_detail,
    render_entry,
    render_match,
    render_other_script,
    render_section,
    render_sections,
)
from bot.telegram.send import edit_reply, send_reply
from bot.telegram.services import Context, Services, services
from bot.telegram.volunteers import (
    UNKNOWN_COMMAND,
    handle_volunteer_message,
    notify_volunteers,
    tell_cancelled,
)

log = logging.getLogger(__name__)

WELCOME = (
    "Hello! I answer parents' questions about the data that schools in England and the "
    "Department for Education collect about children: the school census, the National Pupil "
    "Database, how long data is kept, who it is shared with, and what you can do.\n\n"
    "I'm run by volunteers and I'm not legal advice: every answer links to its sources.\n\n"
    "Type your question in your own words, or tap <b>Topics</b> to browse. "
    "/privacy shows what I store about you."
)
HELP = (
    "<b>How to use me</b>\n"
    "• Type a question in your own words, e.g. <i>Can I opt my child out of the census?</i>\n"
    "• /topics: browse the answers by topic\n"
    "• /privacy: what I store about you; /forget: delete it\n"
    "• /volunteer followed by your question: ask a person\n\n"
    "Under each answer, 👍 / 👎 tell us whether it helped."
)
TEXT_ONLY = "Sorry, I can only read text messages. Please type your question."
SLOW_DOWN = "You're sending messages very quickly. Please wait a minute, then ask again."
STALE = "Sorry, that button is out of date. Please type your question again, or tap Topics."


def _question_text(message: Message, bot_id: int, bot_username: str | None) -> str | None:
    """The question in a message; in groups only when the bot is addressed (mention or reply).

    Mentions come from the message's entities (``@name`` or a text mention of the bot's user), whose
    offsets are UTF-16 code units: searching the lower-cased text instead breaks on characters whose
    lower case is longer ("İ"). A reply to the bot is recognised by the bot's user id.
    """
    text = message.text or ""
    if message.chat.type == ChatType.PRIVATE:
        return text
    handle = f"@{bot_username}".casefold() if bot_username else None
    mentions = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
    spans = [
        (entity.offset, entity.offset + entity.length)
        for entity, value in mentions.items()
        if (entity.type == MessageEntity.MENTION and handle is not None and value.casefold() == handle)
        or (entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id)
    ]
    if spans:
        units = text.encode("utf-16-le")
        kept, at = [], 0
        for start, end in sorted(spans):
            kept.append(units[2 * at : 2 * start])
            at = end
        kept.append(units[2 * at :])
        return " ".join(part.decode("utf-16-le").strip() for part in kept if part.strip()).strip()
    reply = message.reply_to_message
    replied_to_bot = reply is not None and reply.from_user is not None and reply.from_user.id == bot_id
    return text if replied_to_bot else None


async def flood_gate(update: Update, context: Context) -> None:
    """Runs before every handler: a user over the per-minute limit is told once, then ignored.

    Volunteers and admins are exempt. Stopping here keeps a flood out of the log and the queue.
    """
    user = update.effective_user
    svc = services(context)
    if user is None or svc.settings.is_volunteer(user.id) or svc.flood.allow(user.id):
        return
    if update.callback_query:
        await update.callback_query.answer(SLOW_DOWN if svc.flood.first_refusal(user.id) else None)
    elif update.effective_chat and svc.flood.first_refusal(user.id):
        await send_reply(context.bot, update.effective_chat.id, Reply(SLOW_DOWN))
    raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    if update.effective_chat:
        await send_reply(context.bot, update.effective_chat.id, Reply(WELCOME, ((TOPICS,),)))


async def help_command(update: Update, context: Context) -> None:
    if update.effective_chat:
        await send_reply(context.bot, update.effective_chat.id, Reply(HELP, ((TOPICS,),)))


async def topics(update: Update, context: Context) -> None:
    if update.effective_chat:
        await send_reply(
            context.bot, update.effective_chat.id, render_sections(services(context).live.current.kb)
        )


async def privacy(update: Update, context: Context) -> None:
    kb = services(context).live.current.kb
    entry = kb.get("bot-privacy")
    if update.effective_chat and entry:
        await send_reply(context.bot, update.effective_chat.id, render_entry(entry, kb))


async def forget(update: Update, context: Context) -> None:
    user, chat = update.effective_user, update.effective_chat
    if not user or not chat:
        return
    services(context).conversations.forget_user(user.id)  # the follow-up context, in memory
    forgotten = await services(context).store.forget(user.id)
    if (desk := context.bot_data.desk) is not None:
        desk.forget(user.id)  # their desk sign-ins, and the desk's in-memory copies of question text
    removed = forgotten.removed
    noun = "record" if removed == 1 else "records"
    await send_reply(
        context.bot,
        chat.id,
        Reply(f"Done: I deleted everything I held about you ({removed} {noun} removed)."),
    )
    await tell_cancelled(context, forgotten.cancelled)


async def volunteer_command(update: Update, context: Context) -> None:
    """``/volunteer <question>`` logs the question for a person to answer."""
    message, user = update.effective_message, update.effective_user
    if not message or not user:
        return
    question = " ".join(context.args or []).strip()
    if not question:
        await send_reply(
            context.bot,
            message.chat_id,
            Reply("Send /volunteer followed by your question, e.g. <i>/volunteer can the school share …</i>"),
        )
        return
    svc = services(context)
    match = await svc.match(svc.live.current, question)
    log_id = await svc.store.log_question(
        user.id, message.chat_id, question, reason="volunteer", best_id=match.best_id, score=match.score
    )
    await notify_volunteers(context, log_id)
    await send_reply(
        context.bot,
        message.chat_id,
        Reply("Thank you. I've passed your question to the volunteers; a person will reply here."),
        reply_to=message.message_id,
    )


async def question(update: Update, context: Context) -> None:
    """A free-text message: answer it, offer suggestions, or log it for volunteers."""
    message, user = update.effective_message, update.effective_user
    if not message or not user or message.text is None:
        return
    svc = services(context)
    if message.chat.type == ChatType.PRIVATE and await handle_volunteer_message(update, context):
        return
    text = _question_text(message, context.bot.id, context.bot.username)
    if text is None:
        return
    snap = svc.live.current  # one snapshot for the whole reply
    key = chat_key(message.chat_id, user.id)
    last = svc.conversations.last(key)
    turn = await svc.understand(snap, text, snap.kb.get(last) if last else None)
    match = turn.match
    if turn.other_script:  # a script the bot cannot read: a person must
        asked = ascii_digits(text)  # so redaction finds phone numbers written in other digits
        log_id = await svc.store.log_question(user.id, message.chat_id, asked, reason="unanswered")
        await notify_volunteers(context, log_id)
        await send_reply(context.bot, message.chat_id, render_other_script(), reply_to=message.message_id)
        return
    if match.outcome is Outcome.ANSWER and match.entry:
        await _count_answer(svc, match.entry.id)
        svc.conversations.remember(key, match.entry.id)
    elif match.outcome is Outcome.SUGGEST and match.suggestions:  # the reply offers them
        await _count_suggestion(svc)
    elif match.outcome is Outcome.UNKNOWN:
        log_id = await svc.store.log_question(
            user.id, message.chat_id, text, reason="unanswered", best_id=match.best_id, score=match.score
        )
        await notify_volunteers(context, log_id)
    reply = render_match(match, snap.kb, also=turn.also, again=turn.again)
    await send_reply(context.bot, message.chat_id, reply, reply_to=message.message_id)


async def non_text(update: Update, context: Context) -> None:
    message = update.effective_message
    if message and message.chat.type == ChatType.PRIVATE:
        await send_reply(context.bot, message.chat_id, Reply(TEXT_ONLY))


async def unknown_command(update: Update, context: Context) -> None:
    message = update.effective_message
    if message and message.chat.type == ChatType.PRIVATE:
        await send_reply(context.bot, message.chat_id, Reply(UNKNOWN_COMMAND))


async def button(update: Update, context: Context) -> None:
    """Parents' inline buttons: open an entry, its "More detail" or a section, feedback, "None of these"."""
    query = update.callback_query
    if query is None or query.data is None or query.from_user is None:
        return
    svc = services(context)
    snap = svc.live.current
    kb = snap.kb
    press = decode(query.data)
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat_id if message else query.from_user.id
    if isinstance(press, OpenEntry):
        entry = kb.get(press.entry_id)
        if entry is None:
            await query.answer(STALE, show_alert=True)
            return
        await query.answer()
        await _count_answer(svc, entry.id)
        svc.conversations.remember(chat_key(chat_id, query.from_user.id), entry.id)
        await send_reply(context.bot, chat_id, render_entry(entry, kb))
    elif isinstance(press, MoreDetail):
        found = kb.get(press.entry_id)
        detail = render_detail(found) if found else None
        if detail is None:
            await query.answer(STALE, show_alert=True)
            return
        await query.answer()
        await send_reply(context.bot, chat_id, detail)
    elif isinstance(press, Topics):
        await query.answer()
        if message:
            await edit_reply(context.bot, message, render_sections(kb))
    elif isinstance(press, OpenSection):
        reply = render_section(kb, press.slug)
        if reply is None:
            await query.answer(STALE, show_alert=True)
            return
        await query.answer()
        if message:
            await edit_reply(context.bot, message, reply)
    elif isinstance(press, Feedback):
        entry_id = press.entry_id
        if kb.get(entry_id) is None:
            await query.answer(STALE, show_alert=True)
            return
        try:
            await svc.store.add_feedback(query.from_user.id, entry_id, press.helpful)
        except Exception:  # a lost vote must not cost the parent the thank-you or the follow-up
            log.warning("could not record feedback on %s", entry_id, exc_info=True)
        if press.helpful:
            await query.answer("Thank you for the feedback!")
        else:
            asked = _original_question(message)
            log_id = await svc.store.log_question(
                _asker(message, query.from_user.id),
                chat_id,
                asked or f"(👎 on the answer: {kb.entries[entry_id].question})",
                reason="feedback",
                best_id=entry_id,
                entry_id=entry_id,
            )
            await notify_volunteers(context, log_id)
            await query.answer("Thank you. I've passed this to a volunteer so the answer can be improved.")
        if message:
            await _drop_feedback_buttons(context, message)
    elif isinstance(press, NoneOfThese):
        asked = _original_question(message)
        if not asked:
            await query.answer("Please type your question again and I'll pass it on.", show_alert=True)
            return
        match = await svc.match(snap, asked)
        log_id = await svc.store.log_question(
            _asker(message, query.from_user.id),
            chat_id,
            asked,
            reason="none_of_these",
            best_id=match.best_id,
            score=match.score,
        )
        await notify_volunteers(context, log_id)
        await query.answer()
        await send_reply(
            context.bot,
            chat_id,
            Reply(
                f"Thank you. I've passed your question to the volunteers: <i>{escape(asked)}</i>",
                ((TOPICS,),),
            ),
        )
        if message:
            await _drop_feedback_buttons(context, message)
    else:
        await query.answer(STALE, show_alert=True)


async def _count_suggestion(svc: Services) -> None:
    """Count a question that got suggestions (a number per day, nothing else); never blocks the reply."""
    try:
        await svc.store.count_suggestion()
    except Exception:
        log.warning("could not count a suggestion", exc_info=True)


async def _count_answer(svc: Services, entry_id: str) -> None:
    """Count an answered question; analytics never block an answer, so a failure is only logged."""
    try:
        await svc.store.count_answer(entry_id)
    except Exception:
        log.warning("could not count an answer for %s", entry_id, exc_info=True)


def _original_question(message: Message | None) -> str | None:
    """The parent's question that a bot message replied to (we always reply to the question)."""
    if message and message.reply_to_message and message.reply_to_message.text:
        return message.reply_to_message.text
    return None


def _asker(message: Message | None, presser: int) -> int:
    """Whose question a button logs: the person who asked it, not whoever pressed the button (in a
    group another member may press it), so the asker's /forget finds it."""
    asked = message.reply_to_message if message else None
    if asked is not None and asked.from_user is not None and not asked.from_user.is_bot:
        return asked.from_user.id
    return presser


def _is_feedback(data: str) -> bool:
    return isinstance(decode(data), Feedback | NoneOfThese)


async def _drop_feedback_buttons(context: Context, message: Message) -> None:
    """Remove the feedback (or "None of these") row after it was used, so it is not pressed twice."""
    markup = message.reply_markup
    if markup is None:
        return
    rows = [
        row
        for row in markup.inline_keyboard
        if not any(isinstance(b.callback_data, str) and _is_feedback(b.callback_data) for b in row)
    ]
    try:
        await context.bot.edit_message_reply_markup(
            message.chat_id, message.message_id, reply_markup=InlineKeyboardMarkup(rows) if rows else None
        )
    except Exception:
        log.debug("could not remove feedback buttons", exc_info=True)
