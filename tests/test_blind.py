"""The blind sets (tests/data/blind/, blind3/, blind4/): each written by someone who saw neither the
FAQ's phrasings nor the dev set. The second was scored once at the end of a round of issue 13's work
and tuned on in the next; the third was split in two halves (alternate questions of each style): the
first tuned on, the second scored only at the end; the fourth was written and scored once at the
very end of that round (see the README).

Its figures are reported in the README beside dev. Now that it has been seen it becomes a ratchet
like tests/data/regression.yaml: the floors sit just under what was measured, so a change that makes
fresh questions worse fails here. A new blind set is the honest measure for the next round.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.live import Snapshot
from tests.test_matcher import answer_id, offered
from tools.score_followups import score

BLIND = Path(__file__).parent / "data" / "blind"


def _ids(expected: object) -> set[str]:
    return set(expected) if isinstance(expected, list) else {str(expected)}


def test_blind_questions_hold_their_floor(snap: Snapshot) -> None:
    items = yaml.safe_load((BLIND / "questions.yaml").read_text(encoding="utf-8"))
    inscope = [i for i in items if i["id"]]
    outscope = [i for i in items if not i["id"]]
    right = sum(answer_id(snap, i["q"]) in _ids(i["id"]) for i in inscope)
    offered_right = sum(bool(set(offered(snap, i["q"])[:3]) & _ids(i["id"])) for i in inscope)
    # a signpost ("outside-…": not covered here, ask X) is a right reply to an out-of-scope question
    false = sum(not (answer_id(snap, i["q"]) or "outside-").startswith("outside-") for i in outscope)
    # measured 86.1 % / 97.2 % / 4.2 % when first scored; now 88.5 % / 98.4 % / 2.8 % (223 and 248
    # of 252; 2 of 71)
    assert right / len(inscope) >= 0.86, right
    assert offered_right / len(inscope) >= 0.97, offered_right
    assert false / len(outscope) <= 0.05, false


def test_blind_follow_ups_hold_their_floor(snap: Snapshot) -> None:
    pairs = yaml.safe_load((BLIND / "followups.yaml").read_text(encoding="utf-8"))
    result = score(snap, pairs)
    n = result["n"]
    assert isinstance(n, int)
    # measured 78.0 % resolved (32 of 41), 12.2 % answered with a wrong entry (5 of 41)
    assert result["resolved"] >= 0.75 * n, result["misses"]
    assert result["wrong"] <= 0.15 * n, result["misses"]


BLIND3 = Path(__file__).parent / "data" / "blind3"


def test_third_blind_set_holds_its_floor(snap: Snapshot) -> None:
    items = yaml.safe_load((BLIND3 / "questions.yaml").read_text(encoding="utf-8"))
    inscope = [i for i in items if i["id"]]
    outscope = [i for i in items if not i["id"]]
    right = sum(answer_id(snap, i["q"]) in _ids(i["id"]) for i in inscope)
    offered_right = sum(bool(set(offered(snap, i["q"])[:3]) & _ids(i["id"])) for i in inscope)
    false = sum(not (answer_id(snap, i["q"]) or "outside-").startswith("outside-") for i in outscope)
    # measured 91.4 % / 99.6 % / 7.7 % (222 and 242 of 243; 6 of 78)
    assert right / len(inscope) >= 0.89, right
    assert offered_right / len(inscope) >= 0.98, offered_right
    assert false / len(outscope) <= 0.09, false


def test_third_blind_set_follow_ups_hold_their_floor(snap: Snapshot) -> None:
    pairs = yaml.safe_load((BLIND3 / "followups.yaml").read_text(encoding="utf-8"))
    result = score(snap, pairs)
    n = result["n"]
    assert isinstance(n, int)
    # measured 75.0 % resolved (33 of 44), 13.6 % answered with a wrong entry (6 of 44)
    assert result["resolved"] >= 0.72 * n, result["misses"]
    assert result["wrong"] <= 0.16 * n, result["misses"]


BLIND4 = Path(__file__).parent / "data" / "blind4"


def test_fourth_blind_set_holds_its_floor(snap: Snapshot) -> None:
    items = yaml.safe_load((BLIND4 / "questions.yaml").read_text(encoding="utf-8"))
    inscope = [i for i in items if i["id"]]
    outscope = [i for i in items if not i["id"]]
    right = sum(answer_id(snap, i["q"]) in _ids(i["id"]) for i in inscope)
    offered_right = sum(bool(set(offered(snap, i["q"])[:3]) & _ids(i["id"])) for i in inscope)
    false = sum(not (answer_id(snap, i["q"]) or "outside-").startswith("outside-") for i in outscope)
    # measured 93.3 % / 100 % / 0 % (112 and 120 of 120; 0 of 40)
    assert right / len(inscope) >= 0.91, right
    assert offered_right / len(inscope) >= 0.98, offered_right
    assert false / len(outscope) <= 0.05, false


def test_fourth_blind_set_follow_ups_hold_their_floor(snap: Snapshot) -> None:
    pairs = yaml.safe_load((BLIND4 / "followups.yaml").read_text(encoding="utf-8"))
    result = score(snap, pairs)
    n = result["n"]
    assert isinstance(n, int)
    # measured 84.0 % resolved (21 of 25), 4.0 % answered with a wrong entry (1 of 25)
    assert result["resolved"] >= 0.80 * n, result["misses"]
    assert result["wrong"] <= 0.08 * n, result["misses"]
