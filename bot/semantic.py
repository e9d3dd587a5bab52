"""Sentence embeddings for matching: all-MiniLM-L6-v2 run with onnxruntime, and a cache of them.

Pure core: stdlib, numpy, onnxruntime and tokenizers only (no PyTorch at run time). The encoder
mean-pools the transformer's last hidden state over the real tokens and L2-normalises it, as
sentence-transformers does, so a dot product of two embeddings is their cosine.

The FAQ's phrasings are embedded once and cached on disk keyed by a content hash (sha256 of the
model's hash and the phrasing's text): start-up with an unchanged FAQ encodes nothing, and a
reload encodes only the phrasings that changed. The cache holds hashes and vectors of FAQ
phrasings only, never a parent's question and no text at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import onnxruntime as ort
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

from bot.text import sentences

log = logging.getLogger(__name__)

DIMENSIONS = 384
# The model's own limit (sentence-transformers' max_seq_length): longer input is cut there.
_MAX_TOKENS = 256
# A long message is split into windows of about this many tokens, each embedded on its own: a
# question at the end of a forum post is not drowned by the story before it, and the cost stays
# linear in the length instead of growing with attention's square.
_WINDOW_TOKENS = 64
# At most this many windows are embedded per message (the last ones, where the question usually
# is, and any that hold a question mark): bounds the latency of a very long message.
_MAX_WINDOWS = 4
# One intra-op thread per run. The parallelism is across messages instead: the bot and
# `faqbot match --json` run two matches at once in threads (a run releases the GIL). Splitting one
# short run over two threads cost a third more CPU (waking the other thread for every operator) for
# little latency: 1.95 against 2.77 ms of CPU per one-line question, the same vectors bit for bit.
_THREADS = 1
# A message's windows run this many at a time (one per core): see Encoder.encode.
_PARALLEL_RUNS = 2

# Bump when the way text becomes a vector changes (tokenising, pooling): the cache is then rebuilt.
_PIPELINE = "single-text mean-pool l2 v1"

_KEY_BYTES = 32  # a sha256 digest, the cache's key


def _model_files() -> tuple[Path, Path]:
    models = Path(str(files("bot").joinpath("models")))
    return models / "encoder.onnx", models / "tokenizer.json"


def _normalise(text: str) -> str:
    """What the encoder sees of a phrasing: whitespace collapsed (the tokenizer lowercases)."""
    return " ".join(text.split())


class Encoder:
    """Embeds text with the shipped ONNX model: one unit vector of 384 floats per text."""

    def __init__(self, model: Path | None = None, tokenizer: Path | None = None) -> None:
        default_model, default_tokenizer = _model_files()
        model = model or default_model
        # What the cache is keyed on besides the text: the model file and how it is run and pooled.
        self.model_id = f"{hashlib.sha256(Path(model).read_bytes()).hexdigest()}:{_PIPELINE}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = _THREADS
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The arena keeps the peak of every batch shape it has seen; without it memory goes back.
        options.enable_cpu_mem_arena = False
        # Idle worker threads sleep instead of spinning: spinning threads took the cores from numpy
        # (the similarity product right after a run took 20 ms instead of 0.02 ms) and the event loop.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer or default_tokenizer))
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.no_padding()
        # Threads for running a message's windows at once (started on first use, shared by all callers).
        self._runs = ThreadPoolExecutor(_PARALLEL_RUNS, thread_name_prefix="encoder")

    def token_count(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts``, shape (len(texts), 384), float32.

        Each text is run on its own. Dynamic int8 quantisation scales activations by the range of
        the whole input tensor, so in a padded batch a text's embedding would depend on the texts
        beside it (cosine down to 0.985 measured): one text per run keeps an embedding a function
        of its text alone, which the cache and ``faqbot match --json`` (same answers as the bot)
        rely on. On two cores batching did not save time either (98 questions: 0.40 s both ways).
        """
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        ids = [e.ids for e in self._tokenizer.encode_batch([_normalise(t) for t in texts])]
        # A long message's windows run side by side, each on its own: a run releases the GIL, so on
        # two cores a four-window message takes about half as long. Bigger calls (a cache rebuild,
        # the desk's themes) run in the caller's thread: queued in the shared threads, they would
        # hold up every long message the bot gets meanwhile.
        small = 1 < len(ids) <= _MAX_WINDOWS
        rows = self._runs.map(self._embed, ids) if small else map(self._embed, ids)
        for row, vector in enumerate(rows):
            out[row] = vector
        return out

    def _embed(self, token_ids: list[int]) -> np.ndarray:
        """One text's unit embedding: one run of the model, mean-pooled over its tokens."""
        ids = np.array([token_ids], dtype=np.int64)
        mask = np.ones_like(ids)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        pooled = hidden[0].mean(axis=0)  # mean pooling over the tokens (no padding: all are real)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)  # type: ignore[no-any-return]

    def windows(self, text: str) -> list[str]:
        """A message cut into the pieces to embed: itself when short, else sentence windows.

        Windows are whole sentences packed up to ``_WINDOW_TOKENS`` tokens (a longer sentence is a
        window of its own and is truncated by the model). At most ``_MAX_WINDOWS`` are kept: those
        that ask something (a question mark) first, then the last ones, in message order.
        """
        text = _normalise(text)
        if self.token_count(text) <= _WINDOW_TOKENS:
            return [text]
        pieces: list[str] = []
        size = 0
        for sentence in sentences(text):
            n = self.token_count(sentence) - 2  # without [CLS] and [SEP]
            if pieces and size + n <= _WINDOW_TOKENS - 2:
                pieces[-1] = f"{pieces[-1]} {sentence}"
                size += n
            else:
                pieces.append(sentence)
                size = n
        if len(pieces) <= _MAX_WINDOWS:
            return pieces
        ranked = sorted(range(len(pieces)), key=lambda i: ("?" not in pieces[i], -i))
        keep = sorted(ranked[:_MAX_WINDOWS])
        return [pieces[i] for i in keep]


_WORD = re.compile(r"[A-Za-z]+")
_MINOR = frozenset("and of for the".split())


def acronyms(groups: Iterable[Sequence[str]]) -> dict[str, str]:
    """Acronyms in synonym groups, mapped to the phrase of the same group they abbreviate.

    The encoder never learnt our jargon ("SAR" is search and rescue to it), so an acronym is spelt
    out before embedding: "sar" -> "subject access request". Only when the phrase's initials are
    the acronym's letters (with or without "and", "of", "for", "the"), so nothing is guessed.
    """
    out: dict[str, str] = {}
    for group in groups:
        phrases = [t for t in group if len(t.split()) > 1]
        for term in group:
            if " " in term or not term.isalpha() or len(term) > 5:
                continue
            for phrase in phrases:
                ws = _WORD.findall(phrase.lower())
                initials = {"".join(w[0] for w in ws), "".join(w[0] for w in ws if w not in _MINOR)}
                if term.lower() in initials:
                    out.setdefault(term.lower(), phrase.lower())
                    break
    return out


def expand(text: str, table: dict[str, str]) -> str:
    """``text`` with the acronyms of ``table`` spelt out (whole words, any case)."""
    if not table:
        return text
    return _WORD.sub(lambda m: table.get(m.group(0).lower(), m.group(0)), text)


def single_threaded_blas() -> None:
    """Limit numpy's BLAS (OpenBLAS) to one thread, for the whole process. Call once at start.

    The matcher's only BLAS call is the similarity product of a question with the phrasings (about
    0.05 ms). With more than one thread, OpenBLAS's idle workers spin after each call and take a
    core from everything else: the encoder's threads, the next line's scoring, the event loop.
    Measured with ``faqbot match --json`` on 1,000 lines with another process busy on one core:
    15 s of CPU with two BLAS threads, 4.5 s with one, and the same output.
    """
    threadpool_limits(1, user_api="blas")


@cache
def default_encoder() -> Encoder:
    """The shipped model, loaded once per process (it is immutable; reloads of the FAQ share it)."""
    return Encoder()


def default_cache_path() -> Path:
    """``FAQBOT_EMBEDDING_CACHE``, else ``$XDG_CACHE_HOME/faqbot/embeddings.npz`` (~/.cache)."""
    configured = os.environ.get("FAQBOT_EMBEDDING_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "faqbot" / "embeddings.npz"


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What one :meth:`EmbeddingCache.embed` call did: how many texts it encoded or found cached."""

    encoded: int
    cached: int


class EmbeddingCache:
    """Phrasing embeddings keyed by sha256(model hash + text), kept in memory and in one file.

    The file is rewritten (atomically) only when something new was encoded, and holds only the
    phrasings of the last FAQ embedded, so it does not grow with every edit. A missing, unreadable
    or unwritable file only costs time: the embeddings are computed again.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._vectors: dict[bytes, np.ndarray] = {}
        self.last = CacheStats(0, 0)
        if path is not None:
            self._read(path)

    def _read(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError) as exc:
            log.warning("embedding cache %s is unreadable (%s); it will be rebuilt", path, exc)
            return
        if vectors.ndim == 2 and vectors.shape[1] == DIMENSIONS and len(keys) == len(vectors):
            # numpy's fixed-width bytes ("S32") drop trailing NUL bytes on reading: a digest ending in
            # 0x00 (one in 256) came back short, never matched, and was encoded again at every start.
            self._vectors = {
                bytes(k).ljust(_KEY_BYTES, b"\0"): v
                for k, v in zip(keys, vectors.astype(np.float32), strict=True)
            }

    @staticmethod
    def key(model_id: str, text: str) -> bytes:
        """The cache key of one phrasing: sha256 of the model id and the text (32 bytes)."""
        return hashlib.sha256(f"{model_id}\0{_normalise(text)}".encode()).digest()

    def embed(self, encoder: Encoder, texts: Iterable[str]) -> np.ndarray:
        """Embeddings of ``texts`` in order, encoding only those not cached; saves when it encoded any."""
        texts = list(texts)
        keys = [self.key(encoder.model_id, t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
        if missing:
            fresh = encoder.encode(list(missing.values()))
            self._vectors.update(zip(missing, fresh, strict=True))
        self.last = CacheStats(encoded=len(missing), cached=len(texts) - len(missing))
        # Keep only what this FAQ uses: old phrasings go once they are edited away.
        wanted = set(keys)
        stale = len(self._vectors) != len(wanted)
        self._vectors = {k: v for k, v in self._vectors.items() if k in wanted}
        if missing or stale:
            self._write()
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def _write(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self._vectors), dtype=f"S{_KEY_BYTES}")
            vectors = np.stack(list(self._vectors.values())) if self._vectors else np.zeros((0, DIMENSIONS))
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".embeddings-", suffix=".npz")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, keys=keys, vectors=vectors.astype(np.float32))
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("could not write the embedding cache %s (%s); it stays in memory", self.path, exc)
