"""What a server serves: a model folder (torch or ONNX), its calibration if it has one, and an index if given.

Everything is loaded with the library's own functions (``SiameseEncoder.load``, ``load_calibration``,
``SemanticIndex.load``), so the server answers as ``siamtext encode``, ``verify`` and ``search`` do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError, ModelError

__all__ = ["ServedModel", "load_served_model", "check_served_paths", "served_name", "Precomputed", "length_chunks"]

WARM_UP_TEXTS = ("warm up", "a somewhat longer text to warm the model up with, so the first request is not slower")


def served_name(model: str) -> str:
    """The model's id in responses: a Hub id as it is, a local folder by its name (no path of the server is shown)."""
    path = Path(model)
    return path.resolve().name if path.exists() else model


def check_served_paths(model: str, index: str | None, backend: str, onnx_file: str | None) -> None:
    """Refuse what cannot be served before anything heavy loads: a missing folder, a broken calibration or index manifest."""
    from siamese_text.calibration import load_calibration
    from siamese_text.model_files import check_model_path

    if backend not in ("torch", "onnx"):
        raise ConfigError(f"--model-backend {backend!r} is not one of torch, onnx")
    if onnx_file is not None and backend != "onnx":
        raise ConfigError("--onnx-file goes with --model-backend onnx; add it or drop --onnx-file")
    check_model_path(model)
    load_calibration(model)  # a broken calibration file is one line now, not a failed server later
    if index is not None:
        from siamese_text.search.folder import read_manifest

        read_manifest(Path(index))


@dataclass
class ServedModel:
    """The encoder with what it decides and searches with; :meth:`embed` is the batcher's forward."""

    encoder: Any
    name: str
    calibration: Any = None
    index: Any = None
    batch_size: int = 64

    @property
    def max_seq_length(self) -> int | None:
        return self.encoder.max_seq_length

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """How many tokens each text has before truncation (special tokens included), as ``encode`` counts them."""
        tokenizer = self.encoder.tokenizer
        ids = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        return np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))

    def embed(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (as ``encode`` gives them) and token counts of ``texts``.

        The texts are sorted by length and run in chunks of similar length (:func:`length_chunks`): a
        batch pads every text to its longest, and padding costs as much as text, so one long text in a
        forward of 32 short ones would make the batch slower than the 32 texts run one by one.
        """
        tokens = self.token_counts(texts)
        lengths = np.minimum(tokens, self.max_seq_length) if self.max_seq_length else tokens
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        for chunk in length_chunks(lengths[order], most=self.batch_size):
            rows = order[chunk]
            vectors = self.encoder.encode([texts[i] for i in rows], batch_size=len(rows))
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=vectors.dtype)
            out[rows] = vectors
        return out, tokens

    def warm_up(self) -> None:
        """Run the paths a request takes once, so the first request is not the slow one."""
        self.embed(list(WARM_UP_TEXTS))
        self.embed([WARM_UP_TEXTS[1]] * min(self.batch_size, 16))
        if self.index is not None and len(self.index) > 0:
            self.index.search_vectors(self.encoder.encode([WARM_UP_TEXTS[0]]), top_k=1)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()


def length_chunks(lengths: np.ndarray, *, most: int, fill: float = 0.8) -> list[slice]:
    """Consecutive slices of ``lengths`` (sorted longest first) to run as one forward each: at most ``most``
    texts, and at least ``fill`` of the padded tokens real ones (each text is padded to the chunk's first)."""
    chunks, start, n = [], 0, len(lengths)
    while start < n:
        end, total = start + 1, int(lengths[start])
        while end < n and end - start < most and total + lengths[end] >= fill * lengths[start] * (end + 1 - start):
            total += int(lengths[end])
            end += 1
        chunks.append(slice(start, end))
        start = end
    return chunks


def load_served_model(model: str | os.PathLike, *, index: str | os.PathLike | None = None, backend: str = "torch",
                      onnx_file: str | None = None, device: str | None = None, batch_size: int = 64) -> ServedModel:
    """Load the model (``backend`` torch or onnx), its calibration and the index (checked to embed as the model does)."""
    from siamese_text.calibration import load_calibration
    from siamese_text.encoder import SiameseEncoder

    model = str(model)
    check_served_paths(model, None if index is None else str(index), backend, onnx_file)
    calibration = load_calibration(model)
    kwargs = {"file_name": onnx_file} if onnx_file else None
    encoder = SiameseEncoder.load(model, device=device, backend=backend, model_kwargs=kwargs)
    if calibration is not None and calibration.dimension not in (None, encoder.dimension):
        raise ModelError(f"{model}'s calibration was fitted on {calibration.dimension}-dimensional embeddings but the model "
                         f"gives {encoder.dimension}; recalibrate with 'siamtext calibrate {model} --dataset D --overwrite'")
    loaded_index = None
    if index is not None:
        from siamese_text.search import SemanticIndex

        loaded_index = SemanticIndex.load(index)
        try:  # the served model must embed as the index's did: same dimension and probe embedding
            loaded_index.use_encoder(encoder, moved=True)
        except Exception:
            loaded_index.close()
            raise
    return ServedModel(encoder=encoder, name=served_name(model), calibration=calibration, index=loaded_index,
                       batch_size=batch_size)


class Precomputed:
    """An encoder face over embeddings the batcher already made, so ``score_pairs`` decides exactly as for ``verify``."""

    def __init__(self, texts: Sequence[str], embeddings: np.ndarray, dimension: int) -> None:
        self._rows = {text: row for row, text in enumerate(texts)}
        self._embeddings = embeddings
        self.dimension = dimension

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        return self._embeddings[[self._rows[text] for text in texts]]
