"""Hostile input, property-tested: the matcher, the renderer and the normaliser never fail on any text,
and every reply the bot renders is Telegram HTML that Telegram would accept.

The last tests push random hostile messages through the running bot (fake Bot API, which validates
HTML and length and answers 400 to anything invalid).
"""

from __future__ import annotations

import asyncio
import html
import re
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.callbacks import OpenSection
from bot.knowledge import KnowledgeBase
from bot.live import Snapshot
from bot.matcher import Match, Outcome
from bot.privacy import redact
from bot.replies import (
    BUTTON_LABEL_MAX,
    CALLBACK_DATA_MAX,
    TELEGRAM_LIMIT,
    Reply,
    escape,
    markup_to_html,
    render_entry,
    render_match,
    render_section,
    render_sections,
    split_html,
    to_plain,
)
from bot.telegram.app import SORRY
from bot.text import fold, words
from tests.fake_bot_api import utf16_len
from tests.telegram_harness import PARENT, VOLUNTEER_CHAT, running_bot
from tests.telegram_html import HTMLError, visible_text

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- a strict Telegram HTML check


def visible(part: str) -> str:
    """Validate one message part as Telegram HTML under the bot's own rules; return its visible text."""
    return visible_text(part, bot_rules=True)


def assert_sendable(reply_html: str) -> list[str]:
    """Split as send_reply does; every part must be valid, non-empty and within Telegram's limit."""
    parts = split_html(reply_html)
    assert parts
    for part in parts:
        assert len(part) <= TELEGRAM_LIMIT, len(part)
        assert visible(part).strip(), f"a part with no visible text: {part[:100]!r}"
    return parts


def assert_buttons_ok(reply: Reply) -> None:
    for row in reply.buttons:
        assert row
        for button in row:
            assert 1 <= len(button.label) <= BUTTON_LABEL_MAX
            assert 1 <= len(button.data.encode()) <= CALLBACK_DATA_MAX


def test_the_checker_itself_rejects_what_telegram_rejects() -> None:
    for bad in (
        "a < b",
        "a > b",
        "AT&T",
        "&nbsp;",
        "<b>x",
        "<b><i>x</b></i>",
        "<script>x</script>",
        '<a href="javascript:x">y</a>',
        "<a>y</a>",
        '<b class="x">y</b>',
        "</b>",
    ):
        with pytest.raises(HTMLError):
            visible(bad)
    assert visible('<b>A</b> &amp; <a href="https://x.org/?a=1&amp;b=2">l</a> &#128512;') == "A & l 😀"


# --------------------------------------------------------------------------- strategies

HOSTILE = [
    "<b>",
    "</b>",
    "</a>",
    "<a href='x'>",
    "<script>alert(1)</script>",
    "<",
    ">",
    "&",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&nosuch;",
    "**",
    "**bold**",
    "__",
    "`",
    "```",
    "[x](javascript:alert(1))",
    '[x](https://evil.example/"><b>)',
    "[**a](https://x.org)**",
    "*",
    "_",
    "~",
    "||",
    "\\",
    "'; DROP TABLE log; --",
    '" OR 1=1 --',
    "' OR ''='",
    "UNION SELECT * FROM delivery",
    "%s%n%x",
    "{0}{1}",
    "${jndi:ldap://x}",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\r\n",
    "\n",
    "\t",
    "\x0b",
    "\x0c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2028",
    "\u2029",
    "\u00a0",
    "\u0301",
    "\u0336",
    "😀",
    "👨\u200d👩\u200d👧\u200d👦",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "🇬🇧",
    "\U0010fffd",
    "\ue000",
    "\u0378",
    "שלום",
    "مرحبا",
    "ﬁ",
    "ẞ",
    "İ",
    "ŉ",
    "Ⅻ",
    "①",
    "²",
    "١٢٣",
    "ｗｈａｔ ｉｓ ａ ｕｐｎ",
    "census",
    "upn",
    "school census",
    "opt out",
    "national pupil database",
    "my child's data",
    "@test_faq_bot",
    "/start",
    "/volunteer",
    "mum@example.com",
    "07700 900123",
    "SW1A 1AA",
    "A123456789012",
    "01/02/2015",
    "x" * 600,
]
# Every unicode category except lone surrogates (which no UTF-8 message can carry).
ANY_CHAR = st.characters(exclude_categories=("Cs",))
any_text = st.text(ANY_CHAR, max_size=200)
very_long_word = st.integers(1000, 4096).map(lambda n: "a" * n)
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), any_text, st.just(" ")), max_size=30).map("".join)
# A message of exactly 4,096 characters, made of hostile pieces.
full_length = hostile_text.filter(bool).map(lambda t: (t * (TELEGRAM_LIMIT // len(t) + 1))[:TELEGRAM_LIMIT])
messages = st.one_of(
    st.just(""),
    st.text(st.sampled_from(" \t\n\r\u00a0\u2028\u3000\u200b"), max_size=50),
    any_text,
    hostile_text,
    very_long_word,
    full_length,
)


# --------------------------------------------------------------------------- the matcher


@FAST
@given(text=messages)
def test_matcher_never_fails_and_stays_in_range(snap: Snapshot, text: str) -> None:
    m = snap.match(text)
    assert isinstance(m.outcome, Outcome)
    assert 0.0 <= m.score <= 1.0
    assert len(m.suggestions) <= 3
    ids = [e.id for e in m.suggestions]
    assert len(set(ids)) == len(ids)
    if m.outcome is Outcome.ANSWER:
        assert m.entry is not None
        assert m.entry.id not in ids
    else:
        assert m.entry is None
    if m.outcome is Outcome.SUGGEST:
        assert m.suggestions  # "did you mean" always has something to offer
    if m.outcome in (Outcome.EMPTY, Outcome.SMALLTALK):
        assert m.score == 0.0
    if m.outcome is Outcome.SMALLTALK:
        assert m.smalltalk is not None
    if not words(text):
        assert m.outcome is Outcome.EMPTY
    assert snap.match(text) == m  # deterministic
    for score, index in snap.matcher.scores(text):
        assert score >= 0.0
        assert 0 <= index < len(snap.kb)


@FAST
@given(text=messages)
def test_normaliser_never_fails_and_yields_clean_terms(snap: Snapshot, text: str) -> None:
    folded = fold(text)
    # invisible format characters (zero-width, direction marks) and non-space controls are gone
    assert not any(unicodedata.category(c) in ("Cf", "Cs") for c in folded)
    assert not any(unicodedata.category(c) == "Cc" and not c.isspace() for c in folded)
    ws = words(text)
    assert all(re.fullmatch(r"[a-z0-9]+", w) for w in ws), ws
    terms = snap.matcher.normaliser.terms(text)
    assert all(t and not any(c.isspace() for c in t) for t in terms), terms
    assert snap.matcher.normaliser.terms(text, correct=False) is not None
    assert isinstance(redact(text), str)


INVISIBLE = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202e"])


@FAST
@given(
    ws=st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12), min_size=1, max_size=8),
    junk=st.lists(INVISIBLE, min_size=1, max_size=5),
    data=st.data(),
)
def test_zero_width_and_direction_marks_inside_words_change_nothing(
    ws: list[str], junk: list[str], data: st.DataObject
) -> None:
    text = " ".join(ws)
    polluted = text
    for mark in junk:
        at = data.draw(st.integers(0, len(polluted)))
        polluted = polluted[:at] + mark + polluted[at:]
    assert words(polluted) == words(text)


# Found by these tests (fold() used to drop \n and \t, gluing 'national\npupil' into 'nationalpupil'),
# since fixed in bot/text.py.
@SLOW
@given(
    ws=st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12), min_size=2, max_size=6),
    sep=st.sampled_from(["\n", "\r\n", "\t", "\n\n", "\x0b", "\x0c"]),
)
def test_line_breaks_and_tabs_separate_words(ws: list[str], sep: str) -> None:
    assert words(sep.join(ws)) == words(" ".join(ws))


@pytest.mark.parametrize(
    "question",
    [
        "national\npupil\ndatabase",
        "how long\nis data\nkept",
        "what is the\nschool census",
        "can i\nopt out\nof the census",
        "unique\tpupil\tnumber",
    ],
)
def test_a_question_typed_over_several_lines_matches_like_one_line(snap: Snapshot, question: str) -> None:
    one_line = " ".join(question.split())
    assert snap.match(question).best_id == snap.match(one_line).best_id
    assert snap.match(question).outcome is snap.match(one_line).outcome


# --------------------------------------------------------------------------- the renderer


@FAST
@given(text=messages)
def test_every_reply_to_any_message_is_sendable(snap: Snapshot, text: str) -> None:
    m = snap.match(text)
    for logged in (True, False):
        reply = render_match(m, snap.kb, logged=logged)
        assert_sendable(reply.html)
        assert_buttons_ok(reply)
        assert to_plain(reply.html).strip()


def _entries(kb: KnowledgeBase) -> st.SearchStrategy:
    return st.sampled_from(sorted(kb.entries.values(), key=lambda e: e.id))


@SLOW
@given(data=st.data(), score=st.floats(0.0, 1.0))
def test_every_outcome_renders_valid_html(kb: KnowledgeBase, data: st.DataObject, score: float) -> None:
    entries = _entries(kb)
    entry = data.draw(entries)
    extra = tuple(data.draw(st.lists(entries, max_size=3, unique_by=lambda e: e.id)))
    matches = [
        Match(Outcome.ANSWER, score, entry=entry, suggestions=extra),
        Match(Outcome.SUGGEST, score, suggestions=extra or (entry,)),
        Match(Outcome.SUGGEST, score),  # nothing to suggest falls back to "I don't know"
        Match(Outcome.UNKNOWN, score),
        Match(Outcome.EMPTY, 0.0),
    ]
    matches += [Match(Outcome.SMALLTALK, 0.0, smalltalk=s) for s in kb.smalltalk]
    for m in matches:
        reply = render_match(m, kb)
        assert_sendable(reply.html)
        assert_buttons_ok(reply)
    answer = render_match(matches[0], kb)
    assert answer.entry_id == entry.id
    assert len(answer.buttons) <= 5
    feedback = answer.buttons[1] if entry.detail else answer.buttons[0]  # "More detail" comes first
    assert [b.data for b in feedback] == [f"fb:up:{entry.id}", f"fb:dn:{entry.id}"]


def test_every_entry_section_and_topic_list_is_sendable(kb: KnowledgeBase) -> None:
    for entry in kb:
        reply = render_entry(entry, kb)
        text = " ".join(visible(p) for p in assert_sendable(reply.html))
        assert "Sources" in text
        assert html.unescape(escape(entry.question)) in text
        assert_buttons_ok(reply)
    assert_buttons_ok(render_sections(kb))
    presses = [b.press for row in render_sections(kb).buttons for b in row]
    keys = [p.slug for p in presses if isinstance(p, OpenSection)]
    assert len(set(keys)) == len(kb.sections)  # one distinct key per section
    for key in keys:
        section = render_section(kb, key)
        assert section is not None
        assert_sendable(section.html)
        assert_buttons_ok(section)
    assert render_section(kb, "0") is None
    assert render_section(kb, "no-such-section") is None


# Author markup: anything an author can type, including stray or crossing ** and [..](..) pieces
# (bold crossing a link was a bug once; it is fixed and tested on its own below, so it is fair game here).
_url = st.text("abcdefghijklmnopqrstuvwxyz0123456789/-_.?=&%#~+", max_size=40).map(
    lambda p: "https://x.org/" + p
)
_author_piece = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(ANY_CHAR, max_size=40),
    st.sampled_from(["**", "[", "]", "(", ")", "](https://x.org/", "- ", "\n- "]),
)
_link = st.builds(lambda label, url: f"[{label}]({url})", st.text(ANY_CHAR, min_size=1, max_size=20), _url)
_bold = st.text(ANY_CHAR, min_size=1, max_size=20).map(lambda t: f"**{t}**")
_line = st.lists(st.one_of(_author_piece, _link, _bold), max_size=10).map("".join)
author_markup = st.lists(st.tuples(st.sampled_from(["", "- ", "  - "]), _line), max_size=8).map(
    lambda lines: "\n".join(p + t for p, t in lines)
)


@FAST
@given(text=st.one_of(author_markup, hostile_text))
def test_author_markup_becomes_valid_html_and_nothing_else(text: str) -> None:
    out = markup_to_html(text)
    if out.strip():
        for part in split_html(out):
            visible(part)
    # only https links and bold are ever produced; everything typed is shown as typed
    assert not re.search(r"<(?!/?(?:b|a)[ >])", out)
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', out))
    assert out.count("<b>") == out.count("</b>")
    assert out.count("<a ") == out.count("</a>")


@pytest.mark.parametrize(
    "text", ["[**a](https://x.org)**", "**see [GOV.UK](https://x.org/**)", "[a](https://x.org/**b**)"]
)
def test_bold_crossing_a_link_still_gives_valid_html(text: str) -> None:
    visible(markup_to_html(text))


# Valid HTML such as the bot builds it: escaped user text of any kind (line breaks included, inside tags
# too), b/i/u/s/code spans, possibly empty or nested, and https links with any label; very long words
# anywhere, straight after a tag included, in letters or in emoji (two UTF-16 units each).
_short_text = st.one_of(
    st.text(ANY_CHAR, max_size=200), st.sampled_from(HOSTILE), st.sampled_from([" ", "\n", "\n\n"])
).map(escape)
_long_word = st.one_of(very_long_word, st.integers(500, 2100).map(lambda n: "😀" * n))
_any_text = st.one_of(_short_text, _short_text, _short_text, _long_word)


@st.composite
def bot_html(draw: st.DrawFn, text: st.SearchStrategy[str] = _any_text, depth: int = 0) -> str:
    out = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["text", "text", "text", "tag", "link"] if depth < 3 else ["text"]))
        if kind == "text":
            out.append(draw(text))
        elif kind == "tag":
            name = draw(st.sampled_from(["b", "i", "u", "s", "code"]))
            out.append(f"<{name}>{draw(bot_html(text, depth + 1))}</{name}>")
        else:
            url = html.escape(draw(_url))
            label = draw(st.one_of(st.text("abc def\n", min_size=1, max_size=50), text))
            out.append(f'<a href="{url}">{label if label.strip() else "x"}</a>')
    return "".join(out)


@SLOW
@given(text=bot_html(), repeat=st.integers(1, 12))
def test_split_html_keeps_every_part_valid_and_loses_nothing(text: str, repeat: int) -> None:
    text = text * repeat
    original = visible(text)
    if not original.strip():
        return
    parts = assert_sendable(text)
    if utf16_len(text) <= TELEGRAM_LIMIT:  # Telegram counts UTF-16 units, as split_html does
        assert parts == [text]
    joined = "".join(visible(p) for p in parts)
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", original)  # nothing lost or duplicated


@SLOW
@given(text=bot_html(), limit=st.integers(150, 800))
def test_split_html_at_any_limit_keeps_every_part_valid_and_loses_nothing(text: str, limit: int) -> None:
    """Small limits make many cuts per example: tags reopened across parts, long words cut by length."""
    original = visible(text)
    if not original.strip():
        return
    parts = split_html(text, limit)
    for part in parts:
        assert utf16_len(part) <= limit, (utf16_len(part), limit)
        assert visible(part).strip(), part
    joined = "".join(visible(p) for p in parts)
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", original)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 3000 + "<i>b\nc</i> " + "d" * 1200,
        "💬 <b>A volunteer replied to your question</b> <i>"
        + (("zyxt " * 900)[:3778] + "\n" + "plimf " * 60)[:3978]
        + "</i>\n\n"
        + "Schools may not sell photos. " * 10,
    ],
)
def test_split_html_never_cuts_inside_a_closed_tag_pair(text: str) -> None:
    for part in split_html(text):
        visible(part)


@pytest.mark.parametrize(
    "text",
    ["y" * 3000 + "\n" + "z" * 1000 + " " + "w" * 3500, "y" * 3000 + "\n" + "z" * 1000 + " " + "w" * 5000],
)
def test_split_html_paragraph_cut_stays_within_the_limit(text: str) -> None:
    assert all(len(p) <= TELEGRAM_LIMIT for p in split_html(text)), [len(p) for p in split_html(text)]


def test_split_html_long_word_inside_a_long_link_stays_within_the_limit() -> None:
    url = "https://www.gov.uk/government/publications/national-pupil-database-user-guide-and-supporting"
    parts = split_html(f'<a href="{url}">{"w" * 5000}</a>')
    assert all(len(p) <= TELEGRAM_LIMIT for p in parts), [len(p) for p in parts]


@pytest.mark.parametrize("text", ["<b>" + "a" * 5000 + "</b>", "x " * 2015 + "<i>" + "w" * 5000 + "</i>"])
def test_split_html_never_makes_a_part_without_text(text: str) -> None:
    for part in split_html(text):
        assert visible(part).strip(), part


def test_split_html_measures_length_as_telegram_does() -> None:
    parts = split_html("<i>" + "😀 " * 3000 + "</i>")
    assert all(utf16_len(visible(p)) <= TELEGRAM_LIMIT for p in parts), [utf16_len(p) for p in parts]


# --------------------------------------------------------------------------- through the running bot

COMMAND_PREFIX = st.sampled_from(
    ["", "", "", "/volunteer ", "/start ", "/nosuchcommand ", "/queue ", "/help "]
)
telegram_text = st.builds(lambda prefix, body: prefix + body, COMMAND_PREFIX, messages).filter(
    lambda t: t and utf16_len(t) <= TELEGRAM_LIMIT
)


async def _conversation(texts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_bot(Path(tmp)) as bot:
            ids = []
            for text in texts:
                update = bot.api.inject_message(PARENT, text)
                ids.append(update["message"]["message_id"])
            await bot.api.wait_for("sendMessage", chat_id=PARENT, count=len(texts), timeout=10)
            await bot.settle()  # a second reply to any message would have been sent by now
            failed = [
                c
                for c in bot.api.calls
                if c.method == "sendMessage" and not c.ok and str(c.params.get("chat_id")) == str(PARENT)
            ]
            assert not failed, failed
            sent = bot.api.sent("sendMessage", chat_id=PARENT)
            assert len(sent) == len(texts), [s["text"][:60] for s in sent]
            assert not any(SORRY in s["text"] for s in sent)
            replied_to = [(s.get("reply_parameters") or {}).get("message_id") for s in sent]
            answers_to_questions = [i for i in replied_to if i is not None]
            assert len(answers_to_questions) == len(set(answers_to_questions))
            assert set(answers_to_questions) <= set(ids)
            # and the bot still works normally afterwards
            reply = await bot.ask("what is a unique pupil number?")
            assert "Sources" in reply["text"]
            # at most one log row per message (unknown questions and /volunteer), none for the rest
            assert await bot.store.count_log(None) <= len(texts)
            assert not any(
                c.status == 400 and "parse" in str(c.result)
                for c in bot.api.calls
                if str(c.params.get("chat_id")) == str(VOLUNTEER_CHAT)
            )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(telegram_text, min_size=1, max_size=5))
def test_hostile_messages_each_get_exactly_one_reply_and_the_bot_keeps_working(texts: list[str]) -> None:
    asyncio.run(_conversation(texts))


def test_worst_case_messages_through_the_bot() -> None:
    asyncio.run(
        _conversation(
            [
                "<b>" * 1000 + "&" * 1000 + "</a>" * 500,
                "/volunteer " + "[x](javascript:alert(1)) **<i>** '; DROP TABLE log; --" * 40,
                "\u202e\u200b\x00" * 1300,
                "w" * 4096,
                "👨\u200d👩\u200d👧\u200d👦" * 580,
            ]
        )
    )


async def test_emoji_heavy_question_reaches_the_volunteers(tmp_path: Path) -> None:
    from tests.telegram_harness import VOLUNTEER

    async with running_bot(tmp_path) as bot:
        text = "/volunteer zyxt " + "😀" * 2030
        assert utf16_len(text) <= TELEGRAM_LIMIT
        await bot.ask(text)
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT, include_failed=True)
        await bot.ask("/queue", user=VOLUNTEER)
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=2, include_failed=True)
        await bot.settle()
        failed = [c for c in bot.api.calls if c.method == "sendMessage" and not c.ok]
        assert not failed, failed
        assert not any(SORRY in t for t in bot.texts(VOLUNTEER))


async def test_volunteer_reply_to_a_long_multi_line_question_is_delivered(tmp_path: Path) -> None:
    from tests.telegram_harness import VOLUNTEER

    question = (("zyxt " * 900)[:3778] + "\n" + "plimf " * 60)[:3978]
    async with running_bot(tmp_path) as bot:
        bot.api.start_chat(VOLUNTEER)  # so the bot may write to the volunteer privately
        await bot.ask(question)
        [item] = await bot.store.list_log("open")
        assert item.text == question  # nothing to redact: the length is exactly the one that matters
        card = (await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT))[0].result
        await bot.press(VOLUNTEER, card, f"q:r:{item.id}")
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER)
        bot.api.inject_message(VOLUNTEER, "Schools may not sell photos. " * 10)
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=2, include_failed=True)
        texts = bot.texts(PARENT)
        assert any("A volunteer replied" in t for t in texts)
        assert "sell photos" in texts[-1]
        assert (await bot.store.get_log(item.id)).status == "answered"
