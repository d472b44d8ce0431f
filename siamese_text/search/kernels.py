"""The numpy kernels of the in-process backends: exact top-k over a float matrix, and 1-bit codes.

numpy's argpartition over a whole ``b x n`` score matrix costs as much as the matrix product itself
(~13 ns an element), so :func:`exact_top_k` keeps a running k-th best score per query and only looks
at the few scores above it (one vectorised comparison an element). Both kernels take an ``allowed``
row mask (a metadata filter and deleted rows): masked rows never come back.
"""

from __future__ import annotations

import numpy as np

from siamese_text.scoring import pack_bits

__all__ = ["exact_top_k", "pack_codes", "hamming_candidates", "NO_ROW"]

NO_ROW = -1  # a result slot with no row (fewer allowed rows than k)
_BLOCK_ELEMENTS = 1 << 21  # scores per block (8 MiB, stays in cache): measured fastest of 2^19..2^23 on 1M x 384, b=100
_SEED_ROWS = 4096  # rows whose top-k seeds the running threshold
_CODE_CHUNK = 1 << 16  # corpus rows per Hamming pass: the uint64 temporaries stay in cache
_FAR = np.int64(np.iinfo(np.int64).max)


def _merge(block: np.ndarray, start: int, best_s: np.ndarray, best_i: np.ndarray, thr: np.ndarray) -> None:
    """Fold ``block`` (corpus rows ``start..`` x queries) into each query's running top-k (sorted), in place."""
    flat = np.flatnonzero(block > thr)  # 1-D nonzero: several times faster than 2-D
    if flat.size == 0:
        return
    col, query = np.divmod(flat, block.shape[1])
    order = np.argsort(query, kind="stable")
    col, query = col[order], query[order]
    rows, r = np.unique(query, return_inverse=True)
    counts = np.bincount(r, minlength=rows.size)
    k = best_s.shape[1]
    pad_s = np.full((rows.size, k + int(counts.max())), -np.inf, dtype=np.float32)
    pad_i = np.full(pad_s.shape, _FAR, dtype=np.int64)
    pad_s[:, :k], pad_i[:, :k] = best_s[rows], best_i[rows]
    pos = k + np.arange(r.size) - (np.cumsum(counts) - counts)[r]
    pad_s[r, pos], pad_i[r, pos] = block[col, query], start + col
    keep = np.lexsort((pad_i, -pad_s), axis=1)[:, :k]  # best first; ties go to the lower row
    best_s[rows], best_i[rows] = np.take_along_axis(pad_s, keep, 1), np.take_along_axis(pad_i, keep, 1)
    thr[rows] = best_s[rows, -1]


def exact_top_k(
    embeddings: np.ndarray, queries: np.ndarray, *, k: int, block_elements: int = _BLOCK_ELEMENTS,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of each query with each row: ``(scores, rows)``, ``b x k``, best first.

    One query is a matrix-vector product over the whole (contiguous) corpus, bounded by memory
    bandwidth; a batch is a GEMM on corpus blocks of ``block_elements / b`` rows, bounded by arithmetic.
    Blocks are ``rows x queries`` (``E_block @ Q.T``): OpenBLAS runs that shape faster than ``Q @ E_block.T``.
    ``allowed`` (a boolean per row) leaves the other rows out; slots no allowed row fills have row
    :data:`NO_ROW` and score ``-inf``.
    """
    n, b = embeddings.shape[0], queries.shape[0]
    k = min(k, n)
    best_s = np.full((b, k), -np.inf, dtype=np.float32)
    best_i = np.full((b, k), _FAR, dtype=np.int64)
    queries_t = np.ascontiguousarray(queries.T)
    rows = max(_SEED_ROWS, block_elements // b)
    for start in range(0, n, rows):  # one BLAS call a block: on a busy machine each call waits for its threads
        stop = min(n, start + rows)
        if b == 1:  # matrix-vector: numpy's GEMM path is slower for a single row
            block = (embeddings[start:stop] @ queries_t[:, 0])[:, None]
        else:
            block = embeddings[start:stop] @ queries_t
        if allowed is not None:
            block[~allowed[start:stop]] = -np.inf
        if start == 0:  # the k-th best of the first rows, less one ulp, lets their top k (and ties) through
            seed = min(block.shape[0], max(k, _SEED_ROWS))
            thr = np.nextafter(np.partition(block[:seed], seed - k, axis=0)[seed - k], np.float32(-np.inf))
        _merge(block, start, best_s, best_i, thr)
    best_i[np.isneginf(best_s)] = NO_ROW
    return best_s, best_i


_popcount = getattr(np, "bitwise_count", None)  # numpy >= 2: one POPCNT an element
_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount_u64(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    if _popcount is not None:
        return _popcount(x, out=out)
    out[:] = _BYTE_BITS[x.view(np.uint8)].reshape(-1, 8).sum(axis=1, dtype=np.uint8)  # numpy 1.x
    return out


def pack_codes(embeddings: np.ndarray, *, chunk: int = _CODE_CHUNK) -> np.ndarray:
    """Sign bits as ``words x n`` uint64 (word-major, so each Hamming pass reads contiguous memory)."""
    n, dim = embeddings.shape
    words = -(-dim // 64)
    out = np.empty((words, n), dtype=np.uint64)
    for start in range(0, n, chunk):
        bits = pack_bits(embeddings[start : start + chunk])  # scoring.pack_bits: value > 0 -> 1
        padded = np.zeros((bits.shape[0], words * 8), dtype=np.uint8)
        padded[:, : bits.shape[1]] = bits
        out[:, start : start + bits.shape[0]] = padded.view(np.uint64).T
    return out


def hamming_candidates(codes: np.ndarray, query_codes: np.ndarray, *, m: int,
                       allowed: np.ndarray | None = None) -> list[np.ndarray]:
    """For each query code (``b x words``), the rows of the ``m`` smallest Hamming distances (ties kept).

    Rows outside ``allowed`` are never candidates.
    """
    words, n = codes.shape
    far = 64 * words + 1  # above any distance
    m = min(m, n if allowed is None else int(allowed.sum()))
    dist = np.empty(n, dtype=np.uint16)
    tmp64, tmp8 = np.empty(_CODE_CHUNK, np.uint64), np.empty(_CODE_CHUNK, np.uint8)
    found = []
    for q in query_codes:
        if m == 0:
            found.append(np.empty(0, dtype=np.int64))
            continue
        for start in range(0, n, _CODE_CHUNK):
            size = min(_CODE_CHUNK, n - start)
            acc, t64, t8 = dist[start : start + size], tmp64[:size], tmp8[:size]
            acc[:] = 0
            for w in range(words):
                np.bitwise_xor(codes[w, start : start + size], q[w], out=t64)
                np.add(acc, _popcount_u64(t64, t8), out=acc)
        if allowed is not None:
            dist[~allowed] = far
        # distances are small integers: a histogram finds the m-th smallest without sorting n values
        cutoff = int(np.searchsorted(np.cumsum(np.bincount(dist, minlength=far + 1)), m))
        found.append(np.flatnonzero(dist <= cutoff))
    return found
