"""Batch samplers for the sentence-transformers trainer.

``LengthGroupedBatchSampler``: sentence-transformers draws batches at random, so each batch is
padded to its longest text; on a CPU that padding is most of the work. Grouping texts of similar
length (within shuffled windows of ``window`` batches, then shuffling the batch order) keeps the
randomness of the data order while cutting the padding. Use it for losses that treat every pair
on its own (contrastive, triplet); in-batch mining wants random batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

from siamese_text.data.loading import column

__all__ = ["LengthGroupedBatchSampler"]

TEXT_ROLES = ("text_a", "text_b", "anchor", "positive", "negative", "text")


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Random batches of texts of similar length (the longest text of each row decides)."""

    window = 64  # batches per sorted window

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        columns = [c for c in TEXT_ROLES if c in dataset.column_names]
        lengths = torch.zeros(len(dataset), dtype=torch.long)
        for name in columns:
            col = torch.tensor([len(t) for t in column(dataset, name)], dtype=torch.long)
            lengths = torch.maximum(lengths, col)
        self.lengths = lengths

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        generator.manual_seed(int(self.seed) + int(self.epoch))
        order = torch.randperm(len(self.lengths), generator=generator)
        span = self.batch_size * self.window
        batches: list[list[int]] = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches.extend(chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]

    def __len__(self) -> int:
        n = len(self.lengths)
        if self.drop_last:
            full = 0
            for start in range(0, n, self.batch_size * self.window):
                full += min(self.batch_size * self.window, n - start) // self.batch_size
            return full
        return sum(
            -(-min(self.batch_size * self.window, n - start) // self.batch_size)
            for start in range(0, n, self.batch_size * self.window)
        )
