"""Rendering: escaping, markup, buttons within Telegram's limits, and safe splitting."""

from __future__ import annotations

import re

import pytest

from bot.matcher import Match, Outcome
from bot.replies import (
    CALLBACK_DATA_MAX,
    TELEGRAM_LIMIT,
    Button,
    escape,
    markup_to_html,
    render_entry,
    render_match,
    render_sections,
    split_html,
    to_plain,
)
from tests.telegram_html import visible_text


def assert_valid_telegram_html(text: str) -> None:
    assert len(text) <= TELEGRAM_LIMIT
    visible_text(text, bot_rules=True)


def test_markup_converts_bold_links_and_bullets() -> None:
    out = markup_to_html("Hello **you**.\n\n- see [GOV.UK](https://www.gov.uk/x?a=1&b=2)\n- <script>")
    assert "<b>you</b>" in out
    assert '<a href="https://www.gov.uk/x?a=1&amp;b=2">GOV.UK</a>' in out
    assert "• &lt;script&gt;" in out
    assert_valid_telegram_html(out)


def test_only_https_links_become_links() -> None:
    assert "<a" not in markup_to_html("[x](javascript:alert(1)) [y](http://a.b)")


def test_user_text_is_escaped() -> None:
    assert escape("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"


def test_every_shipped_entry_renders_valid_html(kb) -> None:
    for entry in kb:
        reply = render_entry(entry, kb)
        for part in split_html(reply.html):
            assert_valid_telegram_html(part)
        for row in reply.buttons:
            for b in row:
                assert len(b.data.encode()) <= CALLBACK_DATA_MAX


@pytest.mark.parametrize(
    "text",
    [
        "<b>" + "word " * 2000 + "</b>",  # 10,000 chars inside one tag
        "x" * 5000,  # one huge word
        ("&amp; " * 1500),  # entities must not be cut
        ("<i>a</i> " * 900) + ("\u200f\u200b\u05e9\u05dc\u05d5\u05dd " * 300),  # RTL and zero-width
        "para one\n\n" + '<a href="https://x.org">' + "link text " * 600 + "</a>",
    ],
)
def test_split_never_breaks_tags_or_entities(text: str) -> None:
    parts = split_html(text)
    assert len(parts) >= 2
    for part in parts:
        assert_valid_telegram_html(part)
    joined = re.sub(r"<[^>]+>|\s+", "", "".join(parts))
    assert joined == re.sub(r"<[^>]+>|\s+", "", text)  # no text lost or duplicated


def test_short_text_is_not_split() -> None:
    assert split_html("hello") == ["hello"]


def test_button_data_limit_is_enforced() -> None:
    with pytest.raises(ValueError, match="callback data over"):
        _ = Button("x", "a", "y" * 80).data


def test_render_outcomes(kb) -> None:
    entry = kb.get("upn")
    answer = render_match(Match(Outcome.ANSWER, 0.9, entry=entry), kb)
    assert answer.entry_id == "upn"
    assert "Sources" in answer.html
    assert any(b.data == "fb:up:upn" for row in answer.buttons for b in row)
    suggest = render_match(Match(Outcome.SUGGEST, 0.3, suggestions=(entry,)), kb)
    assert [b.data for row in suggest.buttons for b in row] == ["a:upn", "none"]
    unknown = render_match(Match(Outcome.UNKNOWN, 0.0), kb)
    assert "don't know" in unknown.html
    assert "volunteers" in unknown.html
    assert render_sections(kb).buttons


def test_to_plain_shows_links() -> None:
    assert (
        to_plain('<b>A</b> &amp; <a href="https://x.org/?a=1&amp;b">site</a>')
        == "A & site (https://x.org/?a=1&b)"
    )
