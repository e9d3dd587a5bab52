"""``/desk`` in Telegram: a volunteer or admin gets a one-time sign-in link, in a private chat only."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot.replies import Reply, escape
from bot.telegram.send import send_reply
from bot.telegram.services import Context
from bot.telegram.volunteers import _is_volunteer, staff_only

NOT_RUNNING = "The review desk is not switched on. An admin can set FAQBOT_DESK_PORT and restart the bot."
PRIVATE_ONLY = "Send /desk to me in a private chat: the link signs you in, so it is only sent there."


@staff_only(_is_volunteer, "/desk")
async def desk_command(update: Update, context: Context) -> None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    if chat.type != ChatType.PRIVATE:
        await send_reply(context.bot, chat.id, Reply(PRIVATE_ONLY))
        return
    desk = context.bot_data.desk
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
