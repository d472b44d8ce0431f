"""Similarity and distance functions: one convention everywhere.

Functions named ``*_similarity`` return **higher = more similar**; functions named ``*_distance``
return distances (**lower = more similar**). Each comes in two forms:

* pairwise: ``f(a, b)`` compares ``a[i]`` with ``b[i]`` and returns a vector of length ``n``;
* matrix: ``f_matrix(a, b)`` compares every row of ``a`` with every row of ``b`` (``n x m``).

Inputs may be numpy arrays or torch tensors; the output has the type of the input, so losses can
use the same functions with autograd. The matrix forms refuse outputs above ``max_elements``
(default 2**28, 1 GiB of float32) so that a 100k x 100k matrix is never built by accident: use
:func:`top_k_matrix` (chunked) for nearest neighbours over large corpora, or
:func:`similarity_blocks` to stream the rows. Bad shapes raise :class:`~siamese_text.errors.DataError`,
bad options :class:`~siamese_text.errors.ConfigError` (both ``ValueError``).

==========  ==========================  =================================  ===============================================
metric      similarity (higher=closer)  distance (lower=closer)            suits
==========  ==========================  =================================  ===============================================
cosine      ``cos(a, b)`` in [-1, 1]    ``1 - cos(a, b)`` in [0, 2]        the default: contrastive (margin 0.5-1),
                                                                           triplet (margin ~0.2), in-batch negatives;
                                                                           what STS and most model cards report
dot         ``a . b``                   --                                 models trained with dot-product in-batch
                                                                           losses; equals cosine on unit vectors
euclidean   ``-||a - b||_2``            ``||a - b||_2``                    contrastive / triplet with a Euclidean
                                                                           margin (on unit vectors d = sqrt(2 - 2 cos),
                                                                           so it ranks like cosine)
manhattan   ``-||a - b||_1``            ``||a - b||_1``                    contrastive / triplet trained with L1; margins
                                                                           grow with the dimension (~16 at 384)
hamming     ``-popcount(a xor b)``      ``popcount(a xor b)``              no loss: 1-bit codes (32x smaller) after any
            of the sign bits                                               cosine-trained model, for search, dedup and
                                                                           same/not-same thresholds at scale
==========  ==========================  =================================  ===============================================

Hamming compares sign bits (bit = value > 0, ``pack_bits``; sentence-transformers'
``quantize_embeddings(..., precision="ubinary")`` makes the same bytes). ``hamming_distance`` and
``hamming_distance_matrix`` take either packed uint8 codes or float embeddings (whose signs they
compare); through ``metric="hamming"`` (``pairwise_similarity``, ``similarity_matrix``, the CLI's
``--metric hamming``) the inputs are float embeddings.

Evaluate and threshold with the metric the model was trained with: a contrastive model trained
on Manhattan distance is not guaranteed to rank well under cosine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, TypeVar

import numpy as np

from siamese_text.errors import ConfigError, DataError

__all__ = [
    "METRICS",
    "Metric",
    "cosine_similarity",
    "cosine_distance",
    "dot_similarity",
    "euclidean_distance",
    "euclidean_similarity",
    "manhattan_distance",
    "manhattan_similarity",
    "hamming_distance",
    "hamming_similarity",
    "similarity_blocks",
    "pairwise_similarity",
    "pairwise_distance",
    "similarity_matrix",
    "distance_matrix",
    "pack_bits",
    "hamming_distance_matrix",
    "top_k_matrix",
]

Metric = Literal["cosine", "dot", "euclidean", "manhattan", "hamming"]
METRICS: tuple[str, ...] = ("cosine", "dot", "euclidean", "manhattan", "hamming")
DISTANCES: tuple[str, ...] = ("cosine", "euclidean", "manhattan")
DEFAULT_MAX_ELEMENTS = 2**28

Array = TypeVar("Array")


def _is_torch(x: object) -> bool:
    return type(x).__module__.startswith("torch")


def _as_2d(x, name: str):
    if not _is_torch(x):
        x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        if x.shape[0] == 0:
            raise DataError(f"{name} is empty; give one embedding (a vector) or an n x dimension array")
        x = x[None, :]
    if x.ndim != 2:
        raise DataError(f"{name} must be a 1-D or 2-D array of embeddings, got {x.ndim} dimensions")
    return x


def _check_pair(a, b):
    a, b = _as_2d(a, "a"), _as_2d(b, "b")
    if _is_torch(a) != _is_torch(b):
        raise TypeError("a and b must both be numpy arrays or both torch tensors")
    if a.shape[1] != b.shape[1]:
        raise DataError(f"a has {a.shape[1]} dimensions but b has {b.shape[1]}: embeddings must match")
    return a, b


def _check_pairwise(a, b):
    a, b = _check_pair(a, b)
    if a.shape[0] != b.shape[0]:
        raise DataError(f"a has {a.shape[0]} rows but b has {b.shape[0]}: pairwise scoring needs equal lengths")
    return a, b


def _normalize(x, eps: float = 1e-12):
    if _is_torch(x):
        import torch

        return torch.nn.functional.normalize(x, p=2, dim=-1, eps=eps)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, eps)


def _norm(x, p: int):
    if _is_torch(x):
        return x.norm(p=p, dim=-1)
    return np.linalg.norm(x, ord=p, axis=-1)


# ---- pairwise ---------------------------------------------------------------------------------


def cosine_similarity(a, b):
    """Cosine of ``a[i]`` and ``b[i]``, in [-1, 1]."""
    a, b = _check_pairwise(a, b)
    return (_normalize(a) * _normalize(b)).sum(-1)


def cosine_distance(a, b):
    """``1 - cosine_similarity``, in [0, 2]."""
    return 1 - cosine_similarity(a, b)


def dot_similarity(a, b):
    """Dot product of ``a[i]`` and ``b[i]``."""
    a, b = _check_pairwise(a, b)
    return (a * b).sum(-1)


def euclidean_distance(a, b):
    """L2 distance between ``a[i]`` and ``b[i]``."""
    a, b = _check_pairwise(a, b)
    return _norm(a - b, 2)


def euclidean_similarity(a, b):
    """Negative L2 distance (higher = more similar)."""
    return -euclidean_distance(a, b)


def manhattan_distance(a, b):
    """L1 distance between ``a[i]`` and ``b[i]``."""
    a, b = _check_pairwise(a, b)
    return _norm(a - b, 1)


def manhattan_similarity(a, b):
    """Negative L1 distance (higher = more similar)."""
    return -manhattan_distance(a, b)


# ---- binary codes -----------------------------------------------------------------------------

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def pack_bits(embeddings) -> np.ndarray:
    """Sign-quantise float embeddings to packed bits: ``n x ceil(dim / 8)`` uint8 (1 bit = value > 0)."""
    x = embeddings.detach().cpu().numpy() if _is_torch(embeddings) else np.asarray(embeddings)
    return np.packbits(_as_2d(x, "embeddings") > 0, axis=-1)


def _codes(a, b) -> bool:
    """True for two packed uint8 code arrays, False for two float embedding arrays; refuses a mix."""
    packed = [isinstance(x, np.ndarray) and x.dtype == np.uint8 for x in (a, b)]
    if packed[0] != packed[1]:
        raise TypeError("give both sides as packed uint8 codes (pack_bits) or both as float embeddings, not one of each")
    return packed[0]


def _check_codes(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[1] != b.shape[1]:
        raise DataError(f"a has {a.shape[1]} code bytes but b has {b.shape[1]}: codes must match")
    return a, b


def _signs(x):
    """+1 where the value is > 0 (bit set), -1 elsewhere, as float32 (sums of them are exact up to 2**24)."""
    if _is_torch(x):
        return (x > 0).float() * 2 - 1
    return (x > 0).astype(np.float32) * 2 - 1


def _sign_hamming_matrix(a, b):
    """Differing sign bits of every row pair, as one matrix product: ``(dim - s_a . s_b) / 2``, exact below 2**24 dims."""
    return (a.shape[1] - _signs(a) @ _signs(b).T) / 2


def hamming_distance(a, b):
    """Number of differing bits of ``a[i]`` and ``b[i]``: packed uint8 codes, or float embeddings' sign bits."""
    if not _codes(a, b):
        a, b = _check_pairwise(a, b)
        return (a.shape[1] - (_signs(a) * _signs(b)).sum(-1)) / 2
    a, b = _check_codes(a, b)
    if a.shape[0] != b.shape[0]:
        raise DataError(f"a has {a.shape[0]} rows but b has {b.shape[0]}: pairwise scoring needs equal lengths")
    return _POPCOUNT[np.bitwise_xor(a, b)].sum(-1, dtype=np.int64)


def hamming_similarity(a, b):
    """Negative Hamming distance (higher = more similar); packed codes or float embeddings."""
    return -hamming_distance(a, b)


def hamming_distance_matrix(a, b, *, max_elements: int | None = DEFAULT_MAX_ELEMENTS):
    """``n x m`` Hamming distances (lower = more similar); packed codes or float embeddings."""
    if not _codes(a, b):
        a, b = _check_pair(a, b)
        _check_size(a.shape[0], b.shape[0], max_elements)
        return _sign_hamming_matrix(a, b)
    a, b = _check_codes(a, b)
    _check_size(a.shape[0], b.shape[0], max_elements)
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
    rows, cols = _blocks(a.shape[0], b.shape[0], a.shape[1])
    for i in range(0, a.shape[0], rows):
        for j in range(0, b.shape[0], cols):
            xor = np.bitwise_xor(a[i : i + rows, None, :], b[None, j : j + cols])
            out[i : i + rows, j : j + cols] = _POPCOUNT[xor].sum(-1, dtype=np.int32)
    return out


_PAIRWISE_SIMILARITY = {
    "cosine": cosine_similarity,
    "dot": dot_similarity,
    "euclidean": euclidean_similarity,
    "manhattan": manhattan_similarity,
    "hamming": hamming_similarity,
}
_PAIRWISE_DISTANCE = {
    "cosine": cosine_distance,
    "euclidean": euclidean_distance,
    "manhattan": manhattan_distance,
    "hamming": hamming_distance,
}


def _lookup(table: dict, metric: str, what: str):
    try:
        return table[metric]
    except KeyError:
        raise ConfigError(f"unknown {what} {metric!r}; choose one of {', '.join(table)}") from None


def pairwise_similarity(a, b, *, metric: str = "cosine"):
    """Similarity of ``a[i]`` with ``b[i]`` under ``metric`` (higher = more similar)."""
    return _lookup(_PAIRWISE_SIMILARITY, metric, "metric")(a, b)


def pairwise_distance(a, b, *, metric: str = "cosine"):
    """Distance of ``a[i]`` from ``b[i]`` under ``metric`` (lower = more similar)."""
    return _lookup(_PAIRWISE_DISTANCE, metric, "distance")(a, b)


# ---- matrix -----------------------------------------------------------------------------------


def _check_size(n: int, m: int, max_elements: int | None) -> None:
    if max_elements is not None and n * m > max_elements:
        raise ConfigError(
            f"a {n} x {m} matrix has {n * m:,} entries, more than max_elements={max_elements:,}; "
            "use top_k_matrix() for nearest neighbours, or pass a larger max_elements"
        )


# Largest temporary (in elements) a numpy L1 / Hamming block may build: 2**24 float32 = 64 MiB,
# whatever the sizes of a and b (a row block of a against all of b could be gigabytes).
TEMP_ELEMENTS = 2**24


def _blocks(n: int, m: int, width: int) -> tuple[int, int]:
    """Row and column block sizes whose ``rows x cols x width`` temporary stays under TEMP_ELEMENTS."""
    cols = max(1, min(m, TEMP_ELEMENTS // max(width, 1)))
    rows = max(1, min(n, TEMP_ELEMENTS // max(cols * width, 1)))
    return rows, cols


def _cdist(a, b, p: int):
    if _is_torch(a):
        import torch

        return torch.cdist(a, b, p=p)
    if p == 2:
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return np.sqrt(np.maximum(sq, 0.0))
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.result_type(a, b))
    rows, cols = _blocks(a.shape[0], b.shape[0], a.shape[1])
    for i in range(0, a.shape[0], rows):
        for j in range(0, b.shape[0], cols):
            out[i : i + rows, j : j + cols] = np.abs(a[i : i + rows, None, :] - b[None, j : j + cols, :]).sum(-1)
    return out


def similarity_matrix(a, b, *, metric: str = "cosine", max_elements: int | None = DEFAULT_MAX_ELEMENTS):
    """``n x m`` similarities of every row of ``a`` with every row of ``b`` (higher = more similar)."""
    a, b = _check_pair(a, b)
    _check_size(a.shape[0], b.shape[0], max_elements)
    if metric == "cosine":
        return _normalize(a) @ _normalize(b).T
    if metric == "hamming":
        return -_sign_hamming_matrix(a, b)
    if metric == "dot":
        return a @ b.T
    if metric == "euclidean":
        return -_cdist(a, b, 2)
    if metric == "manhattan":
        return -_cdist(a, b, 1)
    _lookup(_PAIRWISE_SIMILARITY, metric, "metric")
    raise AssertionError("unreachable")


def distance_matrix(a, b, *, metric: str = "cosine", max_elements: int | None = DEFAULT_MAX_ELEMENTS):
    """``n x m`` distances of every row of ``a`` from every row of ``b`` (lower = more similar)."""
    _lookup(_PAIRWISE_DISTANCE, metric, "distance")
    if metric == "cosine":
        return 1 - similarity_matrix(a, b, metric="cosine", max_elements=max_elements)
    return -similarity_matrix(a, b, metric=metric, max_elements=max_elements)


# ---- nearest neighbours without the full matrix -----------------------------------------------


def _keep_top(scores: np.ndarray, idx: np.ndarray, k: int, *, n_corpus: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(score, index)`` per row, ties at the k-th score going to the lower index.

    ``argpartition`` alone would break ties arbitrarily, so results would depend on ``chunk_size``;
    a composite key (above / tied with / below the k-th score, then index) keeps it exact in O(n).
    """
    if scores.shape[1] <= k:
        return scores, idx
    kth = np.partition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k][:, None]
    rank = np.where(scores > kth, 0, np.where(scores == kth, 1, 2)).astype(np.int64) * (n_corpus + 1) + idx
    keep = np.argpartition(rank, k - 1, axis=1)[:, :k]
    return np.take_along_axis(scores, keep, 1), np.take_along_axis(idx, keep, 1)


def similarity_blocks(
    a, b, *, metric: str = "cosine", block_rows: int = 1024
) -> Iterator[tuple[int, np.ndarray | Any]]:
    """Yield ``(start, block)``: rows ``start:start + block_rows`` of the ``n x m`` similarity matrix.

    For work over every pair (mining duplicates, histograms) without holding the whole matrix.
    """
    a, b = _check_pair(a, b)
    if block_rows < 1:
        raise ConfigError(f"block_rows must be at least 1, got {block_rows}")
    for start in range(0, a.shape[0], block_rows):
        yield start, similarity_matrix(a[start : start + block_rows], b, metric=metric, max_elements=None)


def top_k_matrix(
    queries, corpus, *, k: int, metric: str = "cosine", chunk_size: int = 4096, query_chunk_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` most similar corpus rows for every query, computed block by block.

    Returns numpy ``(scores, indices)``, both ``n_queries x k``, best first; ties go to the lower
    corpus row. Memory stays at ``query_chunk_size x (chunk_size + k)`` however many queries and
    corpus rows there are, so 100k x 100k never exists at once.
    """
    queries, corpus = _check_pair(queries, corpus)
    if _is_torch(queries):
        queries, corpus = queries.detach().cpu().float().numpy(), corpus.detach().cpu().float().numpy()
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if chunk_size < 1 or query_chunk_size < 1:
        raise ConfigError(f"chunk_size and query_chunk_size must be at least 1, got {chunk_size} and {query_chunk_size}")
    _lookup(_PAIRWISE_SIMILARITY, metric, "metric")
    k = min(k, corpus.shape[0])
    out_scores = np.empty((queries.shape[0], k), dtype=np.float32)
    out_idx = np.empty((queries.shape[0], k), dtype=np.int64)
    for q in range(0, queries.shape[0], query_chunk_size):
        block_q = queries[q : q + query_chunk_size]
        best_scores = np.full((block_q.shape[0], 0), -np.inf, dtype=np.float32)
        best_idx = np.zeros((block_q.shape[0], 0), dtype=np.int64)
        for start in range(0, corpus.shape[0], chunk_size):
            block = similarity_matrix(block_q, corpus[start : start + chunk_size], metric=metric, max_elements=None)
            scores = np.concatenate([best_scores, np.asarray(block, dtype=np.float32)], axis=1)
            idx = np.concatenate([best_idx, np.broadcast_to(np.arange(start, start + block.shape[1]), block.shape)], 1)
            best_scores, best_idx = _keep_top(scores, idx, k, n_corpus=corpus.shape[0])
        order = np.lexsort((best_idx, -best_scores), axis=1)
        out_scores[q : q + query_chunk_size] = np.take_along_axis(best_scores, order, 1)
        out_idx[q : q + query_chunk_size] = np.take_along_axis(best_idx, order, 1)
    return out_scores, out_idx
