"""The matcher on messages as parents write them, and on what it must not answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.matcher import Matcher, MatchSettings, Outcome
from bot.text import Normaliser, fold, stem, words

REGRESSION = Path(__file__).parent / "data" / "regression.yaml"


def answer_id(snap, question: str) -> str | None:
    m = snap.match(question)
    return m.entry.id if m.outcome is Outcome.ANSWER and m.entry else None


def offered(snap, question: str) -> list[str]:
    m = snap.match(question)
    ids = [m.entry.id] if m.entry else []
    return ids + [e.id for e in m.suggestions]


# --------------------------------------------------------------------------- normalisation


def test_fold_handles_case_accents_apostrophes_and_invisible_characters() -> None:
    assert fold("Café’S\u200bDATA") == "cafe'sdata"
    assert words("My daughter’s UPN, isn't it?") == ["my", "daughter", "upn", "isnt", "it"]
    assert words("census\tdata\nnpd") == words("cénsus\tdata\nnpd") == ["census", "data", "npd"]


def test_stemming_folds_word_forms() -> None:
    assert stem("censuses") == stem("census")
    assert stem("objecting") == stem("object") == stem("objection")


def test_irregular_verb_forms_meet_their_verb() -> None:
    assert stem("kept") == stem("keep") == stem("keeping")
    assert stem("sold") == stem("sell")
    assert stem("written") == stem("writes")
    assert stem("left") == stem("leaving")


def test_synonym_phrases_fold_to_one_term() -> None:
    n = Normaliser([["npd", "national pupil database"], ["sar", "subject access request"]], ["database"])
    assert n.terms("the National Pupil Database") == ["npd"]
    assert n.terms("send a Subject Access Request") == ["send", "sar"]


def test_typos_are_corrected_against_the_faq_vocabulary() -> None:
    n = Normaliser([], ["separate exclusion database"])
    assert n.terms("seperate exlcusion databse") == [stem("separate"), stem("exclusion"), stem("database")]
    assert n.correct("zebra") == "zebra"  # nothing close: left alone


def test_ambiguous_or_short_words_are_not_corrected() -> None:
    n = Normaliser([], ["break read census bot"])
    assert n.correct("bread") == "bread"  # one edit from "break" and from "read": ambiguous
    assert n.correct("boat") == "boat"  # too short to guess
    assert n.correct("cenus") == "census"


def test_everyday_english_words_are_not_corrected() -> None:
    n = Normaliser([], ["store links protected seperately"])
    assert n.correct("score") == "score"  # a word, not a typo for "store"
    assert n.correct("lines") == "lines"
    assert n.correct("prosecuted") == "prosecuted"
    assert n.correct("stroe") == "store"  # a real typo is still fixed


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("WHAT IS THE SCHOOL CENSUS", "school-census"),  # shouting
        ("what is the shcool cenus", "school-census"),  # typos
        ("npd??", "national-pupil-database"),  # jargon alone
        ("what is a subject access request", "subject-access-request"),
        ("can the school use my sons fingerprint for lunch without asking me", "biometrics-consent"),
        ("ico complaint how", "complain-ico"),
        (
            "hi there, sorry to bother you, I'm a mum of three and I've been reading about all this and "
            "I'm honestly quite worried, how long does the department for education actually keep my kids "
            "records for, like forever?",
            "dfe-retention",
        ),
        ("what is a unique pupil number", "upn"),
    ],
)
def test_answers_messages_as_parents_write_them(snap, question: str, expected: str) -> None:
    assert answer_id(snap, question) == expected, snap.match(question)


@pytest.mark.parametrize(
    "question",
    [
        "whats the weather like in leeds tomorrow",
        "recipe for banana bread",
        "how do I reset my iphone",
        "who won the football last night",
        "asdfghjkl qwertyuiop",
    ],
)
def test_out_of_scope_gets_no_answer(snap, question: str) -> None:
    assert answer_id(snap, question) is None


@pytest.mark.parametrize(
    ("message", "smalltalk_id"),
    [
        ("hi", "greeting"),
        ("Hello there!", "greeting"),
        ("thanks so much", "thanks"),
        ("are you a bot?", "are-you-a-bot"),
        ("who made you", "who-made-you"),
        ("bye", "goodbye"),
    ],
)
def test_smalltalk_is_never_an_faq_answer(snap, message: str, smalltalk_id: str) -> None:
    m = snap.match(message)
    assert m.outcome is Outcome.SMALLTALK
    assert m.smalltalk.id == smalltalk_id
    assert m.entry is None


def test_a_question_that_starts_with_hello_is_still_a_question(snap) -> None:
    assert answer_id(snap, "hello, what is the national pupil database?") == "national-pupil-database"


def test_empty_and_punctuation_only(snap) -> None:
    for text in ("", "   ", "???", "!!! ...", "\u200b"):
        m = snap.match(text)
        assert m.outcome is Outcome.EMPTY
        assert m.score == 0.0


def test_scores_are_in_range_and_suggestions_capped(snap) -> None:
    for q in ("census", "data", "school data council government", "opt out object delete complain"):
        m = snap.match(q)
        assert 0.0 <= m.score <= 1.0
        assert len(m.suggestions) <= 3
        assert m.entry is None or m.entry not in m.suggestions


def test_margin_turns_a_close_call_into_suggestions(kb) -> None:
    lenient = Matcher(kb, MatchSettings(answer_threshold=0.0, suggest_threshold=0.0, margin=0.0))
    strict = Matcher(kb, MatchSettings(answer_threshold=0.0, suggest_threshold=0.0, margin=1.0))
    q = "school census data"
    assert lenient.match(q).outcome is Outcome.ANSWER
    m = strict.match(q)
    assert m.outcome is Outcome.SUGGEST
    assert m.suggestions


def test_naive_bayes_reranks_close_neighbours(kb) -> None:
    """Confidence alone prefers the nationality entry (it mentions the population census); the naive
    Bayes share of the rank, which learns from all of an entry's phrasings, makes the bot answer with the
    entry about the school census. Checked through match(), as a parent would see it."""
    q = "is the school census like the national census"
    assert answer_id(Matcher(kb), q) == "school-census"
    plain = offered(Matcher(kb, MatchSettings(nb_weight=0.0)), q)
    assert "school-census" in plain, plain  # close,
    assert plain[0] != "school-census", plain  # but not first


def test_regression_questions_written_blind(snap) -> None:
    """Questions written without seeing the FAQ's phrasings: most answered right, few false answers."""
    items = yaml.safe_load(REGRESSION.read_text())
    inscope = [i for i in items if i["id"]]
    outscope = [i for i in items if not i["id"]]
    right = sum(answer_id(snap, i["q"]) == i["id"] for i in inscope)
    offered_right = sum(i["id"] in offered(snap, i["q"])[:3] for i in inscope)
    # a signpost ("outside-…": not covered here, ask X) is a right reply to an out-of-scope question
    false = sum(not (answer_id(snap, i["q"]) or "outside-").startswith("outside-") for i in outscope)
    # measured 97.4 % / 99.1 % / 3.3 %; the floors leave room for a few questions, not a slide
    assert right / len(inscope) >= 0.90, right
    assert offered_right / len(inscope) >= 0.97, offered_right
    assert false / len(outscope) <= 0.10, false
