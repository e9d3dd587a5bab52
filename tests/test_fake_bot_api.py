"""The fake Bot API server works with the real python-telegram-bot 22 HTTP stack (Bot, Application)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

try:
    from tests.fake_bot_api import FakeBotAPI
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from fake_bot_api import FakeBotAPI

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="v:yes")]])


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A fake that lets the bot message any private chat, so these tests need not open each one first."""
    async with FakeBotAPI(private_chats_need_start=False) as server:
        yield server


@asynccontextmanager
async def bare_bot(api: FakeBotAPI, **request_kwargs: float) -> AsyncIterator[Bot]:
    """A plain ``telegram.Bot`` talking to the fake."""
    request = HTTPXRequest(**request_kwargs) if request_kwargs else None
    async with Bot(api.token, base_url=api.base_url, request=request) as bot:
        yield bot


@asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    """Run ``app`` with long polling (1 s) the way ``run_polling`` does, and shut it down cleanly."""
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def build_app(api: FakeBotAPI) -> Application:
    return ApplicationBuilder().token(api.token).base_url(api.base_url).build()


async def test_bare_bot_methods(api: FakeBotAPI) -> None:
    async with bare_bot(api) as bot:
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (123456, "test_faq_bot", True)
        first = await bot.send_message(42, "hello", reply_markup=KEYBOARD)
        second = await bot.send_message(42, "<b>bold</b> &amp; more", parse_mode=ParseMode.HTML)
        other = await bot.send_message(7, "elsewhere")
        assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
        assert first.chat.type == "private"
        assert first.from_user.id == me.id
        assert first.reply_markup == KEYBOARD
        assert second.text == "bold & more"  # Telegram stores the rendered text
        params = api.sent(chat_id=42)
        assert [p["text"] for p in params] == ["hello", "<b>bold</b> &amp; more"]
        assert params[0]["chat_id"] == 42
        assert params[0]["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "v:yes"}]]}

        commands = [BotCommand("start", "Start"), BotCommand("topics", "Browse topics")]
        assert await bot.set_my_commands(commands) is True
        assert await bot.get_my_commands() == tuple(commands)
        assert api.sent("setMyCommands")[0]["commands"][1] == {
            "command": "topics",
            "description": "Browse topics",
        }
        assert await bot.delete_my_commands() is True
        assert await bot.get_my_commands() == ()

        assert await bot.send_chat_action(42, "typing") is True
        assert await bot.delete_message(42, first.message_id) is True
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(42, first.message_id)
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")
    assert api.calls[-1].status == 404
    assert api.calls[-1].result == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


async def test_a_private_chat_must_be_started_by_its_user() -> None:
    async with FakeBotAPI() as api, bare_bot(api) as bot:
        with pytest.raises(Forbidden, match="can't initiate conversation"):
            await bot.send_message(42, "hello")
        with pytest.raises(Forbidden, match="can't initiate conversation"):
            await bot.send_chat_action(42, "typing")
        assert (await bot.send_message(-100, "groups are fine")).chat.type == "group"
        api.inject_message(42, "hi")  # the user writes first
        assert (await bot.send_message(42, "hello")).text == "hello"
        api.start_chat(43)  # or presses Start
        assert (await bot.send_message(43, "hello")).text == "hello"
        api.inject_message(44, "hi", chat_id=-200, chat_type="group")  # a group message opens no private chat
        with pytest.raises(Forbidden):
            await bot.send_message(44, "hello")


async def test_inline_keyboards_are_capped_like_telegram(api: FakeBotAPI) -> None:
    def markup(rows: int, per_row: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("b", callback_data=f"{r}:{c}") for c in range(per_row)]
                for r in range(rows)
            ]
        )

    async with bare_bot(api) as bot:
        assert await bot.send_message(1, "100 buttons", reply_markup=markup(25, 4))
        assert await bot.send_message(1, "8 a row", reply_markup=markup(1, 8))
        for rows, per_row in ((101, 1), (1, 9), (34, 3)):
            with pytest.raises(BadRequest, match=r"(?i)reply markup is too long"):
                await bot.send_message(1, "too many", reply_markup=markup(rows, per_row))


async def test_bot_api_validation(api: FakeBotAPI) -> None:
    async with bare_bot(api) as bot:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(1, "<b>unclosed", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(1, "1 < 2", parse_mode=ParseMode.HTML)
        for bad in ("AT&T", "&nbsp;", "<b><i>x</b></i>", "</b>", "<script>x</script>", "<a>x</a>"):
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(1, bad, parse_mode=ParseMode.HTML)
        rich = (
            '<span class="tg-spoiler">s</span> <pre><code class="language-python">x</code></pre> '
            "<blockquote expandable>q</blockquote> <a href='https://x.org'>l</a> &#128512; &quot;"
        )
        shown = await bot.send_message(1, rich, parse_mode=ParseMode.HTML)
        assert shown.text == 's x q l 😀 "'  # every tag Telegram documents, as Telegram shows it
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(1, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(
                1,
                "x",
                reply_markup=InlineKeyboardMarkup.from_button(
                    InlineKeyboardButton("b", callback_data="d" * 65)
                ),
            )
        msg = await bot.send_message(1, "same", reply_markup=KEYBOARD)
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_text("same", chat_id=1, message_id=msg.message_id, reply_markup=KEYBOARD)
        edited = await bot.edit_message_text("changed", chat_id=1, message_id=msg.message_id)
        assert edited.text == "changed"
        assert edited.reply_markup is None  # omitting the keyboard drops it
        assert api.message(1, msg.message_id)["text"] == "changed"
        assert await bot.edit_message_reply_markup(1, msg.message_id, reply_markup=KEYBOARD)
        assert api.message(1, msg.message_id)["reply_markup"] == KEYBOARD.to_dict()
    assert len(api.delivered) == 2  # the rich-HTML message and "same"; the refused ones are not delivered


async def test_long_polling_offsets_limit_and_timeout(api: FakeBotAPI) -> None:
    async with bare_bot(api) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=0.3) == ()
        assert 0.25 < time.monotonic() - started < 2

        first = api.inject_message(5, "one")
        api.inject_message(5, "two")
        got = await bot.get_updates(timeout=1, limit=1)
        assert [u.message.text for u in got] == ["one"]
        got = await bot.get_updates(timeout=1)
        assert [u.message.text for u in got] == ["one", "two"]  # nothing confirmed yet
        got = await bot.get_updates(offset=first["update_id"] + 1, timeout=1)
        assert [u.message.text for u in got] == ["two"]
        assert await bot.get_updates(offset=got[-1].update_id + 1, timeout=0) == ()
        assert api.pending_updates == []

        # A long poll waits for an update injected while it is pending.
        poll = asyncio.create_task(bot.get_updates(timeout=3))
        await asyncio.sleep(0.1)
        api.inject_message(5, "/start", chat_id=-100, chat_type="group")
        [update] = await asyncio.wait_for(poll, 2)
        assert update.message.chat.type == "group"
        assert update.message.text == "/start"
        assert update.message.entities[0].type == "bot_command"

        # allowed_updates filters (and is remembered by later calls that omit it).
        api.inject_callback(5, "x", chat_id=5)
        offset = update.update_id + 1
        assert await bot.get_updates(offset=offset, timeout=0, allowed_updates=["message"]) == ()
        got = await bot.get_updates(offset=offset, timeout=0, allowed_updates=[])
        assert got[0].callback_query.data == "x"

        # Webhook set: getUpdates is a conflict, as on Telegram.
        await bot.set_webhook("https://example.invalid/hook")
        assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        await bot.delete_webhook(drop_pending_updates=True)
        assert api.pending_updates == []


async def test_application_echo_polling(api: FakeBotAPI) -> None:
    app = build_app(api)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(update.effective_chat.id, "echo: " + update.effective_message.text)

    async def sticker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("text only please")

    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(MessageHandler(filters.Sticker.ALL | filters.PHOTO, sticker))
    async with polling(app):
        update = api.inject_message(1001, "hello there")
        [call] = await api.wait_for("sendMessage", chat_id=1001)
        assert call.params["text"] == "echo: hello there"
        assert call.result["chat"] == {"id": 1001, "type": "private", "first_name": "Parent"}
        assert call.result["message_id"] == update["message"]["message_id"] + 1  # ids are shared per chat

        api.inject_message(1002, "second", chat_id=-5, chat_type="group")
        api.inject_sticker(1003)
        api.inject_photo(1003, caption="look")
        await api.wait_for("sendMessage", chat_id=-5)
        replies = await api.wait_for("sendMessage", chat_id=1003, count=2)
        assert all(c.params["text"] == "text only please" for c in replies)
        await api.wait_consumed()
    assert set(api.delivery_counts.values()) == {1}  # offsets honoured: each update fetched once
    assert len(api.sent()) == 4
    assert api.sent("getMe")
    assert api.sent("deleteWebhook")


# PTB 22.8's RetryAfter.__init__ itself reads .retry_after, warning unless PTB_TIMEDELTA=1 is set.
@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_on_429(api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", retry_after=3)
    async with bare_bot(api) as bot:
        with pytest.raises(RetryAfter, match=r"Retry in (3|0:00:03)"):
            await bot.send_message(9, "hi")
        await bot.send_message(9, "hi again")
    assert [c.status for c in api.calls if c.method == "sendMessage"] == [429, 200]
    assert api.calls[-1].params["text"] == "hi again"
    assert [p["text"] for p in api.sent()] == ["hi again"]
    assert len(api.sent(include_failed=True)) == 2
    assert [m["text"] for m in api.delivered] == ["hi again"]


@pytest.mark.parametrize(
    ("status", "error"), [(500, NetworkError), (502, NetworkError), (400, BadRequest), (403, Forbidden)]
)
async def test_error_statuses_map_to_ptb_errors(api: FakeBotAPI, status: int, error: type[Exception]) -> None:
    api.fail_next("sendMessage", status=status, times=2)
    async with bare_bot(api) as bot:
        for _ in range(2):
            with pytest.raises(error):
                await bot.send_message(9, "hi")
        await bot.send_message(9, "third time lucky")
    assert [c.status for c in api.calls if c.method == "sendMessage"] == [status, status, 200]
    assert len(api.delivered) == 1


async def test_dropped_and_delayed_responses(api: FakeBotAPI) -> None:
    api.drop_next("sendMessage")
    api.drop_next("sendMessage", after_processing=True)
    async with bare_bot(api, read_timeout=0.3) as bot:
        with pytest.raises(NetworkError, match="Server disconnected"):
            await bot.send_message(3, "lost before delivery")
        with pytest.raises(NetworkError, match="Server disconnected"):
            await bot.send_message(3, "delivered, reply lost")
        api.delay("sendMessage", 3)  # delays apply before any fail/drop, to whichever call comes next
        with pytest.raises(TimedOut):
            await bot.send_message(3, "too slow")
        await bot.send_message(3, "fine")
    calls = await api.wait_for("sendMessage", include_failed=True, count=4)
    assert [c.status for c in calls] == ["dropped", "dropped", "cancelled", 200]
    assert [m["text"] for m in api.delivered] == ["delivered, reply lost", "fine"]
    assert [p["text"] for p in api.sent()] == ["fine"]


async def test_callback_query_reaches_handler(api: FakeBotAPI) -> None:
    app = build_app(api)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("Vote?", reply_markup=KEYBOARD)

    async def vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("Thanks!")
        await query.edit_message_text(f"You chose {query.data}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(vote, pattern=r"^v:"))
    async with polling(app):
        api.inject_message(77, "/start")
        await api.wait_for("sendMessage", chat_id=77)
        [sent] = api.sent(chat_id=77)
        update = api.inject_callback(77, "v:yes", message=sent)
        [answer] = await api.wait_for("answerCallbackQuery")
        assert answer.params == {"callback_query_id": update["callback_query"]["id"], "text": "Thanks!"}
        [edit] = await api.wait_for("editMessageText")
        assert edit.params["text"] == "You chose v:yes"
    message = api.message(77, edit.params["message_id"])
    assert message is not None
    assert message["text"] == "You chose v:yes"
    assert "reply_markup" not in message


async def test_wait_for_times_out_with_recent_calls(api: FakeBotAPI) -> None:
    async with bare_bot(api) as bot:
        await bot.send_chat_action(1, "typing")
    with pytest.raises(TimeoutError, match=r"(?s)1 x sendMessage.*sendChatAction"):
        await api.wait_for("sendMessage", timeout=0.1)


async def test_messages_carry_the_entities_telegram_adds(api: FakeBotAPI) -> None:
    """Like Telegram's clients: ``/command`` and ``@username`` become entities, at UTF-16 offsets."""
    text = "🧒 hi @test_faq_bot and @someone_else, not a@b.c"
    update = api.inject_message(7, text, chat_id=-9, chat_type="group")
    assert update["message"]["entities"] == [
        {"type": "mention", "offset": 6, "length": 13},  # 🧒 is two UTF-16 code units
        {"type": "mention", "offset": 24, "length": 13},
    ]
    command = api.inject_message(7, "/start@test_faq_bot")
    assert command["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 19}]
    assert "entities" not in api.inject_message(7, "plain text")["message"]
