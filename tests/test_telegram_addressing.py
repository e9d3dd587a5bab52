"""Which words of a group message are the question: mentions by entity (UTF-16 offsets), replies by bot id."""

from __future__ import annotations

import datetime as dt

import pytest
from telegram import Chat, Message, MessageEntity, User

from bot.telegram.parents import _question_text

BOT = User(123456, "FAQ", is_bot=True, username="test_faq_bot")
GROUP = Chat(-5, Chat.GROUP)
WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def message(text: str, *, reply_to: Message | None = None, private: bool = False) -> Message:
    """A message with the entities Telegram would attach to ``text``'s ``@test_faq_bot``."""
    entities = []
    if "@test_faq_bot" in text:
        offset = len(text[: text.index("@test_faq_bot")].encode("utf-16-le")) // 2
        entities.append(MessageEntity(MessageEntity.MENTION, offset, len("@test_faq_bot")))
    chat = Chat(7, Chat.PRIVATE) if private else GROUP
    return Message(1, WHEN, chat, text=text, entities=entities, reply_to_message=reply_to)


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("İİ @test_faq_bot what is a upn", "İİ what is a upn"),  # the case: "İ".lower() is longer
        ("@test_faq_bot what is a upn", "what is a upn"),
        ("what is a upn @test_faq_bot", "what is a upn"),
        ("🧒🧒 @test_faq_bot how long is it kept", "🧒🧒 how long is it kept"),  # 2 UTF-16 units each
        ("ẞİ @test_faq_bot upn", "ẞİ upn"),
    ],
)
def test_the_mention_is_cut_out_exactly(text: str, question: str) -> None:
    assert _question_text(message(text), BOT.id, BOT.username) == question


def test_unaddressed_group_messages_are_ignored_and_private_ones_kept() -> None:
    assert _question_text(message("what is a upn"), BOT.id, BOT.username) is None
    assert _question_text(message("what is a upn", private=True), BOT.id, BOT.username) == "what is a upn"


def test_a_reply_counts_only_when_it_is_to_the_bot_itself() -> None:
    from_bot = Message(2, WHEN, GROUP, from_user=BOT, text="an answer")
    same_name = User(999, "FAQ", is_bot=True, username="test_faq_bot")
    impostor = Message(3, WHEN, GROUP, from_user=same_name, text="an answer")
    assert _question_text(message("and the census?", reply_to=from_bot), BOT.id, BOT.username) == (
        "and the census?"
    )
    assert _question_text(message("and the census?", reply_to=impostor), BOT.id, BOT.username) is None
