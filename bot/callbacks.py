"""Every inline button's callback data, encoded and decoded in one place.

One frozen dataclass per kind of button. ``encode()`` gives the wire string (at most 64 bytes, the
Bot API's limit); :func:`decode` turns a string back into a button, or None when it is not one of
ours (old, forged or truncated). The wire format is the one the bot has always sent, so buttons
already in parents' and volunteers' chats keep working:

==========================  ===================================================
``a:ID``                    open an entry (topic lists, "Did you mean", "Also")
``more:ID``                 an entry's "More detail"
``sec:SLUG``                a section of the topic list
``topics``                  the topic list
``fb:up:ID`` · ``fb:dn:ID`` 👍 / 👎 on an answer
``none``                    "None of these"
``q:r:ID`` · ``q:d:ID``     volunteer: reply to / dismiss logged question ID
``q:a:ID`` · ``q:a:ID:P``   volunteer: open the attach picker / show its page P
``q:e:ID:ENTRY``            volunteer: attach ENTRY to question ID
``q:m:OFFSET``              volunteer: the next page of /queue
==========================  ===================================================

Pure core: no Telegram import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit for callback_data
# An entry id (knowledge.ID_PATTERN, up to 40 characters) or a section slug (replies.section_key, up to
# 60): decoding checks the shape only; whether the entry or section exists is the handler's question.
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,59}\Z")
_MAX_NUMBER_DIGITS = 12  # log ids and offsets; a page number has at most 4


class CallbackTooLong(ValueError):
    """The encoded button would be over Telegram's 64-byte limit."""


def _checked(data: str) -> str:
    if len(data.encode()) > CALLBACK_DATA_MAX:
        raise CallbackTooLong(f"callback data over {CALLBACK_DATA_MAX} bytes: {data!r}")
    return data


@dataclass(frozen=True, slots=True)
class OpenEntry:
    entry_id: str

    def encode(self) -> str:
        return _checked(f"a:{self.entry_id}")


@dataclass(frozen=True, slots=True)
class MoreDetail:
    entry_id: str

    def encode(self) -> str:
        return _checked(f"more:{self.entry_id}")


@dataclass(frozen=True, slots=True)
class OpenSection:
    slug: str

    def encode(self) -> str:
        return _checked(f"sec:{self.slug}")


@dataclass(frozen=True, slots=True)
class Topics:
    def encode(self) -> str:
        return "topics"


@dataclass(frozen=True, slots=True)
class Feedback:
    entry_id: str
    helpful: bool

    def encode(self) -> str:
        return _checked(f"fb:{'up' if self.helpful else 'dn'}:{self.entry_id}")


@dataclass(frozen=True, slots=True)
class NoneOfThese:
    def encode(self) -> str:
        return "none"


@dataclass(frozen=True, slots=True)
class QueueReply:
    item_id: int

    def encode(self) -> str:
        return _checked(f"q:r:{self.item_id}")


@dataclass(frozen=True, slots=True)
class QueueDismiss:
    item_id: int

    def encode(self) -> str:
        return _checked(f"q:d:{self.item_id}")


@dataclass(frozen=True, slots=True)
class QueueAttach:
    """Open the attach picker (``page`` None: as a new message) or move it to ``page`` (edited in place)."""

    item_id: int
    page: int | None = None

    def encode(self) -> str:
        tail = "" if self.page is None else f":{self.page}"
        return _checked(f"q:a:{self.item_id}{tail}")


@dataclass(frozen=True, slots=True)
class QueueAttachEntry:
    item_id: int
    entry_id: str

    def encode(self) -> str:
        return _checked(f"q:e:{self.item_id}:{self.entry_id}")


@dataclass(frozen=True, slots=True)
class QueueMore:
    offset: int

    def encode(self) -> str:
        return _checked(f"q:m:{self.offset}")


ParentButton: TypeAlias = OpenEntry | MoreDetail | OpenSection | Topics | Feedback | NoneOfThese
VolunteerButton: TypeAlias = QueueReply | QueueDismiss | QueueAttach | QueueAttachEntry | QueueMore
Callback: TypeAlias = ParentButton | VolunteerButton


def _number(text: str, digits: int = _MAX_NUMBER_DIGITS) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > digits:
        return None
    return int(text)


def _ident(text: str) -> str | None:
    return text if _ID.match(text) else None


def decode(data: str) -> Callback | None:
    """The button ``data`` encodes, or None if it is not a button this bot makes."""
    if len(data.encode()) > CALLBACK_DATA_MAX:
        return None
    if data == "topics":
        return Topics()
    if data == "none":
        return NoneOfThese()
    head, _, rest = data.partition(":")
    if head == "a" and (entry := _ident(rest)):
        return OpenEntry(entry)
    if head == "more" and (entry := _ident(rest)):
        return MoreDetail(entry)
    if head == "sec" and (slug := _ident(rest)):
        return OpenSection(slug)
    if head == "fb":
        vote, _, entry_id = rest.partition(":")
        if vote in ("up", "dn") and (entry := _ident(entry_id)):
            return Feedback(entry, helpful=vote == "up")
        return None
    if head == "q":
        return _decode_queue(rest.split(":"))
    return None


def _decode_queue(parts: list[str]) -> VolunteerButton | None:
    kind, numbers = parts[0], parts[1:]
    item = _number(numbers[0]) if numbers else None
    if item is None:
        return None
    if len(parts) == 2:
        if kind == "r":
            return QueueReply(item)
        if kind == "d":
            return QueueDismiss(item)
        if kind == "a":
            return QueueAttach(item)
        if kind == "m":
            return QueueMore(item)
    if len(parts) == 3:
        if kind == "a" and (page := _number(parts[2], digits=4)) is not None:
            return QueueAttach(item, page)
        if kind == "e" and (entry := _ident(parts[2])):
            return QueueAttachEntry(item, entry)
    return None
