"""Calibrated same/not-same decisions, saved with the model.

sentence-transformers' ``BinaryClassificationEvaluator`` finds a best threshold and throws it away.
Here the threshold is picked on a labelled split that is not the test split, a probability
calibration is fitted on the same scores, and both are written as ``siamese_calibration.json``
beside the sentence-transformers files (which ignore it, so ``SentenceTransformer(path)`` still
loads the folder):

* the threshold: the best for an objective (``f1``, ``accuracy``, ``precision:P`` = most recall
  with precision >= P, ``recall:R`` = most precision with recall >= R); a pair is "same" when
  ``score >= threshold`` (scores on :mod:`siamese_text.scoring`'s similarity scale);
* the probability: Platt scaling ``p = 1 / (1 + exp(-(a * score + b)))`` (two parameters: smooth,
  needs few pairs) or isotonic regression (monotone steps: no shape assumed, needs more pairs).

The threshold and the probability are fitted separately, so the decision is the one the objective
asked for even where the probability at the threshold is not 0.5. Judge a calibration with
:func:`expected_calibration_error` on pairs it did not see.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError, DataError, ModelError
from siamese_text.evaluation import binary_metrics_at, embed_pairs, find_threshold, parse_objective
from siamese_text.scoring import METRICS, pairwise_similarity
from siamese_text.storage import atomic_file

__all__ = [
    "CALIBRATION_FILE",
    "METHODS",
    "Calibration",
    "PairPrediction",
    "fit_calibration",
    "calibrate_pairs",
    "calibrate_model_dir",
    "expected_calibration_error",
    "save_calibration",
    "load_calibration",
    "score_pairs",
    "predict_pairs",
    "not_calibrated_message",
]

CALIBRATION_FILE = "siamese_calibration.json"
METHODS: tuple[str, ...] = ("platt", "isotonic")
FORMAT_VERSION = 1


@dataclass
class Calibration:
    """A threshold and a score -> probability map, with where they were fitted."""

    metric: str
    threshold: float
    objective: str
    method: str
    params: dict[str, Any]  # platt: {"a", "b"}; isotonic: {"x": [...], "y": [...]}
    dataset: str | None = None
    config: str | None = None
    split: str | None = None
    fit: dict[str, float] = field(default_factory=dict)  # pairs, positives, accuracy, f1, ..., ece (in-sample)
    dimension: int | None = None
    created: str = ""

    def probability(self, scores: Any) -> np.ndarray:
        """P(same) for similarity scores under :attr:`metric`."""
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.params["a"] * s + self.params["b"])))
        # sklearn's IsotonicRegression.predict is this linear interpolation, clipped at the ends
        return np.interp(s, np.asarray(self.params["x"], dtype=np.float64), np.asarray(self.params["y"], dtype=np.float64))

    def decide(self, scores: Any) -> np.ndarray:
        """True ("same") where ``score >= threshold``."""
        return np.asarray(scores, dtype=np.float64) >= self.threshold

    @property
    def fitted_on(self) -> str:
        """Where it was fitted, e.g. "mrpc validation" or "nyu-mll/glue mrpc validation" (a config the name implies is left out)."""
        config = None if _config_implied(self.dataset, self.config) else self.config
        return " ".join(x for x in (self.dataset, config, self.split) if x) or "given pairs"

    def describe(self) -> str:
        """``cosine >= 0.9939; threshold for precision 0.95 on mrpc validation, platt probabilities``: no brackets,
        so that it reads inside the ``(same if ...)`` of verify and score."""
        name, target = parse_objective(self.objective)
        objective = f"best {name}" if target is None else f"{name} {target:g}"
        return (f"{self.metric} >= {self.threshold:.4f}; threshold for {objective} on {self.fitted_on}, "
                f"{self.method} probabilities")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in known]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        calibration = cls(**known)
        _check_calibration(calibration)
        return calibration


def _config_implied(dataset: str | None, config: str | None) -> bool:
    """Whether ``config`` adds nothing to ``dataset``: it is the same name, or the config of the preset so named."""
    from siamese_text.data.presets import PRESETS

    preset = PRESETS.get(dataset or "")
    return config == dataset or (preset is not None and config == preset.config)


def _check_calibration(c: Calibration) -> None:
    """Raise ``ValueError`` naming the first field that cannot be used."""
    if c.metric not in METRICS:
        raise ValueError(f"metric {c.metric!r} is not one of {', '.join(METRICS)}")
    if not isinstance(c.threshold, (int, float)) or not math.isfinite(c.threshold):
        raise ValueError(f"threshold {c.threshold!r} is not a finite number")
    parse_objective(c.objective)
    if c.method == "platt":
        if not all(isinstance(c.params.get(k), (int, float)) and math.isfinite(c.params[k]) for k in ("a", "b")):
            raise ValueError("platt params need finite numbers a and b")
    elif c.method == "isotonic":
        x, y = c.params.get("x"), c.params.get("y")
        if not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y) or not x:
            raise ValueError("isotonic params need lists x and y of one length")
        if np.any(np.diff(np.asarray(x, dtype=float)) < 0) or not all(0.0 <= v <= 1.0 for v in y):
            raise ValueError("isotonic x must increase and y lie in [0, 1]")
    else:
        raise ValueError(f"method {c.method!r} is not one of {', '.join(METHODS)}")


# ---- fitting ----------------------------------------------------------------------------------


def expected_calibration_error(probabilities: Any, labels: Any, *, n_bins: int = 10) -> float:
    """Expected calibration error: |mean probability - fraction same| per equal-width bin, weighted by bin size."""
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.size == 0:
        raise DataError(f"{p.size} probabilities and {y.size} labels: give one label per probability")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(ece)


def _fit_params(scores: np.ndarray, labels: np.ndarray, method: str) -> dict[str, Any]:
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        # Platt (1999) with a plain logistic regression on the one score; C is large so the fit is
        # (almost) unregularised: the scores of a good model separate well and need steep slopes.
        model = LogisticRegression(C=1e6, max_iter=1000).fit(scores[:, None], labels)
        return {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}


def fit_calibration(
    scores: Any,
    labels: Any,
    *,
    metric: str = "cosine",
    objective: str = "f1",
    method: str = "platt",
    dataset: str | None = None,
    config: str | None = None,
    split: str | None = None,
    dimension: int | None = None,
) -> Calibration:
    """Threshold for ``objective`` and a ``method`` probability map, fitted on these scored pairs."""
    if method not in METHODS:
        raise ConfigError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r} is not one of {', '.join(METRICS)}")
    parse_objective(objective)
    if split is not None and split.lower().startswith("test"):
        raise ConfigError(f"--split {split}: calibrating on test data would leak it; calibrate on validation (or train)")
    what = f"the {split} split" if split else "the calibration pairs"
    threshold = find_threshold(scores, labels, objective=objective, what=what)  # also refuses one class
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(np.int64)
    calibration = Calibration(
        metric=metric, threshold=threshold, objective=objective, method=method, params=_fit_params(s, y, method),
        dataset=dataset, config=config, split=split, dimension=dimension, created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    fit = binary_metrics_at(s, y, threshold)
    calibration.fit = {"pairs": int(y.size), "positives": int(y.sum()), **fit,
                       "ece": expected_calibration_error(calibration.probability(s), y)}
    return calibration


def calibrate_pairs(
    encoder: Any,
    a: Sequence[str],
    b: Sequence[str],
    labels: Sequence[int],
    *,
    metric: str = "cosine",
    objective: str = "f1",
    method: str = "platt",
    dataset: str | None = None,
    config: str | None = None,
    split: str | None = None,
    batch_size: int = 64,
) -> Calibration:
    """Embed labelled pairs with ``encoder`` and :func:`fit_calibration` on their similarities."""
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r} is not one of {', '.join(METRICS)}")
    if len(labels) != len(a):
        raise DataError(f"{len(a)} pairs but {len(labels)} labels: give one label per pair")
    ea, eb = embed_pairs(encoder, a, b, batch_size=batch_size)
    scores = np.asarray(pairwise_similarity(ea, eb, metric=metric), dtype=np.float64)
    return fit_calibration(
        scores, labels, metric=metric, objective=objective, method=method, dataset=dataset, config=config,
        split=split, dimension=int(ea.shape[1]),
    )


def calibrate_model_dir(
    encoder: Any,
    folder: str | os.PathLike,
    ds_validation: Any,
    *,
    metric: str = "cosine",
    objective: str = "f1",
    method: str = "platt",
    dataset: str | None = None,
    config: str | None = None,
    split: str = "validation",
    overwrite: bool = True,
    batch_size: int = 64,
) -> Calibration:
    """Fit on a role-named binary pair split (``text_a``, ``text_b``, ``label``) and save into ``folder``.

    For the training code: call it on the saved model folder (or the temporary folder before
    its rename) after training on binary pair data.
    """
    from siamese_text.data.loading import column

    missing = [c for c in ("text_a", "text_b", "label") if c not in ds_validation.column_names]
    if missing:
        raise DataError(f"the {split} split has no column {missing[0]!r}; calibration needs text_a, text_b and a 0/1 label")
    calibration = calibrate_pairs(
        encoder, column(ds_validation, "text_a"), column(ds_validation, "text_b"), column(ds_validation, "label"),
        metric=metric, objective=objective, method=method, dataset=dataset, config=config, split=split,
        batch_size=batch_size,
    )
    save_calibration(folder, calibration, overwrite=overwrite)
    return calibration


# ---- storage ----------------------------------------------------------------------------------


def save_calibration(folder: str | os.PathLike, calibration: Calibration, *, overwrite: bool = False) -> Path:
    """Write ``siamese_calibration.json`` into a model folder, atomically (temp file + rename)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a model folder; calibrations are saved inside a local model folder")
    path = folder / CALIBRATION_FILE
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists; pass --overwrite to replace the calibration")
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n")
    return path


def load_calibration(model: str | os.PathLike) -> Calibration | None:
    """The calibration saved in a model folder or Hub repo, ``None`` if there is none; a broken file is a :class:`ModelError`."""
    path = Path(model) / CALIBRATION_FILE if Path(model).is_dir() else _hub_calibration_file(str(model))
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return Calibration.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{path} is not a valid calibration ({first}); delete it or recalibrate with "
            f"'siamtext calibrate {model} --dataset D --overwrite'"
        ) from exc


def _hub_calibration_file(repo_id: str) -> Path | None:
    """The calibration file of a Hub model (``push_to_hub`` uploads it), from the cache or the Hub; ``None`` if it has none.

    sentence-transformers fetches only the files it loads, so a model loaded by Hub id has no folder
    holding the calibration: fetch that one file the same way (offline, the cache answers).
    """
    if repo_id.count("/") != 1 or Path(repo_id).exists():
        return None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, CALIBRATION_FILE))
    except (OSError, ValueError, EntryNotFoundError):  # no such repo or file, offline and not cached, a bad id
        return None


def not_calibrated_message(model: str) -> str:
    return (
        f"{model} has no calibration, so there is no probability or same/not-same decision; make one with "
        f"'siamtext calibrate {model} --dataset DATA --split validation' (labelled 0/1 pairs)"
    )


# ---- prediction -------------------------------------------------------------------------------


@dataclass
class PairPrediction:
    """One scored pair: the similarity, and (when calibrated) P(same) and the decision."""

    text_a: str
    text_b: str
    score: float
    probability: float | None
    same: bool | None


def score_pairs(
    encoder: Any, a: Sequence[str], b: Sequence[str], *, calibration: Calibration | None, metric: str = "cosine",
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """``{"score": ..}`` (+ ``"probability"``, ``"same"`` when calibrated) for pairs ``a[i]``, ``b[i]``."""
    metric = calibration.metric if calibration is not None else metric
    if calibration is not None and calibration.dimension not in (None, getattr(encoder, "dimension", None)):
        raise ModelError(
            f"the calibration was fitted on {calibration.dimension}-dimensional embeddings but the model gives "
            f"{encoder.dimension}; recalibrate with 'siamtext calibrate MODEL --dataset D --overwrite'"
        )
    ea, eb = embed_pairs(encoder, a, b, batch_size=batch_size)
    scores = np.asarray(pairwise_similarity(ea, eb, metric=metric), dtype=np.float64)
    out = {"score": scores}
    if calibration is not None:
        out["probability"] = calibration.probability(scores)
        out["same"] = calibration.decide(scores)
    return out


def predict_pairs(encoder: Any, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64) -> list[PairPrediction]:
    """Score ``(text_a, text_b)`` pairs with the calibration saved in the encoder's model folder.

    Without a calibration the scores are still returned, with ``probability`` and ``same`` set
    to ``None``, and a warning says how to make one.
    """
    if isinstance(pairs, tuple) and len(pairs) == 2 and all(isinstance(t, str) for t in pairs):
        raise DataError(f"pairs is one pair, {pairs!r}; give a list of pairs, [(text_a, text_b), ...]")
    pairs = [tuple(p) for p in pairs]
    for row, pair in enumerate(pairs):
        if len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise DataError(f"pair {row} is {pair!r}; give pairs of two texts, (text_a, text_b)")
    model = str(getattr(encoder, "name_or_path", ""))
    calibration = load_calibration(model) if model else None
    if calibration is None:
        warnings.warn(not_calibrated_message(model or "the model"), UserWarning, stacklevel=2)
    if not pairs:
        return []
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    result = score_pairs(encoder, a, b, calibration=calibration, batch_size=batch_size)
    return [
        PairPrediction(
            text_a=a[i], text_b=b[i], score=float(result["score"][i]),
            probability=float(result["probability"][i]) if calibration else None,
            same=bool(result["same"][i]) if calibration else None,
        )
        for i in range(len(a))
    ]
