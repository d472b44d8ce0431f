"""``siamtext search``: the closest texts of an index for each query (arguments, a file, or stdin)."""

from __future__ import annotations

import json
import sys

import click
from siamese_text_cli.progress import library_progress_bars

from siamese_text.errors import ConfigError, DataError


def _queries(queries: tuple[str, ...], queries_file: str | None) -> list[str]:
    found = [q for q in queries if q.strip()]
    if queries_file is not None:
        try:
            stream = click.open_file(queries_file, encoding="utf-8")
            with stream:
                found += [line.rstrip("\r\n") for line in stream if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read --queries-file {queries_file} ({exc}); give a UTF-8 file, one query a line") from None
    elif not queries and not sys.stdin.isatty():
        found += [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    if not found:
        raise ConfigError("give a QUERY, --queries-file FILE ('-' for stdin), or pipe queries on stdin, one a line")
    return found


@click.command()
@click.argument("folder")
@click.argument("queries", nargs=-1)
@click.option("-k", "--top-k", type=int, default=10, show_default=True, help="Hits per query.")
@click.option("--queries-file", default=None, help="Queries, one a line ('-' for stdin).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of {query, hits: [{rank, id, text, score, metadata}]}.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Queries embedded per batch.")
@click.option("--model", default=None, help="The index's model, if it is no longer where the index records it "
              "(checked to embed as that one did).")
@click.option("--model-backend", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
              help="Embed the queries with torch or with the model's ONNX export (siamtext export).")
@click.option("--onnx-file", default=None, help="With --model-backend onnx: which onnx/*.onnx file of the model.")
@click.option("--filter", "where", default=None,
              help="Only hits whose metadata match, e.g. 'lang == \"en\" and year >= 2020' (==, !=, <, <=, >, >=, "
                   "in, not in, and, or, not; the same on every backend).")
def search(folder: str, queries: tuple[str, ...], top_k: int, queries_file: str | None, as_json: bool,
           batch_size: int, model: str | None, model_backend: str, onnx_file: str | None, where: str | None) -> None:
    """Search the index in FOLDER for each QUERY; scores are similarities (higher = more similar)."""
    if top_k < 1:
        raise ConfigError(f"-k/--top-k must be at least 1, got {top_k}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if onnx_file is not None and model_backend != "onnx":
        raise ConfigError("--onnx-file goes with --model-backend onnx; add it or drop --onnx-file")
    from siamese_text.search import SemanticIndex, parse_filter

    where_ = parse_filter(where)  # a filter that does not parse is refused before anything loads
    texts = _queries(queries, queries_file)

    with library_progress_bars(on=False):  # "Loading weights" bars would bury the hits
        index = SemanticIndex.load(folder)
        if model_backend == "onnx" or model is not None:
            from siamese_text.encoder import SiameseEncoder

            kwargs = {"backend": model_backend, "model_kwargs": {"file_name": onnx_file} if onnx_file else None}
            encoder = SiameseEncoder.load(model, **kwargs) if model is not None else index.load_model(**kwargs)
            index.use_encoder(encoder, moved=model is not None)
        results = index.search(texts, top_k=top_k, batch_size=batch_size, filter=where_)
        index.close()
    if as_json:
        out = [{"query": q, "hits": [hit.to_dict() for hit in hits]} for q, hits in zip(texts, results)]
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    for number, (query, hits) in enumerate(zip(texts, results)):
        click.echo(f"{'' if number == 0 else chr(10)}query: {query}")
        if not hits:
            click.echo("   (no hit" + (" matches --filter)" if where else ")"))
            continue
        width = max(len(str(hit.id)) for hit in hits)
        for hit in hits:
            click.echo(f"{hit.rank:>4}  {hit.score:.4f}  {str(hit.id):<{width}}  {hit.text}")
