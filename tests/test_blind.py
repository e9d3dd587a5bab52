"""The blind sets (tests/data/blind/, blind3/ to blind24/): each written by someone who saw neither
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
that round and scored once on its final code (and on its starting code, for comparison). The
nineteenth to twenty-fourth were written at the start of the round after: all six were scored on the
round's starting code; the nineteenth to twenty-first were then studied, and the twenty-second to
twenty-fourth held back and scored once more, on the round's final code.
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
# 2026-11-30, second round (the stay test, the confirmation of a single unsure candidate, the follow-up
# marks, the FAQ phrasings for follow-ups parents kept asking, short and opening-question follow-ups,
# the pronoun rules; see the README). The sets up to blind18 have all been studied by now:
#   blind:  95.1 % resolved (39 of 41), 4.9 % wrong (2 of 41)
#   blind3: 88.6 % (39 of 44), 6.8 % (3 of 44)
#   blind4: 100 % (25 of 25), 0 % (0 of 25)
#   followups2: 79.1 % (87 of 110), 14.5 % (16 of 110): same-topic follow-ups, the hard kind
#   blind5: 88.1 % (37 of 42), 11.9 % (5 of 42); 73.8 % when scored once
#   blind6: 83.7 % (36 of 43), 14.0 % (6 of 43); 69.8 % when scored once
#   blind8: 86.7 % (104 of 120), 7.5 % (9 of 120); 71.7 % when scored once, on the stay test alone
#   blind9: 83.3 % (100 of 120), 5.8 % (7 of 120); 71.7 % when scored once, likewise
#   blind10: 88.3 % (106 of 120), 5.0 % (6 of 120); 83.3 % when scored once, with the confirmation
#   blind11: 93.3 % (112 of 120), 4.2 % (5 of 120); 82.5 % when scored once on the final rules
#   blind12: 84.2 % (101 of 120), 6.7 % (8 of 120); 76.7 % when scored once on the final code
#   blind13: 88.3 % (106 of 120), 5.8 % (7 of 120); 77.5 % when first scored
#   blind14: 80.8 % (97 of 120), 5.8 % (7 of 120); 70.8 % when first scored
#   blind15: 81.7 % (98 of 120), 6.7 % (8 of 120); 73.3 % when first scored
#   blind16: 85.0 % (102 of 120), 5.0 % (6 of 120); 75.8 % when first scored
#   blind17: 86.7 % (104 of 120), 5.0 % (6 of 120); 78.3 % when first scored on final code
#   blind18: 86.7 % (104 of 120), 6.7 % (8 of 120); 84.2 % likewise
#   blind19: 80.8 % (97 of 120), 10.8 % (13 of 120); 73.3 % on the round's starting code, then studied
#   blind20: 81.7 % (98 of 120), 7.5 % (9 of 120); 78.3 % likewise
#   blind21: 89.2 % (107 of 120), 5.0 % (6 of 120); 86.7 % likewise
#   blind22: 77.5 % (93 of 120), 10.8 % (13 of 120); 76.7 % on the starting code; held back
#   blind23: 80.8 % (97 of 120), 11.7 % (14 of 120); 79.2 % likewise
#   blind24: 80.0 % (96 of 120), 6.7 % (8 of 120); 79.2 % likewise
FOLLOW_UP_FLOORS = [
    ("blind", 0.92, 0.06),
    ("blind3", 0.86, 0.09),
    ("blind4", 0.96, 0.04),
    ("followups2", 0.75, 0.16),
    ("blind5", 0.85, 0.14),
    ("blind6", 0.79, 0.19),
    ("blind8", 0.84, 0.09),
    ("blind9", 0.81, 0.07),
    ("blind10", 0.86, 0.06),
    ("blind11", 0.91, 0.06),
    ("blind12", 0.82, 0.08),
    ("blind13", 0.86, 0.07),
    ("blind14", 0.78, 0.07),
    ("blind15", 0.79, 0.08),
    ("blind16", 0.83, 0.06),
    ("blind17", 0.84, 0.06),
    ("blind18", 0.84, 0.08),
    ("blind19", 0.78, 0.12),
    ("blind20", 0.79, 0.09),
    ("blind21", 0.87, 0.06),
    ("blind22", 0.75, 0.12),
    ("blind23", 0.78, 0.13),
    ("blind24", 0.78, 0.08),
]


@pytest.mark.parametrize(("name", "resolved", "wrong"), FOLLOW_UP_FLOORS)
def test_blind_follow_ups_hold_their_floor(snap: Snapshot, name: str, resolved: float, wrong: float) -> None:
    pairs = yaml.safe_load((DATA / name / "followups.yaml").read_text(encoding="utf-8"))
    result = score(snap, pairs)
    n = result["n"]
    assert isinstance(n, int)
    assert result["resolved"] >= resolved * n, result["misses"]
    assert result["wrong"] <= wrong * n, result["misses"]
