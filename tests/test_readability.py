"""Every answer parents read is plain enough: Flesch reading ease over the whole FAQ (issue 10).

It walks the loaded FAQ, so entries added later (new topics, ``outside-`` signposts, "More detail"
texts) are held to the same floor without being listed here.
"""

from __future__ import annotations

import statistics

from bot.knowledge import KnowledgeBase
from tools.readability import MEDIAN_FLOOR, MINIMUM_FLOOR, plain_text, reading_ease, scores


def test_plain_text_drops_markup_and_ends_each_line_as_a_sentence() -> None:
    text = plain_text("Ask **the school**.\n\n- see [the ICO page](https://ico.org.uk/x)\n- done!")
    assert text == "Ask the school.\nsee the ICO page.\ndone!"


def test_reading_ease_tells_plain_from_dense_text() -> None:
    plain = "You can ask the school. It must reply in a month."
    dense = (
        "Notwithstanding the aforementioned statutory obligations, organisational accountability "
        "necessitates comprehensive documentation of processing activities."
    )
    assert reading_ease(plain) > 80 > 20 > reading_ease(dense)


def test_every_answer_and_detail_is_readable(kb: KnowledgeBase) -> None:
    results = list(scores(kb))
    assert len(results) >= len(kb)  # one per answer, plus one per detail text
    too_hard = {r.name: round(r.score, 1) for r in results if r.score < MINIMUM_FLOOR}
    assert not too_hard, f"below {MINIMUM_FLOOR}: {too_hard} (see tools/readability.py)"
    median = statistics.median(r.score for r in results)
    assert median >= MEDIAN_FLOOR, f"median reading ease {median:.1f} is under {MEDIAN_FLOOR}"
