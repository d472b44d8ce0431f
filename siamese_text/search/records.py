"""What every backend stores and returns: records (id, text, metadata), hits, and their checks.

A corpus is checked before anything is embedded or written, chunk by chunk for a streamed one
(:class:`RecordChecker` keeps the ids seen so far), so a bad row is named by its number in the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError, DataError

__all__ = ["Hit", "RecordChecker", "check_records", "as_embeddings", "check_top_k", "model_name", "PROBE_TEXT"]

# Embedded at build and again at load: a model folder retrained in place keeps its name but not this.
PROBE_TEXT = "siamese_text index probe: how do I reset the password of my account?"
_CHECK_CHUNK = 1 << 16


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


class RecordChecker:
    """Checks records chunk after chunk: texts present, ids unique (also against ``existing``), one id kind.

    ``where``/``id_name``/``text_name`` name the file and columns in messages, so the CLI can check a
    corpus before it loads a model. Rows are numbered from 0 across chunks. ``replace=True`` (an
    upsert) lets ids that are already in the index through; repeats inside the corpus stay refused.
    """

    def __init__(self, existing: Iterable[Any] = (), *, where: str = "corpus", id_name: str = "id",
                 text_name: str = "text", replace: bool = False, kind: type | None = None) -> None:
        self.where, self.id_name, self.text_name, self.replace = where, id_name, text_name, replace
        self._seen: dict[Any, int] = {}  # id -> row; negative: a row already in the index
        for row, i in enumerate(existing):
            self._seen[i] = -1 - row
        first = next(iter(self._seen), None)
        self.kind: type | None = kind if first is None else type(first)
        self._next_int = max((i for i in self._seen if isinstance(i, int)), default=-1) + 1
        self.rows = 0  # rows checked so far

    @property
    def next_id(self) -> int:
        """The first default id of the next chunk: after the largest integer id seen."""
        return self._next_int

    def check(self, texts: Sequence[Any], ids: Sequence[Any] | None = None,
              metadata: Sequence[Any] | None = None) -> tuple[list[str], list[Any], list[Any]]:
        """One chunk, validated: ``(texts, ids, metadata)``; default ids are row numbers after the last int id."""
        where, offset = self.where, self.rows
        texts = [texts] if isinstance(texts, str) else list(texts)
        for row, text in enumerate(texts, start=offset):
            if not isinstance(text, str) or not text.strip():
                what = "missing" if text is None else "empty" if isinstance(text, str) else f"not text ({text!r})"
                raise DataError(f"{where} row {row}: {self.text_name} is {what}; remove or fill that row")
        if ids is None:
            if self.kind is not None and self.kind is not int:
                raise DataError(f"this index has text ids; give an id for every text of {where} (--id-column)")
            ids = list(range(self._next_int, self._next_int + len(texts)))
        ids = [int(i) if isinstance(i, np.integer) else i for i in ids]
        if len(ids) != len(texts):
            raise DataError(f"{where}: {len(ids)} ids for {len(texts)} texts; give one id per text")
        for row, i in enumerate(ids, start=offset):
            if i is None or (isinstance(i, str) and not i.strip()):
                raise DataError(f"{where} row {row}: {self.id_name} is missing; give every text an id")
            kind = self.kind or type(i)
            if kind not in (int, str):
                raise DataError(f"{where} row {row}: {self.id_name} {i!r} is a {kind.__name__}; ids must be integers or text")
            if type(i) is not kind:
                raise DataError(f"{where} row {row}: {self.id_name} {i!r} is not {'an int' if kind is int else 'text'} "
                                "like the other ids; ids must be all integers or all text")
            self.kind = kind
            seen = self._seen.get(i)
            if seen is not None and not (self.replace and seen < 0):
                other = f"row {seen}" if seen >= 0 else f"row {-1 - seen} of the index"
                raise DataError(f"{where} row {row}: duplicate {self.id_name} {i!r} (also at {other}); ids must be unique")
            self._seen[i] = row
            if isinstance(i, int):
                self._next_int = max(self._next_int, i + 1)
        metadata = [None] * len(texts) if metadata is None else list(metadata)
        if len(metadata) != len(texts):
            raise DataError(f"{where}: {len(metadata)} metadata entries for {len(texts)} texts; give one per text")
        for row, meta in enumerate(metadata, start=offset):
            if meta is not None and not isinstance(meta, dict):
                raise DataError(f"{where} row {row}: metadata must be a dict or None, got {type(meta).__name__}")
        self.rows += len(texts)
        return texts, ids, metadata

    def done(self) -> None:
        """After the last chunk: refuse a corpus that had no rows."""
        if self.rows == 0:
            raise DataError(f"{self.where} is empty; give at least one text to index")


def check_records(texts: Sequence[str], ids: Sequence[Any] | None = None, metadata: Sequence[Any] | None = None,
                  *, existing: Sequence[Any] = (), where: str = "corpus", id_name: str = "id",
                  text_name: str = "text", replace: bool = False) -> tuple[list[str], list[Any], list[Any]]:
    """Validated ``(texts, ids, metadata)`` of one in-memory corpus; default ids are row numbers, after ``existing`` ones."""
    checker = RecordChecker(existing, where=where, id_name=id_name, text_name=text_name, replace=replace)
    if not isinstance(texts, str) and len(texts) == 0:
        checker.done()
    return checker.check(texts, ids, metadata)


def as_embeddings(x: Any, *, metric: str, what: str, chunk: int = _CHECK_CHUNK) -> np.ndarray:
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


def model_name(name: str) -> str:
    """A Hub id as it is; a local folder as its absolute path, so the manifest names it from anywhere."""
    return str(Path(name).resolve()) if Path(name).exists() else name


def check_top_k(top_k: int) -> None:
    if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
        raise ConfigError(f"-k/--top-k must be a whole number of at least 1, got {top_k!r}")
