"""The binary backend: 1 bit per dimension (32x smaller than float32), searched by Hamming distance.

The best ``rescore_multiplier * k`` candidates of each query are rescored with their float
embeddings, which can stay on disk (memory-mapped) since only those rows are read. Deleted and
filtered-out rows are never candidates; saving drops deleted rows from the codes (a copy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from siamese_text.search import folder as files
from siamese_text.search.kernels import NO_ROW, exact_top_k, hamming_candidates, pack_codes
from siamese_text.search.local import LocalBackend

__all__ = ["BinaryBackend"]


class BinaryBackend(LocalBackend):
    name: ClassVar[str] = "binary"

    def __init__(self, embeddings: np.ndarray, **kwargs: Any) -> None:
        super().__init__(embeddings, **kwargs)
        self.codes: np.ndarray | None = None

    def build(self) -> None:
        self.codes = pack_codes(self.embeddings)

    def _index_rows(self, new: np.ndarray) -> None:
        codes = pack_codes(new)
        self.codes = codes if self.codes is None else np.concatenate([self.codes, codes], axis=1)

    def _top_k(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        m = k * self.options["rescore_multiplier"]
        query_codes = pack_codes(queries).T.copy()
        scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        rows = np.full((queries.shape[0], k), NO_ROW, dtype=np.int64)
        for i, cand in enumerate(hamming_candidates(self.codes, query_codes, m=m, allowed=allowed)):
            if cand.size == 0:
                continue
            s, r = exact_top_k(self.embeddings[cand], queries[i : i + 1], k=min(k, cand.size))  # sorted rows: sequential reads
            scores[i, : s.shape[1]], rows[i, : r.shape[1]] = s[0], cand[r[0]]
        return scores, rows

    def _write_structure(self, folder: Path, keep: np.ndarray | None) -> None:
        np.save(folder / files.CODES, self.codes if keep is None else np.ascontiguousarray(self.codes[:, keep]),
                allow_pickle=False)

    def _read_structure(self, folder: Path, manifest: dict[str, Any]) -> None:
        count, dim = manifest["count"], manifest["dimension"]
        self.codes = files.load_array(files.check_file(folder, files.CODES, manifest), mmap=False,
                                      shape=(-(-dim // 64), count), dtype=np.uint64)
