"""Evaluation figures equal sentence-transformers' evaluators on the tiny model and the same data."""

import random

import datasets
import numpy as np
import pytest
from sentence_transformers import util
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    TripletEvaluator,
)

from siamese_text import evaluation
from siamese_text.errors import ConfigError, DataError
from siamese_text.scoring import METRICS, hamming_distance_matrix
from tests.conftest import WORDS

ALL = [m for m in METRICS if m != "hamming"]  # the similarity functions sentence-transformers' evaluators know


def _binary_pairs(n: int = 60, seed: int = 0):
    rng = random.Random(seed)
    a, b, y = [], [], []
    for i in range(n):
        words = rng.sample(WORDS, 6)
        a.append(" ".join(words))
        if i % 3 == 0:
            b.append(" ".join(words[:4] + rng.sample(WORDS, 2)))
            y.append(1)
        else:
            b.append(" ".join(rng.sample(WORDS, 6)))
            y.append(0)
    return a, b, y


def _class_texts(per_class: int, seed: int):
    rng = random.Random(seed)
    topics = [WORDS[i * 12 : i * 12 + 12] for i in range(5)]
    texts, labels = [], []
    for label, topic in enumerate(topics):
        for _ in range(per_class):
            texts.append(" ".join(rng.sample(topic, 4) + rng.sample(WORDS, 1)))
            labels.append(label)
    return texts, labels


def test_scored_pairs_equal_embedding_similarity_evaluator(tiny_encoder):
    a, b, y = _binary_pairs(40)
    scores = [0.2 + 0.6 * label + random.Random(i).random() * 0.2 for i, label in enumerate(y)]
    ours = evaluation.evaluate_scored_pairs(tiny_encoder, a, b, scores, metrics=ALL)
    theirs = EmbeddingSimilarityEvaluator(a, b, scores, similarity_fn_names=ALL, write_csv=False)(tiny_encoder.model)
    for key, value in theirs.items():
        if key.endswith("_max"):
            continue
        assert ours[key] == pytest.approx(value * 100, abs=1e-4), key


def test_binary_pairs_equal_binary_classification_evaluator(tiny_encoder):
    a, b, y = _binary_pairs()
    ours = evaluation.evaluate_binary_pairs(tiny_encoder, a, b, y, metrics=ALL)
    theirs = BinaryClassificationEvaluator(a, b, y, similarity_fn_names=ALL, write_csv=False)(tiny_encoder.model)
    for metric in ALL:
        sign = -1 if metric in ("euclidean", "manhattan") else 1  # theirs are distances, ours similarities
        for what in ("accuracy", "f1", "precision", "recall", "ap", "mcc"):
            assert ours[f"{metric}_{what}"] == pytest.approx(theirs[f"{metric}_{what}"] * 100, abs=1e-4), (metric, what)
        for what in ("accuracy_threshold", "f1_threshold"):
            assert ours[f"{metric}_{what}"] == pytest.approx(sign * theirs[f"{metric}_{what}"], abs=1e-5), (metric, what)


def test_best_thresholds_reproduce_their_figures(tiny_encoder):
    a, b, y = _binary_pairs()
    sims = tiny_encoder.similarity(a, b)
    best = evaluation.evaluate_binary_pairs(tiny_encoder, a, b, y, metrics=["cosine"])
    acc_t = evaluation.find_threshold(sims, y, objective="accuracy")
    f1_t = evaluation.find_threshold(sims, y, objective="f1")
    assert evaluation.binary_metrics_at(sims, y, acc_t)["accuracy"] == pytest.approx(best["cosine_accuracy"], abs=1e-4)
    at_f1 = evaluation.binary_metrics_at(sims, y, f1_t)
    assert at_f1["f1"] == pytest.approx(best["cosine_f1"], abs=1e-4)
    assert at_f1["precision"] == pytest.approx(best["cosine_precision"], abs=1e-4)


def test_precision_and_recall_objectives_meet_their_target():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=400)
    scores = labels * 0.5 + rng.normal(size=400) * 0.4
    t = evaluation.find_threshold(scores, labels, objective="precision:0.9")
    got = evaluation.binary_metrics_at(scores, labels, t)
    assert got["precision"] >= 90.0
    # the lowest threshold that keeps precision >= 0.9: one step lower breaks it or gains no recall
    lower = np.sort(scores[scores < t])[-1:]
    if lower.size:
        below = evaluation.binary_metrics_at(scores, labels, float(lower[0]))
        assert below["precision"] < 90.0 or below["recall"] == got["recall"]
    t = evaluation.find_threshold(scores, labels, objective="recall:0.95")
    assert evaluation.binary_metrics_at(scores, labels, t)["recall"] >= 95.0


def test_unreachable_objective_and_one_class_are_refused():
    scores, labels = [0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]
    with pytest.raises(DataError, match="no threshold reaches precision 0.999.*lower the target"):
        evaluation.find_threshold([0.9, 0.95, 0.7, 0.6], [1, 0, 1, 0], objective="precision:0.999")
    with pytest.raises(DataError, match="only label 1 rows"):
        evaluation.find_threshold(scores, [1, 1, 1, 1])
    with pytest.raises(ConfigError, match="--objective 'precision:2'"):
        evaluation.find_threshold(scores, labels, objective="precision:2")
    with pytest.raises(ConfigError, match="--objective 'auc'"):
        evaluation.parse_objective("auc")


def test_transfer_picks_threshold_on_one_split_and_reports_another(tiny_encoder):
    fit, held = _binary_pairs(60, seed=1), _binary_pairs(45, seed=2)
    out = evaluation.evaluate_binary_transfer(tiny_encoder, fit, held, metrics=["cosine"])
    t = evaluation.find_threshold(tiny_encoder.similarity(fit[0], fit[1]), fit[2], objective="accuracy")
    assert out["cosine_fitted_accuracy_threshold"] == pytest.approx(t)
    want = evaluation.binary_metrics_at(tiny_encoder.similarity(held[0], held[1]), held[2], t)
    assert out["cosine_fitted_accuracy_accuracy"] == pytest.approx(want["accuracy"])
    assert {"cosine_fitted_f1_threshold", "cosine_fitted_f1_f1", "cosine_fitted_f1_precision"} <= set(out)
    # through the dispatcher the transferred figures come on top of the best-threshold ones, unchanged
    ds = {name: datasets.Dataset.from_dict({"text_a": p[0], "text_b": p[1], "label": p[2]}) for name, p in (("fit", fit), ("held", held))}
    alone = evaluation.evaluate_data(tiny_encoder, ds["held"], "binary", metrics=["cosine"])
    both = evaluation.evaluate_data(tiny_encoder, ds["held"], "binary", metrics=["cosine"], threshold_data=ds["fit"])
    assert {k: both[k] for k in alone} == alone and both["cosine_fitted_accuracy_threshold"] == pytest.approx(t)


def test_triplets_equal_triplet_evaluator(tiny_encoder):
    a, p, _ = _binary_pairs(30, seed=3)
    n = list(reversed(p))
    ours = evaluation.evaluate_triplets(tiny_encoder, a, p, n, metrics=ALL)
    theirs = TripletEvaluator(a, p, n, similarity_fn_names=ALL, write_csv=False)(tiny_encoder.model)
    for metric in ALL:
        assert ours[f"{metric}_accuracy"] == pytest.approx(theirs[f"{metric}_accuracy"] * 100, abs=1e-4)


def test_classes_equal_information_retrieval_evaluator(tiny_encoder):
    q_text, q_label = _class_texts(4, seed=4)
    c_text, c_label = _class_texts(12, seed=5)
    queries = datasets.Dataset.from_dict({"text": q_text, "label": q_label})
    corpus = datasets.Dataset.from_dict({"text": c_text, "label": c_label})
    ours = evaluation.evaluate_data(tiny_encoder, queries, "class", corpus=corpus, metrics=METRICS)
    relevant = {f"q{i}": {f"c{j:03d}" for j, cl in enumerate(c_label) if cl == ql} for i, ql in enumerate(q_label)}
    theirs = InformationRetrievalEvaluator(
        queries={f"q{i}": t for i, t in enumerate(q_text)},
        corpus={f"c{j:03d}": t for j, t in enumerate(c_text)},
        relevant_docs=relevant,
        score_functions={"cosine": util.cos_sim, "dot": util.dot_score, "euclidean": util.euclidean_sim, "manhattan": util.manhattan_sim,
                         "hamming": lambda q, c: -hamming_distance_matrix(q, c)},
        write_csv=False,
    )(tiny_encoder.model)
    for metric in METRICS:
        for ours_key, their_key in (("mrr@10", "mrr@10"), ("ndcg@10", "ndcg@10"), ("map@100", "map@100"),
                                    ("recall@1", "recall@1"), ("recall@5", "recall@5"), ("recall@10", "recall@10"),
                                    ("1nn_accuracy", "accuracy@1")):
            assert ours[f"{metric}_{ours_key}"] == pytest.approx(theirs[f"{metric}_{their_key}"] * 100, abs=1e-4), (metric, ours_key)


def test_hamming_figures_come_from_the_sign_bits(tiny_encoder):
    from scipy.stats import spearmanr

    a, b, y = _binary_pairs(40)
    scores = [0.2 + 0.6 * label + random.Random(i).random() * 0.2 for i, label in enumerate(y)]
    ea, eb = tiny_encoder.encode(a), tiny_encoder.encode(b)
    differing = [sum((u > 0) != (v > 0) for u, v in zip(x, z)) for x, z in zip(ea.tolist(), eb.tolist())]
    ours = evaluation.evaluate_scored_pairs(tiny_encoder, a, b, scores, metrics=["hamming"])
    assert ours["spearman_hamming"] == pytest.approx(spearmanr(scores, [-d for d in differing])[0] * 100, abs=1e-6)
    binary = evaluation.evaluate_binary_pairs(tiny_encoder, a, b, y, metrics=["hamming"])
    best = max(np.mean([(-d >= t) == bool(label) for d, label in zip(differing, y)]) for t in {-d for d in differing})
    assert binary["hamming_accuracy"] == pytest.approx(best * 100)


def test_centroid_and_1nn_accuracy_by_hand():
    class Lookup:  # an "encoder" with fixed embeddings, to check the figures by hand
        table = {"q0": [1.0, 0.0], "q1": [0.0, 1.0], "q2": [0.6, 0.8], "c0": [0.9, 0.1], "c1": [0.1, 0.9],
                 "c2": [0.8, 0.6], "c3": [0.2, 0.8]}

        def encode(self, texts, batch_size=64):
            return np.asarray([self.table[t] for t in texts], dtype=np.float32)

    queries = datasets.Dataset.from_dict({"text": ["q0", "q1", "q2"], "label": [0, 1, 0]})
    corpus = datasets.Dataset.from_dict({"text": ["c0", "c1", "c2", "c3"], "label": [0, 1, 1, 0]})
    out = evaluation.evaluate_classes(Lookup(), queries, corpus, metrics=["cosine"])
    # nearest: q0->c0 (0, right), q1->c1 (1, right), q2->c2 (1, wrong)
    assert out["cosine_1nn_accuracy"] == pytest.approx(200 / 3)
    # centroids: class 0 = (0.55, 0.45), class 1 = (0.45, 0.75); q0 -> 0 right, q1 -> 1 right, q2 -> 1 wrong
    assert out["cosine_centroid_accuracy"] == pytest.approx(200 / 3)
    assert out["queries"] == 3 and out["corpus"] == 4


def test_query_document_pairs_rank_the_paired_document():
    class Lookup:
        table = {"qa": [1.0, 0.0], "qb": [0.0, 1.0], "da": [0.9, 0.1], "db": [0.2, 0.8], "dx": [0.7, 0.7]}

        def encode(self, texts, batch_size=64):
            return np.asarray([self.table[t] for t in texts], dtype=np.float32)

    ds = datasets.Dataset.from_dict({"text_a": ["qa", "qb", "qb"], "text_b": ["da", "db", "dx"], "label": [1, 1, 0]})
    out = evaluation.evaluate_data(Lookup(), ds, "retrieval", metrics=["cosine"])
    assert out["cosine_mrr@10"] == pytest.approx(100.0)  # qa -> da first; qb -> db first (dx is not relevant)
    assert out["cosine_recall@1"] == pytest.approx(100.0)


def test_dispatcher_checks_its_input(tiny_encoder):
    ds = datasets.Dataset.from_dict({"text": ["a cat"], "label": [0]})
    with pytest.raises(DataError, match="pass corpus="):
        evaluation.evaluate_data(tiny_encoder, ds, "class")
    with pytest.raises(DataError, match="cannot evaluate 'ranking'"):
        evaluation.evaluate_data(tiny_encoder, ds, "ranking")
    with pytest.raises(ConfigError, match="--metric 'cosin'"):
        evaluation.evaluate_triplets(tiny_encoder, ["a"], ["b"], ["c"], metrics=["cosin"])
    with pytest.raises(DataError, match="3 texts a, 2 texts b"):
        evaluation.evaluate_binary_pairs(tiny_encoder, ["a", "b", "c"], ["a", "b"], [0, 1, 0])
    with pytest.raises(DataError, match="only label 0 rows"):
        evaluation.evaluate_binary_pairs(tiny_encoder, ["a cat", "the dog"], ["a dog", "the cat"], [0, 0])
    with pytest.raises(DataError, match="1 scored pairs are too few for a correlation; give at least 2"):
        evaluation.evaluate_scored_pairs(tiny_encoder, ["a cat"], ["a dog"], [0.5])


def test_class_centroids_are_the_per_class_means_in_first_seen_order():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(7, 4)).astype(np.float32)
    labels = ["b", "a", "b", "c", "a", "b", "c"]
    classes, centroids = evaluation.class_centroids(emb, labels)
    assert classes == ["b", "a", "c"]
    for i, label in enumerate(classes):
        naive = sum(e for e, y in zip(emb, labels) if y == label) / labels.count(label)
        np.testing.assert_allclose(centroids[i], naive, rtol=1e-6)
    with pytest.raises(DataError, match="7 embeddings but 6 labels"):
        evaluation.class_centroids(emb, labels[:6])
    with pytest.raises(DataError, match="at least one labelled text"):
        evaluation.class_centroids(emb[:0], [])


def test_summary_keeps_the_kind_s_figures_in_order_or_everything():
    from siamese_text.evaluation import summary_metrics

    metrics = {"validation": {"cosine_ap": 70.0, "cosine_accuracy": 80.0, "euclidean_accuracy": 80.0,
                              "cosine_fitted_accuracy_accuracy": 78.0, "cosine_accuracy_threshold": 0.7},
               "test": {"cosine_accuracy": 79.0}}
    assert summary_metrics(metrics, "binary") == {
        "validation": {"cosine_fitted_accuracy_accuracy": 78.0, "cosine_accuracy": 80.0, "cosine_ap": 70.0},
        "test": {"cosine_accuracy": 79.0},
    }
    assert list(summary_metrics({"t": {"cosine_mrr@10": 1.0, "cosine_recall@5": 2.0}}, "query-document")["t"]) == ["cosine_mrr@10"]
    assert summary_metrics(metrics, "unknown-kind") is metrics
    assert summary_metrics({"t": {"something_else": 1.0}}, "class") == {"t": {"something_else": 1.0}}


def test_queries_without_a_relevant_text_are_skipped_not_misaligned(tiny_encoder):
    """sentence-transformers drops such queries; the embeddings handed to it must drop them too."""
    corpus = ["the cat sat on the mat", "a dog ran in the park", "my card was lost", "how do i reset my password"]
    queries = ["cat on a mat", "nothing relevant here", "lost my card"]
    with_gap = evaluation.evaluate_retrieval(tiny_encoder, queries, corpus, [{0}, set(), {2}])
    without = evaluation.evaluate_retrieval(tiny_encoder, [queries[0], queries[2]], corpus, [{0}, {2}])
    assert with_gap == without and with_gap["queries"] == 2.0
    with pytest.raises(DataError, match="none of the 2 queries has a relevant document"):
        evaluation.evaluate_retrieval(tiny_encoder, queries[:2], corpus, [set(), set()])
    with pytest.raises(DataError, match="no queries"):
        evaluation.evaluate_retrieval(tiny_encoder, [], corpus, [])
    # A query class the corpus lacks is skipped by the 1-NN and the centroid figures alike.
    q = datasets.Dataset.from_dict({"text": ["a cat sat", "my card", "a boat"], "label": [0, 1, 9]})
    c = datasets.Dataset.from_dict({"text": corpus, "label": [0, 0, 1, 1]})
    known = datasets.Dataset.from_dict({"text": ["a cat sat", "my card"], "label": [0, 1]})
    assert evaluation.evaluate_classes(tiny_encoder, q, c) == evaluation.evaluate_classes(tiny_encoder, known, c)
