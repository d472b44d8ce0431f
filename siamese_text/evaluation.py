"""Evaluation picked by what the data holds.

* scored pairs -> Pearson and Spearman of each similarity metric (x100, as sentence-transformers
  reports them in its model cards);

Both texts of every pair are embedded in one call, through the one encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from siamese_text.data.loading import column
from siamese_text.errors import DataError
from siamese_text.scoring import METRICS, pairwise_similarity

__all__ = ["evaluate_scored_pairs", "evaluate_data", "embed_pairs"]


def embed_pairs(encoder: Any, a: Sequence[str], b: Sequence[str], *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of both sides, each distinct text encoded once."""
    unique = list(dict.fromkeys([*a, *b]))
    index = {text: i for i, text in enumerate(unique)}
    emb = encoder.encode(unique, batch_size=batch_size)
    return emb[[index[t] for t in a]], emb[[index[t] for t in b]]


def evaluate_scored_pairs(
    encoder: Any,
    a: Sequence[str],
    b: Sequence[str],
    scores: Sequence[float],
    *,
    metrics: Sequence[str] = ("cosine", "euclidean"),
    batch_size: int = 64,
) -> dict[str, float]:
    """``{"pearson_cosine": .., "spearman_cosine": .., ...}`` in percent, for each metric."""
    from scipy.stats import pearsonr, spearmanr

    if not (len(a) == len(b) == len(scores)):
        raise DataError(f"{len(a)} texts a, {len(b)} texts b and {len(scores)} scores: give one score per pair")
    for metric in metrics:
        if metric not in METRICS:
            raise DataError(f"--metric {metric!r} is not one of {', '.join(METRICS)}")
    ea, eb = embed_pairs(encoder, a, b, batch_size=batch_size)
    gold = np.asarray(scores, dtype=np.float64)
    out: dict[str, float] = {}
    for metric in metrics:
        sim = pairwise_similarity(ea, eb, metric=metric).astype(np.float64)
        out[f"pearson_{metric}"] = float(pearsonr(gold, sim)[0] * 100)
        out[f"spearman_{metric}"] = float(spearmanr(gold, sim)[0] * 100)
    return out


def evaluate_data(encoder: Any, ds: Any, label_kind: str, *, metrics: Sequence[str] = ("cosine", "euclidean")) -> dict[str, float]:
    """Evaluate a role-named split (see :mod:`siamese_text.data.loading`) as its label kind asks."""
    if label_kind == "score":
        a, b, labels = (column(ds, name) for name in ("text_a", "text_b", "label"))
        return evaluate_scored_pairs(encoder, a, b, labels, metrics=metrics)
    raise DataError(f"evaluation of {label_kind!r} data is not available yet")
