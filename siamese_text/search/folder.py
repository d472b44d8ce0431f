"""The index folder on disk: a JSON manifest, numpy ``.npy`` arrays and parquet records; nothing pickled.

* ``manifest.json``: model, dimension, metric, backend, count, options, file sizes, the probe embedding
  (and for Milvus the URI without secrets and the collection);
* ``embeddings.npy`` (float32 ``count x dimension``), ``records.parquet`` (id, text, metadata as JSON),
  and ``codes.npy`` (binary), ``faiss.index`` (+ ``deleted.npy``: rows deleted since the graph was built).

Arrays are written in chunks through plain file writes (:class:`NpyWriter`) and read back in chunks
(:func:`iter_npy`), not through memory maps: a mapped file counts in the process's resident memory,
and a streamed build of 1M texts must not hold its 1.5 GB of embeddings.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import DataError

__all__ = ["MANIFEST", "EMBEDDINGS", "RECORDS", "CODES", "FAISS_FILE", "DELETED", "FORMAT", "FORMAT_VERSION",
           "NpyWriter", "RecordsWriter", "iter_npy", "read_manifest", "write_manifest", "check_file", "load_array",
           "read_records", "iter_record_batches", "read_ids"]

MANIFEST, EMBEDDINGS, RECORDS, CODES, FAISS_FILE, DELETED = (
    "manifest.json", "embeddings.npy", "records.parquet", "codes.npy", "faiss.index", "deleted.npy"
)
FORMAT, FORMAT_VERSION = "siamese-text-index", 2  # 2: Milvus manifests and deleted.npy; version 1 folders still read
BACKEND_NAMES: tuple[str, ...] = ("exact", "faiss", "binary", "milvus")
METRICS: tuple[str, ...] = ("cosine", "dot")


# ---- arrays -------------------------------------------------------------------------------------


def _read_header(f: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of an open ``.npy`` file, left at the start of its data."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)


class NpyWriter:
    """Rows appended to a ``.npy`` file whose final shape is known up front; ``resume_rows`` continues a file.

    The header is written first for ``(rows, columns)``; each :meth:`append` writes its bytes at the
    end. A file cut short (an interrupted build) is truncated back to ``resume_rows`` rows.
    """

    def __init__(self, path: Path, *, rows: int, columns: int, dtype: Any = np.float32, resume_rows: int = 0) -> None:
        self.path, self.rows, self.columns, self.dtype = path, rows, columns, np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (rows, columns)}
        if resume_rows:
            self._file = open(path, "r+b")  # noqa: SIM115 - closed in close()
            _read_header(self._file)  # the data start where it ends
            self._file.truncate(self._file.tell() + resume_rows * columns * self.dtype.itemsize)
            self._file.seek(0, os.SEEK_END)
        else:
            self._file = open(path, "wb")  # noqa: SIM115
            np.lib.format.write_array_header_1_0(self._file, header)
        self.written = resume_rows

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.columns or self.written + block.shape[0] > self.rows:
            raise ValueError(f"cannot append {block.shape} to {self.path} ({self.written} of {self.rows} x {self.columns})")
        self._file.write(block.tobytes())
        self.written += block.shape[0]

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self.written != self.rows:
            raise ValueError(f"{self.path}: {self.written} rows written, {self.rows} declared")


def iter_npy(path: Path, *, chunk: int = 1 << 16, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """The rows ``start:stop`` of a 2-D ``.npy`` file, ``chunk`` at a time, read (not mapped)."""
    with open(path, "rb") as f:
        shape, fortran, dtype = _read_header(f)
        if fortran or len(shape) != 2:
            raise DataError(f"{path} is not a 2-D row-major array; rebuild the index")
        f.seek(start * shape[1] * dtype.itemsize, os.SEEK_CUR)
        end = shape[0] if stop is None else min(stop, shape[0])
        for begin in range(start, end, chunk):
            count = min(chunk, end - begin)
            block = np.fromfile(f, dtype=dtype, count=count * shape[1])
            if block.size != count * shape[1]:
                raise DataError(f"{path} ends early (truncated); rebuild the index")
            yield block.reshape(count, shape[1])


def load_array(path: Path, *, mmap: bool, shape: tuple[int, int], dtype: Any) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0]}); rebuild the index") from None
    if array.shape != shape or array.dtype != dtype:
        raise DataError(f"{path} holds {' x '.join(map(str, array.shape))} {array.dtype} but the manifest says "
                        f"{' x '.join(map(str, shape))} {np.dtype(dtype)}: the manifest does not match the data, "
                        "rebuild the index")
    return array


# ---- records ------------------------------------------------------------------------------------


def _metadata_json(metadata: Sequence[Any]) -> list[str | None]:
    return [None if m is None else json.dumps(m, ensure_ascii=False, default=str) for m in metadata]


class RecordsWriter:
    """Records written a chunk at a time into one parquet file (one row group a chunk)."""

    def __init__(self, path: Path, *, id_kind: type) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.schema = pa.schema([("id", pa.int64() if id_kind is int else pa.string()), ("text", pa.string()),
                                 ("metadata", pa.string())])
        self._writer = pq.ParquetWriter(path, self.schema)
        self.written = 0

    def append(self, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any], *, encoded: bool = False) -> None:
        """``encoded``: the metadata are already JSON strings (copied from another records file)."""
        import pyarrow as pa

        meta = list(metadata) if encoded else _metadata_json(metadata)
        self._writer.write_table(pa.table({"id": list(ids), "text": list(texts), "metadata": pa.array(meta, pa.string())},
                                          schema=self.schema))
        self.written += len(ids)

    def close(self) -> None:
        self._writer.close()


def _parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any parquet error: one line naming the file
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0]}); rebuild the index") from None


def iter_record_batches(path: Path, *, batch: int = 1 << 16) -> Iterator[tuple[list[Any], list[str], list[str | None]]]:
    """``(ids, texts, metadata as JSON)`` of a records file, ``batch`` rows at a time."""
    for part in _parquet(path).iter_batches(batch_size=batch, columns=["id", "text", "metadata"]):
        yield part.column(0).to_pylist(), part.column(1).to_pylist(), part.column(2).to_pylist()


def read_ids(path: Path) -> list[Any]:
    """The id column alone (to check new ids against) without reading texts or metadata."""
    return _parquet(path).read(columns=["id"]).column(0).to_pylist()


def read_records(path: Path, *, count: int, deleted: np.ndarray | None = None) -> tuple[list[Any], list[str], list[Any]]:
    """``(ids, texts, metadata)`` of a records file, checked against the manifest's ``count``.

    Ids are unique among the rows not ``deleted`` (a faiss index keeps a replaced row, masked).
    """
    table = _parquet(path)
    try:
        table = table.read()
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0]}); rebuild the index") from None
    if table.num_rows != count or not {"id", "text", "metadata"} <= set(table.column_names):
        raise DataError(f"{path} has {table.num_rows} rows (columns {', '.join(table.column_names)}) but the manifest "
                        f"says {count} rows of id, text, metadata: the manifest does not match the data, rebuild the index")
    try:
        metadata = [None if m is None else json.loads(m) for m in table.column("metadata").to_pylist()]
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path} holds metadata that is not JSON ({exc}); rebuild the index") from None
    ids = table.column("id").to_pylist()
    live = ids if deleted is None else [i for i, gone in zip(ids, deleted) if not gone]
    if len(set(map(repr, live))) != len(live):
        raise DataError(f"{path} holds the same id twice; rebuild the index")
    return ids, table.column("text").to_pylist(), metadata


# ---- the manifest -------------------------------------------------------------------------------


def write_manifest(folder: Path, manifest: dict[str, Any], *, atomic: bool = False) -> None:
    """``manifest.json`` with the sizes of the folder's other files (read back to tell a truncated file).

    ``atomic``: written beside and renamed over the old one (a folder that is not being built anew).
    """
    from siamese_text import __version__
    from siamese_text.storage import atomic_file

    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir())
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files,
            "siamese_text_version": __version__}
    text = json.dumps(full, indent=1) + "\n"
    if not atomic:
        (folder / MANIFEST).write_text(text)
        return
    with atomic_file(folder / MANIFEST) as tmp:
        tmp.write_text(text)


def read_manifest(folder: Path) -> dict[str, Any]:
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
                                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                          for v in probe)):
        raise DataError(f"{path} has no valid 'probe' ({manifest['dimension']} finite numbers); rebuild the index")
    if manifest["format"] != FORMAT or manifest["backend"] not in BACKEND_NAMES or manifest["metric"] not in METRICS:
        raise DataError(f"{path} is not a {FORMAT} manifest this version reads "
                        f"(backend {manifest['backend']!r}, metric {manifest['metric']!r}); rebuild the index")
    if manifest["backend"] == "milvus":
        milvus = manifest.get("milvus")
        if not (isinstance(milvus, dict) and isinstance(milvus.get("uri"), str) and isinstance(milvus.get("collection"), str)):
            raise DataError(f"{path} has no valid 'milvus' (uri and collection); rebuild the index")
    return manifest


def check_file(folder: Path, name: str, manifest: dict[str, Any]) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataError(f"{path} is missing; the index is incomplete, rebuild it")
    size, expected = path.stat().st_size, manifest["files"].get(name)
    if expected is not None and size != expected:
        raise DataError(f"{path} has {size:,} bytes but the manifest says {expected:,} (truncated or replaced); "
                        "rebuild the index")
    return path
