"""Text and table files the CLI reads (encode's inputs): UTF-8 text, and tables through pyarrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from siamese_text.errors import DataError


def read_table(path: Path, text_column: str) -> Any:
    """A pyarrow table of a .csv/.tsv/.jsonl/.parquet file (the text column read as strings)."""
    import pyarrow as pa

    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            from pyarrow import csv

            return csv.read_csv(path, parse_options=csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
                                convert_options=csv.ConvertOptions(column_types={text_column: pa.string()}))
        if suffix == ".jsonl":
            from pyarrow import json

            return json.read_json(path)
        import pyarrow.parquet as pq

        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path} ({first[:200]}); check it is valid {suffix[1:]}") from None


def read_utf8(path: Path, *, shown: str) -> str:
    """A text file's contents; a byte-order mark (as Excel writes) is dropped, another encoding is one line."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
