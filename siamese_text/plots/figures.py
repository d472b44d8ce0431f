"""The figures themselves: numbers in, a PNG file out, drawn by matplotlib on its Agg backend (no display).

Each function takes plain arrays (scores, labels, embeddings), draws one figure of a fixed size
(``figsize`` inches x :data:`DPI`), writes it atomically to ``path`` and returns the path. The
figures say what they show in their titles (the figure of merit and where it comes from), so a
PNG seen alone, on a model card or in a report, reads without the JSON beside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError, DataError
from siamese_text.plots.stats import (
    binned_reliability,
    confusion_counts,
    histogram_overlap,
    most_confused,
    pr_curve,
    project_2d,
    roc_curve,
)
from siamese_text.storage import atomic_file

__all__ = [
    "DPI",
    "PLOT_INSTALL",
    "pyplot",
    "plot_scored_pairs",
    "plot_score_histograms",
    "plot_roc_pr",
    "plot_projection",
    "plot_confusion",
    "plot_reliability",
]

DPI = 100
PLOT_INSTALL = "pip install 'siamese-text[plot]'"
SAME, DIFFERENT = "tab:blue", "tab:orange"
LEGEND_CLASSES = 10  # more classes than this: colour the most confused ones, the others grey


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only); without matplotlib, a :class:`ConfigError` naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"plots need matplotlib, which is not installed; {PLOT_INSTALL}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG of exactly its size in pixels (no tight bounding box), atomically; close it."""
    plt = pyplot()
    path = Path(path)
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _figure(figsize: tuple[float, float], ncols: int = 1) -> tuple[Any, Any]:
    return pyplot().subplots(1, ncols, figsize=figsize, dpi=DPI, layout="constrained")


def _binary(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if s.shape != y.shape or s.ndim != 1:
        raise DataError(f"{s.size} scores but {y.size} labels: give one 0/1 label per score")
    if not np.isin(y, (0, 1)).all() or y.size == 0 or y.min() == y.max():
        raise DataError("the plot needs 0/1 labels with pairs of both kinds (0 = different, 1 = same)")
    return s, y.astype(np.int64)


def plot_scored_pairs(
    predicted: Any, gold: Any, *, path: str | os.PathLike, metric: str = "cosine", title: str = "",
    figsize: tuple[float, float] = (6.4, 4.8),
) -> Path:
    """Predicted similarity (y) against the gold score (x), one dot per pair, with Spearman and Pearson."""
    from scipy.stats import pearsonr, spearmanr

    p, g = np.asarray(predicted, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if p.shape != g.shape or p.size < 2:
        raise DataError(f"{p.size} predicted and {g.size} gold scores: give one gold score per pair, at least 2")
    fig, ax = _figure(figsize)
    ax.scatter(g, p, s=8, alpha=0.35, color=SAME, edgecolors="none")
    # the median prediction per gold-score bin: the shape of the relation, where the dots pile up
    edges = np.linspace(g.min(), g.max(), 11)
    where = np.clip(np.digitize(g, edges[1:-1]), 0, 9)
    centres = [(edges[i] + edges[i + 1]) / 2 for i in range(10) if (where == i).any()]
    medians = [float(np.median(p[where == i])) for i in range(10) if (where == i).any()]
    ax.plot(centres, medians, color="black", lw=1.5, marker="o", ms=4, label="median per gold-score bin")
    spearman, pearson = spearmanr(g, p)[0] * 100, pearsonr(g, p)[0] * 100
    ax.set_xlabel("gold score")
    ax.set_ylabel(f"predicted {metric} similarity")
    ax.set_title(f"{title}\nSpearman {spearman:.1f}, Pearson {pearson:.1f} ({p.size:,} pairs)".strip(), fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_score_histograms(
    scores: Any, labels: Any, *, path: str | os.PathLike, threshold: float | None = None, threshold_label: str = "threshold",
    metric: str = "cosine", title: str = "", bins: int = 40, figsize: tuple[float, float] = (6.4, 4.8),
) -> Path:
    """The score distributions of same (1) and different (0) pairs, overlaid; the decision threshold marked.

    The title gives their overlap (the shared area of the two normalised histograms: 0% is a
    perfect separator, 100% a model that cannot tell them apart) and, with a threshold, the
    accuracy of deciding "same" at ``score >= threshold``.
    """
    s, y = _binary(scores, labels)
    edges = np.linspace(s.min(), s.max(), bins + 1) if s.max() > s.min() else np.linspace(s.min() - 0.5, s.max() + 0.5, bins + 1)
    fig, ax = _figure(figsize)
    ax.hist(s[y == 0], bins=edges, density=True, alpha=0.5, color=DIFFERENT, label=f"different (0): {int((y == 0).sum()):,}")
    ax.hist(s[y == 1], bins=edges, density=True, alpha=0.5, color=SAME, label=f"same (1): {int((y == 1).sum()):,}")
    heading = f"histogram overlap {histogram_overlap(s, y, bins=edges) * 100:.0f}%"
    if threshold is not None:
        accuracy = float(((s >= threshold) == (y == 1)).mean() * 100)
        ax.axvline(threshold, color="black", ls="--", lw=1.5, label=f"{threshold_label}: {threshold:.3f}")
        heading += f", accuracy {accuracy:.1f}% at the threshold"
    ax.set_xlabel(f"{metric} similarity of the pair")
    ax.set_ylabel("density")
    ax.set_title(f"{title}\n{heading}".strip(), fontsize=10)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_roc_pr(
    scores: Any, labels: Any, *, path: str | os.PathLike, threshold: float | None = None, title: str = "",
    figsize: tuple[float, float] = (10.0, 4.4),
) -> Path:
    """ROC curve (with its AUC) and precision-recall curve (with average precision) side by side; the threshold marked."""
    s, y = _binary(scores, labels)
    fig, (roc_ax, pr_ax) = _figure(figsize, ncols=2)
    fpr, tpr, auc = roc_curve(s, y)
    roc_ax.plot(fpr, tpr, color=SAME, lw=2)
    roc_ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="chance")
    roc_ax.set_xlabel("false positive rate")
    roc_ax.set_ylabel("true positive rate (recall)")
    roc_ax.set_title(f"ROC: AUC {auc * 100:.1f}", fontsize=10)
    recall, precision, ap = pr_curve(s, y)
    pr_ax.plot(recall, precision, color=SAME, lw=2)
    pr_ax.axhline(y.mean(), color="0.6", ls=":", lw=1, label=f"chance ({y.mean() * 100:.0f}% same)")
    pr_ax.set_xlabel("recall")
    pr_ax.set_ylabel("precision")
    pr_ax.set_title(f"precision-recall: AP {ap * 100:.1f}", fontsize=10)
    if threshold is not None:
        decided = s >= threshold
        tp = int((decided & (y == 1)).sum())
        point_recall, point_fpr = tp / (y == 1).sum(), int((decided & (y == 0)).sum()) / (y == 0).sum()
        point_precision = tp / max(int(decided.sum()), 1)
        label = f"threshold {threshold:.3f}"
        roc_ax.plot([point_fpr], [point_recall], "o", color="black", label=label)
        pr_ax.plot([point_recall], [point_precision], "o", color="black", label=label)
    for ax in (roc_ax, pr_ax):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is roc_ax else "lower left", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _class_name(label: Any, names: Sequence[str] | None) -> str:
    if names is not None and isinstance(label, (int, np.integer)) and 0 <= int(label) < len(names):
        return str(names[int(label)])
    return str(label)


def plot_projection(
    embeddings: Any, labels: Sequence[Any], *, path: str | os.PathLike, class_names: Sequence[str] | None = None,
    highlight: Sequence[Any] | None = None, method: str = "auto", title: str = "", max_points: int = 5000,
    seed: int = 0, figsize: tuple[float, float] = (7.2, 5.4),
) -> Path:
    """Texts in 2-D (UMAP if ``umap-learn`` is installed, else PCA), coloured by class.

    With more than :data:`LEGEND_CLASSES` classes only those in ``highlight`` (e.g. the most
    confused, at most 10) get a colour and a legend entry; the others are grey, so the colours stay telling.
    """
    emb, labels = np.asarray(embeddings, dtype=np.float64), list(labels)
    if len(emb) != len(labels) or len(emb) < 3:
        raise DataError(f"{len(emb)} embeddings and {len(labels)} labels: give one label per text, at least 3 texts")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(emb), max_points, replace=False)) if len(emb) > max_points else np.arange(len(emb))
    xy, used = project_2d(emb[keep], method=method, seed=seed)
    kept = [labels[i] for i in keep]
    classes = list(dict.fromkeys(labels))
    coloured = classes if len(classes) <= LEGEND_CLASSES else [c for c in (highlight or classes[:LEGEND_CLASSES])][:LEGEND_CLASSES]
    palette = pyplot().get_cmap("tab10" if len(coloured) <= 10 else "tab20")
    fig, ax = _figure(figsize)
    grey = np.asarray([label not in coloured for label in kept])
    if grey.any():
        ax.scatter(xy[grey, 0], xy[grey, 1], s=5, color="0.8", edgecolors="none", antialiased=False,
                   label=f"{len(classes) - len(coloured)} other classes")
    for i, label in enumerate(coloured):
        mine = np.asarray([k == label for k in kept])
        # without antialiasing thousands of dots compress to a third of the file, and look the same at this size
        ax.scatter(xy[mine, 0], xy[mine, 1], s=12, color=palette(i % palette.N), edgecolors="none", antialiased=False,
                   label=_class_name(label, class_names)[:28])
    ax.set_xlabel(f"{used.upper()} 1")
    ax.set_ylabel(f"{used.upper()} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    shown = "" if len(coloured) == len(classes) else f"; {len(coloured)} most confused of {len(classes)} classes coloured"
    ax.set_title(f"{title}\n{used.upper()} of {len(keep):,} texts{shown}".strip(), fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False, markerscale=1.5)
    return _save(fig, path)


def plot_confusion(
    gold: Sequence[Any], predicted: Sequence[Any], *, path: str | os.PathLike, class_names: Sequence[str] | None = None,
    top: int = 12, title: str = "", figsize: tuple[float, float] = (7.2, 6.4),
) -> Path:
    """The confusion matrix of the ``top`` most confused classes (rows gold, columns predicted), counts in the cells."""
    gold, predicted = list(gold), list(predicted)
    if len(gold) != len(predicted) or not gold:
        raise DataError(f"{len(gold)} gold and {len(predicted)} predicted classes: give one prediction per text")
    classes = most_confused(gold, predicted, top=top)
    counts = confusion_counts(gold, predicted, classes)
    accuracy = float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]) * 100)
    fig, ax = _figure(figsize)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if counts[i, j]:
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.55 else "black")
    names = [_class_name(c, class_names)[:24] for c in classes]
    ax.set_xticks(range(len(classes)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), names, fontsize=7)
    ax.set_xlabel("predicted class (nearest centroid)")
    ax.set_ylabel("gold class")
    which = f"{len(classes)} most confused of {len(set(gold) | set(predicted))} classes" if len(set(gold)) > len(classes) else "all classes"
    ax.set_title(f"{title}\nnearest-centroid accuracy {accuracy:.1f}%; {which}".strip(), fontsize=10)
    return _save(fig, path)


def plot_reliability(
    probabilities: Any, labels: Any, *, path: str | os.PathLike, n_bins: int = 10, title: str = "",
    figsize: tuple[float, float] = (6.4, 6.0),
) -> Path:
    """Reliability diagram: per probability bin, the fraction of pairs that are the same against the mean P(same).

    A calibrated model lies on the diagonal; the bars below count the pairs in each bin; the title
    gives the expected calibration error (as :func:`siamese_text.calibration.expected_calibration_error`).
    """
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.size == 0:
        raise DataError(f"{p.size} probabilities and {y.size} labels: give one 0/1 label per probability")
    mean_p, fraction, counts, ece = binned_reliability(p, y, n_bins=n_bins)
    plt = pyplot()
    fig, (ax, bars) = plt.subplots(2, 1, figsize=figsize, dpi=DPI, layout="constrained", sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="perfectly calibrated")
    filled = counts > 0
    ax.plot(mean_p[filled], fraction[filled], "o-", color=SAME, lw=2, label="this calibration")
    ax.set_ylabel("fraction of pairs that are the same")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}\nexpected calibration error {ece:.3f} ({p.size:,} pairs, {n_bins} bins)".strip(), fontsize=10)
    edges = np.linspace(0, 1, n_bins + 1)
    bars.bar(edges[:-1], counts, width=1 / n_bins, align="edge", color=SAME, alpha=0.6, edgecolor="white")
    bars.set_xlabel("predicted P(same)")
    bars.set_ylabel("pairs")
    return _save(fig, path)
