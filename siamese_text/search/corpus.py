"""Corpora read a chunk at a time: .txt, .csv/.tsv, .jsonl and .parquet files, and Hub data sets.

A corpus of millions of texts is never held whole: :meth:`Corpus.chunks` yields ``(texts, ids,
metadata)`` of ``size`` rows, from any row on (to resume an interrupted build). Columns are picked
by name: ``text_column`` (default ``text``), ``id_column`` (default: row numbers) and
``metadata_columns`` (default: every other column). A .txt file has one text a line, blank lines skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siamese_text.data.loading import _suggest
from siamese_text.errors import ConfigError, DataError

__all__ = ["Corpus", "open_corpus", "TABLE_FORMATS", "CORPUS_FORMATS"]

TABLE_FORMATS = (".csv", ".tsv", ".jsonl", ".parquet")
CORPUS_FORMATS = (".txt", *TABLE_FORMATS)
_BLOCK_BYTES = 16 << 20  # CSV/JSONL read blocks; column types come from the first one
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

Chunk = tuple[list[Any], list[Any] | None, list[Any] | None]


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


@dataclass
class Corpus:
    """Where the texts come from and which columns hold what; read with :meth:`chunks`."""

    source: str
    kind: str  # "txt", "csv", "tsv", "jsonl", "parquet" or "hub"
    text_column: str = "text"
    id_column: str | None = None
    metadata_columns: tuple[str, ...] | None = None
    split: str = "train"
    config: str | None = None

    @property
    def shown(self) -> str:
        return f"corpus {self.source}" + (f" ({self.split})" if self.kind == "hub" else "")

    @property
    def columns_named(self) -> bool:
        return self.kind != "txt"

    def fingerprint(self) -> str:
        """Changes when the corpus or its column choice does (an interrupted build resumes only the same one)."""
        parts: list[Any] = [self.source, self.kind, self.text_column, self.id_column, self.metadata_columns, self.split,
                            self.config]
        if self.kind != "hub":
            stat = Path(self.source).stat()
            parts += [str(Path(self.source).resolve()), stat.st_size, stat.st_mtime_ns]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]

    # ---- reading ------------------------------------------------------------------------------

    def _metadata_names(self, columns: list[str]) -> list[str]:
        if self.metadata_columns is not None:
            return list(self.metadata_columns)
        return [c for c in columns if c not in (self.text_column, self.id_column)]

    def check_columns(self, columns: list[str]) -> None:
        for flag, name in [("--text-column", self.text_column), ("--id-column", self.id_column),
                           *(("--metadata-columns", c) for c in self.metadata_columns or ())]:
            if name is not None and name not in columns:
                raise DataError(f"{self.source} has no column {name!r} ({flag}); {_suggest(name, columns)}")

    def chunks(self, size: int, *, start: int = 0) -> Iterator[Chunk]:
        """``(texts, ids or None, metadata or None)`` of ``size`` rows at a time, from row ``start``."""
        reader = self._txt_chunks(size) if self.kind == "txt" else self._table_chunks(size)
        skipped = 0
        for texts, ids, metadata in reader:
            if skipped + len(texts) <= start:
                skipped += len(texts)
                continue
            cut = start - skipped if skipped < start else 0
            skipped = start
            yield texts[cut:], None if ids is None else ids[cut:], None if metadata is None else metadata[cut:]

    def _txt_chunks(self, size: int) -> Iterator[Chunk]:
        texts: list[Any] = []
        try:
            with open(self.source, encoding="utf-8-sig") as f:
                for line in f:
                    if line.strip():
                        texts.append(line.rstrip("\r\n"))
                        if len(texts) == size:
                            yield texts, None, None
                            texts = []
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.source} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
        if texts:
            yield texts, None, None

    def _batches(self, size: int) -> Iterator[Any]:
        """pyarrow record batches of the table (any batch size; re-cut to ``size`` by the caller)."""
        import pyarrow as pa

        try:
            if self.kind in ("csv", "tsv"):
                from pyarrow import csv

                reader = csv.open_csv(
                    self.source, read_options=csv.ReadOptions(block_size=_BLOCK_BYTES),
                    parse_options=csv.ParseOptions(delimiter="\t" if self.kind == "tsv" else ","),
                    convert_options=csv.ConvertOptions(column_types={self.text_column: pa.string()}))
                yield from reader
            elif self.kind == "jsonl":
                from pyarrow import json as pa_json

                yield from pa_json.open_json(self.source, read_options=pa_json.ReadOptions(block_size=_BLOCK_BYTES))
            elif self.kind == "parquet":
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self.source).iter_batches(batch_size=size)
            else:
                yield from self._hub().with_format("arrow").iter(batch_size=size)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise DataError(f"cannot read {self.source} ({_first(exc)}); check it is valid {self.kind} "
                            "(a column whose type changes after the first rows can be named in --metadata-columns "
                            "or left out)") from None

    def _hub(self) -> Any:
        import datasets

        try:
            loaded = datasets.load_dataset(self.source, self.config, split=self.split)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"cannot load Hub data set {self.source!r} split {self.split!r} ({_first(exc)}); check the id "
                            "and --split, or that it is in the local cache when offline") from None
        return loaded

    def _table_chunks(self, size: int) -> Iterator[Chunk]:
        checked, pending = False, []
        for batch in self._batches(size):
            columns = list(batch.schema.names)
            if not checked:
                self.check_columns(columns)
                meta_names, checked = self._metadata_names(columns), True
            if batch.num_rows == 0:
                continue
            texts = batch.column(columns.index(self.text_column)).to_pylist()
            ids = batch.column(columns.index(self.id_column)).to_pylist() if self.id_column else None
            metadata = batch.select(meta_names).to_pylist() if meta_names else None
            pending.append((texts, ids, metadata))
            while sum(len(p[0]) for p in pending) >= size:
                yield _take(pending, size)
        if not checked:  # no batch at all: a header-only file still names its columns
            self.check_columns(self._header())
        while pending and pending[0][0]:
            yield _take(pending, size)

    def _header(self) -> list[str]:
        if self.kind in ("csv", "tsv"):
            with open(self.source, encoding="utf-8-sig") as f:
                line = f.readline().rstrip("\r\n")
            return [c.strip('"') for c in line.split("\t" if self.kind == "tsv" else ",")] if line else []
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.source).schema_arrow.names)
        return []

    def count_rows(self) -> int:
        return sum(len(texts) for texts, _, _ in self.chunks(1 << 16))


def _take(pending: list[Chunk], size: int) -> Chunk:
    """The first ``size`` rows of the pending pieces, joined; what is left stays pending."""
    texts: list[Any] = []
    ids: list[Any] | None = [] if pending[0][1] is not None else None
    meta: list[Any] | None = [] if pending[0][2] is not None else None
    while pending and len(texts) < size:
        t, i, m = pending[0]
        room = size - len(texts)
        texts += t[:room]
        if ids is not None and i is not None:
            ids += i[:room]
        if meta is not None and m is not None:
            meta += m[:room]
        if len(t) > room:
            pending[0] = (t[room:], None if i is None else i[room:], None if m is None else m[room:])
        else:
            pending.pop(0)
    return texts, ids, meta


def open_corpus(source: str | Path, *, text_column: str | None = None, id_column: str | None = None,
                metadata_columns: tuple[str, ...] | None = None, split: str | None = None,
                config: str | None = None) -> Corpus:
    """A :class:`Corpus` for a file or a Hub data set id (``user/name``), checked before anything is read."""
    source = str(source)
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if not path.exists() and _HUB_ID.match(source) and suffix not in CORPUS_FORMATS:
        return Corpus(source=source, kind="hub", text_column=text_column or "text", id_column=id_column,
                      metadata_columns=metadata_columns, split=split or "train", config=config)
    if split is not None or config is not None:
        raise ConfigError(f"--split and --config go with a Hub data set, not the file {source}")
    if not path.is_file():
        raise DataError(f"corpus file {source} does not exist; give a .txt, .csv, .tsv, .jsonl or .parquet file "
                        "or a Hub data set id user/name")
    if suffix == ".txt":
        if id_column or (text_column and text_column != "text") or metadata_columns:
            raise ConfigError(f"{source} is a .txt file with one text a line and no columns; "
                              "drop --text-column/--id-column/--metadata-columns or use a .csv/.jsonl/.parquet file")
        return Corpus(source=str(path), kind="txt")
    if suffix not in TABLE_FORMATS:
        raise DataError(f"corpus {source} must be a .txt, .csv, .tsv, .jsonl or .parquet file, not {suffix or 'no suffix'}")
    return Corpus(source=str(path), kind=suffix[1:], text_column=text_column or "text", id_column=id_column,
                  metadata_columns=metadata_columns)
