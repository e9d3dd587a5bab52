"""The matcher on messages as parents write them, and on what it must not answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.live import Snapshot
from bot.matcher import Matcher, MatchSettings, Outcome, ask
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


def test_irregular_verb_forms_meet_their_verb(kb) -> None:
    n = Normaliser([], [], kb.language)  # knowledge/_irregular_verbs.txt
    assert n.stem("kept") == n.stem("keep") == n.stem("keeping")
    assert n.stem("sold") == n.stem("sell")
    assert n.stem("written") == n.stem("writes")
    assert n.stem("left") == n.stem("leaving")
    assert stem("kept") != stem("keep")  # the stemmer alone cannot know


def test_everyday_misspellings_are_spelt_right(kb) -> None:
    n = Normaliser([], ["school census"], kb.language)  # knowledge/_misspellings.txt
    assert n.terms("wot is the shcool census becuase") == n.terms("what is the school census because")
    assert n.spelled("Wot is the shcool cenus, u know?") == "what is the school census, you know?"


def test_synonym_phrases_fold_to_one_term(kb) -> None:
    n = Normaliser(
        [["npd", "national pupil database"], ["sar", "subject access request"]], ["database"], kb.language
    )
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
    "question",
    [
        "is there help with paying for nursery for my 3 year old",
        "When are the school holidays this year in Kent?",
    ],
)
def test_everyday_family_questions_get_the_everyday_signpost(snap, question: str) -> None:
    """Near the domain but not about data: "not covered here, ask your school, council or GOV.UK"."""
    assert answer_id(snap, question) == "outside-everyday-questions", snap.match(question)


@pytest.mark.parametrize(
    ("message", "smalltalk_id"),
    [
        ("hi", "greeting"),
        ("Hello there!", "greeting"),
        ("thanks so much", "thanks"),
        ("are you a bot?", "are-you-a-bot"),
        ("r u a bot", "are-you-a-bot"),
        ("are you a real person or a bot?", "are-you-a-bot"),
        ("who made you", "who-made-you"),
        ("bye", "goodbye"),
        # laughter is filler: it neither breaks a pattern nor counts towards the length limit
        ("hi there lol", "greeting"),
        ("haha thanks", "thanks"),
        ("r u a real person or a bot lol", "are-you-a-bot"),
    ],
)
def test_smalltalk_is_never_an_faq_answer(snap, message: str, smalltalk_id: str) -> None:
    m = snap.match(message)
    assert m.outcome is Outcome.SMALLTALK
    assert m.smalltalk.id == smalltalk_id
    assert m.entry is None


def test_small_talk_words_do_not_swallow_a_question_the_faq_asks_in_them(snap) -> None:
    """ "how can i help" uses only the help item's words, but it is one of the campaign's phrasings."""
    assert "how can i help" in snap.kb.get("campaign-opt-in-out").alternatives
    m = snap.match("How can I help?")
    assert m.outcome is not Outcome.SMALLTALK
    assert m.best_id == "campaign-opt-in-out"
    assert snap.match("help me").outcome is Outcome.SMALLTALK  # the help item's own words still are


def test_a_question_that_starts_with_hello_is_still_a_question(snap) -> None:
    assert answer_id(snap, "hello, what is the national pupil database?") == "national-pupil-database"


def test_a_question_that_ends_with_lol_is_still_a_question(snap) -> None:
    assert answer_id(snap, "what is the school census lol") == "school-census"


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


def test_a_lone_candidate_is_answered_with_less_confidence(kb, snap) -> None:
    """With no other entry within the suggestion spread, an entry is answered at 0.25 below the answer
    threshold: its one "did you mean" button would be the same answer a tap later. Raising the
    threshold raises that bar too, and two close candidates at the same confidence are only offered."""
    q = "is my nephew's childminder included"
    m = snap.match(q)
    assert m.outcome is Outcome.ANSWER
    assert m.entry is not None
    assert m.entry.id == "early-years-census"
    assert m.score < MatchSettings().answer_threshold
    assert not m.suggestions
    stricter = Matcher(kb, MatchSettings(answer_threshold=m.score + 0.26)).match(q)
    assert stricter.outcome is Outcome.SUGGEST
    assert [e.id for e in stricter.suggestions] == ["early-years-census"]
    close = snap.match("can i see the records")
    assert close.score < MatchSettings().answer_threshold
    assert close.outcome is Outcome.SUGGEST
    assert len(close.suggestions) > 1


def test_ranking_fuses_both_scorers(snap) -> None:
    """The fused score is the semantic score plus shares of the lexical ones; it ranks every entry."""
    matcher = snap.matcher
    q = "for how many years does the department hang on to my kids school records"
    ranked = matcher.scores(q)
    assert len(ranked) == len(snap.kb)
    assert ranked == sorted(ranked, key=lambda pair: (-pair[0], pair[1]))
    semantic = matcher.semantic(q)
    assert all(score >= semantic[i] - 1e-9 for score, i in ranked)  # lexical shares only add
    assert snap.kb.get("dfe-retention") is matcher._entries[ranked[0][1]]


@pytest.mark.parametrize(
    "question",
    [
        # one everyday word shared with an entry must not carry an answer
        "where do I find the bus timetable for the school run",
        "can you give me a lift to the station",
        "my son wants his own bedroom, is that normal at 12",
        "how do I support my daughter through her exam stress",
        "what is the best way to revise for exams",
    ],
)
def test_one_generic_shared_word_does_not_carry_an_answer(snap, question: str) -> None:
    """No data entry answers it: no answer, or a signpost (an ``outside-`` entry: not covered here)."""
    assert (answer_id(snap, question) or "outside-").startswith("outside-"), snap.match(question)


NEAR_DOMAIN = Path(__file__).parent / "data" / "near_domain.yaml"


def test_near_domain_questions_are_not_answered_with_an_unrelated_entry(snap) -> None:
    """Admissions, EHCPs, exclusion appeals, holiday fines, bullying, exam results, free school meals,
    transport, uniforms, Ofsted: no answer, or a signpost (an ``outside-`` entry), never a data entry.

    tests/data/near_domain.yaml was written fresh for this and tuned on; measured 29 of 36 kept out
    before signposts exist: the floor allows the ones that still share a strong topic term."""
    items = [i for i in yaml.safe_load(NEAR_DOMAIN.read_text()) if not i["id"]]
    wrong = [i["q"] for i in items if (a := answer_id(snap, i["q"])) and not a.startswith("outside-")]
    assert len(wrong) <= 7, wrong


def test_typos_and_long_messages_in_scope(snap) -> None:
    """Everyday typos ("wot", "becuase", "shcool", "u") and forum-length messages with the question at
    the end: the right entry is answered or offered."""
    items = [i for i in yaml.safe_load(NEAR_DOMAIN.read_text()) if i["id"]]
    answered = 0
    for item in items:
        want = item["id"] if isinstance(item["id"], list) else [item["id"]]
        assert set(offered(snap, item["q"])[:3]) & set(want), (item["q"], snap.match(item["q"]))
        answered += answer_id(snap, item["q"]) in want
    assert answered >= len(items) - 2, answered


def test_a_long_message_costs_a_bounded_number_of_windows(snap) -> None:
    """A 5,000-character letter is embedded as at most a few windows (latency stays bounded) and still
    finds its question at the end."""
    story = "My son has had a very difficult couple of years at school and we have moved twice since. " * 56
    message = story + "How long does the school keep his records after he leaves?"
    assert len(message) > 5000
    windows = snap.matcher.encoder.windows(message)
    assert len(windows) <= 4
    assert "school-retention" in offered(snap, message)


def test_regression_questions_written_blind(snap) -> None:
    """Questions written without seeing the FAQ's phrasings: most answered right, few false answers."""
    items = yaml.safe_load(REGRESSION.read_text())
    inscope = [i for i in items if i["id"]]
    outscope = [i for i in items if not i["id"]]
    right = sum(answer_id(snap, i["q"]) == i["id"] for i in inscope)
    offered_right = sum(i["id"] in offered(snap, i["q"])[:3] for i in inscope)
    # a signpost ("outside-…": not covered here, ask X) is a right reply to an out-of-scope question
    false = sum(not (answer_id(snap, i["q"]) or "outside-").startswith("outside-") for i in outscope)
    # Tuned on since, so a regression ratchet, not a measure of generalisation. Measured with the
    # hybrid matcher 97.4 % / 99.1 % / 6.7 %; the floors leave room for a question or two, not a slide.
    assert right / len(inscope) >= 0.95, right
    assert offered_right / len(inscope) >= 0.98, offered_right
    assert false / len(outscope) <= 0.10, false


FORUM_POST = (
    "We came to England from Poland four years ago and both children are in a local primary. Last week a "
    "friend told me that years ago schools had to ask for nationality and country of birth, and that the "
    "information went to the government. I am worried because we were not told. Is this information "
    "shared with the Home Office for immigration?"
)


def test_a_long_message_is_also_read_as_the_question_it_ends_with() -> None:
    assert ask(FORUM_POST) == (
        "I am worried because we were not told. "
        "Is this information shared with the Home Office for immigration?"
    )
    assert ask("How long does the DfE keep my son's records?") is None  # short: read whole only
    no_question = FORUM_POST.replace("?", ".") + " Anyway. Thanks for reading."
    assert ask(no_question) == "Anyway. Thanks for reading."  # no "?": its last two sentences


def test_the_background_of_a_forum_post_does_not_choose_the_entry(snap) -> None:
    """Most of the post is about the nationality collection; what it asks is Home Office sharing.
    (Read whole only, the background won: nationality-country-of-birth was answered.)"""
    assert answer_id(snap, FORUM_POST) == "home-office-sharing"


@pytest.mark.parametrize("question", ["can we opt out or not", "opting out possible?"])
def test_a_bare_opt_out_question_is_about_the_census_not_the_nhs(snap, question: str) -> None:
    """The NHS opt-out signpost is for NHS questions; "can we opt out?" alone means the census."""
    assert answer_id(snap, question) == "opt-out-census"


def test_unknown_terms_are_the_words_no_entry_uses(snap: Snapshot) -> None:
    """The conversation's test for a question from outside the FAQ's world: "tutor" and "rain" are
    in no entry; stop words are not terms at all, and FAQ words ("fee" for "cost") are known."""
    assert snap.matcher.unknown_terms("is there a tutor for it?") == ["tutor"]
    assert snap.matcher.unknown_terms("will it rain tomorrow?") == ["rain", "tomorrow"]
    assert snap.matcher.unknown_terms("can they do that?") == []
    assert snap.matcher.unknown_terms("what does it cost") == []
