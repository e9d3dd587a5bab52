"""Rendering: escaping, markup, buttons within Telegram's limits, and safe splitting."""

from __future__ import annotations

import re

import pytest

from bot.callbacks import MoreDetail, OpenEntry
from bot.matcher import Match, Outcome
from bot.replies import (
    CALLBACK_DATA_MAX,
    TELEGRAM_LIMIT,
    Button,
    escape,
    markup_to_html,
    render_detail,
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
        _ = Button("x", OpenEntry("y" * 80)).data


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
    assert [b.data for row in unknown.buttons for b in row] == ["topics"]
    assert render_sections(kb).buttons


def test_an_answer_given_again_says_so_and_keeps_its_buttons(kb) -> None:
    entry = kb.get("upn")
    first = render_match(Match(Outcome.ANSWER, 0.9, entry=entry), kb)
    again = render_match(Match(Outcome.ANSWER, 0.9, entry=entry), kb, again=True)
    assert not first.html.startswith("<i>")
    lead = "<i>That is covered in the answer you just had. Here it is again:</i>"
    assert again.html == f"{lead}\n\n{first.html}"
    assert again.buttons == first.buttons
    assert again.entry_id == "upn"


def test_unknown_reply_says_what_the_bot_covers_and_promises_no_more(kb) -> None:
    """A volunteer is offered for the bot's own topics, not as help with anything at all."""
    for logged in (True, False):
        text = to_plain(render_match(Match(Outcome.UNKNOWN, 0.0), kb, logged=logged).html)
        for topic in ("school census", "National Pupil Database", "how long", "shared", "your rights"):
            assert topic in text, (topic, text)
        assert "/volunteer" in text
        assert "about these topics" in text
        assert "can help with questions I can't answer" not in text
        assert ("kept your question" in text) is logged  # only says it kept what it kept


def test_to_plain_shows_links() -> None:
    assert (
        to_plain('<b>A</b> &amp; <a href="https://x.org/?a=1&amp;b">site</a>')
        == "A & site (https://x.org/?a=1&b)"
    )


def test_also_button_comes_first_after_feedback_and_once(kb) -> None:  # type: ignore[no-untyped-def]
    from bot.replies import render_other_script

    upn, sharing = kb.get("upn"), kb.get("third-party-sharing")
    reply = render_entry(upn, kb, (sharing,), also=sharing)
    # "More detail" may come first
    rows = [row for row in reply.buttons if not isinstance(row[0].press, MoreDetail)]
    data = [b.data for row in rows for b in row]
    assert data[:3] == ["fb:up:upn", "fb:dn:upn", "a:third-party-sharing"]
    assert data.count("a:third-party-sharing") == 1
    assert rows[1][0].label == "Also: Who does the DfE share pupil data with?"
    assert len(reply.buttons) <= 5
    match = Match(Outcome.ANSWER, 0.9, entry=upn)
    rows = render_match(match, kb, also=sharing).buttons
    also_rows = [row for row in rows if not isinstance(row[0].press, MoreDetail)]
    assert also_rows[1][0].press == OpenEntry("third-party-sharing")
    assert also_rows[1][0].data == "a:third-party-sharing"
    assert render_entry(upn, kb, also=upn).buttons == render_entry(upn, kb).buttons  # never itself
    other = render_other_script()
    assert "only understand English" in other.html
    assert "volunteers" in other.html
    assert "/volunteer" in render_other_script(logged=False).html


def _with_detail(entry, detail: str):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(entry, detail=detail)


def test_more_detail_button_only_when_an_entry_has_detail(kb) -> None:
    plain = kb.get("upn")
    without = render_entry(_with_detail(plain, ""), kb)
    assert not any(isinstance(b.press, MoreDetail) for row in without.buttons for b in row)
    detailed = _with_detail(plain, "More **here**, see [the ICO](https://ico.org.uk/).\n\n- one point")
    reply = render_entry(detailed, kb)
    assert reply.buttons[0] == (Button("➕ More detail", MoreDetail("upn")),)
    assert reply.buttons[0][0].data == "more:upn"
    assert reply.buttons[1][0].data == "fb:up:upn"
    assert "More <b>here</b>" not in reply.html  # the detail is not in the answer message
    more = render_detail(detailed)
    assert more is not None
    assert more.entry_id == "upn"
    assert "More <b>here</b>" in more.html
    assert '<a href="https://ico.org.uk/">the ICO</a>' in more.html
    assert "• one point" in more.html
    assert_valid_telegram_html(more.html)
    assert render_detail(_with_detail(plain, "")) is None


def test_every_shipped_detail_renders_valid_html(kb) -> None:
    for entry in kb:
        more = render_detail(entry)
        if more is None:
            continue
        assert any(b.data == f"more:{entry.id}" for row in render_entry(entry, kb).buttons for b in row)
        for part in split_html(more.html):
            assert_valid_telegram_html(part)
