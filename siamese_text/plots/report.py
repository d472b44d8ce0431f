"""The pictures of an evaluation, a calibration and a training run: a model and a split in, PNG files out.

What is drawn follows the label kind, as the evaluation does (:data:`PLOT_KINDS`): scored pairs get
a scatter of predicted similarity against the gold score; 0/1 pairs the two score histograms with
the decision threshold and the ROC and precision-recall curves; class-labelled texts a 2-D
projection coloured by class and the confusions of the nearest-centroid classifier. Triplets and
query/document pairs get none (yet).

The texts are embedded once: :class:`CachingEncoder` remembers each text's embedding, so the
evaluation and its pictures (or a calibration and its reliability diagram) share the work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.data.loading import column
from siamese_text.errors import DataError, ModelError
from siamese_text.evaluation import class_centroids, embed_pairs, evaluate_data, find_threshold
from siamese_text.plots import figures
from siamese_text.plots.stats import most_confused
from siamese_text.scoring import pairwise_similarity, similarity_matrix

__all__ = [
    "PLOTS_DIR",
    "PLOT_KINDS",
    "PLOT_CAPTIONS",
    "RELIABILITY_FILE",
    "CachingEncoder",
    "plots_available",
    "plot_files",
    "plot_split",
    "evaluate_with_plots",
    "plot_calibration",
    "fitted_where",
    "training_plots",
]

PLOTS_DIR = "plots"  # inside a model folder: training's before/after pictures and the reliability diagram
RELIABILITY_FILE = f"{PLOTS_DIR}/reliability.png"
PLOT_KINDS: dict[str, tuple[str, ...]] = {
    "score": ("scatter",),
    "binary": ("histograms", "roc-pr"),
    "class": ("projection", "confusion"),
}

# What each picture shows, in a sentence (the model card's captions).
PLOT_CAPTIONS: dict[str, str] = {
    "scatter": "Predicted similarity against the gold score, one dot per pair",
    "histograms": "Scores of same and different pairs, with the decision threshold",
    "roc-pr": "ROC and precision-recall curves",
    "projection": "The texts in 2-D, coloured by class",
    "confusion": "Confusions of the nearest-centroid classifier",
}


def plots_available() -> bool:
    """Whether matplotlib can be imported (the ``plot`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


class CachingEncoder:
    """An encoder that embeds each distinct text once and remembers it; everything else is the wrapped encoder's."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self._cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def encode(self, texts: str | Sequence[str], *, batch_size: int = 64, **kwargs: Any) -> Any:
        if isinstance(texts, str) or kwargs:  # one text, or tensors / normalising asked for: not cached
            return self.encoder.encode(texts, batch_size=batch_size, **kwargs)
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, np.asarray(self.encoder.encode(missing, batch_size=batch_size)), strict=True))
        if not texts:
            return self.encoder.encode(texts, batch_size=batch_size)
        return np.stack([self._cache[t] for t in texts])


def plot_files(prefix: str | os.PathLike, label_kind: str) -> dict[str, Path]:
    """The files :func:`plot_split` writes for ``label_kind``: ``{kind: PREFIX + kind + ".png"}`` (none for triplets)."""
    return {kind: Path(f"{os.fspath(prefix)}{kind}.png") for kind in PLOT_KINDS.get(label_kind, ())}


def _pair_scores(encoder: Any, ds: Any, metric: str, batch_size: int) -> tuple[np.ndarray, list[Any]]:
    ea, eb = embed_pairs(encoder, column(ds, "text_a"), column(ds, "text_b"), batch_size=batch_size)
    return np.asarray(pairwise_similarity(ea, eb, metric=metric), dtype=np.float64), column(ds, "label")


def plot_split(
    encoder: Any,
    ds: Any,
    label_kind: str,
    *,
    prefix: str | os.PathLike,
    metric: str = "cosine",
    corpus: Any = None,
    threshold: float | None = None,
    threshold_label: str = "threshold",
    class_names: Sequence[str] | None = None,
    title: str = "",
    batch_size: int = 64,
) -> dict[str, Path]:
    """Draw the pictures of a role-named split (as :func:`siamese_text.evaluation.evaluate_data` takes it).

    ``prefix`` starts every file name (``out/eval-mrpc-test-`` gives ``out/eval-mrpc-test-histograms.png``).
    Binary pairs: ``threshold`` is marked (default: the most accurate on these pairs, labelled in-sample).
    Class-labelled texts: ``corpus`` (the train split) gives the class centroids; ``class_names`` the legend.
    """
    files = plot_files(prefix, label_kind)
    if label_kind == "score":
        scores, gold = _pair_scores(encoder, ds, metric, batch_size)
        figures.plot_scored_pairs(scores, gold, path=files["scatter"], metric=metric, title=title)
    elif label_kind == "binary":
        scores, labels = _pair_scores(encoder, ds, metric, batch_size)
        if threshold is None:
            threshold = find_threshold(scores, labels, objective="accuracy", what="the plotted split")
            threshold_label = "most accurate here (in-sample)"
        figures.plot_score_histograms(scores, labels, path=files["histograms"], threshold=threshold,
                                      threshold_label=threshold_label, metric=metric, title=title)
        figures.plot_roc_pr(scores, labels, path=files["roc-pr"], threshold=threshold, title=title)
    elif label_kind == "class":
        if corpus is None:
            raise DataError("class-labelled pictures need the corpus split (normally train) for the class centroids: pass corpus=")
        texts, gold = column(ds, "text"), column(ds, "label")
        emb = np.asarray(encoder.encode(texts, batch_size=batch_size))
        classes, centroids = class_centroids(encoder.encode(column(corpus, "text"), batch_size=batch_size), column(corpus, "label"))
        nearest = np.asarray(similarity_matrix(emb, centroids, metric=metric, max_elements=None)).argmax(1)
        predicted = [classes[i] for i in nearest]
        figures.plot_projection(emb, gold, path=files["projection"], class_names=class_names,
                                highlight=most_confused(gold, predicted, top=figures.LEGEND_CLASSES), title=title)
        figures.plot_confusion(gold, predicted, path=files["confusion"], class_names=class_names, title=title)
    return files


def fitted_where(calibration: Any) -> str:
    """Where a calibration was fitted, short enough for a picture: ``mrpc validation``, a local data set by its name only."""
    dataset = Path(calibration.dataset).name if calibration.dataset and Path(calibration.dataset).exists() else calibration.dataset
    return " ".join(x for x in (dataset, calibration.split) if x) or "given pairs"


def _calibrated(calibration: Any) -> str:
    return f"calibrated ({fitted_where(calibration)})"


def _plot_metric(metrics: Sequence[str], calibration: Any) -> str:
    if calibration is not None and calibration.metric in metrics:
        return calibration.metric
    return "cosine" if "cosine" in metrics else metrics[0]


def _model_calibration(encoder: Any) -> Any:
    from siamese_text.calibration import load_calibration

    model = str(getattr(encoder, "name_or_path", "") or "")
    try:
        return load_calibration(model) if model else None
    except ModelError:  # a broken calibration file: the evaluation does not need it, the picture does without
        return None


def evaluate_with_plots(
    encoder: Any,
    ds: Any,
    label_kind: str,
    *,
    plot_dir: str | os.PathLike,
    plot_prefix: str = "",
    metrics: Sequence[str] = ("cosine", "euclidean"),
    corpus: Any = None,
    threshold_data: Any = None,
    class_names: Sequence[str] | None = None,
    title: str = "",
    batch_size: int = 64,
) -> tuple[dict[str, float], dict[str, Path]]:
    """:func:`siamese_text.evaluation.evaluate_data` and the pictures of the same split, each text embedded once.

    Returns the figures and ``{kind: path}`` of the PNGs written into ``plot_dir`` (named ``plot_prefix + kind + ".png"``).
    Binary pairs mark the model's calibrated threshold if it has one, else the one fitted on
    ``threshold_data``, else the most accurate on the split itself (in-sample).
    """
    figures.pyplot()  # no matplotlib: say so before any work
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    cached = CachingEncoder(encoder)
    results = evaluate_data(cached, ds, label_kind, metrics=metrics, corpus=corpus, threshold_data=threshold_data,
                            batch_size=batch_size)
    calibration = _model_calibration(encoder) if label_kind == "binary" else None
    metric = _plot_metric(metrics, calibration)
    threshold, threshold_label = None, "threshold"
    if calibration is not None and calibration.metric == metric:
        threshold, threshold_label = calibration.threshold, _calibrated(calibration)
    elif f"{metric}_fitted_accuracy_threshold" in results:
        threshold, threshold_label = results[f"{metric}_fitted_accuracy_threshold"], "most accurate on the threshold split"
    paths = plot_split(cached, ds, label_kind, prefix=os.path.join(plot_dir, plot_prefix), metric=metric, corpus=corpus,
                       threshold=threshold, threshold_label=threshold_label, class_names=class_names, title=title,
                       batch_size=batch_size)
    return results, paths


def plot_calibration(
    encoder: Any, ds: Any, calibration: Any, *, path: str | os.PathLike, title: str = "", batch_size: int = 64
) -> Path:
    """The reliability diagram of ``calibration`` on 0/1 pairs ``ds`` (``text_a``, ``text_b``, ``label``)."""
    from siamese_text.calibration import score_pairs

    scored = score_pairs(encoder, column(ds, "text_a"), column(ds, "text_b"), calibration=calibration, batch_size=batch_size)
    return figures.plot_reliability(scored["probability"], column(ds, "label"), path=path, title=title)


def training_plots(
    encoder: Any, data: Any, split: str | None, *, corpus: Any, folder: str | os.PathLike, stage: str,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Training's pictures of ``split`` into ``folder/plots``: ``{stage}-{kind}.png`` (stage ``before`` or ``after``).

    After training, a calibration saved in ``folder`` marks its threshold and gets a reliability
    diagram. Never raises for a picture: without matplotlib, or if drawing fails, it logs why and
    returns what it wrote, since a trained model matters more than its pictures.
    """
    if split is None or data.label_kind not in PLOT_KINDS:
        return []
    if not plots_available():
        if stage == "before":
            log(f"no pictures of the {split} split: they need matplotlib; {figures.PLOT_INSTALL}")
        return []
    folder, written = Path(folder), []
    try:
        from siamese_text.calibration import load_calibration

        calibration = load_calibration(folder) if stage == "after" and data.label_kind == "binary" else None
        cached = CachingEncoder(encoder)
        title = f"{'before' if stage == 'before' else 'after'} training, {split} split"
        metric = calibration.metric if calibration is not None else "cosine"
        threshold = calibration.threshold if calibration is not None else None
        written += plot_split(cached, data.split(split), data.label_kind, prefix=folder / PLOTS_DIR / f"{stage}-",
                              metric=metric, corpus=corpus if data.label_kind == "class" else None, threshold=threshold,
                              threshold_label=_calibrated(calibration) if calibration else "threshold",
                              class_names=data.label_names, title=title).values()
        if calibration is not None and calibration.split == split:
            written.append(plot_calibration(cached, data.split(split), calibration, path=folder / RELIABILITY_FILE,
                                            title=f"{calibration.method} probabilities, {fitted_where(calibration)} (in-sample)"))
    except Exception as exc:  # a picture is never worth a trained model
        log(f"pictures not drawn ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    return written
