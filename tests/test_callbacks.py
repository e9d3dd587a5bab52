"""Callback data: one codec for every button; round trips, the 64-byte limit, the wire format kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.callbacks import (
    CALLBACK_DATA_MAX,
    Callback,
    CallbackTooLong,
    Feedback,
    MoreDetail,
    NoneOfThese,
    OpenEntry,
    OpenSection,
    QueueAttach,
    QueueAttachEntry,
    QueueDismiss,
    QueueMore,
    QueueReply,
    Topics,
    decode,
)
from bot.knowledge import load_knowledge
from bot.replies import render_entry, render_sections
from tests.conftest import SHIPPED

# What the bot has always sent: buttons already in chats must keep working after an upgrade.
OLD_WIRE = {
    "a:upn": OpenEntry("upn"),
    "more:npd-what-is-it": MoreDetail("npd-what-is-it"),
    "sec:census-collections": OpenSection("census-collections"),
    "topics": Topics(),
    "fb:up:upn": Feedback("upn", helpful=True),
    "fb:dn:upn": Feedback("upn", helpful=False),
    "none": NoneOfThese(),
    "q:r:12": QueueReply(12),
    "q:d:12": QueueDismiss(12),
    "q:a:12": QueueAttach(12),
    "q:a:12:3": QueueAttach(12, 3),
    "q:e:12:school-census": QueueAttachEntry(12, "school-census"),
    "q:m:20": QueueMore(20),
}


@pytest.mark.parametrize(("wire", "button"), OLD_WIRE.items())
def test_old_wire_formats_decode_and_encode_unchanged(wire: str, button: Callback) -> None:
    assert decode(wire) == button
    assert button.encode() == wire


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "a",
        "a:",
        "a:UPN",  # ids are lower case
        "a:../x",
        "fb:maybe:upn",
        "fb:up",
        "q:r:",
        "q:r:x",
        "q:r:-1",
        "q:r:1234567890123",  # 13 digits
        "q:r:١٢",  # Arabic-Indic digits are digits to str.isdigit, not to us
        "q:a:1:2:3",
        "q:a:1:12345",  # page numbers have at most 4 digits
        "q:e:1:",
        "q:x:1",
        "topics:1",
        "none:1",
        "sec:" + "a" * 61,
        "x" * 65,
    ],
)
def test_what_the_bot_never_made_decodes_to_none(wire: str) -> None:
    assert decode(wire) is None


ids = st.from_regex(r"[a-z0-9]+(-[a-z0-9]+)*", fullmatch=True).filter(lambda s: len(s) <= 40)
numbers = st.integers(0, 10**12 - 1)
buttons: st.SearchStrategy[Callback] = st.one_of(
    st.builds(OpenEntry, ids),
    st.builds(MoreDetail, ids),
    st.builds(OpenSection, ids),
    st.just(Topics()),
    st.builds(Feedback, ids, st.booleans()),
    st.just(NoneOfThese()),
    st.builds(QueueReply, numbers),
    st.builds(QueueDismiss, numbers),
    st.builds(QueueAttach, numbers, st.none() | st.integers(0, 9999)),
    st.builds(QueueAttachEntry, numbers, ids),
    st.builds(QueueMore, numbers),
)


@given(buttons)
def test_round_trip_within_64_bytes(button: Callback) -> None:
    wire = button.encode()
    assert len(wire.encode()) <= CALLBACK_DATA_MAX
    assert decode(wire) == button


@given(st.text(max_size=80))
def test_decode_never_raises(wire: str) -> None:
    decoded = decode(wire)
    assert decoded is None or decoded.encode() == wire  # one spelling per button


def test_over_64_bytes_is_refused_when_encoding() -> None:
    with pytest.raises(CallbackTooLong, match="over 64 bytes"):
        OpenSection("s" * 61).encode()
    assert len(OpenSection("s" * 60).encode()) == CALLBACK_DATA_MAX


def test_every_shipped_button_goes_through_the_codec() -> None:
    kb = load_knowledge(SHIPPED)
    replies = [render_sections(kb), *(render_entry(e, kb) for e in kb.entries.values())]
    for reply in replies:
        for row in reply.buttons:
            for button in row:
                assert decode(button.data) == button.press
