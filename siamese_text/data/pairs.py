"""From role-named data to what a loss needs: contrastive pairs or (anchor, positive, negative).

Scores -> contrastive labels
    A similarity score ``s`` in [0, 1] is used as a *soft* label by default: contrastive loss with
    label ``y = s`` is smallest at distance ``(1 - s) * margin``, so every pair teaches the model
    where it belongs in the order of similarity (what STS Spearman measures). ``binary=True``
    thresholds instead (``y = s >= threshold``, default 0.6, i.e. 3 of 5 on STS-B: "roughly
    equivalent"), which throws the order within each side away.

Scored pairs -> triplets
    A pair with ``s >= positive_threshold`` gives the triplet (a, b, n) and, since similarity is
    symmetric, (b, a, n'). The negative is, in order of preference: another partner of the anchor
    scored at least ``negative_gap`` lower (a graded negative the data vouches for); otherwise a
    text drawn at random (seeded) from the other pairs, which in STS-style data is almost always
    unrelated. Pairs below ``positive_threshold`` give no triplet of their own.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from siamese_text.data.loading import column
from siamese_text.errors import DataError

__all__ = ["scores_to_contrastive", "scored_pairs_to_triplets", "pair_rows"]


def pair_rows(ds: Any) -> tuple[list[str], list[str], list[float]]:
    """The (text_a, text_b, label) columns of a role-named pair data set as Python lists."""
    return column(ds, "text_a"), column(ds, "text_b"), [float(v) for v in column(ds, "label")]


def scores_to_contrastive(ds: Any, *, binary: bool = False, threshold: float = 0.6) -> Any:
    """Pairs with a contrastive label: the score itself (soft), or ``score >= threshold``."""
    import datasets

    a, b, scores = pair_rows(ds)
    labels = [float(s >= threshold) for s in scores] if binary else scores
    return datasets.Dataset.from_dict({"text_a": a, "text_b": b, "label": labels})


def scored_pairs_to_triplets(
    ds: Any,
    *,
    positive_threshold: float = 0.6,
    negative_gap: float = 0.4,
    symmetric: bool = True,
    seed: int = 42,
) -> Any:
    """(anchor, positive, negative) triplets from scored (or 0/1-labelled) pairs; see the module doc."""
    import datasets

    a, b, scores = pair_rows(ds)
    partners: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for x, y, s in zip(a, b, scores, strict=True):
        partners[x].append((y, s))
        partners[y].append((x, s))
    pool = sorted(partners)
    if len(pool) < 3:
        raise DataError(f"{len(pool)} distinct texts are too few to draw negatives from; give at least 3")
    rng = random.Random(seed)
    anchors: list[str] = []
    positives: list[str] = []
    negatives: list[str] = []
    for x, y, s in zip(a, b, scores, strict=True):
        if s < positive_threshold:
            continue
        for anchor, positive in ((x, y), (y, x)) if symmetric else ((x, y),):
            graded = [t for t, score in partners[anchor] if score <= s - negative_gap and t not in (anchor, positive)]
            if graded:
                negative = rng.choice(graded)
            else:
                negative = rng.choice(pool)
                while negative in (anchor, positive):
                    negative = rng.choice(pool)
            anchors.append(anchor)
            positives.append(positive)
            negatives.append(negative)
    if not anchors:
        raise DataError(f"no pair scores at least {positive_threshold}, so no triplet has a positive; lower the threshold")
    return datasets.Dataset.from_dict({"anchor": anchors, "positive": positives, "negative": negatives})
