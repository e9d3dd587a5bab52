"""Fit the matcher's abstention model and print its coefficients and what each threshold would do.

    python tools/tune_fusion.py [SET.yaml ...]

By default it reads ../shared/eval/dev.yaml, tests/data/regression.yaml, tests/data/near_domain.yaml,
tests/data/added_topics.yaml and the second blind set, tests/data/blind/questions.yaml (all tuned
on; a set still blind must never be passed here). For every question the matcher ranks the entries
by its fused score and describes the best one (bot/matcher.py ``Signals.features``); a logistic
regression learns P(that entry is right) from those features. The L2 penalty is strong (50, on
standardised features): the six features are correlated (a semantic lead goes with a high semantic
score), and with little shrinkage the fit gives some of them negative weights that win a few
questions here and lose more on the third and fourth blind sets. Paste the printed constants into
bot/matcher.py (``_COEFFICIENTS``, ``_BIAS``). The threshold sweep leaves out the matcher's
lone-candidate rule (``_LONE_EASING``), which answers a few more questions than it counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.knowledge import load_knowledge  # noqa: E402
from bot.matcher import _FEATURES, Matcher, MatchSettings, _confidence  # noqa: E402
from bot.semantic import EmbeddingCache, default_cache_path  # noqa: E402

DEFAULT_SETS = [
    ROOT.parent / "shared" / "eval" / "dev.yaml",
    ROOT / "tests" / "data" / "regression.yaml",
    ROOT / "tests" / "data" / "near_domain.yaml",
    ROOT / "tests" / "data" / "added_topics.yaml",
    ROOT / "tests" / "data" / "blind" / "questions.yaml",
]
L2 = 50.0


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method on standardised features; weights on the raw scale."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - mu) / sd]
    w = np.zeros(z.shape[1])
    reg = L2 * np.diag(np.r_[0.0, np.ones(z.shape[1] - 1)])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + reg @ w
        hess = z.T @ (z * (p * (1 - p))[:, None]) + reg
        w -= np.linalg.solve(hess, grad)
    raw = w[1:] / sd
    return raw, float(w[0] - (raw * mu).sum())


def main() -> None:
    show = "--misses" in sys.argv
    sets = [Path(a) for a in sys.argv[1:] if not a.startswith("--")] or DEFAULT_SETS
    matcher = Matcher(load_knowledge(None), cache=EmbeddingCache(default_cache_path()))
    ids = [e.id for e in matcher.kb]
    rows = []
    for path in sets:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            q = " ".join(str(item["q"]).split())
            if matcher.smalltalk(q):
                continue
            want = item.get("id")
            wants = want if isinstance(want, list) else ([want] if want else [])
            sig = matcher.signals(q)
            if sig is None:
                continue
            rows.append((path.name, wants, sig, ids[sig.order[0]] in wants, q))
    x = np.array([r[2].features for r in rows])
    y = np.array([1.0 if r[3] else 0.0 for r in rows])
    coef, bias = fit(x, y)
    print("features:     ", _FEATURES)
    print(f"_COEFFICIENTS = ({', '.join(f'{c:.1f}' for c in coef)})")
    print(f"_BIAS = {bias:.1f}")
    fitted = (tuple(round(float(c), 1) for c in coef), round(bias, 1))
    current = [_confidence(r[2].features, *fitted) for r in rows]
    suggest = MatchSettings().suggest_threshold
    print(f"\nwith these constants (suggest threshold {suggest}); per set: top-1 / offered / false")
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.58, 0.6, 0.7):
        out = []
        for name in dict.fromkeys(r[0] for r in rows):
            part = [(r, p) for r, p in zip(rows, current, strict=True) if r[0] == name]
            inscope = [(r, p) for r, p in part if r[1]]
            outscope = [(r, p) for r, p in part if not r[1]]
            top1 = sum(1 for r, p in inscope if p >= threshold and r[3])
            offered = sum(
                1 for r, p in inscope if p >= suggest and any(ids[i] in r[1] for i in r[2].order[:3])
            )
            false = sum(
                1 for r, p in outscope if p >= threshold and not ids[r[2].order[0]].startswith("outside-")
            )
            n = max(len(inscope), 1)
            out.append(f"{name}: {100 * top1 / n:.1f} / {100 * offered / n:.1f} / {false}/{len(outscope)}")
        print(f"  answer >= {threshold}: " + "   ".join(out))
    if show:
        misses(rows, ids, fitted)


def misses(rows: list, ids: list[str], fitted: tuple, threshold: float = 0.5) -> None:
    """The questions on the wrong side of ``threshold``: right entries not answered, wrong ones answered."""
    for name, wants, sig, right, q in rows:
        p = _confidence(sig.features, *fitted)
        if (right and p < threshold) or (not right and p >= threshold):
            kind = "unsure" if right else ("FALSE" if not wants else "WRONG")
            feats = " ".join(f"{f:.2f}" for f in sig.features)
            print(f"{kind:6} {p:.2f} {name[:8]:8} {ids[sig.order[0]]:26} [{feats}] {q[:80]}")


if __name__ == "__main__":
    main()
