"""``/desk`` in Telegram: a volunteer or admin gets a one-time sign-in link, in a private chat only."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.replies import Reply, escape
from bot.telegram.send import send_reply
from bot.telegram.volunteers import _is_volunteer, staff_only

DESK_KEY = "desk"
NOT_RUNNING = "The review desk is not switched on. An admin can set FAQBOT_DESK_PORT and restart the bot."
PRIVATE_ONLY = "Send /desk to me in a private chat: the link signs you in, so it is only sent there."


@staff_only(_is_volunteer, "/desk")
async def desk_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    if chat.type != ChatType.PRIVATE:
        await send_reply(context.bot, chat.id, Reply(PRIVATE_ONLY))
        return
    desk = context.application.bot_data.get(DESK_KEY)
    if desk is None:
        await send_reply(context.bot, chat.id, Reply(NOT_RUNNING))
        return
    link = desk.sign_in_link(user.id)
    await send_reply(
        context.bot,
        chat.id,
        Reply(
            "Your sign-in link for the review desk. It works once, for 10 minutes; "
            f'don\'t share it.\n\n<a href="{escape(link)}">{escape(link)}</a>'
        ),
    )
