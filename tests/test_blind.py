"""The blind sets (tests/data/blind/, blind3/ to blind18/): each written by someone who saw neither
the FAQ's phrasings nor the dev set. The second was scored once at the end of a round of issue 13's
work and tuned on in the next; the third was split in two halves (alternate questions of each
style): the first tuned on, the second scored only at the end; the fourth was written and scored
once at the very end of that round. In the next round the fifth was scored once just after the
encoder was fine-tuned, the sixth once after that round's follow-up and encoder work, and the
seventh (questions only) once on the round's final code (see the README). The eighth to twelfth
are follow-up pairs only (about 40 % ask more about the same entry), written in the round after and
each scored once on the code of its time, then studied: the eighth and ninth after the stay test,
the tenth after the confirmation of a single candidate, the eleventh on the final rules, the
twelfth on the round's final code. The thirteenth to sixteenth, written the same way, were scored
at the start of the next round; the thirteenth was studied then, the fifteenth near its end, and
the fourteenth and sixteenth never. The seventeenth and eighteenth were written near the end of
that round and scored once on its final code (and on its starting code, for comparison).
tests/data/followups2/ holds follow-up pairs written the same way and tuned on.

Their figures are reported in the README beside dev. Once seen, each is a ratchet like
tests/data/regression.yaml: the floors sit just under what was measured, so a change that makes
fresh questions worse fails here. A new blind set is the honest measure for the next round.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.live import Snapshot
from tests.test_matcher import answer_id, offered
from tools.score_followups import score

DATA = Path(__file__).parent / "data"


def _ids(expected: object) -> set[str]:
    return set(expected) if isinstance(expected, list) else {str(expected)}


# set, top-1 floor, right-or-offered floor, out-of-scope-answered ceiling; measured (top-1 and
# offered of in scope; wrongly answered of out of scope) with the fine-tuned encoder:
#   blind:  86.1 / 97.2 / 4.2 % when first scored; now 89.7 / 98.8 / 1.4 % (226, 249 of 252; 1 of 71)
#   blind3: 95.1 / 100 / 6.4 % (231, 243 of 243; 5 of 78)
#   blind4: 97.5 / 100 / 2.5 % (117, 120 of 120; 1 of 40)
#   blind5: 91.6 / 98.9 / 12.1 % (163, 176 of 178; 8 of 66) when scored once; 6.1 % (4 of 66) with
#           the everyday signpost, whose phrasings its misses informed
#   blind6: 95.3 / 99.5 / 12.7 % (181, 189 of 190; 8 of 63) when scored once; 1.6 % (1 of 63) with
#           the everyday signpost, likewise; offered 98.9 % (188) since "lol" is small-talk filler
#   blind7: 92.9 / 99.4 / 3.7 % (145, 155 of 156; 3 of 81), scored once on the final code
QUESTION_FLOORS = [
    ("blind", 0.88, 0.97, 0.03),
    ("blind3", 0.93, 0.98, 0.07),
    ("blind4", 0.95, 0.98, 0.05),
    ("blind5", 0.90, 0.98, 0.07),
    ("blind6", 0.93, 0.98, 0.03),
    ("blind7", 0.91, 0.98, 0.05),
]


@pytest.mark.parametrize(("name", "top1", "offered_floor", "false_ceiling"), QUESTION_FLOORS)
def test_blind_questions_hold_their_floor(
    snap: Snapshot, name: str, top1: float, offered_floor: float, false_ceiling: float
) -> None:
    items = yaml.safe_load((DATA / name / "questions.yaml").read_text(encoding="utf-8"))
    inscope = [i for i in items if i["id"]]
    outscope = [i for i in items if not i["id"]]
    right = sum(answer_id(snap, i["q"]) in _ids(i["id"]) for i in inscope)
    offered_right = sum(bool(set(offered(snap, i["q"])[:3]) & _ids(i["id"])) for i in inscope)
    # a signpost ("outside-…": not covered here, ask X) is a right reply to an out-of-scope question
    false = sum(not (answer_id(snap, i["q"]) or "outside-").startswith("outside-") for i in outscope)
    assert right / len(inscope) >= top1, right
    assert offered_right / len(inscope) >= offered_floor, offered_right
    assert false / len(outscope) <= false_ceiling, false


# set, resolved floor, answered-wrongly ceiling (shares of the pairs); measured on the code of
# 2026-11-30 (the stay test, the confirmation of a single unsure candidate, the follow-up marks, the
# FAQ phrasings for follow-ups parents kept asking, short and opening-question follow-ups, and the
# pronoun rules; see the README):
#   blind:  95.1 % resolved (39 of 41), 4.9 % wrong (2 of 41)
#   blind3: 88.6 % (39 of 44), 6.8 % (3 of 44)
#   blind4: 100 % (25 of 25), 0 % (0 of 25)
#   followups2: 77.3 % (85 of 110), 14.5 % (16 of 110): same-topic follow-ups, the hard kind
#   blind5: 88.1 % (37 of 42), 11.9 % (5 of 42); 73.8 % when scored once
#   blind6: 81.4 % (35 of 43), 16.3 % (7 of 43); 69.8 % when scored once
#   blind8: 82.5 % (99 of 120), 10.0 % (12 of 120); 71.7 % when scored once, on the stay test alone
#   blind9: 80.8 % (97 of 120), 7.5 % (9 of 120); 71.7 % when scored once, likewise
#   blind10: 88.3 % (106 of 120), 4.2 % (5 of 120); 83.3 % when scored once, with the confirmation
#   blind11: 91.7 % (110 of 120), 4.2 % (5 of 120); 82.5 % when scored once on the final rules
#   blind12: 81.7 % (98 of 120), 6.7 % (8 of 120); 76.7 % when scored once on the final code
#   blind13: 86.7 % (104 of 120), 5.0 % (6 of 120); 77.5 % at the start of the next round, then studied
#   blind14: 76.7 % (92 of 120), 7.5 % (9 of 120); 70.8 % at the start of that round; never studied
#   blind15: 78.3 % (94 of 120), 8.3 % (10 of 120); 73.3 % at the start; studied near the end
#   blind16: 79.2 % (95 of 120), 8.3 % (10 of 120); 75.8 % at the start; never studied
#   blind17: 78.3 % (94 of 120), 10.0 % (12 of 120); 74.2 % on the round's starting code; never studied
#   blind18: 84.2 % (101 of 120), 9.2 % (11 of 120); 80.0 % on the round's starting code; never studied
FOLLOW_UP_FLOORS = [
    ("blind", 0.92, 0.06),
    ("blind3", 0.86, 0.09),
    ("blind4", 0.96, 0.04),
    ("followups2", 0.75, 0.16),
    ("blind5", 0.85, 0.14),
    ("blind6", 0.79, 0.19),
    ("blind8", 0.80, 0.11),
    ("blind9", 0.78, 0.09),
    ("blind10", 0.86, 0.06),
    ("blind11", 0.89, 0.06),
    ("blind12", 0.79, 0.08),
    ("blind13", 0.84, 0.06),
    ("blind14", 0.74, 0.09),
    ("blind15", 0.76, 0.10),
    ("blind16", 0.77, 0.10),
    ("blind17", 0.76, 0.11),
    ("blind18", 0.82, 0.10),
]


@pytest.mark.parametrize(("name", "resolved", "wrong"), FOLLOW_UP_FLOORS)
def test_blind_follow_ups_hold_their_floor(snap: Snapshot, name: str, resolved: float, wrong: float) -> None:
    pairs = yaml.safe_load((DATA / name / "followups.yaml").read_text(encoding="utf-8"))
    result = score(snap, pairs)
    n = result["n"]
    assert isinstance(n, int)
    assert result["resolved"] >= resolved * n, result["misses"]
    assert result["wrong"] <= wrong * n, result["misses"]
