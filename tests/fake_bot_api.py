"""A fake Telegram Bot API server (aiohttp) for end-to-end tests of the real python-telegram-bot HTTP stack.

Usage::

    async with FakeBotAPI() as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
        ...
        api.inject_message(42, "/start")
        [call] = await api.wait_for("sendMessage", chat_id=42)

The server listens on 127.0.0.1 only and answers ``/bot<any token>/<method>`` (method names are
case-insensitive). It behaves like the real Bot API where that is cheap to do: real long polling with
offsets, per-chat message ids, HTML ``parse_mode`` validation, "message is not modified" on identical
edits, 4096-character and 64-byte ``callback_data`` limits, at most 100 inline buttons (8 a row), 409
Conflict for overlapping ``getUpdates``, and 403 "bot can't initiate conversation with a user" for a private
chat whose user never wrote to the bot (``FakeBotAPI(private_chats_need_start=False)`` turns that off;
``start_chat(user)`` is a user pressing Start, or writing by a route the fake does not see: a webhook).
``FakeBotAPI(flood_limit=True)`` answers 429 past 30 messages a second, as Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.telegram_html import HTMLError, visible_text

BOT_ID = 123456
TOKEN = f"{BOT_ID}:TEST-TOKEN"
BOT_USERNAME = "test_faq_bot"
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
# Telegram's inline keyboard limits (not in the Bot API docs; measured by bot authors): 100 buttons in all,
# 8 in a row. Past them sendMessage fails with "reply markup is too long".
MAX_INLINE_BUTTONS = 100
MAX_INLINE_ROW = 8
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
# Telegram's broadcast limit: "avoid sending more than 30 messages per second" (Bot FAQ), enforced with 429.
MESSAGES_PER_SECOND = 30
FLOOD_BURST = 10  # extra messages a short burst may carry: clients that keep to 30 a second still bunch up
SENDING_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})

# Bot API parameters that are plain strings: never JSON-decode these form values ("123" must stay "123").
STRING_PARAMS = frozenset(
    """text caption parse_mode callback_query_id inline_message_id url secret_token ip_address language_code
    action emoji title description short_description name query business_connection_id message_effect_id
    custom_emoji_id sticker photo document audio video voice animation video_note thumbnail file_id
    phone_number first_name last_name address question payload currency start_parameter next_offset
    switch_pm_text switch_pm_parameter""".split()
)
# Parameters holding JSON objects/arrays; decoded even when a JSON body carries them as strings.
JSON_PARAMS = frozenset(
    """reply_markup entities caption_entities commands scope allowed_updates link_preview_options
    reply_parameters media results message_ids""".split()
)
BUTTON_ACTIONS = frozenset(
    """url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat
    switch_inline_query_chosen_chat copy_text callback_game pay""".split()
)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
ERROR_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class BotAPIError(Exception):
    """A Bot API error response: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram would send."""
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> BotAPIError:
    """A 400 error with Telegram's ``Bad Request: ...`` wording."""
    return BotAPIError(400, f"Bad Request: {what}")


@dataclass
class Call:
    """One request the fake received.

    ``status`` is 200 on success, the HTTP error code for (injected or real) errors, ``"dropped"`` when the
    connection was closed without a response, ``"cancelled"`` when the client went away first, and
    ``"pending"`` while the request is still being served (e.g. a long poll).
    """

    method: str
    params: dict[str, Any]
    time: float
    status: int | str = "pending"
    result: Any = None
    token: str = ""

    @property
    def ok(self) -> bool:
        """True when the client got a successful response."""
        return self.status == 200

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup", "link_preview_options")}
        return f"<{self.method} {self.status} {shown}>"


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    content: bytes = field(repr=False)


@dataclass
class _Fault:
    kind: str  # "fail", "drop" or "delay"
    remaining: int
    status: int = 200
    description: str = ""
    parameters: dict[str, Any] | None = None
    seconds: float = 0.0
    chat_id: int | str | None = None
    after_processing: bool = False


def render_text(text: str, parse_mode: str | None) -> str:
    """The visible text Telegram stores for ``text`` (HTML is validated and stripped)."""
    if not parse_mode or parse_mode.upper() != "HTML":
        return text
    try:
        return visible_text(text)
    except HTMLError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None


MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}(?![\w@])")


def auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients send with plain text: a leading ``/command`` and ``@username``
    mentions, at UTF-16 offsets (what a bot must use; Python string indexes differ past U+FFFF)."""
    found: list[dict[str, Any]] = []
    if text.startswith("/"):
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(text.split(maxsplit=1)[0])})
    for m in MENTION.finditer(text):
        start = utf16_len(text[: m.start()])
        found.append({"type": "mention", "offset": start, "length": utf16_len(m.group())})
    return found


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _decode_value(key: str, value: Any) -> Any:
    """Turn a form/JSON value back into what the caller passed to PTB."""
    if not isinstance(value, str):
        return value
    if key in STRING_PARAMS:
        return value
    if key in JSON_PARAMS or value[:1] in "{[":
        with contextlib.suppress(ValueError):
            return json.loads(value)
        return value
    with contextlib.suppress(ValueError):
        return json.loads(value)
    return value


def _update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


class FakeBotAPI:
    """An in-process fake of ``https://api.telegram.org`` bound to ``127.0.0.1`` on a free port."""

    METHODS = (
        "getMe",
        "getUpdates",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "answerCallbackQuery",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "deleteWebhook",
        "setWebhook",
        "getWebhookInfo",
        "sendChatAction",
        "deleteMessage",
        "close",
        "logOut",
    )

    def __init__(
        self,
        token: str = TOKEN,
        *,
        bot_username: str = BOT_USERNAME,
        private_chats_need_start: bool = True,
        flood_limit: bool = False,
    ) -> None:
        self.token = token
        self.private_chats_need_start = private_chats_need_start
        # Opt in to real 429s: a token bucket refilled at 30 messages a second, holding FLOOD_BURST more.
        self.flood_limit = flood_limit
        self._flood_tokens = float(MESSAGES_PER_SECOND + FLOOD_BURST)
        self._flood_time = 0.0
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else BOT_ID,
            "is_bot": True,
            "first_name": "Test FAQ Bot",
            "username": bot_username,
        }
        self.port = 0
        self.calls: list[Call] = []
        self.delivered: list[dict[str, Any]] = []  # Message objects the bot really sent, as sent
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self.delivery_counts: dict[int, int] = {}  # update_id -> times returned by getUpdates
        self._updates: list[dict[str, Any]] = []  # injected, not yet confirmed by an offset
        self._allowed_updates: set[str] | None = None
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(7_000_000)
        self._file_ids = itertools.count(1)
        self._callbacks: set[str] = set()
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[_Fault]] = {}
        self._poll_generation = 0
        self._closing = False
        self._updates_changed: asyncio.Event | None = None
        self._calls_changed: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {}
        for name in self.METHODS:
            self.on(name, getattr(self, "_m_" + re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()))

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url()`` / ``Bot(base_url=)``; PTB appends ``<token>/<method>``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Pass to ``base_file_url``; file downloads are not served."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> FakeBotAPI:
        """Bind 127.0.0.1 on a free port and start serving."""
        self._updates_changed = asyncio.Event()
        self._calls_changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Answer pending long polls with ``[]`` and shut the server down."""
        if self._runner is None:
            return
        self._closing = True
        assert self._closed is not None
        self._closed.set()
        self._wake_pollers()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def on(self, method: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Serve ``method`` with ``handler(params) -> result`` (sync or async; raise BotAPIError to fail)."""
        self._handlers[method.lower()] = (method, handler)

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (optionally only for ``chat_id``) return an error.

        429 gets ``parameters.retry_after`` (default 1 s; PTB only raises RetryAfter for a non-zero value).
        """
        params = dict(parameters or {})
        if status == 429:
            params.setdefault("retry_after", 1 if retry_after is None else retry_after)
        elif retry_after is not None:
            params["retry_after"] = retry_after
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {params['retry_after']}"
            else:
                description = ERROR_DESCRIPTIONS.get(status, f"Error {status}")
        fault = _Fault("fail", times, status, description, params or None, chat_id=chat_id)
        self._faults.setdefault(method.lower(), []).append(fault)

    def drop_next(
        self, method: str, times: int = 1, *, after_processing: bool = False, chat_id: int | str | None = None
    ) -> None:
        """Close the connection without a response for the next ``times`` calls of ``method``.

        With ``after_processing=True`` the call takes effect first (e.g. the message IS delivered) and only
        the response is lost: the ambiguous case a retrying client turns into a duplicate.
        """
        fault = _Fault("drop", times, chat_id=chat_id, after_processing=after_processing)
        self._faults.setdefault(method.lower(), []).append(fault)

    def delay(self, method: str, seconds: float, times: int = 1, *, chat_id: int | str | None = None) -> None:
        """Wait ``seconds`` before serving the next ``times`` calls of ``method``.

        If the client gives up first (read timeout) the call is cancelled and has no effect.
        """
        self._delays.setdefault(method.lower(), []).append(
            _Fault("delay", times, seconds=seconds, chat_id=chat_id)
        )

    def start_chat(self, user_id: int, first_name: str = "User") -> None:
        """``user_id`` opened a private chat with the bot (pressed Start), so the bot may message them."""
        self._chats.setdefault(user_id, {"id": user_id, "type": "private", "first_name": first_name})

    def clear_faults(self) -> None:
        """Forget every pending fail/drop/delay."""
        self._faults.clear()
        self._delays.clear()

    # ----------------------------------------------------------------- inspection

    def sent(
        self, method: str = "sendMessage", chat_id: int | str | None = None, *, include_failed: bool = False
    ) -> list[dict[str, Any]]:
        """Decoded params of the successful calls of ``method`` (to ``chat_id`` if given)."""
        return [c.params for c in self._matching(method, chat_id, None, include_failed)]

    def bot_messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Message objects the bot delivered (as first sent), optionally for one chat."""
        return [m for m in self.delivered if chat_id is None or str(m["chat"]["id"]) == str(chat_id)]

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any] | None:
        """Current state (after edits) of a message, or None if unknown/deleted."""
        found = self._messages.get((self._chat_key(chat_id), int(message_id)))
        return copy.deepcopy(found) if found else None

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Injected updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    async def wait_for(
        self,
        method: str = "sendMessage",
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,
        *,
        chat_id: int | str | None = None,
        include_failed: bool = False,
    ) -> list[Call]:
        """All matching finished calls once at least ``count`` exist, else TimeoutError listing recent calls.

        ``predicate`` receives the decoded params. Only successful calls count unless ``include_failed``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matches = self._matching(method, chat_id, predicate, include_failed)
            if len(matches) >= count:
                return matches
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"waited {timeout}s for {count} x {method}"
                    + (f" to chat {chat_id}" if chat_id is not None else "")
                    + (" matching the predicate" if predicate else "")
                    + f", got {len(matches)}.\n{self.describe_calls()}"
                )
            assert self._calls_changed is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._calls_changed.wait(), remaining)

    async def wait_consumed(self, timeout: float = 5.0) -> None:
        """Wait until every injected update has been confirmed (fetched and acknowledged) by the bot."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._updates:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(self._updates)} update(s) never confirmed.\n{self.describe_calls()}"
                )
            assert self._calls_changed is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._calls_changed.wait(), remaining)

    def describe_calls(self, last: int = 20) -> str:
        """Recent calls, one a line (getUpdates summarised), for failure messages."""
        polls = sum(1 for c in self.calls if c.method == "getUpdates")
        others = [c for c in self.calls if c.method != "getUpdates"][-last:]
        lines = [f"recent calls ({polls} getUpdates not shown):"] + [f"  {c!r}" for c in others]
        return "\n".join(lines if others else [*lines, "  (none)"])

    def _matching(
        self,
        method: str,
        chat_id: int | str | None,
        predicate: Callable[[dict[str, Any]], bool] | None,
        include_failed: bool,
    ) -> list[Call]:
        name = method.lower()
        return [
            c
            for c in self.calls
            if c.method.lower() == name
            and c.status != "pending"
            and (include_failed or c.ok)
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
            and (predicate is None or predicate(c.params))
        ]

    # ----------------------------------------------------------------- injecting updates

    def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw Update (``update_id`` assigned if missing) for getUpdates; returns it."""
        update = copy.deepcopy(update)
        if "update_id" in update:
            self._update_ids = itertools.count(max(int(update["update_id"]) + 1, next(self._update_ids)))
        else:
            update = {"update_id": next(self._update_ids), **update}
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            msg = update.get(key)
            if isinstance(msg, dict) and "chat" in msg and "message_id" in msg:
                self._chats.setdefault(self._chat_key(msg["chat"]["id"]), msg["chat"])
                self._messages[(self._chat_key(msg["chat"]["id"]), int(msg["message_id"]))] = copy.deepcopy(
                    msg
                )
        self._updates.append(update)
        self._wake_pollers()
        return copy.deepcopy(update)

    def inject_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Parent",
        username: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to: dict[str, Any] | None = None,
        edited: bool = False,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A text message from ``user_id`` (private chat with them unless ``chat_id``); returns the Update.

        Unless ``entities`` is given, text gets the entities Telegram adds (``/command``, ``@mention``).
        ``reply_to`` is a message dict (e.g. from
        ``bot_messages()``). ``edited=True`` sends an ``edited_message`` (of ``message_id`` if given).
        """
        if entities is None:
            entities = auto_entities(text)
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return self._inject_user_message(
            user_id, fields, chat_id, chat_type, first_name, username, reply_to, edited, message_id
        )

    def inject_non_text(
        self,
        user_id: int,
        kind: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Parent",
        username: str | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A non-text message: sticker, photo, voice, audio, video, video_note, animation, document,
        location, contact or dice."""
        n = next(self._file_ids)
        file = {"file_id": f"{kind}-file-{n}", "file_unique_id": f"{kind}-uniq-{n}"}
        contents: dict[str, dict[str, Any]] = {
            "sticker": {
                "sticker": {
                    **file,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "👍",
                }
            },
            "photo": {
                "photo": [
                    {**file, "file_id": f"{file['file_id']}-s", "width": 90, "height": 90, "file_size": 1000},
                    {**file, "width": 800, "height": 800, "file_size": 50000},
                ]
            },
            "voice": {"voice": {**file, "duration": 3, "mime_type": "audio/ogg", "file_size": 9000}},
            "audio": {"audio": {**file, "duration": 120, "mime_type": "audio/mpeg", "title": "Song"}},
            "video": {"video": {**file, "width": 640, "height": 480, "duration": 10}},
            "video_note": {"video_note": {**file, "length": 240, "duration": 5}},
            "animation": {
                "animation": {**file, "width": 320, "height": 240, "duration": 2},
                "document": {**file, "file_name": "anim.mp4", "mime_type": "video/mp4"},
            },
            "document": {"document": {**file, "file_name": "letter.pdf", "mime_type": "application/pdf"}},
            "location": {"location": {"latitude": 51.5007, "longitude": -0.1246}},
            "contact": {"contact": {"phone_number": "+447700900123", "first_name": "Someone"}},
            "dice": {"dice": {"emoji": "🎲", "value": 4}},
        }
        if kind not in contents:
            raise ValueError(f"unknown kind {kind!r}; choose from {sorted(contents)}")
        fields = dict(contents[kind])
        if caption is not None:
            fields["caption"] = caption
        return self._inject_user_message(
            user_id, fields, chat_id, chat_type, first_name, username, None, False, None
        )

    def inject_sticker(self, user_id: int, **kwargs: Any) -> dict[str, Any]:
        """A sticker message (see ``inject_non_text``)."""
        return self.inject_non_text(user_id, "sticker", **kwargs)

    def inject_photo(self, user_id: int, caption: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """A photo message, optionally captioned (see ``inject_non_text``)."""
        return self.inject_non_text(user_id, "photo", caption=caption, **kwargs)

    def inject_callback(
        self,
        user_id: int,
        data: str,
        *,
        message: dict[str, Any] | None = None,
        chat_id: int | None = None,
        first_name: str = "Parent",
        username: str | None = None,
    ) -> dict[str, Any]:
        """A button press by ``user_id`` on a bot message; returns the Update.

        ``message`` may be a Message dict (``bot_messages()``, ``Call.result``) or the params dict of a
        sendMessage from ``sent()``; otherwise the latest bot message in ``chat_id`` is used (or made up).
        """
        msg = self._find_bot_message(message, chat_id)
        query_id = str(next(self._callback_ids))
        self._callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(user_id, first_name, username),
            "chat_instance": f"ci{msg['chat']['id']}",
            "data": data,
            "message": msg,
        }
        return self.inject_update({"callback_query": query})

    def _find_bot_message(self, message: dict[str, Any] | None, chat_id: int | None) -> dict[str, Any]:
        if message is not None and "message_id" not in message:  # sendMessage params from sent()
            call = next((c for c in self.calls if c.params is message and isinstance(c.result, dict)), None)
            if call is None:
                raise ValueError("message is neither a Message dict nor params of a successful send")
            message = call.result
        if message is not None:
            key = (self._chat_key(message["chat"]["id"]), int(message["message_id"]))
            current = copy.deepcopy(self._messages.get(key, message))
            # Like Telegram: the message keeps its reply_to_message, but only one level deep.
            if isinstance(current.get("reply_to_message"), dict):
                current["reply_to_message"].pop("reply_to_message", None)
            return current
        if chat_id is None:
            raise ValueError("inject_callback needs message= or chat_id=")
        key = self._chat_key(chat_id)
        for (chat, _), msg in reversed(self._messages.items()):
            if chat == key and msg.get("from", {}).get("id") == self.bot_user["id"]:
                return copy.deepcopy(msg)
        if isinstance(key, int) and key > 0:
            self.start_chat(key)  # a bot message in a private chat means the user started the bot
        chat = self._resolve_chat(chat_id)
        made_up = self._new_message(chat, self.bot_user, {"text": "(made-up bot message)"})
        self._store(made_up)
        return copy.deepcopy(made_up)

    def _inject_user_message(
        self,
        user_id: int,
        fields: dict[str, Any],
        chat_id: int | None,
        chat_type: str,
        first_name: str,
        username: str | None,
        reply_to: dict[str, Any] | None,
        edited: bool,
        message_id: int | None,
    ) -> dict[str, Any]:
        user = self._user(user_id, first_name, username)
        if chat_id is None:
            chat_id = {"private": user_id, "group": -abs(user_id)}.get(
                chat_type, -1_000_000_000_000 - abs(user_id)
            )
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "type": chat_type, "title": "Test " + chat_type.replace("_", " ")}
        self._chats[self._chat_key(chat_id)] = chat
        sender = None if chat_type == "channel" else user
        msg = self._new_message(chat, sender, fields, message_id=message_id)
        if reply_to is not None:
            msg["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        if edited:
            msg["edit_date"] = int(time.time())
        key = ("edited_" if edited else "") + ("channel_post" if chat_type == "channel" else "message")
        return self.inject_update({key: msg})

    # ----------------------------------------------------------------- HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        canonical, handler = self._handlers.get(name.lower(), (name, None))
        params = await self._read_params(request)
        call = Call(canonical, params, time.monotonic(), token=request.match_info["token"])
        self.calls.append(call)
        self._notify_calls()
        try:
            result = await self._serve(request, call, handler)
        except BotAPIError as exc:
            call.status, call.result = exc.status, exc.payload()
        except (
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
        ) as exc:  # malformed params: 400, like Telegram
            error = bad_request(f"fake server could not handle the parameters: {exc!r}")
            call.status, call.result = error.status, error.payload()
        except asyncio.CancelledError:
            if call.status == "pending":
                call.status = "cancelled"
            raise
        else:
            call.status, call.result = 200, result
        finally:
            self._notify_calls()
        if call.status == 200:
            return web.json_response({"ok": True, "result": call.result})
        return web.json_response(call.result, status=call.status)

    async def _serve(
        self, request: web.Request, call: Call, handler: Callable[[dict[str, Any]], Any] | None
    ) -> Any:
        delay = self._take(self._delays, call.method, call.params)
        if delay is not None:
            await self._sleep(delay.seconds)
        fault = self._take(self._faults, call.method, call.params)
        if fault is not None and fault.kind == "fail":
            raise BotAPIError(fault.status, fault.description, fault.parameters)
        if self.flood_limit and call.method.lower() in SENDING_METHODS:
            self._spend_flood_token()
        if fault is not None and not fault.after_processing:
            await self._drop(request, call)
        if handler is None:
            raise BotAPIError(404, "Not Found: method not found")
        result = handler(call.params)
        if inspect.isawaitable(result):
            result = await result
        if fault is not None:
            call.result = result
            await self._drop(request, call)
        return result

    def _spend_flood_token(self) -> None:
        now = time.monotonic()
        capacity = MESSAGES_PER_SECOND + FLOOD_BURST
        elapsed = now - self._flood_time if self._flood_time else 0.0
        self._flood_tokens = min(capacity, self._flood_tokens + elapsed * MESSAGES_PER_SECOND)
        self._flood_time = now
        if self._flood_tokens < 1:
            raise BotAPIError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._flood_tokens -= 1

    async def _drop(self, request: web.Request, call: Call) -> None:
        call.status = "dropped"
        self._notify_calls()
        if request.transport is not None:
            request.transport.close()
        await asyncio.sleep(3600)  # connection_lost cancels this handler (handler_cancellation=True)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode_value(k, v) for k, v in request.query.items()}
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update({k: _decode_value(k, v) if k in JSON_PARAMS else v for k, v in body.items()})
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
            else:
                params[key] = _decode_value(key, value)
        return params

    def _take(self, table: dict[str, list[_Fault]], method: str, params: dict[str, Any]) -> _Fault | None:
        queue = table.get(method.lower(), [])
        for fault in queue:
            if fault.chat_id is None or str(fault.chat_id) == str(params.get("chat_id")):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.remove(fault)
                return fault
        return None

    async def _sleep(self, seconds: float) -> None:
        assert self._closed is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    def _notify_calls(self) -> None:
        if self._calls_changed is not None:
            self._calls_changed.set()
            self._calls_changed = asyncio.Event()

    def _wake_pollers(self) -> None:
        if self._updates_changed is not None:
            self._updates_changed.set()
            self._updates_changed = asyncio.Event()

    # ----------------------------------------------------------------- chats and messages

    @staticmethod
    def _chat_key(chat_id: Any) -> int | str:
        with contextlib.suppress(TypeError, ValueError):
            return int(chat_id)
        return str(chat_id)

    def _user(self, user_id: int, first_name: str, username: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "en",
        }
        if username:
            user["username"] = username
        return user

    def _resolve_chat(self, chat_id: Any) -> dict[str, Any]:
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        key = self._chat_key(chat_id)
        if key in self._chats:
            return self._chats[key]
        if isinstance(key, str):
            found = [c for c in self._chats.values() if "@" + str(c.get("username", "")) == key]
            if not found:
                raise bad_request("chat not found")
            return found[0]
        if key > 0 and self.private_chats_need_start:
            raise BotAPIError(403, CANT_INITIATE)
        chat = (
            {"id": key, "type": "private", "first_name": "User"}
            if key > 0
            else {
                "id": key,
                "type": "supergroup" if key < -1_000_000_000_000 else "group",
                "title": "Test group",
            }
        )
        self._chats[key] = chat
        return chat

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any] | None,
        fields: dict[str, Any],
        message_id: int | None = None,
    ) -> dict[str, Any]:
        counter = self._message_ids.setdefault(self._chat_key(chat["id"]), itertools.count(1))
        msg: dict[str, Any] = {
            "message_id": message_id or next(counter),
            "date": int(time.time()),
            "chat": dict(chat),
        }
        if sender is not None:
            msg["from"] = dict(sender)
        else:
            msg["sender_chat"] = dict(chat)
        msg.update(copy.deepcopy(fields))
        return msg

    def _store(self, msg: dict[str, Any]) -> None:
        self._messages[(self._chat_key(msg["chat"]["id"]), msg["message_id"])] = copy.deepcopy(msg)

    def _lookup(self, params: dict[str, Any], missing: str) -> dict[str, Any] | None:
        if params.get("inline_message_id"):
            return None
        key = (self._chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        msg = self._messages.get(key)
        if msg is None:
            raise bad_request(missing)
        return msg

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup like Telegram; return the inline keyboard to echo, if any."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None  # reply keyboards / ForceReply / remove: accepted, never echoed in the Message
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        if sum(map(len, rows)) > MAX_INLINE_BUTTONS or any(len(row) > MAX_INLINE_ROW for row in rows):
            raise bad_request("reply markup is too long")
        for button in itertools.chain.from_iterable(rows):
            if not button.get("text"):
                raise bad_request("text buttons are unallowed in the inline keyboard")
            if not BUTTON_ACTIONS & button.keys():
                raise bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def _text(params: dict[str, Any]) -> str:
        text = params.get("text")
        text = "" if text is None else str(text)
        rendered = render_text(text, params.get("parse_mode"))
        if not rendered.strip():
            raise bad_request("message text is empty")
        if utf16_len(rendered) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return rendered

    # ----------------------------------------------------------------- Bot API methods

    def _m_get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = set(allowed) or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._notify_calls()  # confirmation may be what wait_consumed() is waiting for
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll now gets 409 Conflict, as on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ready = [u for u in self._updates if self._is_allowed(u)][:limit]
            if ready:
                for update in ready:
                    self.delivery_counts[update["update_id"]] = (
                        self.delivery_counts.get(update["update_id"], 0) + 1
                    )
                return copy.deepcopy(ready)
            if self._closing:
                return []
            if generation != self._poll_generation:
                raise BotAPIError(409, ERROR_DESCRIPTIONS[409])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            assert self._updates_changed is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_changed.wait(), remaining)

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        kind = _update_type(update)
        if self._allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _m_send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params.get("chat_id"))
        text = self._text(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        msg = self._new_message(chat, self.bot_user, {"text": text})
        if params.get("entities"):
            msg["entities"] = params["entities"]
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        if markup is not None:
            msg["reply_markup"] = markup
        self._store(msg)
        self.delivered.append(copy.deepcopy(msg))
        return msg

    def _reply_target(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        rp = params.get("reply_parameters")
        if not isinstance(rp, dict):
            if params.get("reply_to_message_id") is None:
                return None
            rp = {"message_id": params["reply_to_message_id"]}
        target_chat = self._chat_key(rp.get("chat_id", chat["id"]))
        found = self._messages.get((target_chat, int(rp.get("message_id") or 0)))
        if found is None:
            if rp.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return copy.deepcopy({k: v for k, v in found.items() if k != "reply_to_message"})

    def _m_edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = self._text(params)
        markup = self._check_markup(params.get("reply_markup"))
        msg = self._lookup(params, "message to edit not found")
        if msg is None:
            return True
        if msg.get("from", {}).get("id") != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        if "text" not in msg:
            raise bad_request("there is no text in the message to edit")
        if msg["text"] == text and msg.get("reply_markup") == markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly the "
                "same as a content and reply markup of the current message"
            )
        msg["text"] = text
        self._set_markup(msg, markup)
        return copy.deepcopy(msg)

    def _m_edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = self._check_markup(params.get("reply_markup"))
        msg = self._lookup(params, "message to edit not found")
        if msg is None:
            return True
        if msg.get("from", {}).get("id") != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        if msg.get("reply_markup") == markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly the "
                "same as a content and reply markup of the current message"
            )
        self._set_markup(msg, markup)
        return copy.deepcopy(msg)

    @staticmethod
    def _set_markup(msg: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if markup is None:
            msg.pop("reply_markup", None)  # Telegram drops the keyboard when an edit omits it
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())

    def _m_delete_message(self, params: dict[str, Any]) -> bool:
        key = (self._chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        if self._messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        return True

    def _m_answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._callbacks:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self.callback_answers[query_id] = params
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not COMMAND_RE.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        self.commands[self._commands_key(params)] = commands
        return True

    def _m_get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    def _m_delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _m_set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _m_send_chat_action(self, params: dict[str, Any]) -> bool:
        self._resolve_chat(params.get("chat_id"))
        if not params.get("action"):
            raise bad_request("wrong parameter action in request")
        return True

    def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    def _m_log_out(self, params: dict[str, Any]) -> bool:
        return True
