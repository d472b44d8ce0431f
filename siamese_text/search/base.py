"""The one protocol every search backend speaks, and the options they share.

:class:`~siamese_text.search.index.SemanticIndex` does the text side (the encoder, the model
check, ids, hits) and hands unit (or raw, ``metric="dot"``) float32 embeddings to a backend:

=========  ==========================================  ====================================  =================
backend    where the vectors live                      delete / upsert                       filter
=========  ==========================================  ====================================  =================
exact      a float32 array in this process             tombstones, dropped when saved        numpy mask
faiss      an HNSW graph (or IVF lists) in memory      tombstones kept (the graph is not     faiss ID selector
                                                       rebuilt), brute force when few rows
binary     1-bit codes + the float array on disk       tombstones, dropped when saved        numpy mask
milvus     Milvus Lite (a folder) or a Milvus server   the engine's own                      Milvus, natively
=========  ==========================================  ====================================  =================
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from siamese_text.search.filters import Filter
from siamese_text.search.records import Hit

__all__ = ["Backend", "BACKENDS", "LOCAL_BACKENDS", "DEFAULT_OPTIONS", "INDEX_METRICS"]

BACKENDS: tuple[str, ...] = ("exact", "faiss", "binary", "milvus")
LOCAL_BACKENDS: tuple[str, ...] = ("exact", "faiss", "binary")
INDEX_METRICS: tuple[str, ...] = ("cosine", "dot")
# Measured in benchmarks/search.py on 1M x 384 (README), idle 2-core machine: HNSW efConstruction 128
# gives recall@10 0.997 at efSearch 128 (0.73 ms a query); efConstruction 40 built faster but
# reached only 0.91 even at efSearch 256. 10 x k binary candidates give recall@10 0.999 on clustered data.
# Milvus takes the same HNSW settings (M, efConstruction, ef).
DEFAULT_OPTIONS: dict[str, int] = {"hnsw_m": 32, "ef_construction": 128, "ef_search": 128, "nlist": 0, "nprobe": 16,
                                   "rescore_multiplier": 10}


@runtime_checkable
class Backend(Protocol):
    """Stores ``(id, text, metadata, embedding)`` records and answers top-k queries on the embeddings.

    Ids are checked by the index before they reach a backend: ``add`` gets new ids only, ``upsert``
    new or existing ones, ``delete`` existing ones.
    """

    name: str
    metric: str
    options: dict[str, int]

    def __len__(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    def add(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any]) -> None: ...

    def upsert(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any]) -> None: ...

    def delete(self, ids: Sequence[Any]) -> None: ...

    def missing(self, ids: Sequence[Any]) -> list[Any]:
        """Those of ``ids`` that are not in the backend."""
        ...

    def all_ids(self) -> list[Any]: ...

    def search(self, queries: np.ndarray, *, k: int, where: Filter | None = None) -> list[list[Hit]]: ...

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the backend's files into ``folder``; returns what the manifest records of it."""
        ...

    def close(self) -> None: ...
