import math

import numpy as np
import pytest
import torch

from siamese_text import scoring
from siamese_text.errors import DataError


def naive(metric, x, y):
    if metric == "cosine":
        return sum(a * b for a, b in zip(x, y)) / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(b * b for b in y)))
    if metric == "dot":
        return sum(a * b for a, b in zip(x, y))
    if metric == "euclidean":
        return -math.sqrt(sum((a - b) ** 2 for a, b in zip(x, y)))
    if metric == "manhattan":
        return -sum(abs(a - b) for a, b in zip(x, y))
    if metric == "hamming":
        return -sum((a > 0) != (b > 0) for a, b in zip(x, y))
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
    with pytest.raises(DataError, match="5 rows but b has 3"):
        scoring.cosine_similarity(a, b[:3])
    with pytest.raises(DataError, match="7 dimensions but b has 4"):
        scoring.similarity_matrix(a, b[:, :4])
    assert issubclass(DataError, ValueError)  # callers catching ValueError keep working


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
    with pytest.raises(TypeError, match="not one of each"):
        scoring.hamming_distance(cx, y)


def test_hamming_of_embeddings_equals_hamming_of_their_packed_codes():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(9, 37)).astype(np.float32), rng.normal(size=(12, 37)).astype(np.float32)
    x[0, :5] = 0.0  # zero is "not > 0": bit 0, as in pack_bits
    codes = scoring.hamming_distance_matrix(scoring.pack_bits(x), scoring.pack_bits(y))
    floats = scoring.hamming_distance_matrix(x, y)
    assert floats.tolist() == codes.tolist()
    assert scoring.distance_matrix(x, y, metric="hamming").tolist() == codes.tolist()
    assert scoring.pairwise_distance(x, y[:9], metric="hamming").tolist() == codes.diagonal().tolist()
    t = scoring.hamming_distance_matrix(torch.from_numpy(x), torch.from_numpy(y))
    assert isinstance(t, torch.Tensor) and t.tolist() == codes.tolist()


def test_pack_bits_makes_the_bytes_of_sentence_transformers_ubinary():
    from sentence_transformers.util.quantization import quantize_embeddings

    x = np.random.default_rng(7).normal(size=(5, 384)).astype(np.float32)
    assert (scoring.pack_bits(x) == quantize_embeddings(x, precision="ubinary")).all()


def test_top_k_matrix_equals_full_sort_across_chunks():
    rng = np.random.default_rng(2)
    q, c = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    scores, idx = scoring.top_k_matrix(q, c, k=5, chunk_size=7)
    full = scoring.similarity_matrix(q, c)
    want = np.argsort(-full, axis=1)[:, :5]
    assert idx.tolist() == want.tolist()
    np.testing.assert_allclose(scores, np.take_along_axis(full, want, 1), rtol=1e-5)


def test_top_k_ties_go_to_the_lower_row_whatever_the_chunks():
    corpus = np.array([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 4, dtype=np.float32)  # six exact ties
    queries = np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 0.0]], dtype=np.float32)
    want = None
    for chunk, q_chunk in ((1, 1), (3, 2), (4, 3), (100, 100)):
        scores, idx = scoring.top_k_matrix(queries, corpus, k=4, chunk_size=chunk, query_chunk_size=q_chunk)
        want = idx if want is None else want
        assert idx.tolist() == want.tolist()
    assert want.tolist() == [[0, 1, 2, 3], [6, 7, 8, 9], [0, 1, 2, 3]]
    assert np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("metric", scoring.METRICS)
def test_top_k_matches_full_sort_for_every_metric_and_torch(metric):
    rng = np.random.default_rng(3)
    q, c = rng.normal(size=(9, 6)).astype(np.float32), rng.normal(size=(40, 6)).astype(np.float32)
    _, idx = scoring.top_k_matrix(q, c, k=7, metric=metric, chunk_size=6, query_chunk_size=4)
    full = scoring.similarity_matrix(q, c, metric=metric)
    assert idx.tolist() == np.argsort(-full, axis=1, kind="stable")[:, :7].tolist()
    _, t_idx = scoring.top_k_matrix(torch.from_numpy(q), torch.from_numpy(c), k=7, metric=metric, chunk_size=6)
    assert t_idx.tolist() == idx.tolist()
    with pytest.raises(ValueError, match="unknown metric 'cos'"):
        scoring.top_k_matrix(q, c, k=3, metric="cos")


def test_block_sizes_bound_the_temporary_and_keep_results(monkeypatch):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(13, 5)).astype(np.float32), rng.normal(size=(11, 5)).astype(np.float32)
    want = scoring.similarity_matrix(a, b, metric="manhattan")
    ca, cb = scoring.pack_bits(a), scoring.pack_bits(b)
    want_h = scoring.hamming_distance_matrix(ca, cb)
    monkeypatch.setattr(scoring, "TEMP_ELEMENTS", 12)  # forces blocks of rows and of columns
    rows, cols = scoring._blocks(13, 11, 5)
    assert rows * cols * 5 <= 12 and (rows, cols) == (1, 2)
    np.testing.assert_allclose(scoring.similarity_matrix(a, b, metric="manhattan"), want, rtol=1e-6)
    assert scoring.hamming_distance_matrix(ca, cb).tolist() == want_h.tolist()
    # a 100k x 100k request is refused before any memory is touched
    big = np.zeros((100_000, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="10,000,000,000 entries"):
        scoring.similarity_matrix(big, big)


def test_similarity_blocks_stream_the_full_matrix(vectors):
    a, b = vectors
    blocks = list(scoring.similarity_blocks(a, b, metric="euclidean", block_rows=2))
    assert [start for start, _ in blocks] == [0, 2, 4]
    np.testing.assert_allclose(np.concatenate([blk for _, blk in blocks]), scoring.similarity_matrix(a, b, metric="euclidean"), rtol=1e-6)


def test_hamming_similarity_is_negated_distance():
    rng = np.random.default_rng(5)
    ca, cb = scoring.pack_bits(rng.normal(size=(4, 16))), scoring.pack_bits(rng.normal(size=(4, 16)))
    assert (scoring.hamming_similarity(ca, cb) == -scoring.hamming_distance(ca, cb)).all()
