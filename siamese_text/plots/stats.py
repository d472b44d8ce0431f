"""The numbers behind the figures, with numpy only: curves, overlaps, bins, a 2-D projection, confusions.

Kept apart from the drawing so they can be checked (and used) without matplotlib.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError

__all__ = [
    "PROJECTIONS",
    "histogram_overlap",
    "roc_curve",
    "pr_curve",
    "binned_reliability",
    "project_2d",
    "most_confused",
    "confusion_counts",
]

PROJECTIONS: tuple[str, ...] = ("auto", "umap", "pca")


def histogram_overlap(scores: Any, labels: Any, *, bins: Any = 40) -> float:
    """The shared area (0..1) of the normalised score histograms of label 0 and label 1.

    0 means no bin holds both kinds of pair (a threshold separates them perfectly); 1 means the two
    distributions are the same (the scores say nothing about the label).
    """
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    edges = np.histogram_bin_edges(s, bins=bins)
    h0 = np.histogram(s[y == 0], bins=edges)[0] / max(int((y == 0).sum()), 1)
    h1 = np.histogram(s[y == 1], bins=edges)[0] / max(int((y == 1).sum()), 1)
    return float(np.minimum(h0, h1).sum())


def _ranked_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when deciding "same" at each distinct score, from the highest down."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # last index of each group of equal scores
    return np.cumsum(y)[ends], np.cumsum(1 - y)[ends]


def roc_curve(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """False and true positive rates at every threshold (from (0, 0) to (1, 1)) and the area under them."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(np.int64)
    tp, fp = _ranked_counts(s, y)
    tpr = np.concatenate([[0.0], tp / max(int(y.sum()), 1)])
    fpr = np.concatenate([[0.0], fp / max(int((1 - y).sum()), 1)])
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return fpr, tpr, auc


def pr_curve(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Recall and precision at every threshold, and the average precision (sklearn's step-wise sum)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(np.int64)
    tp, fp = _ranked_counts(s, y)
    precision, recall = tp / (tp + fp), tp / max(int(y.sum()), 1)
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
    return np.concatenate([[0.0], recall]), np.concatenate([[1.0], precision]), ap


def binned_reliability(
    probabilities: Any, labels: Any, *, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per equal-width probability bin: mean probability, fraction labelled 1, count; and the expected calibration error.

    The bins and the error are those of :func:`siamese_text.calibration.expected_calibration_error`.
    """
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    which = np.minimum((p * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(which, minlength=n_bins).astype(np.float64)
    filled = np.maximum(counts, 1)
    mean_p = np.bincount(which, weights=p, minlength=n_bins) / filled
    fraction = np.bincount(which, weights=y, minlength=n_bins) / filled
    ece = float(np.sum(counts / p.size * np.abs(mean_p - fraction)))
    return mean_p, fraction, counts.astype(np.int64), ece


def project_2d(embeddings: Any, *, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """Embeddings in two dimensions and the method used: ``umap`` (needs umap-learn), ``pca``, or
    ``auto`` (UMAP when umap-learn is installed, else PCA by a singular value decomposition)."""
    if method not in PROJECTIONS:
        raise ConfigError(f"projection {method!r} is not one of {', '.join(PROJECTIONS)}")
    emb = np.asarray(embeddings, dtype=np.float64)
    if method in ("auto", "umap"):
        try:
            import umap
        except ImportError:
            if method == "umap":
                raise ConfigError("a UMAP projection needs umap-learn, which is not installed; pip install umap-learn "
                                  "(or use the PCA projection)") from None
        else:
            reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed, n_neighbors=min(15, len(emb) - 1))
            return np.asarray(reducer.fit_transform(emb), dtype=np.float64), "umap"
    centred = emb - emb.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    xy = u[:, :2] * s[:2]
    if xy.shape[1] < 2:  # one-dimensional embeddings
        xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
    return xy, "pca"


def most_confused(gold: Sequence[Any], predicted: Sequence[Any], *, top: int = 12) -> list[Any]:
    """The ``top`` classes with the most errors (texts of the class predicted as another, plus texts of
    others predicted as it), most first; ties (and a model without errors) in order of first appearance."""
    errors: Counter[Any] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        if g != p:
            errors[g] += 1
            errors[p] += 1
    classes = list(dict.fromkeys([*gold, *predicted]))
    return sorted(classes, key=lambda c: -errors[c])[:top]


def confusion_counts(gold: Sequence[Any], predicted: Sequence[Any], classes: Sequence[Any]) -> np.ndarray:
    """Counts of (gold row, predicted column) among ``classes``; texts of other classes are left out."""
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        if g in index and p in index:
            counts[index[g], index[p]] += 1
    return counts
