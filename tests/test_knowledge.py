"""The loader accepts the shipped FAQ and rejects each kind of bad file with file:line: reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.knowledge import MAX_ANSWER_CHARS, MAX_DETAIL_CHARS, KnowledgeError, load_knowledge
from bot.live import LiveFAQ
from tests.conftest import VALID_ENTRY, shipped_entry_count, write_knowledge

TOPICS = Path(__file__).resolve().parents[2] / "shared" / "faq-topics.md"


def errors_for(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> list[str]:
    directory = write_knowledge(tmp_path, {"section.yaml": text, **(extra or {})})
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(directory)
    return info.value.errors


def test_valid_directory_loads(tmp_path: Path) -> None:
    kb = load_knowledge(write_knowledge(tmp_path, {"section.yaml": VALID_ENTRY}))
    assert list(kb.entries) == ["first-entry", "second-entry"]
    assert kb.sections[0].title == "Test section"
    assert kb.get("first-entry").related == ("second-entry",)
    assert kb.phrasing_count == 10


def test_entries_are_immutable(kb) -> None:
    entry = kb.get("school-census")
    with pytest.raises(AttributeError):
        entry.answer = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        kb.entries["x"] = entry  # type: ignore[index]


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    errs = errors_for(tmp_path, VALID_ENTRY, {"other.yaml": VALID_ENTRY.replace("Test section", "Other")})
    assert any(
        re.match(r"section\.yaml:\d+: duplicate id 'first-entry' \(first defined at other\.yaml:3\)", e)
        for e in errs
    ), errs


def test_unknown_key_is_rejected_with_line(tmp_path: Path) -> None:
    errs = errors_for(
        tmp_path, VALID_ENTRY.replace("    answer: The first answer.", "    anwser: The first answer.")
    )
    assert any(e.startswith("section.yaml:6: unknown key 'anwser'") for e in errs), errs
    assert any("missing required field 'entries.0.answer'" in e for e in errs), errs


def test_missing_field(tmp_path: Path) -> None:
    text = VALID_ENTRY.replace("    sources:\n      - title: ICO\n        url: https://ico.org.uk/\n", "")
    errs = errors_for(tmp_path, text)
    assert any(
        re.match(r"section\.yaml:\d+: missing required field 'entries\.1\.sources'", e) for e in errs
    ), errs


def test_bad_id(tmp_path: Path) -> None:
    errs = errors_for(
        tmp_path,
        VALID_ENTRY.replace("id: second-entry", "id: Second_Entry").replace(
            "related: [second-entry]", "related: []"
        ),
    )
    assert any(
        e.startswith("section.yaml:11: ") and "'Second_Entry'" in e and "lowercase" in e for e in errs
    ), errs


def test_answer_too_long(tmp_path: Path) -> None:
    long = "x" * (MAX_ANSWER_CHARS + 1)
    errs = errors_for(tmp_path, VALID_ENTRY.replace("The first answer.", long))
    assert errs == [
        f"section.yaml:6: answer is {MAX_ANSWER_CHARS + 1} characters; the limit is {MAX_ANSWER_CHARS}"
    ]


def test_empty_answer(tmp_path: Path) -> None:
    errs = errors_for(tmp_path, VALID_ENTRY.replace("answer: The first answer.", 'answer: ""'))
    assert errs == ["section.yaml:6: entries.0.answer must not be empty"]


WITH_DETAIL = VALID_ENTRY.replace(
    "    answer: The first answer.\n",
    "    answer: The first answer.\n    detail: |\n      More about it, with **bold**.\n\n      - a bullet\n",
)


def test_detail_is_optional_and_loaded(tmp_path: Path) -> None:
    kb = load_knowledge(write_knowledge(tmp_path, {"section.yaml": WITH_DETAIL}))
    assert kb.get("first-entry").detail == "More about it, with **bold**.\n\n- a bullet"
    assert kb.get("second-entry").detail == ""


def test_detail_too_long(tmp_path: Path) -> None:
    long = "y" * (MAX_DETAIL_CHARS + 1)
    errs = errors_for(tmp_path, WITH_DETAIL.replace("More about it, with **bold**.", long))
    assert len(errs) == 1, errs
    assert errs[0].startswith("section.yaml:7: detail is 30"), errs
    assert errs[0].endswith(f"characters; the limit is {MAX_DETAIL_CHARS}"), errs


def test_empty_detail(tmp_path: Path) -> None:
    errs = errors_for(
        tmp_path, VALID_ENTRY.replace("answer: The first answer.", 'answer: A.\n    detail: " "')
    )
    assert errs == ["section.yaml:7: entries.0.detail must not be empty"]


def test_dangling_related(tmp_path: Path) -> None:
    errs = errors_for(tmp_path, VALID_ENTRY.replace("related: [second-entry]", "related: [no-such-entry]"))
    assert errs == [
        "section.yaml:10: entry 'first-entry' has related id 'no-such-entry', which does not exist"
    ]


def test_non_https_source(tmp_path: Path) -> None:
    errs = errors_for(tmp_path, VALID_ENTRY.replace("https://www.gov.uk/", "http://www.gov.uk/"))
    assert any(e.startswith("section.yaml:9: ") and "https" in e for e in errs), errs


def test_too_few_alternatives(tmp_path: Path) -> None:
    errs = errors_for(tmp_path, VALID_ENTRY.replace("[one, two, three, four]", "[one]"))
    assert any(e.startswith("section.yaml:5: ") and "at least 4 alternatives" in e for e in errs), errs


def test_yaml_syntax_error(tmp_path: Path) -> None:
    errs = errors_for(tmp_path, VALID_ENTRY.replace("question: What is the first entry?", "question: [oops"))
    assert len(errs) == 1, errs
    assert re.match(r"section\.yaml:\d+: YAML syntax error", errs[0]), errs


def test_never_half_loads(tmp_path: Path) -> None:
    """One bad file among good ones: nothing is returned at all."""
    errs = errors_for(tmp_path, VALID_ENTRY, {"bad.yaml": "section: Bad\nentries: []\n"})
    assert any(e.startswith("bad.yaml:") for e in errs)


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    text = VALID_ENTRY.replace("http", "ftp").replace("answer: The first answer.", "answr: x")
    assert len(errors_for(tmp_path, text)) >= 3


def test_empty_and_missing_dirs(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="not found"):
        load_knowledge(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KnowledgeError, match="no section files"):
        load_knowledge(tmp_path / "empty")


def test_bad_synonym_group(tmp_path: Path) -> None:
    errs = errors_for(
        tmp_path,
        VALID_ENTRY,
        {"_synonyms.yaml": "groups:\n  - [npd, national pupil database]\n  - [lonely]\n"},
    )
    assert errs == ["_synonyms.yaml:3: a synonym group needs at least two terms"]


def test_bad_vocabulary_files_are_reported_with_lines(tmp_path: Path) -> None:
    errs = errors_for(
        tmp_path,
        VALID_ENTRY,
        {
            "_misspellings.txt": "# comment\nwot what\nlonely\nwot whatever\n",
            "_irregular_verbs.txt": "keep kept\nsend\n",
            "_stopwords.txt": "the a an\nDon't\n",
        },
    )
    assert sorted(errs) == sorted(
        [
            "_misspellings.txt:3: expected a misspelling, then the word meant",
            "_misspellings.txt:4: 'wot' is listed twice",
            "_irregular_verbs.txt:2: expected a verb and at least one of its forms",
            '_stopwords.txt:2: "Don\'t" is not a lowercase word (letters and digits only)',
        ]
    )


def test_vocabulary_files_are_loaded_with_the_faq(tmp_path: Path) -> None:
    directory = write_knowledge(
        tmp_path,
        {"section.yaml": VALID_ENTRY, "_stopwords.txt": "the entry\n", "_misspellings.txt": "frist first\n"},
    )
    lang = load_knowledge(directory).language
    assert lang.stop_words == {"the", "entry"}
    assert lang.misspellings == {"frist": "first"}
    assert lang.irregular["kept"] == "keep"  # no _irregular_verbs.txt here: the shipped one


def test_reload_picks_up_an_edited_stop_word_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAQBOT_EMBEDDING_CACHE", str(tmp_path / "embeddings.npz"))
    directory = write_knowledge(tmp_path, {"section.yaml": VALID_ENTRY, "_stopwords.txt": "the is\n"})
    live = LiveFAQ(directory)
    assert "entri" in live.current.matcher.normaliser.terms("the first entry")
    (directory / "_stopwords.txt").write_text("the is entry\n", encoding="utf-8")
    live.reload()
    assert "entri" not in live.current.matcher.normaliser.terms("the first entry")


# --------------------------------------------------------------------------- the shipped FAQ


# The contract in ../shared/faq-topics.md, copied so the test also runs without shared/ beside it.
REQUIRED_IDS = """
school-census census-data-items early-years-census alternative-provision-census children-in-need-census
attendance-data exclusions-data sen-data nationality-country-of-birth optional-items-refuse upn
why-collected legal-basis national-pupil-database third-party-sharing home-office-sharing commercial-use
names-published higher-education-data dfe-retention school-retention data-deletion opt-out-census
right-to-object subject-access-request sar-template rectification complain-ico privacy-notice
child-own-rights biometrics-consent edtech-apps ico-audit ap-census-legal-challenge
attendance-legal-challenge campaign-opt-in-out about-this-bot bot-privacy talk-to-volunteer
""".split()


def test_every_topic_id_exists(kb) -> None:
    assert len(REQUIRED_IDS) == 39
    assert len(kb) == shipped_entry_count() >= len(REQUIRED_IDS)  # the loader drops no entry
    missing = [i for i in REQUIRED_IDS if i not in kb.entries]
    assert not missing, missing
    if TOPICS.exists():  # the contract itself, when shared/ is beside the repo
        assert sorted(re.findall(r"^\| `([a-z0-9-]+)` \|", TOPICS.read_text(), flags=re.M)) == sorted(
            REQUIRED_IDS
        )


def test_shipped_entries_meet_the_content_rules(kb) -> None:
    for entry in kb:
        assert len(entry.alternatives) >= 6, entry.id
        assert 1 <= len(entry.sources) <= 4, entry.id
        assert all(s.url.startswith("https://") for s in entry.sources), entry.id
        assert len(entry.answer) <= MAX_ANSWER_CHARS, entry.id
        assert len(entry.detail) <= MAX_DETAIL_CHARS, entry.id
        assert all(r in kb.entries for r in entry.related), entry.id
        assert len(set(a.lower() for a in entry.alternatives)) == len(entry.alternatives), entry.id


def test_sar_template_is_a_letter_with_placeholders(kb) -> None:
    answer = kb.get("sar-template").answer
    assert "[child's full name]" in answer or "[child’s full name]" in answer
    assert "Article 15" in answer


def test_bot_privacy_matches_what_the_store_does(kb) -> None:
    """The privacy answer must state the retention default, /forget and what is redacted."""
    from bot.config import Settings

    answer = kb.get("bot-privacy").answer
    assert f"{Settings().retention_days} days" in answer
    assert "/forget" in answer
    for kind in ("email addresses", "phone numbers", "postcodes", "date of birth", "try to remove"):
        assert kind in answer


def test_smalltalk_loaded(kb) -> None:
    assert {s.id for s in kb.smalltalk} >= {
        "greeting",
        "thanks",
        "goodbye",
        "are-you-a-bot",
        "who-made-you",
        "help",
    }
