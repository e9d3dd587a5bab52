"""Fine-tune all-MiniLM-L6-v2 lightly on the FAQ's own phrasings (dev-only; tools/export_encoder.py).

Why: off the shelf, the encoder knows English but not this FAQ's boundaries. Two phrasings of one
entry ("is my son's SEN in the census", "what SEN codes are sent") can sit further apart than
phrasings of two neighbouring entries. One light pass with in-batch negatives fixes much of that:
each step takes 32 entries, two phrasings of each, and teaches the model that a phrasing is closer to
the other phrasing of its own entry than to the 31 other entries' (a symmetric softmax over cosines
times 20, as sentence-transformers' MultipleNegativesRankingLoss does).

Only the FAQ's phrasings are used: no eval or blind-set question. How much to train was chosen on
the tuning sets (dev, regression, blind 2-4; README "How matching works"): 60 steps (about one pass
over the 1,800 phrasings) ranks as well as 300 or 600 and keeps out-of-scope questions further from
every entry; longer training pulls everything towards some entry, so abstaining gets harder.

Deterministic on one machine for a given set of library versions and FAQ (seeded, fixed thread
count); the exported file's sha256 is in the README.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

STEPS = 60
BATCH = 32  # entries per step, two phrasings each
LEARNING_RATE = 2e-5  # linear warm-up over the first tenth, then linear decay to zero
SCALE = 20.0  # cosine -> logit, as sentence-transformers' MultipleNegativesRankingLoss
SEED = 0
THREADS = 2
MAX_TOKENS = 128  # phrasings are short; longer ones are cut

ROOT = Path(__file__).resolve().parent.parent


def phrasing_groups(knowledge: Path | None = None) -> list[list[str]]:
    """Each entry's phrasings as the bot embeds them (acronyms expanded), entries with at least two."""
    sys.path.insert(0, str(ROOT))
    from bot.knowledge import load_knowledge
    from bot.matcher import phrasing_texts
    from bot.semantic import acronyms

    kb = load_knowledge(knowledge)
    return [g for g in phrasing_texts(list(kb), acronyms(kb.synonyms)) if len(g) >= 2]


def mean_pooled(model, tokenizer, texts: list[str]):  # type: ignore[no-untyped-def]
    """Unit vectors: the last hidden state mean-pooled over real tokens, as the bot does at run time."""
    import torch

    batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def fine_tune(base: Path, out: Path, groups: list[list[str]], steps: int = STEPS, seed: int = SEED) -> Path:
    """Train from the weights in ``base`` and save the model and tokenizer to ``out``."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(THREADS)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base))
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    for step in range(steps):
        chosen = random.sample(range(len(groups)), min(BATCH, len(groups)))
        anchors, positives = zip(*(random.sample(groups[i], 2) for i in chosen), strict=True)
        a, p = mean_pooled(model, tokenizer, list(anchors)), mean_pooled(model, tokenizer, list(positives))
        logits = SCALE * a @ p.T
        labels = torch.arange(len(chosen))
        cross_entropy = torch.nn.functional.cross_entropy
        loss = (cross_entropy(logits, labels) + cross_entropy(logits.T, labels)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 20 == 0 or step == steps - 1:
            print(f"fine-tune step {step + 1}/{steps}: loss {loss.item():.3f}", flush=True)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out
