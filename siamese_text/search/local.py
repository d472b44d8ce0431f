"""What the in-process backends (exact, faiss, binary) share: records, tombstones, filters and the folder.

Rows are appended and never moved while the index is open: a delete marks its rows (tombstones),
an upsert marks the old row and appends the new one, so no structure built on row numbers (a faiss
graph, the binary codes) is rebuilt. Saving drops the marked rows where that costs only a copy
(exact, binary); a faiss graph keeps them, masked, since dropping them means rebuilding it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from siamese_text.errors import DataError
from siamese_text.search import folder as files
from siamese_text.search.filters import Columns, Filter
from siamese_text.search.kernels import NO_ROW, exact_top_k
from siamese_text.search.records import Hit

__all__ = ["LocalBackend"]

_MASKS_KEPT = 16  # filter masks cached (the same filter is often asked again)
_GATHER_BELOW = 1 / 8  # a filter keeping fewer rows than this share: search a gathered copy of them


class LocalBackend:
    """Float32 embeddings + records in this process; subclasses add the structure they search."""

    name: ClassVar[str] = "exact"
    compacts: ClassVar[bool] = True  # saving drops deleted rows

    def __init__(self, embeddings: np.ndarray, *, ids: list[Any], texts: list[str], metadata: list[Any],
                 metric: str, options: dict[str, int], deleted: np.ndarray | None = None) -> None:
        self.embeddings, self.ids, self.texts, self.metadata = embeddings, ids, texts, metadata
        self.metric, self.options = metric, options
        self.deleted = deleted if deleted is not None and deleted.any() else None
        self._row: dict[Any, int] | None = None
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()
        self._columns: Columns | None = None

    # ---- structure hooks ----------------------------------------------------------------------

    def _index_rows(self, new: np.ndarray) -> None:
        """Add the structure of rows appended at the end (``new`` are their embeddings)."""

    def _top_k(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        return exact_top_k(self.embeddings, queries, k=k, allowed=allowed)

    def _write_structure(self, folder: Path, keep: np.ndarray | None) -> None:
        """Write the structure's files for the rows in ``keep`` (None: all)."""

    def _read_structure(self, folder: Path, manifest: dict[str, Any]) -> None:
        """Read the structure's files back."""

    # ---- size and ids ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids) - (0 if self.deleted is None else int(self.deleted.sum()))

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def rows(self) -> int:
        """Rows held, deleted ones included."""
        return len(self.ids)

    def live(self, values: list[Any]) -> list[Any]:
        """``values`` (one per row) without the deleted rows."""
        if self.deleted is None:
            return values
        return [v for v, gone in zip(values, self.deleted) if not gone]

    def _rows_of(self) -> dict[Any, int]:
        if self._row is None:
            self._row = {i: row for row, i in enumerate(self.ids) if self.deleted is None or not self.deleted[row]}
        return self._row

    def all_ids(self) -> list[Any]:
        return self.live(self.ids)

    def missing(self, ids: Sequence[Any]) -> list[Any]:
        rows = self._rows_of()
        return [i for i in ids if i not in rows]

    # ---- changes ----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._masks.clear()
        self._columns = None

    def add(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any]) -> None:
        start = self.rows
        self._index_rows(embeddings)
        self.embeddings = np.concatenate([self.embeddings, embeddings])
        self.ids, self.texts, self.metadata = self.ids + list(ids), self.texts + list(texts), self.metadata + list(metadata)
        if self.deleted is not None:
            self.deleted = np.concatenate([self.deleted, np.zeros(len(ids), dtype=bool)])
        if self._row is not None:
            self._row.update((i, start + n) for n, i in enumerate(ids))
        self._changed()

    def delete(self, ids: Sequence[Any]) -> None:
        rows = self._rows_of()
        if self.deleted is None:
            self.deleted = np.zeros(self.rows, dtype=bool)
        for i in ids:
            self.deleted[rows.pop(i)] = True
        self._changed()

    def upsert(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any]) -> None:
        old = [i for i in ids if i in self._rows_of()]
        if old:
            self.delete(old)
        self.add(embeddings, ids, texts, metadata)

    # ---- search -----------------------------------------------------------------------------------

    def columns(self) -> Columns:
        if self._columns is None:
            def values(field: str) -> list[Any]:
                if field == "id":
                    return self.ids
                return [None if m is None else m.get(field) for m in self.metadata]

            self._columns = Columns(values, self.rows)
        return self._columns

    def allowed(self, where: Filter | None) -> np.ndarray | None:
        """Rows a search may return: those ``where`` keeps, less the deleted ones (None: every row)."""
        if where is None:
            return None if self.deleted is None else ~self.deleted
        mask = self._masks.get(where.expression)
        if mask is None:
            mask = where.mask(self.columns())
            if self.deleted is not None:
                mask &= ~self.deleted
            self._masks[where.expression] = mask
            while len(self._masks) > _MASKS_KEPT:
                self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(where.expression)
        return mask

    def top_k(self, queries: np.ndarray, *, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)``, ``b x k``, best first; rows outside ``allowed`` never come back (row -1: no hit)."""
        if allowed is not None:
            count = int(allowed.sum())
            if count == 0:
                return (np.full((queries.shape[0], k), -np.inf, dtype=np.float32),
                        np.full((queries.shape[0], k), NO_ROW, dtype=np.int64))
            if count < _GATHER_BELOW * self.rows:  # few rows: an exact search of just them is cheaper
                keep = np.flatnonzero(allowed)
                scores, found = exact_top_k(np.ascontiguousarray(self.embeddings[keep]), queries, k=min(k, count))
                rows = np.where(found >= 0, keep[np.maximum(found, 0)], NO_ROW)
                return _pad(scores, rows, k)
        return _pad(*self._top_k(queries, min(k, self.rows), allowed), k)

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[Hit]:
        return [Hit(rank=rank, id=self.ids[row], text=self.texts[row], score=float(score), metadata=self.metadata[row])
                for rank, (score, row) in enumerate(((s, r) for s, r in zip(scores, rows) if r >= 0), start=1)]

    def search(self, queries: np.ndarray, *, k: int, where: Filter | None = None) -> list[list[Hit]]:
        scores, rows = self.top_k(queries, k=k, allowed=self.allowed(where))
        return [self.hits(s, r) for s, r in zip(scores, rows)]

    # ---- storage ----------------------------------------------------------------------------------

    def save(self, folder: Path) -> dict[str, Any]:
        keep = None if self.deleted is None or not self.compacts else ~self.deleted
        rows = self.rows if keep is None else int(keep.sum())
        writer = files.NpyWriter(folder / files.EMBEDDINGS, rows=rows, columns=self.dimension)
        for start in range(0, self.rows, 1 << 16):
            block = self.embeddings[start : start + (1 << 16)]
            writer.append(block if keep is None else block[keep[start : start + (1 << 16)]])
        writer.close()
        records = files.RecordsWriter(folder / files.RECORDS, id_kind=type(self.ids[0]) if self.ids else int)
        kept = range(self.rows) if keep is None else np.flatnonzero(keep)
        records.append([self.ids[r] for r in kept], [self.texts[r] for r in kept], [self.metadata[r] for r in kept])
        records.close()
        self._write_structure(folder, keep)
        if self.deleted is not None and not self.compacts:
            np.save(folder / files.DELETED, self.deleted, allow_pickle=False)
        return {"count": rows, "deleted": 0 if self.deleted is None or keep is not None else int(self.deleted.sum())}

    @classmethod
    def load(cls, folder: Path, manifest: dict[str, Any], *, mmap: bool) -> LocalBackend:
        count, dim = manifest["count"], manifest["dimension"]
        embeddings = files.load_array(files.check_file(folder, files.EMBEDDINGS, manifest), mmap=mmap, shape=(count, dim),
                                      dtype=np.float32)
        deleted = None
        if (folder / files.DELETED).exists():
            deleted = files.load_array(files.check_file(folder, files.DELETED, manifest), mmap=False, shape=(count,),
                                       dtype=np.bool_)
        ids, texts, metadata = files.read_records(files.check_file(folder, files.RECORDS, manifest), count=count,
                                                  deleted=deleted)
        from siamese_text.search.base import DEFAULT_OPTIONS

        options = {**DEFAULT_OPTIONS, **{k: v for k, v in manifest.get("options", {}).items() if k in DEFAULT_OPTIONS}}
        backend = cls(embeddings, ids=ids, texts=texts, metadata=metadata, metric=manifest["metric"], options=options,
                      deleted=None if deleted is None else np.array(deleted))
        backend._read_structure(folder, manifest)
        return backend

    def close(self) -> None:
        """Nothing to release: the arrays go with the object."""


def _pad(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.shape[1] >= k:
        return scores, rows
    extra = k - scores.shape[1]
    return (np.pad(scores, ((0, 0), (0, extra)), constant_values=-np.inf),
            np.pad(rows, ((0, 0), (0, extra)), constant_values=NO_ROW))


def check_missing(backend: Any, ids: Sequence[Any], *, what: str = "delete") -> None:
    """Refuse ids that are not in the index, naming the first (and how many), before anything changes."""
    gone = backend.missing(ids)
    if gone:
        more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
        raise DataError(f"cannot {what} id {gone[0]!r}{more}: not in this index; nothing was changed")
