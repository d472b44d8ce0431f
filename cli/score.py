"""``siamtext score``: stream a pairs file of any size through the model, writing a scored CSV.

Pairs are read and embedded ``--chunk-size`` rows at a time (csv/jsonl line by line, parquet by
record batch), so memory does not grow with the file. The output is written to a temporary file
beside ``--output`` and renamed at the end: a bad row halfway leaves nothing behind.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import click
from siamese_text_cli.progress import library_progress_bars

from siamese_text.errors import ConfigError, DataError
from siamese_text.scoring import METRICS
from siamese_text.storage import atomic_file, check_output_file

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def _check_columns(path: Path, names: list[str], wanted: tuple[str, str]) -> None:
    for name in wanted:
        if name not in names:
            raise DataError(
                f"{path} has no column {name!r} (its columns: {', '.join(names) or 'none'}); "
                "name the two text columns with --text-columns a,b"
            )


def _texts(path: Path, row: int, a: object, b: object, wanted: tuple[str, str]) -> tuple[str, str]:
    for name, value in zip(wanted, (a, b), strict=True):
        if not isinstance(value, str) or not value.strip():
            what = "empty" if value is None or isinstance(value, str) else f"not text ({value!r})"
            raise DataError(f"{path} row {row}: column {name!r} is {what}; fill or remove that row")
    return a, b  # type: ignore[return-value]


def read_pairs(path: Path, wanted: tuple[str, str], chunk_size: int) -> Iterator[list[tuple[str, str]]]:
    """Chunks of (text_a, text_b) from a csv/tsv, jsonl or parquet file; rows are numbered from 0."""
    kind = FORMATS[path.suffix.lower()]
    chunk: list[tuple[str, str]] = []
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - any parser error becomes one line naming the file
            raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}; check it is a parquet file") from exc
        _check_columns(path, pf.schema_arrow.names, wanted)
        row = 0
        for batch in pf.iter_batches(batch_size=chunk_size, columns=list(wanted)):
            a_col, b_col = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            yield [_texts(path, row + i, a, b, wanted) for i, (a, b) in enumerate(zip(a_col, b_col, strict=True))]
            row += len(a_col)
        return
    # utf-8-sig: a byte-order mark (as Excel writes) would otherwise become part of the first column's name
    with path.open(newline="" if kind == "csv" else None, encoding="utf-8-sig") as f:
        try:
            if kind == "csv":
                reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
                _check_columns(path, list(reader.fieldnames or []), wanted)
                records: Iterator[dict] = iter(reader)
            else:
                records = _jsonl(path, f, wanted)
            for row, record in enumerate(records):
                chunk.append(_texts(path, row, record.get(wanted[0]), record.get(wanted[1]), wanted))
                if len(chunk) == chunk_size:
                    yield chunk
                    chunk = []
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    if chunk:
        yield chunk


def _jsonl(path: Path, f, wanted: tuple[str, str]) -> Iterator[dict]:  # noqa: ANN001 - a text file
    first = True
    for line_no, line in enumerate(f):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {line_no + 1} is not JSON ({exc.msg}); one JSON object per line") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path} line {line_no + 1} is not a JSON object; one object per line, e.g. {{\"text_a\": .., \"text_b\": ..}}")
        if first:
            _check_columns(path, list(record), wanted)
            first = False
        yield record


def _count_rows(path: Path) -> int | None:
    if FORMATS[path.suffix.lower()] == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001 - reading fails again, with its message, in read_pairs
            return None
    return None


@click.command()
@click.argument("model")
@click.option("--pairs", "pairs_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="A .csv, .tsv, .jsonl or .parquet file of text pairs.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The scored .csv to write.")
@click.option("--text-columns", default="text_a,text_b", show_default=True, help="The two text columns, by name.")
@click.option("--metric", type=click.Choice(METRICS), default=None, help="Default: the calibrated metric, else cosine. hamming: differing sign bits of the embeddings (1-bit codes).")
@click.option("--chunk-size", type=int, default=1024, show_default=True, help="Pairs read and embedded at a time.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def score(
    model: str, pairs_path: Path, output: Path, text_columns: str, metric: str | None, chunk_size: int,
    batch_size: int, overwrite: bool, quiet: bool,
) -> None:
    """Score every pair in --pairs with MODEL: score, plus probability and same (0/1) when MODEL is calibrated."""
    wanted = tuple(c.strip() for c in text_columns.split(",") if c.strip())
    if len(wanted) != 2:
        raise ConfigError(f"--text-columns {text_columns!r}: name exactly two columns, e.g. --text-columns question1,question2")
    if not pairs_path.is_file():
        raise ConfigError(f"--pairs {pairs_path} does not exist; give a .csv, .tsv, .jsonl or .parquet file")
    if pairs_path.suffix.lower() not in FORMATS:
        raise ConfigError(f"--pairs {pairs_path}: use a .csv, .tsv, .jsonl or .parquet file")
    check_output_file(output, suffixes=(".csv",), overwrite=overwrite)
    if chunk_size < 1 or batch_size < 1:
        raise ConfigError(f"--chunk-size and --batch-size must be at least 1, got {chunk_size} and {batch_size}")

    from siamese_text.calibration import load_calibration, not_calibrated_message, score_pairs

    calibration = load_calibration(model)  # a folder or a Hub repo
    if calibration is not None and metric is not None and metric != calibration.metric:
        raise ConfigError(f"--metric {metric}: the calibration is for {calibration.metric}; drop --metric or recalibrate")
    chunks = read_pairs(pairs_path, wanted, chunk_size)  # nothing is read until iterated
    first = next(chunks, None)  # a missing column fails here, before the model loads or anything is written
    if first is None:
        raise DataError(f"{pairs_path} has no pairs; give a file with at least one row")

    from tqdm.auto import tqdm

    from siamese_text.encoder import SiameseEncoder

    with library_progress_bars(on=not quiet):
        encoder = SiameseEncoder.load(model)
    if calibration is None:
        click.echo(f"note: {not_calibrated_message(model)}; writing scores only", err=True)
    header = [*wanted, "score", *(["probability", "same"] if calibration else [])]
    written = 0
    with atomic_file(output) as tmp, tmp.open("w", newline="", encoding="utf-8") as f, tqdm(
        total=_count_rows(pairs_path), unit="pairs", disable=quiet, file=click.get_text_stream("stderr")
    ) as bar:
        writer = csv.writer(f)
        writer.writerow(header)
        for chunk in _chain(first, chunks):
            a, b = [p[0] for p in chunk], [p[1] for p in chunk]
            result = score_pairs(encoder, a, b, calibration=calibration, metric=metric or "cosine", batch_size=batch_size)
            for i in range(len(chunk)):
                extra = [f"{result['probability'][i]:.6f}", int(result["same"][i])] if calibration else []
                writer.writerow([a[i], b[i], f"{result['score'][i]:.6f}", *extra])
            written += len(chunk)
            bar.update(len(chunk))
    click.echo(f"scored {written:,} pairs -> {output}" + (f" (same if {calibration.describe()})" if calibration else ""))


def _chain(first: list[tuple[str, str]], rest: Iterator[list[tuple[str, str]]]) -> Iterator[list[tuple[str, str]]]:
    yield first
    yield from rest
