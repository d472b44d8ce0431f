"""``siamtext index build|add``: embed a corpus file into a search index folder, or grow one.

A corpus is a .txt file (one text a line, blank lines skipped), or a .csv/.tsv/.jsonl/.parquet table
whose ``--text-column`` holds the texts, ``--id-column`` (optional) the ids and the other columns
(or ``--metadata-columns``) metadata returned with each hit. Everything the corpus or the options
get wrong is refused before the model is loaded, and the folder is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from siamese_text_cli.progress import library_progress_bars

from siamese_text.errors import ConfigError, DataError

TABLE_FORMATS = (".csv", ".tsv", ".jsonl", ".parquet")


def _read_table(path: Path, text_column: str) -> Any:
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


def read_corpus(path: str | Path, *, text_column: str | None = None, id_column: str | None = None,
                metadata_columns: tuple[str, ...] | None = None) -> tuple[list[str], list[Any] | None, list[Any] | None]:
    """``(texts, ids or None, metadata or None)`` of a corpus file; columns are picked by name."""
    from siamese_text.data.loading import _suggest

    path = Path(path)
    if not path.is_file():
        raise DataError(f"corpus file {path} does not exist; give a .txt, .csv, .tsv, .jsonl or .parquet file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if id_column or (text_column and text_column != "text") or metadata_columns:
            raise ConfigError(f"{path} is a .txt file with one text a line and no columns; "
                              "drop --text-column/--id-column/--metadata-columns or use a .csv/.jsonl/.parquet file")
        lines = read_utf8(path, shown=str(path)).splitlines()
        texts = [line for line in lines if line.strip()]
        if not texts:
            raise DataError(f"corpus {path} has no texts (every line is blank); give at least one text")
        return texts, None, None
    if suffix not in TABLE_FORMATS:
        raise DataError(f"corpus {path} must be a .txt, .csv, .tsv, .jsonl or .parquet file, not {suffix or 'no suffix'}")
    text_column = text_column or "text"
    table = _read_table(path, text_column)
    columns = list(table.column_names)
    for flag, name in [("--text-column", text_column), ("--id-column", id_column), *(
            ("--metadata-columns", c) for c in metadata_columns or ())]:
        if name is not None and name not in columns:
            raise DataError(f"{path} has no column {name!r} ({flag}); {_suggest(name, columns)}")
    if table.num_rows == 0:
        raise DataError(f"corpus {path} has no rows; give at least one text")
    texts = table.column(text_column).to_pylist()
    ids = table.column(id_column).to_pylist() if id_column else None
    if metadata_columns is None:
        metadata_columns = tuple(c for c in columns if c not in (text_column, id_column))
    metadata = table.select(list(metadata_columns)).to_pylist() if metadata_columns else None
    return texts, ids, metadata


def _columns(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(c.strip() for c in value.split(",") if c.strip())


def _corpus_options(fn: Any) -> Any:
    fn = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(fn)
    fn = click.option("--batch-size", type=int, default=64, show_default=True, help="Texts embedded per batch.")(fn)
    fn = click.option("--metadata-columns", callback=_columns, default=None,
                      help="Columns returned with each hit, a,b (default: every column but text and id).")(fn)
    fn = click.option("--id-column", default=None, help="Column of unique ids (default: row numbers).")(fn)
    fn = click.option("--text-column", default=None, help="Column of the texts (default: text).")(fn)
    return fn


def _checked_corpus(corpus: str, text_column: str | None, id_column: str | None,
                    metadata_columns: tuple[str, ...] | None, existing: list[Any] | tuple = ()) -> tuple:
    from siamese_text.search import check_records

    texts, ids, metadata = read_corpus(corpus, text_column=text_column, id_column=id_column,
                                       metadata_columns=metadata_columns)
    return check_records(texts, ids, metadata, existing=existing, where=f"corpus {corpus}",
                         id_name=f"column {id_column!r}", text_name=f"column {text_column or 'text'!r}"
                         if Path(corpus).suffix.lower() != ".txt" else "the line")


@click.group()
def index() -> None:
    """Build or grow a semantic search index folder (embeddings, records, manifest)."""


@index.command()
@click.argument("model")
@click.argument("corpus")
@click.option("--output", "-o", "--out", "out", required=True, help="Index folder to write (must be new or empty).")
@click.option("--backend", type=click.Choice(["exact", "faiss", "binary"]), default="exact", show_default=True,
              help="exact: every row, no extra dependency; faiss: HNSW graph; binary: 1-bit codes + rescoring.")
@click.option("--overwrite", is_flag=True, help="Replace an existing index folder.")
@_corpus_options
def build(model: str, corpus: str, out: str, backend: str, overwrite: bool, text_column: str | None,
          id_column: str | None, metadata_columns: tuple[str, ...] | None, batch_size: int, quiet: bool) -> None:
    """Embed CORPUS with MODEL (a model folder or Hub id) and save a search index in --output."""
    from siamese_text.search import check_backend
    from siamese_text.storage import check_output_dir

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    check_output_dir(out, overwrite=overwrite, keep=(model, corpus))
    check_backend(backend)
    texts, ids, metadata = _checked_corpus(corpus, text_column, id_column, metadata_columns)

    from siamese_text.encoder import SiameseEncoder
    from siamese_text.search import SemanticIndex

    with library_progress_bars(on=not quiet):
        encoder = SiameseEncoder.load(model)
        built = SemanticIndex.build(encoder, texts, ids, metadata, backend=backend, batch_size=batch_size,
                                    show_progress=not quiet)
    built.save(out, overwrite=overwrite)
    click.echo(f"indexed {len(built):,} texts ({built.dimension}-d, {backend}, model {built.model}) in {out}")


@index.command()
@click.argument("folder")
@click.argument("corpus")
@click.option("--model", default=None, help="The index's model, if it is no longer where the index records it "
              "(checked to embed as that one did); the index then records this one.")
@_corpus_options
def add(folder: str, corpus: str, model: str | None, text_column: str | None, id_column: str | None,
        metadata_columns: tuple[str, ...] | None, batch_size: int, quiet: bool) -> None:
    """Embed the texts of CORPUS with the index's own model and add them to the index in FOLDER."""
    from siamese_text.search import SemanticIndex
    from siamese_text.storage import output_lock

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    with output_lock(folder, flag="index", shown=folder):  # from reading to saving: two adds never lose one
        grown = SemanticIndex.load(folder)
        texts, ids, metadata = _checked_corpus(corpus, text_column, id_column, metadata_columns, existing=grown.ids)
        before = len(grown)
        with library_progress_bars(on=not quiet):
            if model is not None:
                from siamese_text.encoder import SiameseEncoder

                grown.use_encoder(SiameseEncoder.load(model), moved=True)
            grown.add(texts, ids, metadata, batch_size=batch_size, show_progress=not quiet)
        grown.save(folder, overwrite=True)
    click.echo(f"added {len(grown) - before:,} texts to {folder} ({len(grown):,} in all)")
