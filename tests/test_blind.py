"""The blind sets (tests/data/blind/, blind3/ to blind37/): each written by someone who saw neither
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
twenty-fourth held back and scored once more, on the round's final code. The twenty-fifth to
thirty-fourth came in the next round (see the comments on the floors below), and the thirty-fifth
to thirty-seventh in the one after: scored on that round's starting code and once on its final
code, never studied.
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
    ("blind3", 0.93, 0.98, 0.08),
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
# 2026-11-30, fourth round (the stay test, the confirmation of a single unsure candidate, the follow-up
# marks, the FAQ phrasings for follow-ups parents kept asking, short and opening-question follow-ups,
# the pronoun rules, the wide stay for unsure messages that do not lean, the lone candidate, the
# near-blank signpost; see the README). Floors sit about 2 points under these figures, ceilings
# about 1 over. Every set has been studied or scored by now; "first" is the figure when it was
# first scored:
#   blind:  95.1 % resolved (39 of 41), 4.9 % wrong (2 of 41)
#   blind3: 95.5 % (42 of 44), 4.5 % (2 of 44)
#   blind4: 100 % (25 of 25), 0 % (0 of 25)
#   followups2: 78.2 % (86 of 110), 16.4 % (18 of 110): same-topic follow-ups, the hard kind
#   blind5: 88.1 % (37 of 42), 11.9 % (5 of 42); first 73.8 %
#   blind6: 86.0 % (37 of 43), 14.0 % (6 of 43); first 69.8 %
#   blind8 to blind12: 87.5, 85.8, 90.0, 95.0, 89.2 % (105, 103, 108, 114, 107 of 120); wrong
#           6.7, 6.7, 6.7, 4.2, 5.8 %; first 71.7, 71.7, 83.3, 82.5, 76.7 %
#   blind13 to blind18: 90.0, 85.0, 85.0, 90.0, 89.2, 90.0 % (108, 102, 102, 108, 107, 108); wrong
#           5.0, 5.8, 3.3, 4.2, 5.0, 5.8 %; first 77.5, 70.8, 73.3, 75.8, 78.3, 84.2 %
#   blind19 to blind24: 82.5, 83.3, 92.5, 80.0, 83.3, 81.7 % (99, 100, 111, 96, 100, 98); wrong
#           10.0, 6.7, 4.2, 8.3, 10.0, 5.8 %; first 73.3, 78.3, 86.7, 76.7, 79.2, 79.2 %
#   blind25, blind26: 85.0, 89.2 % (102, 107); wrong 6.7, 8.3 %; first 80.0, 88.3 %, then studied
#   blind27, blind28: 87.5, 82.5 % (105, 99); wrong 8.3, 7.5 %; first 84.2, 78.3 %; held back,
#           scored once more on the round's first rules (87.5, 81.7 %), then studied
#   blind29 to blind31: 81.7, 80.0, 83.3 % (98, 96, 100); wrong 8.3, 11.7, 11.7 %; written after
#           the round's first rules, scored on its starting code (76.7, 74.2, 82.5 %) and on those
#           rules (80.0, 79.2, 82.5 %), then studied
#   blind32 to blind34: 87.5, 84.2, 82.5 % (105, 101, 99); wrong 6.7, 11.7, 13.3 %; scored before
#           the neutral "it" (88.3, 83.3, 80.0 %) and after it (87.5, 83.3, 82.5 %), then studied
#   blind35 to blind37: 86.7, 93.3, 90.0 % (104, 112, 108); wrong 8.3, 2.5, 4.2 %; written in the
#           round of the lone candidate and the near-blank signpost, scored on its starting code
#           (85.8, 91.7, 90.0 %) and once on its final code; never studied
# followups2, blind5 and blind6 lost 1 to 3 pairs each to the neutral "it" (their ceilings moved by a
# pair or two); most sets from blind13 on gained.
FOLLOW_UP_FLOORS = [
    ("blind", 0.95, 0.05),
    ("blind3", 0.90, 0.06),
    ("blind4", 0.96, 0.04),
    ("followups2", 0.76, 0.17),
    ("blind5", 0.88, 0.12),
    ("blind6", 0.83, 0.15),
    ("blind8", 0.85, 0.08),
    ("blind9", 0.83, 0.07),
    ("blind10", 0.87, 0.07),
    ("blind11", 0.92, 0.06),
    ("blind12", 0.85, 0.07),
    ("blind13", 0.87, 0.06),
    ("blind14", 0.79, 0.08),
    ("blind15", 0.82, 0.07),
    ("blind16", 0.85, 0.06),
    ("blind17", 0.85, 0.06),
    ("blind18", 0.88, 0.07),
    ("blind19", 0.80, 0.12),
    ("blind20", 0.80, 0.09),
    ("blind21", 0.89, 0.06),
    ("blind22", 0.78, 0.12),
    ("blind23", 0.81, 0.11),
    ("blind24", 0.80, 0.07),
    ("blind25", 0.81, 0.09),
    ("blind26", 0.88, 0.09),
    ("blind27", 0.85, 0.09),
    ("blind28", 0.79, 0.09),
    ("blind29", 0.78, 0.09),
    ("blind30", 0.77, 0.14),
    ("blind31", 0.80, 0.12),
    ("blind32", 0.85, 0.08),
    ("blind33", 0.81, 0.13),
    ("blind34", 0.80, 0.14),
    ("blind35", 0.84, 0.09),
    ("blind36", 0.91, 0.04),
    ("blind37", 0.88, 0.05),
]


@pytest.mark.parametrize(("name", "resolved", "wrong"), FOLLOW_UP_FLOORS)
def test_blind_follow_ups_hold_their_floor(snap: Snapshot, name: str, resolved: float, wrong: float) -> None:
    pairs = yaml.safe_load((DATA / name / "followups.yaml").read_text(encoding="utf-8"))
    result = score(snap, pairs)
    n = result["n"]
    assert isinstance(n, int)
    assert result["resolved"] >= resolved * n, result["misses"]
    assert result["wrong"] <= wrong * n, result["misses"]
