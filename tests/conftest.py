"""Shared fixtures: the shipped FAQ loaded once, and a helper to write small knowledge dirs."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from bot.knowledge import KnowledgeBase, default_knowledge_dir, load_knowledge
from bot.live import Snapshot, build
from tests.support import TEST_EMBEDDING_CACHE

SHIPPED = default_knowledge_dir()

# The tests (and the `faqbot` processes they start, see tests.support.clean_env) keep their phrasing
# embeddings in one cache of their own, never in the user's ~/.cache: embedded once, shared by every test.
os.environ["FAQBOT_EMBEDDING_CACHE"] = str(TEST_EMBEDDING_CACHE)


def shipped_entry_count(directory: Path = SHIPPED) -> int:
    """How many FAQ entries the section files hold, counted from the YAML text, not by the loader.

    Tests compare what the bot reports with this, so adding an entry never means editing a test.
    """
    return sum(
        len(re.findall(r"^  - id: ", f.read_text(encoding="utf-8"), flags=re.M))
        for f in directory.glob("*.yaml")
        if not f.name.startswith("_")
    )


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge(SHIPPED)


@pytest.fixture(scope="session", autouse=True)
def snap() -> Snapshot:
    """The shipped FAQ, built first of all: it also fills the tests' embedding cache, so that every
    `faqbot` process a test starts finds the phrasings embedded (a warm start, as in production)."""
    return build(SHIPPED)


VALID_ENTRY = """\
section: Test section
entries:
  - id: first-entry
    question: What is the first entry?
    alternatives: [one, two, three, four]
    answer: The first answer.
    sources:
      - title: GOV.UK
        url: https://www.gov.uk/
    related: [second-entry]
  - id: second-entry
    question: What is the second entry?
    alternatives: [five, six, seven, eight]
    answer: The second answer.
    sources:
      - title: ICO
        url: https://ico.org.uk/
"""


def write_knowledge(tmp_path: Path, files: dict[str, str]) -> Path:
    """Write a knowledge directory of ``{name: yaml text}`` and return it."""
    directory = tmp_path / "knowledge"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory
