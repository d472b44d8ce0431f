import math

import numpy as np
import pytest
import torch

from siamese_text import scoring


def naive(metric, x, y):
    if metric == "cosine":
        return sum(a * b for a, b in zip(x, y)) / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(b * b for b in y)))
    if metric == "dot":
        return sum(a * b for a, b in zip(x, y))
    if metric == "euclidean":
        return -math.sqrt(sum((a - b) ** 2 for a, b in zip(x, y)))
    if metric == "manhattan":
        return -sum(abs(a - b) for a, b in zip(x, y))
    raise AssertionError(metric)


@pytest.fixture()
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=(5, 7)).astype(np.float32)


@pytest.mark.parametrize("metric", scoring.METRICS)
def test_pairwise_similarity_matches_naive_loop(vectors, metric):
    a, b = vectors
    got = scoring.pairwise_similarity(a, b, metric=metric)
    want = [naive(metric, a[i].tolist(), b[i].tolist()) for i in range(len(a))]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", scoring.METRICS)
def test_matrix_agrees_with_pairwise_and_torch(vectors, metric):
    a, b = vectors
    matrix = scoring.similarity_matrix(a, b, metric=metric)
    assert matrix.shape == (5, 5)
    np.testing.assert_allclose(np.diag(matrix), scoring.pairwise_similarity(a, b, metric=metric), rtol=1e-5, atol=1e-4)
    t = scoring.similarity_matrix(torch.from_numpy(a), torch.from_numpy(b), metric=metric)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), matrix, rtol=1e-4, atol=1e-4)


def test_distances_are_negated_similarities_and_cosine_distance_is_one_minus(vectors):
    a, b = vectors
    np.testing.assert_allclose(scoring.cosine_distance(a, b), 1 - scoring.cosine_similarity(a, b), atol=1e-6)
    np.testing.assert_allclose(scoring.euclidean_distance(a, b), -scoring.euclidean_similarity(a, b), atol=1e-6)
    np.testing.assert_allclose(scoring.distance_matrix(a, b, metric="manhattan"), -scoring.similarity_matrix(a, b, metric="manhattan"), atol=1e-4)


def test_higher_is_more_similar_for_every_similarity():
    x = np.array([[1.0, 0.0]])
    near, far = np.array([[0.9, 0.1]]), np.array([[-1.0, 0.2]])
    for metric in scoring.METRICS:
        assert scoring.pairwise_similarity(x, near, metric=metric)[0] > scoring.pairwise_similarity(x, far, metric=metric)[0]


def test_mismatched_lengths_name_both_numbers(vectors):
    a, b = vectors
    with pytest.raises(ValueError, match="5 rows but b has 3"):
        scoring.cosine_similarity(a, b[:3])


def test_matrix_refuses_accidental_huge_output():
    a = np.zeros((100, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="top_k_matrix"):
        scoring.similarity_matrix(a, a, max_elements=1000)


def test_hamming_on_packed_codes_matches_bit_count():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 20)), rng.normal(size=(6, 20))
    cx, cy = scoring.pack_bits(x), scoring.pack_bits(y)
    assert cx.shape == (6, 3) and cx.dtype == np.uint8
    want = [int(((x[i] > 0) != (y[i] > 0)).sum()) for i in range(6)]
    assert scoring.hamming_distance(cx, cy).tolist() == want
    assert scoring.hamming_distance_matrix(cx, cy).diagonal().tolist() == want
    with pytest.raises(TypeError, match="pack_bits"):
        scoring.hamming_distance(x, y)


def test_top_k_matrix_equals_full_sort_across_chunks():
    rng = np.random.default_rng(2)
    q, c = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    scores, idx = scoring.top_k_matrix(q, c, k=5, chunk_size=7)
    full = scoring.similarity_matrix(q, c)
    want = np.argsort(-full, axis=1)[:, :5]
    assert idx.tolist() == want.tolist()
    np.testing.assert_allclose(scores, np.take_along_axis(full, want, 1), rtol=1e-5)
