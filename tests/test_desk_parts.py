"""The desk's parts without HTTP: the atomic claim, links and sessions, SVG charts, themes, settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.desk import charts
from bot.desk.auth import LINK_SECONDS, SESSION_SECONDS, Auth
from bot.desk.themes import group
from bot.desk.views import MatchCache, draft_yaml, themes
from bot.live import Snapshot
from bot.store import LogQuery, Store


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    opened = await Store.open(tmp_path / "s.sqlite3", b"k" * 32)
    yield opened  # type: ignore[misc]
    await opened.close()


async def test_two_claims_on_one_item_one_wins(tmp_path: Path) -> None:
    # two connections to one file, as Telegram and the desk would race in the worst case
    a = await Store.open(tmp_path / "s.sqlite3", b"k" * 32)
    b = await Store.open(tmp_path / "s.sqlite3", b"k" * 32)
    try:
        log_id = await a.log_question(1, 11, "a question", reason="unanswered")
        results = await asyncio.gather(a.claim(log_id, "answered"), b.claim(log_id, "dismissed"))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert winners[0].chat_id == 11
        assert await a.delivery_chat(log_id) is None
        assert (await a.get_log(log_id)).status == winners[0].item.status  # type: ignore[union-attr]
    finally:
        await a.close()
        await b.close()


async def test_unclaim_reopens_with_the_chat(store: Store) -> None:
    log_id = await store.log_question(1, 11, "a question", reason="unanswered")
    claim = await store.claim(log_id, "attached", attached_entry="upn")
    assert claim is not None
    assert claim.item.attached_entry == "upn"
    await store.unclaim(claim)
    item = await store.get_log(log_id)
    assert item is not None
    assert item.status == "open"
    assert item.attached_entry is None
    assert await store.delivery_chat(log_id) == 11
    with pytest.raises(ValueError, match="cannot claim"):
        await store.claim(log_id, "open")


async def test_find_log_filters_and_day_counts(store: Store) -> None:
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    for days_ago, reason in ((0, "unanswered"), (1, "none_of_these"), (3, "unanswered"), (40, "unanswered")):
        await store.log_question(1, 1, f"q{days_ago}", reason=reason, now=now - timedelta(days=days_ago))
    await store.count_answer("upn", now=now)
    for _ in range(2):
        await store.count_suggestion(now=now)
    items, total = await store.find_log(LogQuery(since="2026-05-07", until="2026-05-09", newest_first=True))
    assert total == 2
    assert [i.text for i in items] == ["q1", "q3"]
    daily = await store.daily(7, now=now)
    assert len(daily) == 7
    assert daily[-1].day == "2026-05-10"
    assert daily[-1].answered == 1
    assert [d.suggested for d in daily[-2:]] == [0, 2]
    assert daily[-2].logged == {"none_of_these": 1}
    first = (await store.find_log(LogQuery()))[0][0]
    await store.set_status(first.id, "dismissed", now=now - timedelta(days=2))
    sizes = await store.queue_sizes(5, now=now)  # 05-06 .. 05-10
    assert sizes == [1, 2, 1, 2, 3]  # q3 logged on day 2, q40 closed on day 3, q1 and q0 logged


def test_links_are_single_use_and_expire() -> None:
    clock = [1000.0]
    auth = Auth(clock=lambda: clock[0])
    token = auth.issue_link(7)
    assert auth.link_valid(token)
    session = auth.redeem(token)
    assert session
    assert auth.session(session).user_id == 7
    assert auth.redeem(token) is None  # used
    late = auth.issue_link(7)
    clock[0] += LINK_SECONDS + 1
    assert not auth.link_valid(late)
    assert auth.redeem(late) is None
    clock[0] += SESSION_SECONDS
    assert auth.session(session) is None  # 12 hours later
    newer, older = auth.issue_link(8), None
    older, newer = newer, auth.issue_link(8)
    assert not auth.link_valid(older)
    assert auth.link_valid(newer)
    assert auth.redeem("nonsense") is None
    assert auth.session("nonsense") is None


def test_csrf_token_is_tied_to_the_session() -> None:
    auth = Auth()
    one = auth.session(auth.redeem(auth.issue_link(1)))
    two = auth.session(auth.redeem(auth.issue_link(2)))
    assert one
    assert two
    assert one.csrf != two.csrf
    assert auth.csrf_ok(one, one.csrf)
    assert not auth.csrf_ok(one, two.csrf)
    assert not auth.csrf_ok(one, None)


def test_charts_escape_labels_and_draw_every_value() -> None:
    svg = charts.bars([("<script>", 3), ("b&c", 0)], "s-answered", "x")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "b&amp;c" in svg
    stacked = charts.stacked_days(
        ["2026-01-01", "2026-01-02"],
        [charts.Series("a", "s-a", (1, 0)), charts.Series("b", "s-b", (2, 5))],
        "t",
    )
    assert stacked.count("<rect") == 3  # zero values draw nothing
    assert "style=" not in stacked + svg  # the CSP forbids inline styles
    assert charts._nice_max(7) == 10
    assert charts._nice_max(101) == 200
    assert "No feedback" in charts.votes([], "v")


RECORDS = (  # one need, few shared words
    "can I see what the school holds on my son",
    "what information does the school keep about my kid",
    "can I get a copy of my child's school file",
)
OTHERS = (
    "how do I book the school minibus for a trip",
    "booking the minibus for a school trip",
    "can the dinner ladies see my sons allergy records",
    "do dinner ladies see allergy records",
    "what time does the school bus leave",
    "hello??",
)


def test_themes_group_paraphrases_by_meaning_and_keep_apart_the_rest(snap: Snapshot) -> None:
    texts = [*RECORDS, *OTHERS]
    m = snap.matcher
    vectors = m.encoder.encode([m.encoder_text(t) for t in texts])  # the real model
    sets = sorted(sorted(g.members) for g in group(vectors))
    # "holds on my son" and "keep about my kid" share only "what the school": grouped by meaning
    assert sets == [[0, 1, 2], [3, 4], [5, 6], [7], [8]]
    weighted = group(vectors, [1, 1, 1, 1, 1, 9, 1, 1, 1])
    assert weighted[0].size == 10  # the allergy pair, one of them asked nine times
    assert weighted[0].members[0] == 5


async def test_themes_page_groups_by_the_encoder_and_forgets_its_vectors(
    snap: Snapshot, store: Store
) -> None:
    for text in (*RECORDS, *OTHERS, RECORDS[0]):
        await store.log_question(1, 11, text, reason="unanswered")
    cache = MatchCache()
    found = await themes(store, snap, 30, cache)
    assert (found.count, found.limited) == (10, False)
    assert sorted(i.text for i in found.groups[0].items) == sorted([*RECORDS, RECORDS[0]])
    assert cache.holds("what time does the school bus leave")  # its vector and nearest entry are cached
    cache.clear()  # as /forget and the retention purge do
    assert not cache.holds("what time does the school bus leave")
    newest = await themes(store, snap, 30, cache, limit=4)
    assert (newest.count, newest.limited) == (4, True)  # only the newest 4: the page says so
    assert sum(len(g.items) for g in newest.groups) == 4


def test_draft_yaml_quotes_parents_text() -> None:
    import yaml

    text = draft_yaml(["what: about this", "- and this", "#hash"])
    data = yaml.safe_load(text)
    entry = data["entries"][0]
    assert entry["question"] == "what: about this"
    assert entry["alternatives"] == ["- and this", "#hash"]


def test_desk_settings() -> None:
    s = load_settings({"FAQBOT_DESK_PORT": "8080", "FAQBOT_DESK_URL": "https://x.org/desk/"}, dotenv=None)
    assert s.desk_port == 8080
    assert s.desk_listen == "127.0.0.1"
    assert s.desk_url == "https://x.org/desk"
    assert load_settings({}, dotenv=None).desk_port is None
    with pytest.raises(ConfigError) as err:
        load_settings({"FAQBOT_DESK_PORT": "eighty", "FAQBOT_DESK_URL": "x.org"}, dotenv=None)
    assert len(err.value.problems) == 2
