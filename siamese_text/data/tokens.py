"""Tokenise once: the trainer's collator asks for token ids per batch; this answers from a cache.

sentence-transformers' data collator calls ``model.preprocess`` on every batch of every epoch, so a
3-epoch run tokenises each text three times, one small batch at a time, inside the training loop.
:class:`TokenCache` is a drop-in ``preprocess_fn`` for that collator: it tokenises every distinct
text of the training set up front (through the model's own ``preprocess``, in large length-sorted
chunks), keeps each text's ids without padding, and builds each batch by padding the cached rows to
the batch's longest (optionally to a multiple of 8, which GPU tensor cores like). A text it has not
seen (re-mined negatives, a prompt) goes through ``preprocess`` as before. Its output equals
``preprocess``'s for the same batch (tested), so training is unchanged; only the time moves.

It also counts real and padded tokens, so a run can report its pad fraction and useful tokens/s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

__all__ = ["TokenCache", "pad_fraction", "TEXT_COLUMNS"]

# The role-named columns that hold texts (every other column is a label or metadata).
TEXT_COLUMNS = ("text_a", "text_b", "anchor", "positive", "negative", "text")

# Keys whose rows are one value per token (padded along the last dimension); other keys pass through.
_PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1}


def pad_fraction(real_tokens: int, padded_tokens: int) -> float:
    """Padded tokens / all tokens of a run's batches (0 when nothing was counted)."""
    total = real_tokens + padded_tokens
    return padded_tokens / total if total else 0.0


class TokenCache:
    """``preprocess_fn`` for the sentence-transformers collator that tokenises each text once.

    ``preprocess`` is the model's ``preprocess`` (texts → padded tensors with an ``attention_mask``);
    ``pad_token_id`` is the tokenizer's. Use :meth:`fill` with the training texts before training.
    """

    def __init__(
        self,
        preprocess: Callable[..., dict[str, Any]],
        *,
        pad_token_id: int,
        pad_to_multiple_of: int | None = None,
        chunk_size: int = 1024,
    ) -> None:
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be at least 1, got {pad_to_multiple_of}")
        self.preprocess = preprocess
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.chunk_size = chunk_size
        self.rows: dict[str, dict[str, torch.Tensor]] = {}
        self.constants: dict[str, Any] = {}  # non-token keys preprocess returns (e.g. "modality": "text")
        self.real_tokens = 0
        self.padded_tokens = 0
        self.misses = 0

    def fill(self, texts: Iterable[str]) -> int:
        """Tokenise the texts not cached yet; returns how many were new."""
        new = sorted({t for t in texts if isinstance(t, str) and t not in self.rows}, key=len)
        for start in range(0, len(new), self.chunk_size):
            self._store(new[start : start + self.chunk_size])
        return len(new)

    def _store(self, texts: Sequence[str]) -> None:
        features = self.preprocess(list(texts))
        mask = features.get("attention_mask")
        if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
            raise TypeError("TokenCache needs a preprocess that returns a 2-D attention_mask (a text transformer)")
        if len(texts) > 1 and bool((mask[:, 0] == 0).any()):
            raise TypeError("TokenCache pads on the right; this tokenizer pads on the left")
        lengths = mask.sum(dim=1).tolist()
        width = mask.shape[1]
        token_keys = [k for k, v in features.items() if isinstance(v, torch.Tensor) and v.dim() == 2 and v.shape[1] == width]
        for key, value in features.items():
            if key not in token_keys:
                self.constants[key] = value
        for i, text in enumerate(texts):
            self.rows[text] = {key: features[key][i, : lengths[i]].clone() for key in token_keys}

    def length(self, text: str) -> int:
        """``text``'s number of tokens (special tokens included), tokenising it if it is not cached."""
        if text not in self.rows:
            self.fill([text])
        return len(self.rows[text]["attention_mask"])

    def __call__(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        if prompt or kwargs.get("task") is not None or kwargs.get("max_length") is not None or not inputs:
            return self.preprocess(inputs, prompt=prompt, **kwargs)  # not what the cache was filled for
        if not all(isinstance(t, str) for t in inputs):
            return self.preprocess(inputs, prompt=prompt, **kwargs)
        missing = [t for t in inputs if t not in self.rows]
        if missing:
            self.misses += len(missing)
            self.fill(missing)
        rows = [self.rows[t] for t in inputs]
        lengths = [len(row["attention_mask"]) for row in rows]
        width = max(lengths)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        self.real_tokens += sum(lengths)
        self.padded_tokens += width * len(rows) - sum(lengths)
        batch: dict[str, Any] = {}
        for key, first in rows[0].items():
            pad = self.pad_token_id if key == "input_ids" else _PAD_VALUES.get(key, 0)
            out = torch.full((len(rows), width), pad, dtype=first.dtype)
            for i, row in enumerate(rows):
                out[i, : len(row[key])] = row[key]
            batch[key] = out
        batch.update(self.constants)
        return batch
