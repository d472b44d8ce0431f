"""``siamtext index build|add|delete``: embed a corpus into a search index folder, grow it, or remove rows.

A corpus is a .txt file (one text a line, blank lines skipped), a .csv/.tsv/.jsonl/.parquet table
whose ``--text-column`` holds the texts, ``--id-column`` (optional) the ids and the other columns
(or ``--metadata-columns``) metadata returned with each hit and filtered on, or a Hub data set id
(``--split``). It is read, embedded and written a chunk at a time, so its size is bounded by the
disk, not the memory. Everything the corpus or the options get wrong is refused before the model
is loaded; a build is written beside the output and swapped in at the end (``--resume`` goes on
after an interruption).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from siamese_text_cli.progress import library_progress_bars

from siamese_text.errors import ConfigError

BACKENDS = ("exact", "faiss", "binary", "milvus")


def _columns(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(c.strip() for c in value.split(",") if c.strip())


def _corpus_options(fn: Any) -> Any:
    fn = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(fn)
    fn = click.option("--chunk-size", type=int, default=8192, show_default=True,
                      help="Texts read, embedded and written at a time (memory is bounded by this, not the corpus).")(fn)
    fn = click.option("--batch-size", type=int, default=64, show_default=True, help="Texts embedded per batch.")(fn)
    fn = click.option("--config", "dataset_config", default=None, help="Hub data set config (a Hub CORPUS only).")(fn)
    fn = click.option("--split", default=None, help="Hub data set split (a Hub CORPUS only; default train).")(fn)
    fn = click.option("--metadata-columns", callback=_columns, default=None,
                      help="Columns returned with each hit and filtered on, a,b (default: every column but text and id).")(fn)
    fn = click.option("--id-column", default=None, help="Column of unique ids (default: row numbers).")(fn)
    fn = click.option("--text-column", default=None, help="Column of the texts (default: text).")(fn)
    return fn


def _sizes(batch_size: int, chunk_size: int) -> None:
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}")


def _corpus(corpus: str, text_column: str | None, id_column: str | None, metadata_columns: tuple[str, ...] | None,
            split: str | None, dataset_config: str | None) -> Any:
    from siamese_text.search.corpus import open_corpus

    return open_corpus(corpus, text_column=text_column, id_column=id_column, metadata_columns=metadata_columns,
                       split=split, config=dataset_config)


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def index() -> None:
    """Build, grow or prune a semantic search index folder."""


@index.command()
@click.argument("model")
@click.argument("corpus")
@click.option("--output", "-o", "--out", "out", required=True, help="Index folder to write (must be new or empty).")
@click.option("--backend", type=click.Choice(BACKENDS), default="exact", show_default=True,
              help="exact: every row, no extra dependency; faiss: HNSW graph; binary: 1-bit codes + rescoring; "
                   "milvus: Milvus Lite in the folder, or a Milvus server with --uri.")
@click.option("--uri", default=None, help="--backend milvus: a Milvus server or cluster (http://host:19530); "
              "its token is read from MILVUS_TOKEN. Default: Milvus Lite inside the index folder.")
@click.option("--collection", default=None, help="--backend milvus: the collection's name (default: from the folder name).")
@click.option("--overwrite", is_flag=True, help="Replace an existing index folder (and, with --uri, its collection).")
@click.option("--resume", is_flag=True, help="Go on with a build of the same corpus that was interrupted.")
@_corpus_options
def build(model: str, corpus: str, out: str, backend: str, uri: str | None, collection: str | None, overwrite: bool,
          resume: bool, text_column: str | None, id_column: str | None, metadata_columns: tuple[str, ...] | None,
          split: str | None, dataset_config: str | None, batch_size: int, chunk_size: int, quiet: bool) -> None:
    """Embed CORPUS (a file or Hub data set) with MODEL (a model folder or Hub id) into a search index in --output."""
    from siamese_text.search.index import check_backend
    from siamese_text.search.streaming import _checker, build_index, check_corpus
    from siamese_text.storage import check_output_dir

    _sizes(batch_size, chunk_size)
    if backend != "milvus" and (uri is not None or collection is not None):
        raise ConfigError(f"--uri and --collection go with --backend milvus, not {backend}")
    check_output_dir(out, overwrite=overwrite, keep=(model, corpus))
    check_backend(backend)
    source = _corpus(corpus, text_column, id_column, metadata_columns, split, dataset_config)
    if uri is not None:  # a server that does not answer is refused first, in seconds
        from siamese_text.search.milvus import connect, release

        release(connect(uri), uri)
    with library_progress_bars(on=not quiet):
        total = check_corpus(source, _checker(source), chunk_size=chunk_size, milvus=backend == "milvus")
        from siamese_text.encoder import SiameseEncoder

        encoder = SiameseEncoder.load(model)
        if backend == "milvus" and uri is not None and not overwrite and not resume:  # before anything is embedded
            from siamese_text.search.milvus import (
                check_collection_free,
                check_collection_name,
                collection_name,
            )

            name = check_collection_name(collection) if collection else collection_name(Path(out).name)
            check_collection_free(uri, name, dimension=encoder.dimension, metric="cosine")
        done = build_index(encoder, source, out, backend=backend, overwrite=overwrite, resume=resume,
                           chunk_size=chunk_size, batch_size=batch_size, uri=uri, collection=collection,
                           total=total, show_progress=not quiet, log=_log)
    where = f", {done.location}" if done.location else ""
    click.echo(f"indexed {done.count:,} texts ({done.dimension}-d, {backend}, model {done.model}{where}) in {out}"
               + (f" ({done.texts_per_second:,.0f} texts/s)" if done.added > done.resumed_from else ""))


@index.command()
@click.argument("folder")
@click.argument("corpus")
@click.option("--model", default=None, help="The index's model, if it is no longer where the index records it "
              "(checked to embed as that one did); the index then records this one.")
@click.option("--upsert", is_flag=True, help="Replace the rows whose id is already in the index (else such ids are refused).")
@_corpus_options
def add(folder: str, corpus: str, model: str | None, upsert: bool, text_column: str | None, id_column: str | None,
        metadata_columns: tuple[str, ...] | None, split: str | None, dataset_config: str | None, batch_size: int,
        chunk_size: int, quiet: bool) -> None:
    """Embed the texts of CORPUS with the index's own model and add them to the index in FOLDER."""
    from siamese_text.search.streaming import add_to_index

    _sizes(batch_size, chunk_size)
    source = _corpus(corpus, text_column, id_column, metadata_columns, split, dataset_config)
    if upsert and source.id_column is None:
        raise ConfigError("--upsert replaces rows by id: give the corpus's --id-column")
    with library_progress_bars(on=not quiet):
        done = add_to_index(folder, source, model=model, upsert=upsert, chunk_size=chunk_size, batch_size=batch_size,
                            show_progress=not quiet, log=_log)
    verb = "added or replaced" if upsert else "added"
    click.echo(f"{verb} {done.added:,} texts in {folder} ({done.count:,} in all)")


@index.command()
@click.argument("folder")
@click.argument("ids", nargs=-1)
@click.option("--ids-file", default=None, help="Ids to delete, one a line ('-' for stdin).")
def delete(folder: str, ids: tuple[str, ...], ids_file: str | None) -> None:
    """Delete the rows of IDS from the index in FOLDER (an id that is not there: nothing is changed)."""
    from siamese_text.search import SemanticIndex
    from siamese_text.storage import output_lock

    wanted = list(ids)
    if ids_file is not None:
        try:
            with click.open_file(ids_file, encoding="utf-8") as stream:
                wanted += [line.strip() for line in stream if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read --ids-file {ids_file} ({exc}); give a UTF-8 file, one id a line") from None
    if not wanted:
        raise ConfigError("give the IDS to delete, or --ids-file FILE")
    with output_lock(folder, flag="index", shown=folder), SemanticIndex.load(folder) as found:
        if found.id_kind() is int:
            bad = next((i for i in wanted if not i.lstrip("-").isdigit()), None)
            if bad is not None:
                raise ConfigError(f"id {bad!r} is not a whole number, and the ids of {folder} are")
            wanted = [int(i) for i in wanted]  # type: ignore[misc]
        removed = found.delete(wanted)
        found.save(folder, overwrite=True)
        left = len(found)
    click.echo(f"deleted {removed:,} rows from {folder} ({left:,} left)")
