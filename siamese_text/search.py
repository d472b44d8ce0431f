"""Semantic search over an embedded corpus: an index that needs no server, saved without pickle.

:class:`SemanticIndex` holds unit (or raw, ``metric="dot"``) float32 embeddings with their ids,
texts and metadata, and answers top-k queries with one of three backends:

* ``exact`` (default): a chunked matrix product over every row; exact, no extra dependency;
* ``faiss``: an HNSW graph or IVF lists from faiss (``pip install 'siamese-text[faiss]'``);
* ``binary``: 1 bit per dimension (32x smaller than float32), searched by Hamming distance, then
  the best ``rescore_multiplier * k`` candidates are rescored with their float embeddings.

Scores are similarities (higher = more similar): the inner product, which is the cosine for
``metric="cosine"`` (embeddings and queries are L2-normalised). A saved index is a folder:
``manifest.json`` (model, dimension, metric, backend, count, file sizes), ``embeddings.npy``,
``records.parquet`` (id, text, metadata as JSON), and ``codes.npy`` or ``faiss.index``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siamese_text.errors import ConfigError, DataError, ModelError
from siamese_text.scoring import pack_bits
from siamese_text.storage import atomic_dir

if TYPE_CHECKING:
    from siamese_text.encoder import SiameseEncoder

__all__ = ["Hit", "SemanticIndex", "search_texts", "check_records", "check_backend", "exact_top_k", "pack_codes",
           "hamming_candidates", "BACKENDS"]

BACKENDS: tuple[str, ...] = ("exact", "faiss", "binary")
FAISS_KINDS: tuple[str, ...] = ("hnsw", "ivf")
INDEX_METRICS: tuple[str, ...] = ("cosine", "dot")
FORMAT, FORMAT_VERSION = "siamese-text-index", 1
MANIFEST, EMBEDDINGS, RECORDS, CODES, FAISS_FILE = (
    "manifest.json", "embeddings.npy", "records.parquet", "codes.npy", "faiss.index"
)
FAISS_INSTALL = "pip install 'siamese-text[faiss]'"
# Embedded at build and again at load: a model folder retrained in place keeps its name but not this.
PROBE_TEXT = "siamese_text index probe: how do I reset the password of my account?"
# Measured in benchmarks/search.py on 1M x 384 (README), idle 2-core machine: HNSW efConstruction 128
# gives recall@10 0.997 at efSearch 128 (0.73 ms a query); efConstruction 40 built faster but
# reached only 0.91 even at efSearch 256. 10 x k binary candidates give recall@10 0.999 on clustered data.
DEFAULT_OPTIONS: dict[str, int] = {"hnsw_m": 32, "ef_construction": 128, "ef_search": 128, "nlist": 0, "nprobe": 16,
                                   "rescore_multiplier": 10}
_BLOCK_ELEMENTS = 1 << 21  # scores per block (8 MiB, stays in cache): measured fastest of 2^19..2^23 on 1M x 384, b=100
_SEED_ROWS = 4096  # rows whose top-k seeds the running threshold
_CODE_CHUNK = 1 << 16  # corpus rows per Hamming pass: the uint64 temporaries stay in cache


# ---- kernels ----------------------------------------------------------------------------------
# numpy's argpartition over a whole b x n score matrix costs as much as the matrix product itself
# (~13 ns an element), so the kernels keep a running k-th best score per query and only look at the
# few scores above it (one vectorised comparison an element).


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
    pad_i = np.full(pad_s.shape, np.iinfo(np.int64).max, dtype=np.int64)
    pad_s[:, :k], pad_i[:, :k] = best_s[rows], best_i[rows]
    pos = k + np.arange(r.size) - (np.cumsum(counts) - counts)[r]
    pad_s[r, pos], pad_i[r, pos] = block[col, query], start + col
    keep = np.lexsort((pad_i, -pad_s), axis=1)[:, :k]  # best first; ties go to the lower row
    best_s[rows], best_i[rows] = np.take_along_axis(pad_s, keep, 1), np.take_along_axis(pad_i, keep, 1)
    thr[rows] = best_s[rows, -1]


def exact_top_k(
    embeddings: np.ndarray, queries: np.ndarray, *, k: int, block_elements: int = _BLOCK_ELEMENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of each query with each row: ``(scores, indices)``, ``b x k``, best first.

    One query is a matrix-vector product over the whole (contiguous) corpus, bounded by memory
    bandwidth; a batch is a GEMM on corpus blocks of ``block_elements / b`` rows, bounded by arithmetic.
    Blocks are ``rows x queries`` (``E_block @ Q.T``): OpenBLAS runs that shape faster than ``Q @ E_block.T``.
    """
    n, b = embeddings.shape[0], queries.shape[0]
    k = min(k, n)
    best_s = np.full((b, k), -np.inf, dtype=np.float32)
    best_i = np.full((b, k), np.iinfo(np.int64).max, dtype=np.int64)
    queries_t = np.ascontiguousarray(queries.T)
    rows = max(_SEED_ROWS, block_elements // b)
    for start in range(0, n, rows):  # one BLAS call a block: on a busy machine each call waits for its threads
        stop = min(n, start + rows)
        if b == 1:  # matrix-vector: numpy's GEMM path is slower for a single row
            block = (embeddings[start:stop] @ queries_t[:, 0])[:, None]
        else:
            block = embeddings[start:stop] @ queries_t
        if start == 0:  # the k-th best of the first rows, less one ulp, lets their top k (and ties) through
            seed = min(block.shape[0], max(k, _SEED_ROWS))
            thr = np.nextafter(np.partition(block[:seed], seed - k, axis=0)[seed - k], np.float32(-np.inf))
        _merge(block, start, best_s, best_i, thr)
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


def hamming_candidates(codes: np.ndarray, query_codes: np.ndarray, *, m: int) -> list[np.ndarray]:
    """For each query code (``b x words``), the rows of the ``m`` smallest Hamming distances (ties kept)."""
    words, n = codes.shape
    m = min(m, n)
    dist = np.empty(n, dtype=np.uint16)
    tmp64, tmp8 = np.empty(_CODE_CHUNK, np.uint64), np.empty(_CODE_CHUNK, np.uint8)
    found = []
    for q in query_codes:
        for start in range(0, n, _CODE_CHUNK):
            size = min(_CODE_CHUNK, n - start)
            acc, t64, t8 = dist[start : start + size], tmp64[:size], tmp8[:size]
            acc[:] = 0
            for w in range(words):
                np.bitwise_xor(codes[w, start : start + size], q[w], out=t64)
                np.add(acc, _popcount_u64(t64, t8), out=acc)
        # distances are small integers: a histogram finds the m-th smallest without sorting n values
        cutoff = int(np.searchsorted(np.cumsum(np.bincount(dist, minlength=64 * words + 1)), m))
        found.append(np.flatnonzero(dist <= cutoff))
    return found


# ---- the index --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is a similarity (higher = more similar), ``rank`` starts at 1."""

    rank: int
    id: str | int
    text: str
    score: float
    metadata: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_records(texts: Sequence[str], ids: Sequence[Any] | None = None, metadata: Sequence[Any] | None = None,
                  *, existing: Sequence[Any] = (), where: str = "corpus", id_name: str = "id",
                  text_name: str = "text") -> tuple[list[str], list[Any], list[Any]]:
    """Validated ``(texts, ids, metadata)``; default ids are row numbers, continuing ``existing`` ones.

    ``where``/``id_name``/``text_name`` name the file and columns in messages, so the CLI can check a
    corpus before it loads a model.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise DataError(f"{where} is empty; give at least one text to index")
    for row, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            what = "missing" if text is None else "empty" if isinstance(text, str) else f"not text ({text!r})"
            raise DataError(f"{where} row {row}: {text_name} is {what}; remove or fill that row")
    if ids is None:
        if existing and not isinstance(existing[0], int):
            raise DataError(f"this index has text ids; give an id for every text of {where} (--id-column)")
        start = max(existing) + 1 if existing else 0
        ids = list(range(start, start + len(texts)))
    ids = [int(i) if isinstance(i, np.integer) else i for i in ids]
    if len(ids) != len(texts):
        raise DataError(f"{where}: {len(ids)} ids for {len(texts)} texts; give one id per text")
    kind = type(existing[0] if existing else ids[0])
    for row, i in enumerate(ids):
        if i is None or (isinstance(i, str) and not i.strip()):
            raise DataError(f"{where} row {row}: {id_name} is missing; give every text an id")
        if kind not in (int, str):
            raise DataError(f"{where} row {row}: {id_name} {i!r} is a {kind.__name__}; ids must be integers or text")
        if type(i) is not kind:
            raise DataError(f"{where} row {row}: {id_name} {i!r} is not {'an int' if kind is int else 'text'} like "
                            "the other ids; ids must be all integers or all text")
    seen = {i: -1 - row for row, i in enumerate(existing)}  # negative: a row already in the index
    for row, i in enumerate(ids):
        if i in seen:
            other = f"row {seen[i]}" if seen[i] >= 0 else f"row {-1 - seen[i]} of the index"
            raise DataError(f"{where} row {row}: duplicate {id_name} {i!r} (also at {other}); ids must be unique")
        seen[i] = row
    metadata = [None] * len(texts) if metadata is None else list(metadata)
    if len(metadata) != len(texts):
        raise DataError(f"{where}: {len(metadata)} metadata entries for {len(texts)} texts; give one per text")
    for row, meta in enumerate(metadata):
        if meta is not None and not isinstance(meta, dict):
            raise DataError(f"{where} row {row}: metadata must be a dict or None, got {type(meta).__name__}")
    return texts, ids, metadata


def _as_embeddings(x: Any, *, metric: str, what: str, chunk: int = _CODE_CHUNK) -> np.ndarray:
    """Contiguous float32, L2-normalised for cosine, checked finite, in chunks so the peak is one copy.

    An array that already is all that (as encoders return) is used as it is, like ``np.asarray``:
    a 1.5 GB corpus is not copied.
    """
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    x = x[None, :] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{what} must be a non-empty 2-D float array, got shape {x.shape} ({x.dtype})")
    if x.dtype == np.float32 and x.flags.c_contiguous and all(
        np.isfinite(part).all() and (metric != "cosine" or np.allclose(np.linalg.norm(part, axis=1), 1.0, atol=1e-4))
        for part in (x[start : start + chunk] for start in range(0, x.shape[0], chunk))
    ):
        return x
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, x.shape[0], chunk):
        part = out[start : start + chunk]
        part[:] = x[start : start + chunk]
        if not np.isfinite(part).all():
            raise DataError(f"{what} row {start + int(np.flatnonzero(~np.isfinite(part).all(1))[0])} is not finite; "
                            "fix or drop that row")
        if metric == "cosine":
            part /= np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
    return out


def _model_name(name: str) -> str:
    """A Hub id as it is; a local folder as its absolute path, so the manifest names it from anywhere."""
    return str(Path(name).resolve()) if Path(name).exists() else name


class SemanticIndex:
    """Embeddings + ids + texts + metadata of a corpus, searchable by text or by embedding."""

    def __init__(self, embeddings: np.ndarray, *, texts: Sequence[str], ids: Sequence[Any] | None = None,
                 metadata: Sequence[Any] | None = None, model: str = "unknown", backend: str = "exact",
                 metric: str = "cosine", encoder: SiameseEncoder | None = None,
                 options: dict[str, int] | None = None, probe: list[float] | None = None) -> None:
        check_backend(backend)
        if metric not in INDEX_METRICS:
            raise ConfigError(f"metric {metric!r} is not one of {', '.join(INDEX_METRICS)}")
        unknown = set(options or {}) - set(DEFAULT_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown index option(s) {', '.join(sorted(unknown))}; known: {', '.join(DEFAULT_OPTIONS)}")
        self.texts, self.ids = list(texts), list(ids) if ids is not None else list(range(len(texts)))
        self.metadata = list(metadata) if metadata is not None else [None] * len(self.texts)
        self.embeddings = embeddings  # float32, C-contiguous, normalised for cosine: from_embeddings/load check
        if self.embeddings.shape[0] != len(self.texts):
            raise DataError(f"{self.embeddings.shape[0]} embeddings for {len(self.texts)} texts; give one per text")
        self.model, self.backend, self.metric = model, backend, metric
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        self.probe = probe
        self._encoder = encoder
        self._faiss: Any = None
        self._codes: np.ndarray | None = None

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def build(cls, encoder: SiameseEncoder, texts: Sequence[str], ids: Sequence[Any] | None = None,
              metadata: Sequence[Any] | None = None, *, backend: str = "exact", metric: str = "cosine",
              batch_size: int = 64, show_progress: bool = False, **options: int) -> SemanticIndex:
        """Embed ``texts`` with ``encoder`` and index them (``options``: see ``DEFAULT_OPTIONS``)."""
        texts, ids, metadata = check_records(texts, ids, metadata)
        check_backend(backend)
        embeddings = encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
        probe = encoder.encode(PROBE_TEXT).tolist()
        return cls.from_embeddings(embeddings, texts=texts, ids=ids, metadata=metadata, model=_model_name(encoder.name_or_path),
                                   backend=backend, metric=metric, encoder=encoder, probe=probe, **options)

    @classmethod
    def from_embeddings(cls, embeddings: Any, *, texts: Sequence[str], ids: Sequence[Any] | None = None,
                        metadata: Sequence[Any] | None = None, model: str = "unknown", backend: str = "exact",
                        metric: str = "cosine", encoder: SiameseEncoder | None = None,
                        probe: list[float] | None = None, **options: int) -> SemanticIndex:
        """Index embeddings made elsewhere (one row per text); text queries need an ``encoder``."""
        texts, ids, metadata = check_records(texts, ids, metadata)
        embeddings = _as_embeddings(embeddings, metric=metric, what="embeddings")
        index = cls(embeddings, texts=texts, ids=ids, metadata=metadata, model=model, backend=backend,
                    metric=metric, encoder=encoder, options=options, probe=probe)
        index._build_backend(index.embeddings)
        return index

    def _build_backend(self, new: np.ndarray) -> None:
        if self.backend == "binary":
            codes = pack_codes(new)
            self._codes = codes if self._codes is None else np.concatenate([self._codes, codes], axis=1)
        elif self.backend == "faiss":
            if self._faiss is None:
                self._faiss = _new_faiss(new, self.options)
            self._faiss.add(np.ascontiguousarray(new))

    def add(self, texts: Sequence[str], ids: Sequence[Any] | None = None, metadata: Sequence[Any] | None = None,
            *, embeddings: Any = None, batch_size: int = 64, show_progress: bool = False) -> None:
        """Append texts (embedded with the index's encoder unless ``embeddings`` are given)."""
        texts, ids, metadata = check_records(texts, ids, metadata, existing=self.ids)
        if embeddings is None:
            embeddings = self.encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
        new = _as_embeddings(embeddings, metric=self.metric, what="embeddings")
        if new.shape != (len(texts), self.dimension):
            raise DataError(f"new embeddings have shape {new.shape}, expected ({len(texts)}, {self.dimension})")
        self._build_backend(new)
        self.embeddings = np.concatenate([self.embeddings, new])
        self.texts += texts
        self.ids += ids
        self.metadata += metadata

    # ---- properties -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def encoder(self) -> SiameseEncoder:
        """The encoder for text queries; loaded from the manifest's model on first use."""
        if self._encoder is None:
            if self.model == "unknown":
                raise ModelError("this index was built from embeddings without a model; search it with search_embeddings() "
                                 "or load it with model=PATH (--model PATH in the CLI)")
            self._encoder = self._checked(self.load_model(), where="this index")
        return self._encoder

    def load_model(self, **kwargs: Any) -> SiameseEncoder:
        """The model the index records, loaded with ``SiameseEncoder.load(model, **kwargs)`` (e.g. ``backend="onnx"``);
        if it cannot be loaded, the error says how to give the model's new place."""
        from siamese_text.encoder import SiameseEncoder

        try:
            return SiameseEncoder.load(self.model, **kwargs)
        except ModelError as exc:
            reason = (str(exc.__cause__ or "").strip() or str(exc)).splitlines()[0]
            raise ModelError(f"cannot load this index's model {self.model!r} ({reason}); if the model moved, pass "
                             "where it is now: --model PATH (model=PATH in SemanticIndex.load)") from exc

    def _checked(self, encoder: SiameseEncoder, *, where: str, by_name: bool = True) -> SiameseEncoder:
        """``encoder`` if it is the index's model: same name (unless ``by_name`` is false), dimension and probe embedding."""
        given = _model_name(encoder.name_or_path)
        if by_name and self.model != "unknown" and _model_name(self.model) != given:
            raise ModelError(f"{where} was built with model {self.model!r} but is loaded with {given!r}; "
                             f"use {self.model!r} or rebuild the index with the new model")
        if encoder.dimension != self.dimension:
            raise ModelError(f"model {given!r} makes {encoder.dimension}-d embeddings but {where} holds "
                             f"{self.dimension}-d ones; use {self.model!r}")
        if self.probe is not None:
            probe = np.asarray(encoder.encode(PROBE_TEXT), dtype=np.float64)
            ref = np.asarray(self.probe, dtype=np.float64)
            cos = probe @ ref / max(np.linalg.norm(probe) * np.linalg.norm(ref), 1e-12)
            if cos < 0.999:
                raise ModelError(f"model {given!r} no longer embeds text as when {where} was built (was it retrained?); "
                                 "rebuild the index" if by_name else
                                 f"model {given!r} does not embed text as {self.model!r} did when {where} was built; "
                                 "pass that model or rebuild the index")
        return encoder

    def use_encoder(self, encoder: SiameseEncoder, *, moved: bool = False) -> SemanticIndex:
        """Embed queries with ``encoder`` (e.g. the index's model run through ONNX), checked as in :meth:`load`.

        ``moved``: ``encoder`` is the index's model loaded from another place (its folder moved), so it is
        checked by embedding dimension and probe embedding but not by name; the next :meth:`save` records it.
        """
        self._encoder = self._checked(encoder, where="this index", by_name=not moved)
        if moved:
            self.model = _model_name(encoder.name_or_path)
        return self

    def __repr__(self) -> str:
        return f"SemanticIndex({len(self):,} x {self.dimension}, backend={self.backend!r}, model={self.model!r})"

    # ---- search ---------------------------------------------------------------------------

    def search_embeddings(self, queries: Any, *, top_k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``top_k`` rows for each query embedding: ``(scores, rows)``, best first; row -1 = no hit."""
        _check_top_k(top_k)
        q = _as_embeddings(queries, metric=self.metric, what="query embeddings")
        if q.shape[1] != self.dimension:
            raise DataError(f"queries have {q.shape[1]} dimensions but the index has {self.dimension}")
        k = min(top_k, len(self))
        if self.backend == "faiss":
            if hasattr(self._faiss, "hnsw"):
                self._faiss.hnsw.efSearch = max(self.options["ef_search"], k)
            else:
                self._faiss.nprobe = self.options["nprobe"]
            scores, rows = self._faiss.search(q, k)
            return scores.astype(np.float32), rows.astype(np.int64)
        if self.backend == "binary":
            return self._rescore(q, k)
        return exact_top_k(self.embeddings, q, k=k)

    def _rescore(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m = k * self.options["rescore_multiplier"]
        query_codes = pack_codes(q).T.copy()
        scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        rows = np.full((q.shape[0], k), -1, dtype=np.int64)
        for i, cand in enumerate(hamming_candidates(self._codes, query_codes, m=m)):
            s, r = exact_top_k(self.embeddings[cand], q[i : i + 1], k=k)  # sorted rows: sequential reads
            scores[i], rows[i] = s[0], cand[r[0]]
        return scores, rows

    def search(self, queries: str | Sequence[str], *, top_k: int = 10, batch_size: int = 64) -> list:
        """Hits for each query, best first: ``list[Hit]`` for one string, ``list[list[Hit]]`` for a list."""
        _check_top_k(top_k)
        single = isinstance(queries, str)
        queries = [queries] if single else list(queries)
        if not queries or not all(isinstance(q, str) and q.strip() for q in queries):
            raise DataError("give at least one non-empty query text")
        scores, rows = self.search_embeddings(self.encoder.encode(queries, batch_size=batch_size), top_k=top_k)
        hits = [self.hits(s, r) for s, r in zip(scores, rows)]
        return hits[0] if single else hits

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[Hit]:
        """Turn one query's ``(scores, rows)`` into :class:`Hit` records."""
        return [Hit(rank=rank, id=self.ids[row], text=self.texts[row], score=float(score), metadata=self.metadata[row])
                for rank, (score, row) in enumerate(((s, r) for s, r in zip(scores, rows) if r >= 0), start=1)]

    # ---- storage --------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the index folder atomically; refuses an existing non-empty folder unless ``overwrite``."""
        with atomic_dir(folder, overwrite=overwrite, flag="folder", keep=(self.model,),  # the index needs its model
                        overwrite_hint="overwrite=True (--overwrite in the CLI)") as tmp:
            _write_index(self, tmp)
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, encoder: SiameseEncoder | None = None,
             model: str | os.PathLike | None = None, mmap: bool | None = None) -> SemanticIndex:
        """Read a saved index; ``encoder`` must be the model it was built with (checked).

        ``model`` (a folder or Hub id) replaces the model the manifest records, e.g. when that folder
        moved: it is loaded now and checked as in :meth:`use_encoder` with ``moved=True``. ``mmap``
        (default: on for binary and faiss) leaves the float embeddings on disk, paged in as rescoring
        touches them, so a binary index costs RAM for its codes only.
        """
        if encoder is not None and model is not None:
            raise ConfigError("give encoder or model, not both: model loads the encoder from that folder or Hub id")
        index = _read_index(cls, Path(folder), mmap=mmap)
        if encoder is not None:
            index._encoder = index._checked(encoder, where=f"index {folder}")
        if model is not None:
            from siamese_text.encoder import SiameseEncoder

            index.use_encoder(SiameseEncoder.load(model), moved=True)
        return index


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
        raise ConfigError(f"-k/--top-k must be a whole number of at least 1, got {top_k!r}")


def check_backend(backend: str) -> None:
    """Refuse an unknown backend, or faiss when it is not installed, before any text is embedded."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "faiss":
        _import_faiss()


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ConfigError(f"--backend faiss needs the faiss library; install it with {FAISS_INSTALL}") from None
    return faiss


def _new_faiss(sample: np.ndarray, options: dict[str, int]) -> Any:
    faiss = _import_faiss()
    dim = sample.shape[1]
    if options["nlist"] > 0:  # IVF: k-means lists trained on the first batch of embeddings
        if sample.shape[0] < options["nlist"]:
            raise DataError(f"IVF with nlist={options['nlist']} needs at least that many texts to train on, "
                            f"got {sample.shape[0]}; use a smaller nlist or HNSW (nlist=0)")
        index = faiss.index_factory(dim, f"IVF{options['nlist']},Flat", faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(sample))
        return index
    index = faiss.IndexHNSWFlat(dim, options["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = options["ef_construction"]
    return index


def search_texts(encoder: SiameseEncoder, queries: str | Sequence[str], corpus: Sequence[str],
                 *, top_k: int = 10) -> list:
    """Quick in-memory exact search (what :meth:`SiameseEncoder.search` calls); hit ids are corpus positions."""
    return SemanticIndex.build(encoder, corpus).search(queries, top_k=top_k)


# ---- storage: numpy .npy, parquet and JSON only (np.load with allow_pickle=False) ----------------


def _write_index(index: SemanticIndex, folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from siamese_text import __version__

    np.save(folder / EMBEDDINGS, index.embeddings, allow_pickle=False)
    metadata = [None if m is None else json.dumps(m, ensure_ascii=False, default=str) for m in index.metadata]
    pq.write_table(pa.table({"id": index.ids, "text": index.texts, "metadata": pa.array(metadata, pa.string())}),
                   folder / RECORDS)
    if index.backend == "binary":
        np.save(folder / CODES, index._codes, allow_pickle=False)
    elif index.backend == "faiss":
        _import_faiss().write_index(index._faiss, str(folder / FAISS_FILE))
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": index.model, "dimension": index.dimension,
        "normalized": index.metric == "cosine", "metric": index.metric, "backend": index.backend,
        "count": len(index), "dtype": "float32", "options": index.options,
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir())},
        "siamese_text_version": __version__, "probe": index.probe,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DataError(f"index folder {folder} does not exist; build one with 'siamtext index build'")
    if not path.is_file():
        raise DataError(f"{path} is missing, so {folder} is not a complete index; rebuild it with 'siamtext index build'")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); rebuild the index") from None
    expected = {"format": str, "model": str, "dimension": int, "metric": str, "backend": str, "count": int,
                "files": dict}
    for key, kind in expected.items():
        value = manifest.get(key) if isinstance(manifest, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DataError(f"{path} has no valid {key!r}; it is not a siamese_text index manifest, rebuild the index")
    # Optional keys: checked here, or a hand-edited manifest fails later with a Python error or, for the
    # probe, silently switches off the check that a model embeds as the index's did.
    sizes, options, probe = manifest["files"], manifest.get("options", {}), manifest.get("probe")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in sizes.values()):
        raise DataError(f"{path} has no valid 'files' (file sizes in bytes); rebuild the index")
    if not isinstance(options, dict):
        raise DataError(f"{path} has no valid 'options' (an object); rebuild the index")
    if probe is not None and not (isinstance(probe, list) and len(probe) == manifest["dimension"]
                                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in probe)):
        raise DataError(f"{path} has no valid 'probe' ({manifest['dimension']} finite numbers); rebuild the index")
    if manifest["format"] != FORMAT or manifest["backend"] not in BACKENDS or manifest["metric"] not in INDEX_METRICS:
        raise DataError(f"{path} is not a {FORMAT} manifest this version reads "
                        f"(backend {manifest['backend']!r}, metric {manifest['metric']!r}); rebuild the index")
    return manifest


def _check_file(folder: Path, name: str, manifest: dict[str, Any]) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataError(f"{path} is missing; the index is incomplete, rebuild it")
    size, expected = path.stat().st_size, manifest["files"].get(name)
    if expected is not None and size != expected:
        raise DataError(f"{path} has {size:,} bytes but the manifest says {expected:,} (truncated or replaced); "
                        "rebuild the index")
    return path


def _load_array(path: Path, *, mmap: bool, shape: tuple[int, int], dtype: Any) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0]}); rebuild the index") from None
    if array.shape != shape or array.dtype != dtype:
        raise DataError(f"{path} holds {' x '.join(map(str, array.shape))} {array.dtype} but the manifest says "
                        f"{' x '.join(map(str, shape))} {np.dtype(dtype)}: the manifest does not match the data, "
                        "rebuild the index")
    return array


def _read_index(cls: type[SemanticIndex], folder: Path, *, mmap: bool | None) -> SemanticIndex:
    import pyarrow.parquet as pq

    manifest = _read_manifest(folder)
    count, dim, backend = manifest["count"], manifest["dimension"], manifest["backend"]
    mmap = backend != "exact" if mmap is None else mmap
    embeddings = _load_array(_check_file(folder, EMBEDDINGS, manifest), mmap=mmap, shape=(count, dim),
                             dtype=np.float32)
    path = _check_file(folder, RECORDS, manifest)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any parquet error: one line naming the file
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0]}); rebuild the index") from None
    if table.num_rows != count or not {"id", "text", "metadata"} <= set(table.column_names):
        raise DataError(f"{path} has {table.num_rows} rows (columns {', '.join(table.column_names)}) but the manifest "
                        f"says {count} rows of id, text, metadata: the manifest does not match the data, rebuild the index")
    try:
        metadata = [None if m is None else json.loads(m) for m in table.column("metadata").to_pylist()]
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path} holds metadata that is not JSON ({exc}); rebuild the index") from None
    ids = table.column("id").to_pylist()
    if len(set(map(repr, ids))) != len(ids):
        raise DataError(f"{path} holds the same id twice; rebuild the index")
    index = cls(embeddings, texts=table.column("text").to_pylist(), ids=ids,
                metadata=metadata, model=manifest["model"], backend=backend, metric=manifest["metric"],
                options={k: v for k, v in manifest.get("options", {}).items() if k in DEFAULT_OPTIONS},
                probe=manifest.get("probe"))
    if backend == "binary":
        index._codes = _load_array(_check_file(folder, CODES, manifest), mmap=False, shape=(-(-dim // 64), count),
                                   dtype=np.uint64)
    elif backend == "faiss":
        path = _check_file(folder, FAISS_FILE, manifest)
        faiss = _import_faiss()
        try:
            index._faiss = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise DataError(f"cannot read {path} ({str(exc).strip().splitlines()[0][:200]}); rebuild the index") from None
        if index._faiss.ntotal != count or index._faiss.d != dim:
            raise DataError(f"{path} holds {index._faiss.ntotal} x {index._faiss.d} but the manifest says {count} x {dim}: "
                            "the manifest does not match the data, rebuild the index")
    return index
