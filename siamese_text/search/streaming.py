"""Build or grow an index folder from a corpus a chunk at a time, so no corpus is too big for memory.

sentence-transformers' ``encode`` takes a list and returns every embedding at once, and neither it
nor faiss or Milvus reads a corpus file; for 1M texts that is the texts plus 1.5 GB of float32 held
in one process. Here a chunk of texts is read, embedded and written (to ``embeddings.npy`` with
plain file writes, to the records file, to the faiss graph or to the Milvus collection) before the
next is read. Every corpus is checked whole before the model is loaded: a duplicate id at row
900,000 is refused before anything is embedded, and the index is left as it was.

A build keeps its work in a hidden ``.NAME.partial`` folder (with ``progress.json``) until it is
done; interrupted, it is resumed from the last written chunk with ``resume=True`` (``--resume``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siamese_text.errors import ConfigError, DataError
from siamese_text.search import folder as files
from siamese_text.search.base import LOCAL_BACKENDS
from siamese_text.search.corpus import Corpus
from siamese_text.search.index import check_backend, check_encoder, check_options, open_store
from siamese_text.search.kernels import pack_codes
from siamese_text.search.milvus import check_collection_free
from siamese_text.search.records import PROBE_TEXT, RecordChecker, as_embeddings, model_name
from siamese_text.storage import atomic_dir, output_lock, partial_dir, resumable_dir

if TYPE_CHECKING:
    from siamese_text.encoder import SiameseEncoder

__all__ = ["StreamResult", "check_corpus", "build_index", "add_to_index", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 8192  # texts read, embedded and written at a time (and the unit an interrupted build resumes from)
PROGRESS, PARTS = "progress.json", "records.parts"
Log = Callable[[str], None]


@dataclass(frozen=True)
class StreamResult:
    """What a streamed build or add did."""

    folder: Path
    added: int
    count: int
    backend: str
    dimension: int
    model: str
    seconds: float
    resumed_from: int = 0
    location: str = ""  # a Milvus server's collection and URI (without secrets)

    @property
    def texts_per_second(self) -> float:
        return (self.added - self.resumed_from) / max(self.seconds, 1e-9)


def _no_log(_: str) -> None:
    pass


# ---- checking a corpus ----------------------------------------------------------------------------


def check_corpus(corpus: Corpus, checker: RecordChecker, *, chunk_size: int = DEFAULT_CHUNK,
                 milvus: bool = False, engine: Any = None, upsert: bool = False) -> int:
    """Read the whole corpus once and check every row; returns the row count.

    ``milvus``: also what a Milvus collection refuses (texts over 65,535 bytes, metadata keys that
    are its field names); ``engine``: a Milvus backend whose ids new ones must not repeat (unless ``upsert``).
    """
    from siamese_text.search.milvus import check_metadata_keys, check_text_sizes

    rows = 0
    for texts, ids, metadata in corpus.chunks(chunk_size):
        texts, ids, metadata = checker.check(texts, ids, metadata)
        if milvus or engine is not None:
            check_text_sizes(texts, where=corpus.shown, first_row=rows)
            check_metadata_keys(metadata, where=corpus.shown, first_row=rows)
            if engine is not None and not upsert:
                gone = set(engine.missing(ids))
                present = [(n, i) for n, i in enumerate(ids) if i not in gone]
                if present:
                    n, i = present[0]
                    raise DataError(f"{corpus.shown} row {rows + n}: duplicate {checker.id_name} {i!r} (already in the index); "
                                    "ids must be unique, or pass --upsert to replace those rows")
        rows += len(texts)
    if rows == 0:
        what = "no texts (every line is blank)" if corpus.kind == "txt" else "no rows"
        raise DataError(f"{corpus.shown} has {what}; give at least one text")
    return rows


def _checker(corpus: Corpus, existing: Sequence[Any] = (), *, replace: bool = False, kind: type | None = None) -> RecordChecker:
    id_name = f"column {corpus.id_column!r}" if corpus.id_column else "id"
    text_name = "the line" if corpus.kind == "txt" else f"column {corpus.text_column!r}"
    return RecordChecker(existing, where=corpus.shown, id_name=id_name, text_name=text_name, replace=replace, kind=kind)


def _ids(ids: list[Any] | None, start_id: int, row: int, count: int) -> list[Any]:
    if ids is None:
        return list(range(start_id + row, start_id + row + count))
    return [int(i) if isinstance(i, np.integer) else i for i in ids]


def _embed(encoder: SiameseEncoder, texts: list[str], *, metric: str, batch_size: int) -> np.ndarray:
    return as_embeddings(encoder.encode(texts, batch_size=batch_size), metric=metric, what="embeddings")


def _bar(total: int, initial: int, *, show: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="texts", unit_scale=True, disable=not show, desc=desc,
                dynamic_ncols=True, smoothing=0.1)


# ---- writing an in-process index ------------------------------------------------------------------


class _LocalWriter:
    """embeddings.npy + records (a parquet part a chunk, joined at the end) + the backend's structure."""

    def __init__(self, folder: Path, *, backend: str, total: int, dimension: int, id_kind: type, options: dict[str, int],
                 start: int = 0, deleted: np.ndarray | None = None) -> None:
        self.folder, self.backend, self.total, self.options, self.id_kind = folder, backend, total, options, id_kind
        self.embeddings = files.NpyWriter(folder / files.EMBEDDINGS, rows=total, columns=dimension, resume_rows=start)
        self.parts = folder / PARTS
        self.parts.mkdir(exist_ok=True)
        for part in self.parts.glob("*.parquet"):  # written after the last recorded chunk: written again
            if int(part.stem) >= start:
                part.unlink()
        self.written = start
        self.graph: Any = None
        self.deleted = deleted
        if backend == "faiss" and start:  # the graph lives in memory: an interrupted build's is built again
            for block in files.iter_npy(folder / files.EMBEDDINGS, chunk=1 << 16, stop=start):
                self._graph(block)

    def _graph(self, block: np.ndarray) -> None:
        if self.backend != "faiss" or len(block) == 0:
            return
        if self.graph is None:
            from siamese_text.search.faiss import new_faiss_index

            self.graph = new_faiss_index(block, self.options)
        self.graph.add(np.ascontiguousarray(block))

    def write(self, embeddings: np.ndarray, ids: list[Any], texts: list[str], metadata: list[Any] | None,
              *, encoded: bool = False, graph: bool = True) -> None:
        """Append a chunk; ``encoded``: metadata already JSON; ``graph=False``: rows the (old) graph already has."""
        part = files.RecordsWriter(self.parts / f"{self.written:012d}.parquet.tmp", id_kind=self.id_kind)
        part.append(ids, texts, metadata if metadata is not None else [None] * len(ids), encoded=encoded)
        part.close()
        self.embeddings.append(embeddings)
        self.embeddings.flush()
        os.replace(self.parts / f"{self.written:012d}.parquet.tmp", self.parts / f"{self.written:012d}.parquet")
        if graph:
            self._graph(embeddings)
        self.written += len(ids)

    def finish(self) -> None:
        self.embeddings.close()
        records = files.RecordsWriter(self.folder / files.RECORDS, id_kind=self.id_kind)
        for part in sorted(self.parts.glob("*.parquet"), key=lambda p: int(p.stem)):
            for ids, texts, metadata in files.iter_record_batches(part):
                records.append(ids, texts, metadata, encoded=True)
        records.close()
        shutil.rmtree(self.parts)
        if self.backend == "binary":
            codes = [pack_codes(block) for block in files.iter_npy(self.folder / files.EMBEDDINGS)]
            np.save(self.folder / files.CODES, np.concatenate(codes, axis=1), allow_pickle=False)
        elif self.backend == "faiss":
            from siamese_text.search.faiss import import_faiss

            import_faiss().write_index(self.graph, str(self.folder / files.FAISS_FILE))
            if self.deleted is not None and self.deleted.any():
                np.save(self.folder / files.DELETED, np.concatenate(
                    [self.deleted, np.zeros(self.total - len(self.deleted), dtype=bool)]), allow_pickle=False)

    def close(self) -> None:
        with_file = getattr(self.embeddings, "_file", None)
        if with_file is not None and not with_file.closed:
            with_file.close()


# ---- progress of a resumable build ----------------------------------------------------------------


def _read_progress(folder: Path) -> dict[str, Any] | None:
    path = folder / PROGRESS
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_progress(folder: Path, settings: dict[str, Any], done: int) -> None:
    tmp = folder / (PROGRESS + ".tmp")
    tmp.write_text(json.dumps({"settings": settings, "done": done}))
    os.replace(tmp, folder / PROGRESS)


def _resume_point(folder: Path, settings: dict[str, Any], resume: bool, log: Log) -> int:
    """Rows an interrupted build in ``folder`` wrote (0: none, or ``resume`` not asked); another build's work is refused."""
    if not resume or not folder.is_dir():
        return 0
    progress = _read_progress(folder)
    if progress is None:
        log("--resume: the interrupted build left no progress to go on from; starting again")
        return 0
    if progress.get("settings") != settings:
        differ = sorted(k for k in {*settings, *progress.get("settings", {})}
                        if settings.get(k) != progress.get("settings", {}).get(k))
        raise ConfigError(f"--resume: the interrupted build was of another corpus or other settings "
                          f"({', '.join(differ)} differ); run without --resume to start again")
    return int(progress.get("done", 0))


# ---- build ----------------------------------------------------------------------------------------


def build_index(encoder: SiameseEncoder, corpus: Corpus, output: str | os.PathLike, *, backend: str = "exact",
                metric: str = "cosine", overwrite: bool = False, resume: bool = False, chunk_size: int = DEFAULT_CHUNK,
                batch_size: int = 64, uri: str | None = None, collection: str | None = None, token: str | None = None,
                total: int | None = None, show_progress: bool = False, log: Log = _no_log,
                options: dict[str, int] | None = None) -> StreamResult:
    """Embed ``corpus`` with ``encoder`` a chunk at a time into a new index folder at ``output``.

    ``total`` is the row count from :func:`check_corpus` (run first, before loading the model, by the
    CLI); without it the corpus is checked here. ``backend="milvus"`` writes to Milvus Lite inside
    ``output``, or with ``uri`` to a Milvus server (``collection``, default: the folder's name).
    """
    check_backend(backend)
    full = check_options(metric, options)
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}")
    milvus = backend == "milvus"
    server = uri is not None
    if not milvus and (uri is not None or collection is not None):
        raise ConfigError(f"--uri and --collection go with --backend milvus, not {backend}")
    if total is None:
        total = check_corpus(corpus, _checker(corpus), chunk_size=chunk_size, milvus=milvus)
    from siamese_text.search.milvus import check_collection_name, collection_name

    name = check_collection_name(collection) if collection else collection_name(Path(output).name if server else "siamese_text")
    model = model_name(encoder.name_or_path)
    dimension = encoder.dimension
    settings = {"corpus": corpus.fingerprint(), "rows": total, "model": model, "backend": backend, "metric": metric,
                "options": full, "chunk_size": chunk_size, "uri": uri, "collection": name}
    started = time.perf_counter()
    keep = [k for k in (model, corpus.source) if Path(k).exists()]
    start = _resume_point(partial_dir(output), settings, resume, log)  # refused before the work could be cleared
    with resumable_dir(output, overwrite=overwrite, resume=resume and start > 0, keep=keep) as (tmp, _):
        if start:
            log(f"resuming after {start:,} of {total:,} texts")
        writer: Any = None
        try:
            if milvus:
                writer = _milvus_target(tmp, uri=uri, token=token, name=name, dimension=dimension, metric=metric,
                                        options=full, corpus=corpus, start=start, overwrite=overwrite)
            else:
                writer = _LocalWriter(tmp, backend=backend, total=total, dimension=dimension, id_kind=_id_kind(corpus),
                                      options=full, start=start)
            done = _write_all(encoder, corpus, writer, start=start, total=total, settings=settings, folder=tmp,
                              metric=metric, chunk_size=chunk_size, batch_size=batch_size, show_progress=show_progress,
                              upsert_first=milvus and start > 0)
            probe = encoder.encode(PROBE_TEXT).tolist()
            manifest = {"model": model, "dimension": dimension, "normalized": metric == "cosine", "metric": metric,
                        "backend": backend, "dtype": "float32", "options": full, "probe": probe}
            if milvus:
                manifest.update(_finish_milvus(writer, name=name, total=total, server=server, overwrite=overwrite))
            else:
                writer.finish()
                manifest.update(count=total, deleted=0)
            (tmp / PROGRESS).unlink(missing_ok=True)
            files.write_manifest(tmp, manifest)
        except KeyboardInterrupt:
            done = (_read_progress(tmp) or {}).get("done", start)  # noqa: F841 - the message says where it stopped
            log(f"interrupted after {done:,} of {total:,} texts; the work is kept: run the same command with --resume "
                "to go on from there")
            raise
        except BaseException:
            if milvus and server and writer is not None:
                writer.drop()
            raise
        finally:
            if writer is not None:
                writer.close()
    from siamese_text.search.milvus import shown_uri

    location = f"collection {name} on {shown_uri(uri)}" if server and uri else ""
    return StreamResult(folder=Path(output), added=done, count=total, backend=backend, dimension=dimension, model=model,
                        seconds=time.perf_counter() - started, resumed_from=start, location=location)


def _id_kind(corpus: Corpus) -> type:
    for _, ids, _ in corpus.chunks(1):
        return int if ids is None or isinstance(ids[0], (int, np.integer)) else str
    return int


def _write_all(encoder: SiameseEncoder, corpus: Corpus, writer: Any, *, start: int, total: int,
               settings: dict[str, Any] | None, folder: Path, metric: str, chunk_size: int, batch_size: int,
               show_progress: bool, upsert_first: bool, start_id: int = 0, write: str = "write") -> int:
    """Read, embed and write every chunk from row ``start``; with ``settings``, progress is recorded a chunk at a time."""
    done = start
    bar = _bar(total, start, show=show_progress, desc="indexing")
    try:
        for texts, ids, metadata in corpus.chunks(chunk_size, start=start):
            ids = _ids(ids, start_id, done, len(texts))
            embeddings = _embed(encoder, texts, metric=metric, batch_size=batch_size)
            if upsert_first:  # rows written after the last recorded chunk may be there already: replaced, not doubled
                writer.upsert(embeddings, ids, texts, metadata)
                upsert_first = False
            else:
                getattr(writer, write)(embeddings, ids, texts, metadata)
            done += len(texts)
            if settings is not None:
                _write_progress(folder, settings, done)
            bar.update(len(texts))
    finally:
        bar.close()
    return done


class _MilvusTarget:
    """A Milvus collection written like a local folder: ``write`` a chunk, ``upsert`` one after a resume."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def write(self, embeddings: np.ndarray, ids: list[Any], texts: list[str], metadata: list[Any] | None) -> None:
        self.store.add(embeddings, ids, texts, metadata if metadata is not None else [None] * len(ids))

    def upsert(self, embeddings: np.ndarray, ids: list[Any], texts: list[str], metadata: list[Any] | None) -> None:
        self.store.upsert(embeddings, ids, texts, metadata if metadata is not None else [None] * len(ids))

    def drop(self) -> None:
        self.store.drop()

    def close(self) -> None:
        self.store.close()


def _milvus_target(tmp: Path, *, uri: str | None, token: str | None, name: str, dimension: int, metric: str,
                   options: dict[str, int], corpus: Corpus, start: int, overwrite: bool) -> _MilvusTarget:
    """The collection a build writes: in ``tmp/milvus.db`` (Milvus Lite), or ``NAME__partial`` on a server."""
    from siamese_text.search.milvus import LITE_FILE, MilvusBackend

    server = uri is not None
    target_uri = uri if server else str(tmp / LITE_FILE)
    partial = f"{name}__partial" if server else name
    if server and not overwrite:
        check_collection_free(target_uri, name, dimension=dimension, metric=metric, token=token)
    if start:
        store = MilvusBackend.connect(uri=target_uri, collection=partial, dimension=dimension, metric=metric,
                                      options=options, token=token)
    else:
        store = MilvusBackend.create(uri=target_uri, collection=partial, dimension=dimension, metric=metric,
                                     options=options, id_kind=_id_kind(corpus), token=token, replace=True)
    return _MilvusTarget(store)


def _finish_milvus(writer: _MilvusTarget, *, name: str, total: int, server: bool, overwrite: bool) -> dict[str, Any]:
    from siamese_text.search.milvus import LITE_FILE

    store = writer.store
    store.flush()
    count = len(store)
    if count != total:
        raise DataError(f"collection {store.collection!r} holds {count:,} rows after writing {total:,} texts "
                        "(a row written twice?); build again without --resume")
    if server:
        store.rename(name, replace=overwrite)
    extra = store.save(Path("."))
    if not server:
        extra["milvus"]["uri"] = LITE_FILE
    return extra


# ---- add ------------------------------------------------------------------------------------------


def _load_checked_encoder(manifest: dict[str, Any], model: str | None, encoder: SiameseEncoder | None,
                          folder: Path) -> tuple[SiameseEncoder, str]:
    from siamese_text.encoder import SiameseEncoder

    if encoder is None:
        try:
            encoder = SiameseEncoder.load(model or manifest["model"])
        except Exception as exc:
            if model is None:
                from siamese_text.errors import ModelError

                reason = (str(exc.__cause__ or "").strip() or str(exc)).splitlines()[0]
                raise ModelError(f"cannot load this index's model {manifest['model']!r} ({reason}); if the model moved, "
                                 "pass where it is now: --model PATH") from exc
            raise
    check_encoder(encoder, model=manifest["model"], dimension=manifest["dimension"], probe=manifest.get("probe"),
                  where=f"index {folder}", by_name=model is None and encoder is None)
    return encoder, model_name(model) if model else manifest["model"]


def add_to_index(folder: str | os.PathLike, corpus: Corpus, *, model: str | None = None,
                 encoder: SiameseEncoder | None = None, upsert: bool = False, chunk_size: int = DEFAULT_CHUNK,
                 batch_size: int = 64, token: str | None = None, show_progress: bool = False,
                 log: Log = _no_log, loaded: Callable[[], None] | None = None) -> StreamResult:
    """Embed ``corpus`` with the index's model a chunk at a time and add it to the index in ``folder``.

    ``upsert``: rows whose id is already in the index are replaced (else such ids are refused).
    ``model``: the index's model, if it moved (checked to embed as the index's did). An in-process
    index is rewritten beside the old one and swapped in at the end (interrupted, nothing changed);
    a Milvus collection is written in place, so an interrupted add is finished by running it again
    with ``upsert``. ``loaded`` is called once the corpus is checked, before the model loads.
    """
    folder = Path(folder)
    started = time.perf_counter()
    with output_lock(folder, flag="index", shown=folder):  # from reading to writing: two adds never lose one
        manifest = files.read_manifest(folder)
        backend = manifest["backend"]
        check_backend(backend)
        if backend == "milvus":
            return _add_milvus(folder, manifest, corpus, model=model, encoder=encoder, upsert=upsert,
                               chunk_size=chunk_size, batch_size=batch_size, token=token, show_progress=show_progress,
                               log=log, loaded=loaded, started=started)
        assert backend in LOCAL_BACKENDS
        old_ids = files.read_ids(files.check_file(folder, files.RECORDS, manifest))
        deleted = None
        if (folder / files.DELETED).exists():
            deleted = np.array(files.load_array(files.check_file(folder, files.DELETED, manifest), mmap=False,
                                                shape=(manifest["count"],), dtype=np.bool_))
        live = [i for n, i in enumerate(old_ids) if deleted is None or not deleted[n]]
        checker = _checker(corpus, live, replace=upsert)
        first_id = checker.next_id
        total_new = check_corpus(corpus, checker, chunk_size=chunk_size)
        if loaded is not None:
            loaded()
        encoder, model = _load_checked_encoder(manifest, model, encoder, folder)
        replaced = _replaced_ids(corpus, set(live), chunk_size) if upsert else set()
        drop = np.zeros(len(old_ids), dtype=bool) if deleted is None else deleted.copy()
        if replaced:
            drop |= np.fromiter((i in replaced for i in old_ids), dtype=bool, count=len(old_ids))
        keep_all = backend == "faiss"  # a graph keeps its rows: dropped ones are masked
        kept_old = len(old_ids) if keep_all else int((~drop).sum())
        with atomic_dir(folder, overwrite=True, flag="index", keep=(manifest["model"], model)) as tmp:
            writer = _LocalWriter(tmp, backend=backend, total=kept_old + total_new, dimension=manifest["dimension"],
                                  id_kind=type(old_ids[0]) if old_ids else int, options={**manifest.get("options", {})},
                                  deleted=drop if keep_all else None)
            try:
                _copy_old(folder, manifest, writer, None if keep_all else ~drop)
                if keep_all:
                    from siamese_text.search.faiss import import_faiss

                    writer.graph = import_faiss().read_index(str(files.check_file(folder, files.FAISS_FILE, manifest)))
                added = _write_all(encoder, corpus, writer, start=0, total=total_new, settings=None, folder=tmp,
                                   metric=manifest["metric"], chunk_size=chunk_size, batch_size=batch_size,
                                   show_progress=show_progress, upsert_first=False, start_id=first_id)
                writer.finish()
            finally:
                writer.close()
            (tmp / PROGRESS).unlink(missing_ok=True)
            count = kept_old + total_new
            dropped = int(drop.sum()) if keep_all else 0
            new_manifest = {k: v for k, v in manifest.items() if k not in ("files", "format", "format_version",
                                                                           "siamese_text_version")}
            new_manifest.update(model=model, count=count, deleted=dropped)
            files.write_manifest(tmp, new_manifest)
    return StreamResult(folder=folder, added=added, count=count - dropped, backend=backend,
                        dimension=manifest["dimension"], model=model, seconds=time.perf_counter() - started)


def _replaced_ids(corpus: Corpus, live: set[Any], chunk_size: int) -> set[Any]:
    found: set[Any] = set()
    for _, ids, _ in corpus.chunks(chunk_size):
        if ids is not None:
            found.update(i for i in ids if i in live)
    return found


def _copy_old(folder: Path, manifest: dict[str, Any], writer: _LocalWriter, keep: np.ndarray | None) -> None:
    """The old rows (those in ``keep``; all if None) into the new folder, a block at a time."""
    block = 1 << 15
    embeddings = files.iter_npy(files.check_file(folder, files.EMBEDDINGS, manifest), chunk=block)
    records = files.iter_record_batches(files.check_file(folder, files.RECORDS, manifest), batch=block)
    row = 0
    for vectors, (ids, texts, metadata) in zip(embeddings, records):
        if len(ids) != len(vectors):
            raise DataError(f"{folder}: records and embeddings do not line up; rebuild the index")
        mask = None if keep is None else keep[row : row + len(ids)]
        if mask is not None and not mask.all():
            vectors = vectors[mask]
            ids, texts, metadata = ([v for v, m in zip(col, mask) if m] for col in (ids, texts, metadata))
        if len(ids):
            writer.write(vectors, ids, texts, metadata, encoded=True, graph=False)  # a faiss graph is the old one
        row += len(mask) if mask is not None else len(ids)


def _add_milvus(folder: Path, manifest: dict[str, Any], corpus: Corpus, *, model: str | None,
                encoder: SiameseEncoder | None, upsert: bool, chunk_size: int, batch_size: int, token: str | None,
                show_progress: bool, log: Log, loaded: Callable[[], None] | None, started: float) -> StreamResult:
    store = open_store(folder, manifest, token=token)
    try:
        kind = store.id_kind()
        existing = store.all_ids() if corpus.id_column is None else ()  # default ids go on after the largest
        checker = _checker(corpus, existing, replace=upsert, kind=kind)
        first_id = checker.next_id
        total_new = check_corpus(corpus, checker, chunk_size=chunk_size, engine=store, upsert=upsert)
        if loaded is not None:
            loaded()
        encoder, model = _load_checked_encoder(manifest, model, encoder, folder)
        target = _MilvusTarget(store)
        done = 0
        try:
            done = _write_all(encoder, corpus, target, start=0, total=total_new, settings=None, folder=folder,
                              metric=manifest["metric"], chunk_size=chunk_size, batch_size=batch_size,
                              show_progress=show_progress, upsert_first=False, start_id=first_id,
                              write="upsert" if upsert else "write")
        except KeyboardInterrupt:
            log(f"interrupted: the texts before row {done:,} of {total_new:,} may be in collection {store.collection!r}; "
                "run the same command with --upsert to finish (rows already there are replaced, not doubled)")
            raise
        extra = store.save(folder)  # flushed: Milvus Lite searches flushed rows through its index
        if extra["milvus"]["lite"]:
            extra["milvus"]["uri"] = manifest["milvus"]["uri"]
        new_manifest = {k: v for k, v in manifest.items() if k not in ("files", "format", "format_version",
                                                                       "siamese_text_version")}
        new_manifest.update(model=model, **extra)
        files.write_manifest(folder, new_manifest, atomic=True)
        return StreamResult(folder=folder, added=done, count=extra["count"], backend="milvus",
                            dimension=manifest["dimension"], model=model, seconds=time.perf_counter() - started)
    finally:
        store.close()
