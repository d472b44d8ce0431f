"""``siamtext encode``: embed a file of texts into a .npy matrix (one row per text, in file order)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from siamese_text.storage import atomic_file, check_output_file


def read_texts(path: str, *, column: str | None) -> list[str]:
    """Texts of a .txt file (one per line) or of one column of a .csv/.tsv/.jsonl/.parquet file; empty texts are refused."""
    from siamese_text.errors import ConfigError, DataError

    file = Path(path)
    if not file.is_file():
        raise DataError(f"--input {path} does not exist; give a .txt file with one text per line")
    suffix = file.suffix.lower()
    if suffix not in (".txt", ".csv", ".tsv", ".jsonl", ".parquet"):
        raise DataError(f"--input {path} has suffix {suffix or '(none)'}; use .txt, .csv, .tsv, .jsonl or .parquet")
    if suffix == ".txt":
        if column:
            raise ConfigError("--column is for .csv/.tsv/.jsonl/.parquet inputs; a .txt input has one text per line")
        texts = _read_utf8(file).splitlines()
    else:
        if not column:
            raise ConfigError(f"--input {path} is a table; name its text column with --column")
        texts = _column(file, column)
    if not texts:
        raise DataError(f"--input {path} holds no texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            where = f"line {i + 1}" if suffix == ".txt" else f"row {i}, column {column!r}"  # data rows from 0, as train and score
            what = "is empty; remove it" if text is None or isinstance(text, str) else f"is not text ({text!r}); quote it or remove it"
            raise DataError(f"--input {path} {where} {what} (rows of the output follow the input)")
    return texts


def _read_utf8(file: Path) -> str:
    from siamese_text_cli.files import read_utf8

    return read_utf8(file, shown=f"--input {file}")


def _column(file: Path, column: str) -> list[Any]:
    from siamese_text.errors import DataError

    if file.suffix.lower() == ".parquet":
        from siamese_text_cli.files import read_table

        table = read_table(file, column)
        if column not in table.column_names:
            raise DataError(f"--input {file} has no column {column!r}; its columns are {', '.join(table.column_names)}")
        return table.column(column).to_pylist()
    if file.suffix.lower() == ".jsonl":
        rows = []
        for i, line in enumerate(_read_utf8(file).splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise DataError(f"--input {file} line {i + 1} is not JSON; fix or remove it") from None
    else:
        rows = list(csv.DictReader(io.StringIO(_read_utf8(file), newline=""), delimiter="\t" if file.suffix.lower() == ".tsv" else ","))
    if rows and not all(isinstance(r, dict) and column in r for r in rows):
        names = ", ".join(rows[0]) if isinstance(rows[0], dict) else "none"
        raise DataError(f"--input {file} has no column {column!r} in every row; its columns are {names}")
    return [r[column] for r in rows]


def save_npy(out: Path, array: Any) -> None:
    """Write to a temporary file beside ``out`` and rename: a crash never leaves half a matrix."""
    import numpy as np

    with atomic_file(out) as tmp:
        np.save(tmp, np.asarray(array, dtype=np.float32))


@click.command()
@click.argument("model")
@click.option("--input", "input_path", required=True, help="Texts: .txt (one per line), or .csv/.tsv/.jsonl/.parquet with --column.")
@click.option("--column", default=None, help="The text column of a .csv/.tsv/.jsonl/.parquet input.")
@click.option("--output", "-o", "output_path", required=True, help="The .npy file to write (float32, n x dimension).")
@click.option("--backend", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True)
@click.option("--onnx-file", default=None, help="With --backend onnx: e.g. onnx/model_qint8_quantized.onnx (default onnx/model.onnx).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--normalize", is_flag=True, help="L2-normalise the embeddings (a model saved with normalisation always is).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def encode(model: str, input_path: str, column: str | None, output_path: str, backend: str, onnx_file: str | None,
           batch_size: int, normalize: bool, overwrite: bool, quiet: bool) -> None:
    """Embed the texts of --input with MODEL (a folder or Hub id) and save them to --output."""
    from siamese_text.errors import ConfigError

    if onnx_file and backend != "onnx":
        raise ConfigError("--onnx-file needs --backend onnx")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    texts = read_texts(input_path, column=column)
    out = check_output_file(output_path, suffixes=(".npy",), overwrite=overwrite)
    from siamese_text_cli.progress import library_progress_bars

    from siamese_text.encoder import SiameseEncoder

    with library_progress_bars(on=not quiet):
        encoder = SiameseEncoder.load(model, backend=backend, model_kwargs={"file_name": onnx_file} if onnx_file else None)
        embeddings = encoder.encode(texts, batch_size=batch_size, normalize=normalize, show_progress=not quiet)
    save_npy(out, embeddings)
    click.echo(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {out} ({backend})")
