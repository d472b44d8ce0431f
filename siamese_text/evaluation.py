"""Evaluation picked by what the data holds, with the numbers sentence-transformers' evaluators give.

* scored pairs -> Pearson and Spearman of each similarity metric (``EmbeddingSimilarityEvaluator``);
* binary pairs -> accuracy, F1, precision, recall, average precision, each at its best threshold
  (``BinaryClassificationEvaluator``); :func:`evaluate_binary_transfer` instead picks the threshold
  on one split and reports another split at it, so no test data is peeked at;
* triplets -> accuracy of ``sim(a, p) > sim(a, n)`` (``TripletEvaluator``);
* class-labelled texts -> retrieval (queries = the evaluated split, corpus = ``corpus``, relevant =
  same class: MRR@10, nDCG@10, Recall@1/5/10, MAP@100, as ``InformationRetrievalEvaluator``), plus
  1-NN accuracy (= accuracy@1) and nearest-centroid accuracy;
* query/document pairs -> the same retrieval metrics, every pair (or every pair labelled 1) relevant.

Rates are in percent (as sentence-transformers' model cards show them); thresholds are on the
similarity scale of :mod:`siamese_text.scoring` (higher = more similar, so Euclidean and Manhattan
thresholds are negative distances) and a pair is "same" when ``score >= threshold``.
Each distinct text is embedded once, through the one encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from siamese_text.data.loading import column
from siamese_text.errors import ConfigError, DataError
from siamese_text.scoring import METRICS, pairwise_similarity, similarity_matrix

__all__ = [
    "embed_pairs",
    "evaluate_scored_pairs",
    "evaluate_binary_pairs",
    "evaluate_binary_transfer",
    "evaluate_triplets",
    "evaluate_retrieval",
    "evaluate_classes",
    "class_centroids",
    "evaluate_query_document",
    "evaluate_data",
    "binary_metrics_at",
    "find_threshold",
    "parse_objective",
    "RETRIEVAL_KINDS",
    "HEADLINE_METRICS",
    "SUMMARY_METRICS",
    "summary_metrics",
]

# The one figure that sums up each kind of evaluation (training's per-epoch log line, the card's curve).
HEADLINE_METRICS: dict[str, str] = {
    "score": "spearman_cosine",
    "binary": "cosine_accuracy",
    "triplet": "cosine_accuracy",
    "class": "cosine_1nn_accuracy",
}

# Label kinds (beyond siamese_text.data.presets.LABEL_KINDS) that mean "text_a is a query, text_b a relevant document".
RETRIEVAL_KINDS: tuple[str, ...] = ("retrieval", "query-document")
MRR_AT, NDCG_AT, RECALL_AT, MAP_AT = (10,), (10,), (1, 5, 10), (100,)

# The few figures a results table on screen shows (results.json keeps them all). With unit vectors
# Euclidean distance ranks as cosine does, so beyond STS (where the issue asks for both) only cosine.
_RANKING = ("cosine_mrr@10", "cosine_ndcg@10", "cosine_map@100")
SUMMARY_METRICS: dict[str, tuple[str, ...]] = {
    "score": ("pearson_cosine", "spearman_cosine", "pearson_euclidean", "spearman_euclidean"),
    "binary": ("cosine_fitted_accuracy_accuracy", "cosine_fitted_f1_f1", "cosine_accuracy", "cosine_f1", "cosine_ap"),
    "triplet": ("cosine_accuracy",),
    "class": ("cosine_1nn_accuracy", "cosine_centroid_accuracy", *_RANKING),
    "retrieval": (*_RANKING, "cosine_recall@1", "cosine_recall@10"),
}


def summary_metrics(metrics: dict[str, dict[str, float]], label_kind: str | None) -> dict[str, dict[str, float]]:
    """Per split, the :data:`SUMMARY_METRICS` of ``label_kind`` in that order; every figure if none is there."""
    keep = SUMMARY_METRICS.get("retrieval" if label_kind in RETRIEVAL_KINDS else label_kind or "", ())
    short = {split: {name: figures[name] for name in keep if name in figures} for split, figures in metrics.items()}
    return short if any(short.values()) else metrics


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    for metric in metrics:
        if metric not in METRICS:
            raise ConfigError(f"--metric {metric!r} is not one of {', '.join(METRICS)} (or all)")
    if not metrics:
        raise ConfigError(f"give at least one --metric: {', '.join(METRICS)}")
    return metrics


def _embed_unique(encoder: Any, *columns: Sequence[str], batch_size: int) -> list[np.ndarray]:
    unique = list(dict.fromkeys(text for col in columns for text in col))
    index = {text: i for i, text in enumerate(unique)}
    emb = encoder.encode(unique, batch_size=batch_size)
    return [emb[[index[t] for t in col]] for col in columns]


def embed_pairs(encoder: Any, a: Sequence[str], b: Sequence[str], *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of both sides, each distinct text encoded once."""
    if len(a) != len(b):
        raise DataError(f"{len(a)} texts a and {len(b)} texts b: give one b for each a")
    ea, eb = _embed_unique(encoder, a, b, batch_size=batch_size)
    return ea, eb


# ---- scored pairs -----------------------------------------------------------------------------


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
    if len(scores) < 2:
        raise DataError(f"{len(scores)} scored pairs are too few for a correlation; give at least 2")
    metrics = _check_metrics(metrics)
    ea, eb = embed_pairs(encoder, a, b, batch_size=batch_size)
    gold = np.asarray(scores, dtype=np.float64)
    out: dict[str, float] = {}
    for metric in metrics:
        sim = pairwise_similarity(ea, eb, metric=metric).astype(np.float64)
        out[f"pearson_{metric}"] = float(pearsonr(gold, sim)[0] * 100)
        out[f"spearman_{metric}"] = float(spearmanr(gold, sim)[0] * 100)
    return out


# ---- binary pairs: thresholds -----------------------------------------------------------------


def parse_objective(objective: str) -> tuple[str, float | None]:
    """``"f1"`` / ``"accuracy"`` / ``"precision:0.95"`` / ``"recall:0.95"`` -> (name, target)."""
    name, _, target = str(objective).partition(":")
    if name in ("f1", "accuracy") and not target:
        return name, None
    if name in ("precision", "recall") and target:
        try:
            value = float(target)
        except ValueError:
            value = float("nan")
        if 0.0 < value <= 1.0:
            return name, value
    raise ConfigError(f"--objective {objective!r} is not f1, accuracy, precision:P or recall:R with P, R in (0, 1], e.g. precision:0.95")


def _check_binary(scores: Any, labels: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise DataError(f"{what}: {scores.size} scores but {labels.size} labels; give one label per pair")
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{what}: labels must be 0 (different) or 1 (same); found {sorted(set(labels.tolist()) - {0, 1})[:3]}")
    labels = labels.astype(np.int64)
    if labels.size == 0 or labels.min() == labels.max():
        only = "no rows" if labels.size == 0 else f"only label {int(labels[0])} rows"
        raise DataError(f"{what} has {only}; thresholds need pairs of both classes (0 and 1), use a split with both")
    return scores, labels


def _cuts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every useful threshold (between distinct scores, high to low) and its true/false positive counts.

    The midpoint rule is sentence-transformers' (``find_best_f1_and_threshold``), so thresholds agree.
    """
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp, fp = np.cumsum(y), np.cumsum(1 - y)
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # last index of each group of equal scores
    nxt = np.append(s[ends[:-1] + 1], s[-1])
    thresholds = np.where(ends == len(s) - 1, s[ends], (s[ends] + nxt) / 2)
    thresholds = np.where((ends < len(s) - 1) & (thresholds == nxt), s[ends], thresholds)
    return thresholds, tp[ends], fp[ends]


def find_threshold(scores: Any, labels: Any, *, objective: str = "accuracy", what: str = "the data") -> float:
    """The similarity threshold (same if ``score >= threshold``) best for ``objective`` on these pairs.

    ``accuracy`` and ``f1`` use sentence-transformers' own search, so thresholds match its
    evaluator; ``precision:P`` gives the highest recall with precision >= P, ``recall:R`` the
    highest precision with recall >= R.
    """
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator as BCE

    name, target = parse_objective(objective)
    scores, labels = _check_binary(scores, labels, what)
    if name == "accuracy":
        return float(BCE.find_best_acc_and_threshold(scores, labels, True)[1])
    if name == "f1":
        return float(BCE.find_best_f1_and_threshold(scores, labels, True)[3])
    thresholds, tp, fp = _cuts(scores, labels)
    precision, recall = tp / (tp + fp), tp / labels.sum()
    reached, other = (precision, recall) if name == "precision" else (recall, precision)
    ok = np.flatnonzero(reached >= target - 1e-12)
    if ok.size == 0:
        raise DataError(
            f"no threshold reaches {name} {target} on {what} (the best is {reached.max():.4f}); "
            f"lower the target, e.g. --objective {name}:{np.floor(reached.max() * 100) / 100:.2f}"
        )
    best = ok[np.argmax(other[ok])]  # first (highest) threshold among equals
    return float(thresholds[best])


def binary_metrics_at(scores: Any, labels: Any, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 (percent) of deciding "same" when ``score >= threshold``."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(np.int64)
    predicted = scores >= threshold
    tp = int((predicted & (labels == 1)).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(labels.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float((predicted == (labels == 1)).mean() * 100),
        "precision": precision * 100,
        "recall": recall * 100,
        "f1": f1 * 100,
    }


# ---- binary pairs: evaluation -----------------------------------------------------------------


def _pair_scores(encoder: Any, a: Sequence[str], b: Sequence[str], metrics: Sequence[str], batch_size: int) -> dict[str, np.ndarray]:
    ea, eb = embed_pairs(encoder, a, b, batch_size=batch_size)
    return {metric: np.asarray(pairwise_similarity(ea, eb, metric=metric), dtype=np.float64) for metric in metrics}


def evaluate_binary_pairs(
    encoder: Any,
    a: Sequence[str],
    b: Sequence[str],
    labels: Sequence[int],
    *,
    metrics: Sequence[str] = ("cosine", "euclidean"),
    batch_size: int = 64,
) -> dict[str, float]:
    """Per metric: accuracy, F1, precision, recall (at the best-F1 threshold), AP and MCC, in percent.

    Like ``BinaryClassificationEvaluator``, each figure is at the threshold best for it *on these
    same pairs*: an upper bound. For an honest figure use :func:`evaluate_binary_transfer`.
    """
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator as BCE
    from sklearn.metrics import average_precision_score, matthews_corrcoef

    metrics = _check_metrics(metrics)
    if not (len(a) == len(b) == len(labels)):
        raise DataError(f"{len(a)} texts a, {len(b)} texts b and {len(labels)} labels: give one label per pair")
    y = _check_binary(np.zeros(len(labels)), labels, "the evaluated split")[1]
    out: dict[str, float] = {}
    for metric, scores in _pair_scores(encoder, a, b, metrics, batch_size).items():
        acc, acc_threshold = BCE.find_best_acc_and_threshold(scores, y, True)
        f1, precision, recall, f1_threshold = BCE.find_best_f1_and_threshold(scores, y, True)
        out.update({
            f"{metric}_accuracy": float(acc * 100),
            f"{metric}_accuracy_threshold": float(acc_threshold),
            f"{metric}_f1": float(f1 * 100),
            f"{metric}_precision": float(precision * 100),
            f"{metric}_recall": float(recall * 100),
            f"{metric}_f1_threshold": float(f1_threshold),
            f"{metric}_ap": float(average_precision_score(y, scores) * 100),
            f"{metric}_mcc": float(matthews_corrcoef(y, scores >= f1_threshold) * 100),
        })
    return out


def evaluate_binary_transfer(
    encoder: Any,
    fit: tuple[Sequence[str], Sequence[str], Sequence[int]],
    evaluate: tuple[Sequence[str], Sequence[str], Sequence[int]],
    *,
    metrics: Sequence[str] = ("cosine",),
    objectives: Sequence[str] = ("accuracy", "f1"),
    batch_size: int = 64,
) -> dict[str, float]:
    """Pick each threshold on ``fit`` pairs ``(a, b, labels)``, report ``evaluate`` pairs at it.

    Keys: ``{metric}_fitted_{objective}_threshold`` and ``{metric}_fitted_{objective}_{accuracy|precision|recall|f1}``
    (e.g. ``cosine_fitted_accuracy_accuracy`` is accuracy at the threshold most accurate on ``fit``).
    """
    metrics = _check_metrics(metrics)
    for objective in objectives:
        parse_objective(objective)
    fit_scores = _pair_scores(encoder, fit[0], fit[1], metrics, batch_size)
    eval_scores = _pair_scores(encoder, evaluate[0], evaluate[1], metrics, batch_size)
    eval_labels = _check_binary(np.zeros(len(evaluate[2])), evaluate[2], "the evaluated split")[1]
    out: dict[str, float] = {}
    for metric in metrics:
        for objective in objectives:
            threshold = find_threshold(fit_scores[metric], fit[2], objective=objective, what="the threshold split")
            out[f"{metric}_fitted_{objective}_threshold"] = threshold
            for key, value in binary_metrics_at(eval_scores[metric], eval_labels, threshold).items():
                out[f"{metric}_fitted_{objective}_{key}"] = value
    return out


# ---- triplets ---------------------------------------------------------------------------------


def evaluate_triplets(
    encoder: Any,
    anchors: Sequence[str],
    positives: Sequence[str],
    negatives: Sequence[str],
    *,
    metrics: Sequence[str] = ("cosine", "euclidean"),
    batch_size: int = 64,
) -> dict[str, float]:
    """Per metric, the percentage of triplets with ``sim(anchor, positive) > sim(anchor, negative)``."""
    metrics = _check_metrics(metrics)
    if not (len(anchors) == len(positives) == len(negatives)) or not anchors:
        raise DataError(f"{len(anchors)} anchors, {len(positives)} positives and {len(negatives)} negatives: give one of each per triplet")
    ea, ep, en = _embed_unique(encoder, anchors, positives, negatives, batch_size=batch_size)
    out: dict[str, float] = {}
    for metric in metrics:
        pos = np.asarray(pairwise_similarity(ea, ep, metric=metric))
        neg = np.asarray(pairwise_similarity(ea, en, metric=metric))
        out[f"{metric}_accuracy"] = float((pos > neg).mean() * 100)
    return out


# ---- retrieval --------------------------------------------------------------------------------


def _ids(n: int) -> list[str]:
    # Zero-padded, so sentence-transformers' tie-break on ascending corpus id is the row order.
    width = len(str(max(n - 1, 0)))
    return [str(i).zfill(width) for i in range(n)]


def _retrieval_metrics(
    query_emb: np.ndarray,
    corpus_emb: np.ndarray,
    relevant: dict[str, set[str]],
    metrics: Sequence[str],
    *,
    corpus_chunk_size: int = 8192,
) -> dict[str, float]:
    """sentence-transformers' ``InformationRetrievalEvaluator`` ranking and metrics on embeddings we already have.

    Subclassing it to hand back precomputed query embeddings means the texts are embedded once for
    every metric and for the centroid figures, while ranking, tie-breaks and metric definitions stay theirs.
    """
    import torch
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    # sentence-transformers drops queries without a relevant document from its query list, so the
    # embeddings handed back must be those of the kept queries only, in the same order.
    keep = [i for i, docs in enumerate(relevant.values()) if docs]
    if not keep:
        raise DataError(f"none of the {len(relevant)} queries has a relevant document in the corpus; nothing to rank")
    docs_of = list(relevant.values())
    query_ids, corpus_ids = _ids(len(keep)), _ids(len(corpus_emb))
    q_tensor = torch.from_numpy(np.ascontiguousarray(query_emb[keep], dtype=np.float32))

    class _Precomputed(InformationRetrievalEvaluator):
        def embed_inputs(self, model: Any, sentences: Any, encode_fn_name: str | None = None, **kwargs: Any) -> Any:
            return q_tensor

    score_functions = {
        metric: (lambda q, c, m=metric: similarity_matrix(q, c, metric=m, max_elements=None)) for metric in metrics
    }
    evaluator = _Precomputed(
        queries=dict(zip(query_ids, query_ids, strict=True)),
        corpus=dict(zip(corpus_ids, corpus_ids, strict=True)),
        relevant_docs={qid: docs_of[i] for qid, i in zip(query_ids, keep, strict=True)},
        mrr_at_k=list(MRR_AT), ndcg_at_k=list(NDCG_AT), accuracy_at_k=[1, 5, 10],
        precision_recall_at_k=list(RECALL_AT), map_at_k=list(MAP_AT),
        corpus_chunk_size=corpus_chunk_size, score_functions=score_functions, write_csv=False,
    )
    scores = evaluator.compute_all_metrics(None, corpus_embeddings=torch.from_numpy(np.ascontiguousarray(corpus_emb, dtype=np.float32)))
    out: dict[str, float] = {}
    for metric in metrics:
        s = scores[metric]
        out[f"{metric}_mrr@10"] = float(s["mrr@k"][10] * 100)
        out[f"{metric}_ndcg@10"] = float(s["ndcg@k"][10] * 100)
        for k in RECALL_AT:
            out[f"{metric}_recall@{k}"] = float(s["recall@k"][k] * 100)
        out[f"{metric}_map@100"] = float(s["map@k"][100] * 100)
        out[f"{metric}_accuracy@1"] = float(s["accuracy@k"][1] * 100)
    out["queries"] = float(len(evaluator.queries_ids))
    out["corpus"] = float(len(corpus_ids))
    return out


def evaluate_retrieval(
    encoder: Any,
    queries: Sequence[str],
    corpus: Sequence[str],
    relevant: Sequence[set[int]],
    *,
    metrics: Sequence[str] = ("cosine",),
    batch_size: int = 64,
) -> dict[str, float]:
    """MRR@10, nDCG@10, Recall@1/5/10, MAP@100 (percent) for queries over a corpus.

    ``relevant[i]`` holds the corpus row numbers relevant to ``queries[i]``; queries with none are
    skipped, as sentence-transformers does. Equal to ``InformationRetrievalEvaluator`` with corpus
    ids in row order.
    """
    metrics = _check_metrics(metrics)
    if len(relevant) != len(queries):
        raise DataError(f"{len(queries)} queries but {len(relevant)} sets of relevant documents; give one set per query")
    if not corpus:
        raise DataError("the corpus is empty; give at least one document to search")
    if not queries:
        raise DataError("there are no queries; give at least one query text")
    query_emb, corpus_emb = (encoder.encode(list(texts), batch_size=batch_size) for texts in (queries, corpus))
    ids = _ids(len(corpus))
    return _retrieval_metrics(query_emb, corpus_emb, {str(i): {ids[j] for j in rel} for i, rel in enumerate(relevant)}, metrics)


def evaluate_classes(
    encoder: Any,
    queries_ds: Any,
    corpus_ds: Any,
    *,
    metrics: Sequence[str] = ("cosine",),
    batch_size: int = 64,
) -> dict[str, float]:
    """Class-labelled texts (columns ``text``, ``label``): each query text searches the corpus split.

    Relevant = the corpus texts of the query's class. Besides the retrieval metrics: ``{metric}_1nn_accuracy``
    (the nearest corpus text has the query's class; = accuracy@1) and ``{metric}_centroid_accuracy``
    (the most similar class mean of the corpus embeddings is the query's class).
    """
    metrics = _check_metrics(metrics)
    q_text, q_label = column(queries_ds, "text"), column(queries_ds, "label")
    c_text, c_label = column(corpus_ds, "text"), column(corpus_ds, "label")
    if not q_text or not c_text:
        raise DataError(f"class evaluation needs queries and a corpus; got {len(q_text)} queries and {len(c_text)} corpus texts")
    query_emb, corpus_emb = (encoder.encode(texts, batch_size=batch_size) for texts in (q_text, c_text))
    ids = _ids(len(c_text))
    by_class: dict[Any, set[str]] = {}
    for cid, label in zip(ids, c_label, strict=True):
        by_class.setdefault(label, set()).add(cid)
    relevant = {str(i): by_class.get(label, set()) for i, label in enumerate(q_label)}
    out = _retrieval_metrics(query_emb, corpus_emb, relevant, metrics)
    classes, centroids = class_centroids(corpus_emb, c_label)
    class_index = {label: i for i, label in enumerate(classes)}
    gold = np.asarray([class_index.get(label, -1) for label in q_label])
    known = gold >= 0
    for metric in metrics:
        out[f"{metric}_1nn_accuracy"] = out[f"{metric}_accuracy@1"]
        nearest = np.asarray(similarity_matrix(query_emb[known], centroids, metric=metric, max_elements=None)).argmax(1)
        out[f"{metric}_centroid_accuracy"] = float((nearest == gold[known]).mean() * 100)
    return out


def class_centroids(embeddings: Any, labels: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """The classes in order of first appearance, and the mean embedding of each (one row per class).

    Nearest-centroid classification: a text belongs to the class whose mean is most similar.
    """
    emb = np.asarray(embeddings)
    if len(labels) == 0:
        raise DataError("no texts to average: class centroids need at least one labelled text")
    if len(emb) != len(labels):
        raise DataError(f"{len(emb)} embeddings but {len(labels)} labels: give one label per text")
    classes = list(dict.fromkeys(labels))
    index = {label: i for i, label in enumerate(classes)}
    rows = np.asarray([index[label] for label in labels])
    return classes, np.stack([emb[rows == i].mean(0) for i in range(len(classes))])


def evaluate_query_document(
    encoder: Any, ds: Any, *, metrics: Sequence[str] = ("cosine",), batch_size: int = 64
) -> dict[str, float]:
    """Pairs ``text_a`` (query) -> ``text_b`` (document): the corpus is every distinct document;
    a document is relevant to a query when some row pairs them (with label 1, if there is a label)."""
    a, b = column(ds, "text_a"), column(ds, "text_b")
    labels = column(ds, "label") if "label" in ds.column_names else [1] * len(a)
    docs = list(dict.fromkeys(b))
    doc_row = {text: i for i, text in enumerate(docs)}
    queries = list(dict.fromkeys(a))
    rel: dict[str, set[int]] = {q: set() for q in queries}
    for q, d, y in zip(a, b, labels, strict=True):
        if y:
            rel[q].add(doc_row[d])
    return evaluate_retrieval(encoder, queries, docs, [rel[q] for q in queries], metrics=metrics, batch_size=batch_size)


# ---- dispatcher -------------------------------------------------------------------------------


def evaluate_data(
    encoder: Any,
    ds: Any,
    label_kind: str,
    *,
    metrics: Sequence[str] = ("cosine", "euclidean"),
    corpus: Any = None,
    threshold_data: Any = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Evaluate a role-named split (see :mod:`siamese_text.data.loading`) as its label kind asks.

    ``corpus``: for class-labelled data, the split searched (normally train); required there.
    ``threshold_data``: for binary pairs, a split to pick thresholds on (e.g. train), adding the
    :func:`evaluate_binary_transfer` figures (``{metric}_fitted_accuracy_accuracy``, ...) to the best-threshold ones.
    """
    if label_kind == "score":
        a, b, labels = (column(ds, name) for name in ("text_a", "text_b", "label"))
        return evaluate_scored_pairs(encoder, a, b, labels, metrics=metrics, batch_size=batch_size)
    if label_kind == "binary":
        a, b, labels = (column(ds, name) for name in ("text_a", "text_b", "label"))
        out = evaluate_binary_pairs(encoder, a, b, labels, metrics=metrics, batch_size=batch_size)
        if threshold_data is not None:
            fit = tuple(column(threshold_data, name) for name in ("text_a", "text_b", "label"))
            out.update(evaluate_binary_transfer(encoder, fit, (a, b, labels), metrics=metrics, batch_size=batch_size))
        return out
    if label_kind == "triplet":
        anchors, positives, negatives = (column(ds, name) for name in ("anchor", "positive", "negative"))
        return evaluate_triplets(encoder, anchors, positives, negatives, metrics=metrics, batch_size=batch_size)
    if label_kind == "class":
        if corpus is None:
            raise DataError("class-labelled evaluation searches a corpus split: pass corpus= (normally the train split)")
        return evaluate_classes(encoder, ds, corpus, metrics=metrics, batch_size=batch_size)
    if label_kind in RETRIEVAL_KINDS:
        return evaluate_query_document(encoder, ds, metrics=metrics, batch_size=batch_size)
    raise DataError(f"cannot evaluate {label_kind!r} data; label kinds are score, binary, triplet, class, {', '.join(RETRIEVAL_KINDS)}")
