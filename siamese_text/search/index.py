"""SemanticIndex: texts embedded by a model, searched through one of the backends, saved as a folder.

The index does the text side (the encoder, the check that a model embeds as the one that built the
index did, ids, metadata filters) and hands float32 embeddings to a :class:`~siamese_text.search.base.Backend`.
Scores are similarities (higher = more similar): the inner product, which is the cosine for
``metric="cosine"`` (embeddings and queries are L2-normalised).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siamese_text.errors import ConfigError, DataError, ModelError
from siamese_text.search import folder as files
from siamese_text.search.base import BACKENDS, DEFAULT_OPTIONS, INDEX_METRICS, LOCAL_BACKENDS, Backend
from siamese_text.search.filters import Filter, parse_filter
from siamese_text.search.records import (
    PROBE_TEXT,
    Hit,
    RecordChecker,
    as_embeddings,
    check_records,
    check_top_k,
    model_name,
)
from siamese_text.storage import atomic_dir

if TYPE_CHECKING:
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.search.local import LocalBackend

__all__ = ["SemanticIndex", "search_texts", "check_backend", "check_options", "check_encoder", "local_backend_class",
           "open_store"]


def check_backend(backend: str) -> None:
    """Refuse an unknown backend, or one whose library is not installed, before any text is embedded."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "faiss":
        from siamese_text.search.faiss import import_faiss

        import_faiss()
    elif backend == "milvus":
        from siamese_text.search.milvus import import_pymilvus

        import_pymilvus()


def check_options(metric: str, options: dict[str, Any] | None) -> dict[str, int]:
    if metric not in INDEX_METRICS:
        raise ConfigError(f"metric {metric!r} is not one of {', '.join(INDEX_METRICS)}")
    unknown = set(options or {}) - set(DEFAULT_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown index option(s) {', '.join(sorted(unknown))}; known: {', '.join(DEFAULT_OPTIONS)}")
    return {**DEFAULT_OPTIONS, **(options or {})}


def local_backend_class(name: str) -> type[LocalBackend]:
    if name == "faiss":
        from siamese_text.search.faiss import FaissBackend

        return FaissBackend
    if name == "binary":
        from siamese_text.search.binary import BinaryBackend

        return BinaryBackend
    from siamese_text.search.exact import ExactBackend

    return ExactBackend


def check_encoder(encoder: SiameseEncoder, *, model: str, dimension: int, probe: list[float] | None, where: str,
                  by_name: bool = True) -> SiameseEncoder:
    """``encoder`` if it is the model that built an index: same name (unless ``by_name`` is false),
    dimension and embedding of :data:`PROBE_TEXT` (a model retrained in place keeps its name, not this)."""
    given = model_name(encoder.name_or_path)
    if by_name and model != "unknown" and model_name(model) != given:
        raise ModelError(f"{where} was built with model {model!r} but is loaded with {given!r}; "
                         f"use {model!r} or rebuild the index with the new model")
    if encoder.dimension != dimension:
        raise ModelError(f"model {given!r} makes {encoder.dimension}-d embeddings but {where} holds "
                         f"{dimension}-d ones; use {model!r}")
    if probe is not None:
        mine = np.asarray(encoder.encode(PROBE_TEXT), dtype=np.float64)
        ref = np.asarray(probe, dtype=np.float64)
        cos = mine @ ref / max(np.linalg.norm(mine) * np.linalg.norm(ref), 1e-12)
        if cos < 0.999:
            raise ModelError(f"model {given!r} no longer embeds text as when {where} was built (was it retrained?); "
                             "rebuild the index" if by_name else
                             f"model {given!r} does not embed text as {model!r} did when {where} was built; "
                             "pass that model or rebuild the index")
    return encoder


def _temporary_lite() -> tuple[str, str]:
    """A Milvus Lite database in a new temporary folder (removed with the index): ``(uri, folder)``."""
    from siamese_text.search.milvus import LITE_FILE

    folder = tempfile.mkdtemp(prefix="siamese-text-milvus-")
    return str(Path(folder) / LITE_FILE), folder


def _drop_temporary(uri: str, folder: str) -> None:
    from siamese_text.search.milvus import release_lite

    release_lite(uri)
    shutil.rmtree(folder, ignore_errors=True)


class SemanticIndex:
    """Embeddings + ids + texts + metadata of a corpus, searchable by text or by embedding."""

    def __init__(self, store: Backend, *, model: str = "unknown", encoder: SiameseEncoder | None = None,
                 probe: list[float] | None = None) -> None:
        self.store, self.model, self.probe = store, model, probe
        self._encoder = encoder

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def build(cls, encoder: SiameseEncoder, texts: Sequence[str], ids: Sequence[Any] | None = None,
              metadata: Sequence[Any] | None = None, *, backend: str = "exact", metric: str = "cosine",
              batch_size: int = 64, show_progress: bool = False, uri: str | None = None, collection: str | None = None,
              token: str | None = None, **options: int) -> SemanticIndex:
        """Embed ``texts`` with ``encoder`` and index them (``options``: see ``DEFAULT_OPTIONS``).

        ``backend="milvus"``: ``uri`` is a Milvus Lite path (``*.db``) or a server (``http://host:19530``);
        without one, a Milvus Lite database in a temporary folder that :meth:`save` copies into the index folder.
        """
        texts, ids, metadata = check_records(texts, ids, metadata)
        check_backend(backend)
        embeddings = encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
        probe = encoder.encode(PROBE_TEXT).tolist()
        return cls.from_embeddings(embeddings, texts=texts, ids=ids, metadata=metadata, model=model_name(encoder.name_or_path),
                                   backend=backend, metric=metric, encoder=encoder, probe=probe, uri=uri,
                                   collection=collection, token=token, **options)

    @classmethod
    def from_embeddings(cls, embeddings: Any, *, texts: Sequence[str], ids: Sequence[Any] | None = None,
                        metadata: Sequence[Any] | None = None, model: str = "unknown", backend: str = "exact",
                        metric: str = "cosine", encoder: SiameseEncoder | None = None,
                        probe: list[float] | None = None, uri: str | None = None, collection: str | None = None,
                        token: str | None = None, **options: int) -> SemanticIndex:
        """Index embeddings made elsewhere (one row per text); text queries need an ``encoder``."""
        texts, ids, metadata = check_records(texts, ids, metadata)
        check_backend(backend)
        full = check_options(metric, options)
        embeddings = as_embeddings(embeddings, metric=metric, what="embeddings")
        if embeddings.shape[0] != len(texts):
            raise DataError(f"{embeddings.shape[0]} embeddings for {len(texts)} texts; give one per text")
        if backend == "milvus":
            store = cls._new_milvus(dimension=embeddings.shape[1], metric=metric, options=full, id_kind=type(ids[0]),
                                    uri=uri, collection=collection, token=token)
            index = cls(store, model=model, encoder=encoder, probe=probe)
            index._write_chunks(embeddings, ids, texts, metadata, store.add)
            store.settle()
            return index
        if uri is not None or collection is not None:
            raise ConfigError(f"uri and collection go with backend='milvus', not {backend!r}")
        store = local_backend_class(backend)(embeddings, ids=list(ids), texts=list(texts), metadata=list(metadata),
                                             metric=metric, options=full)
        if hasattr(store, "build"):
            store.build()
        return cls(store, model=model, encoder=encoder, probe=probe)

    @staticmethod
    def _new_milvus(*, dimension: int, metric: str, options: dict[str, int], id_kind: type, uri: str | None,
                    collection: str | None, token: str | None) -> Any:
        from siamese_text.search.milvus import MilvusBackend, check_collection_name

        temporary = None
        if uri is None:
            uri, temporary = _temporary_lite()
        store = MilvusBackend.create(uri=uri, collection=check_collection_name(collection or "siamese_text"),
                                     dimension=dimension, metric=metric, options=options, id_kind=id_kind, token=token)
        if temporary is not None:
            weakref.finalize(store, _drop_temporary, uri, temporary)
        return store

    def _write_chunks(self, embeddings: np.ndarray, ids: list[Any], texts: list[str], metadata: list[Any],
                      write: Any, *, chunk: int = 4096) -> None:
        for start in range(0, len(ids), chunk):
            stop = start + chunk
            write(embeddings[start:stop], ids[start:stop], texts[start:stop], metadata[start:stop])

    # ---- changes ------------------------------------------------------------------------------

    def _checker(self, *, replace: bool, given_ids: bool) -> RecordChecker:
        """Checks new records against the index's ids (a Milvus index checks given ids in the engine instead)."""
        if self.store.name == "milvus":
            existing = () if given_ids else self.store.all_ids()
            return RecordChecker(existing, replace=replace, kind=self.store.id_kind())  # type: ignore[attr-defined]
        return RecordChecker(self.store.all_ids(), replace=replace)

    def _embed(self, texts: list[str], embeddings: Any, batch_size: int, show_progress: bool) -> np.ndarray:
        if embeddings is None:
            embeddings = self.encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
        new = as_embeddings(embeddings, metric=self.metric, what="embeddings")
        if new.shape != (len(texts), self.dimension):
            raise DataError(f"new embeddings have shape {new.shape}, expected ({len(texts)}, {self.dimension})")
        return new

    def add(self, texts: Sequence[str], ids: Sequence[Any] | None = None, metadata: Sequence[Any] | None = None,
            *, embeddings: Any = None, batch_size: int = 64, show_progress: bool = False) -> None:
        """Append texts (embedded with the index's encoder unless ``embeddings`` are given); ids must be new."""
        texts, ids, metadata = self._checker(replace=False, given_ids=ids is not None).check(texts, ids, metadata)
        if self.store.name == "milvus":
            present = [i for i in ids if i not in set(self.store.missing(ids))]
            if present:
                raise DataError(f"corpus row {ids.index(present[0])}: duplicate id {present[0]!r} (already in the index); "
                                "ids must be unique, or use upsert to replace those rows")
        new = self._embed(texts, embeddings, batch_size, show_progress)
        self._write_chunks(new, ids, texts, metadata, self.store.add)
        self._settle()

    def upsert(self, texts: Sequence[str], ids: Sequence[Any], metadata: Sequence[Any] | None = None,
               *, embeddings: Any = None, batch_size: int = 64, show_progress: bool = False) -> None:
        """Replace the rows of ``ids`` that are in the index and add the others (one call, by id)."""
        if ids is None:
            raise DataError("upsert replaces rows by id; give an id for every text")
        texts, ids, metadata = self._checker(replace=True, given_ids=True).check(texts, ids, metadata)
        new = self._embed(texts, embeddings, batch_size, show_progress)
        self._write_chunks(new, ids, texts, metadata, self.store.upsert)
        self._settle()

    def delete(self, ids: Any) -> int:
        """Delete the rows of ``ids`` (one id or a list); an id not in the index is refused and nothing changes."""
        from siamese_text.search.local import check_missing

        ids = [ids] if isinstance(ids, (str, int, np.integer)) else list(dict.fromkeys(ids))
        ids = [int(i) if isinstance(i, np.integer) else i for i in ids]
        if not ids:
            raise DataError("give at least one id to delete")
        check_missing(self.store, ids)
        self.store.delete(ids)
        self._settle()
        return len(ids)

    def _settle(self) -> None:
        if self.store.name == "milvus":
            self.store.settle()  # type: ignore[attr-defined]

    # ---- properties ---------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        return self.store.name

    @property
    def metric(self) -> str:
        return self.store.metric

    @property
    def options(self) -> dict[str, int]:
        return self.store.options

    def __len__(self) -> int:
        return len(self.store)

    @property
    def dimension(self) -> int:
        return int(self.store.dimension)

    def _local(self, what: str) -> LocalBackend:
        if self.store.name == "milvus":
            raise ConfigError(f"{what} is kept in Milvus for this index; use search() or the Milvus client")
        return self.store  # type: ignore[return-value]

    def id_kind(self) -> type | None:
        """``int`` or ``str``: the kind of this index's ids (None for an empty in-process index)."""
        if self.store.name == "milvus":
            return self.store.id_kind()  # type: ignore[attr-defined]
        ids = self.store.all_ids()
        return type(ids[0]) if ids else None

    @property
    def ids(self) -> list[Any]:
        return self.store.all_ids()

    @property
    def texts(self) -> list[str]:
        store = self._local("the texts")
        return store.live(store.texts)

    @property
    def metadata(self) -> list[Any]:
        store = self._local("the metadata")
        return store.live(store.metadata)

    @property
    def embeddings(self) -> np.ndarray:
        """The float32 rows of an in-process backend (deleted rows included until the index is saved)."""
        return self._local("the embeddings").embeddings

    @property
    def encoder(self) -> SiameseEncoder:
        """The encoder for text queries; loaded from the manifest's model on first use."""
        if self._encoder is None:
            if self.model == "unknown":
                raise ModelError("this index was built from embeddings without a model; search it with search_embeddings() "
                                 "or load it with model=PATH (--model PATH in the CLI)")
            self._encoder = self._checked(self.load_model(), where="this index")
        return self._encoder

    def load_model(self, **kwargs: Any) -> SiameseEncoder:
        """The model the index records, loaded with ``SiameseEncoder.load(model, **kwargs)`` (e.g. ``backend="onnx"``);
        if it cannot be loaded, the error says how to give the model's new place."""
        from siamese_text.encoder import SiameseEncoder

        try:
            return SiameseEncoder.load(self.model, **kwargs)
        except ModelError as exc:
            reason = (str(exc.__cause__ or "").strip() or str(exc)).splitlines()[0]
            raise ModelError(f"cannot load this index's model {self.model!r} ({reason}); if the model moved, pass "
                             "where it is now: --model PATH (model=PATH in SemanticIndex.load)") from exc

    def _checked(self, encoder: SiameseEncoder, *, where: str, by_name: bool = True) -> SiameseEncoder:
        """``encoder`` if it is the index's model: same name (unless ``by_name`` is false), dimension and probe embedding."""
        return check_encoder(encoder, model=self.model, dimension=self.dimension, probe=self.probe, where=where,
                             by_name=by_name)

    def use_encoder(self, encoder: SiameseEncoder, *, moved: bool = False) -> SemanticIndex:
        """Embed queries with ``encoder`` (e.g. the index's model run through ONNX), checked as in :meth:`load`.

        ``moved``: ``encoder`` is the index's model loaded from another place (its folder moved), so it is
        checked by embedding dimension and probe embedding but not by name; the next :meth:`save` records it.
        """
        self._encoder = self._checked(encoder, where="this index", by_name=not moved)
        if moved:
            self.model = model_name(encoder.name_or_path)
        return self

    def __repr__(self) -> str:
        return f"SemanticIndex({len(self):,} x {self.dimension}, backend={self.backend!r}, model={self.model!r})"

    # ---- search -------------------------------------------------------------------------------

    def _queries(self, queries: Any, top_k: int) -> np.ndarray:
        check_top_k(top_k)
        q = as_embeddings(queries, metric=self.metric, what="query embeddings")
        if q.shape[1] != self.dimension:
            raise DataError(f"queries have {q.shape[1]} dimensions but the index has {self.dimension}")
        return q

    def search_embeddings(self, queries: Any, *, top_k: int = 10,
                          filter: str | Filter | None = None) -> tuple[np.ndarray, np.ndarray]:  # noqa: A002
        """Top-``top_k`` rows for each query embedding: ``(scores, rows)``, best first; row -1 = no hit.

        Rows are positions in :attr:`embeddings` (in-process backends); :meth:`search_vectors` gives hits on any backend.
        """
        q = self._queries(queries, top_k)
        store = self._local("row-level search")
        where = parse_filter(filter)
        k = max(1, min(top_k, len(store)))
        return store.top_k(q, k=k, allowed=store.allowed(where))

    def search_vectors(self, queries: Any, *, top_k: int = 10, filter: str | Filter | None = None) -> list[list[Hit]]:  # noqa: A002
        """Hits for each query embedding, best first, on any backend; ``filter``: see :mod:`siamese_text.search.filters`."""
        q = self._queries(queries, top_k)
        where = parse_filter(filter)
        if self.store.name != "milvus":
            if len(self.store) == 0:
                return [[] for _ in range(q.shape[0])]
            return self.store.search(q, k=min(top_k, len(self.store)), where=where)
        return self.store.search(q, k=top_k, where=where)

    def search(self, queries: str | Sequence[str], *, top_k: int = 10, batch_size: int = 64,
               filter: str | Filter | None = None) -> list:  # noqa: A002
        """Hits for each query, best first: ``list[Hit]`` for one string, ``list[list[Hit]]`` for a list."""
        check_top_k(top_k)
        where = parse_filter(filter)  # a bad filter is refused before the model loads
        single = isinstance(queries, str)
        queries = [queries] if single else list(queries)
        if not queries or not all(isinstance(q, str) and q.strip() for q in queries):
            raise DataError("give at least one non-empty query text")
        hits = self.search_vectors(self.encoder.encode(queries, batch_size=batch_size), top_k=top_k, filter=where)
        return hits[0] if single else hits

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[Hit]:
        """Turn one query's ``(scores, rows)`` into :class:`Hit` records (in-process backends)."""
        return self._local("row-level search").hits(scores, rows)

    # ---- storage ------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """What ``manifest.json`` records of the index besides its files."""
        return {"model": self.model, "dimension": self.dimension, "normalized": self.metric == "cosine",
                "metric": self.metric, "backend": self.backend, "dtype": "float32", "options": self.options,
                "probe": self.probe}

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the index folder atomically; refuses an existing non-empty folder unless ``overwrite``.

        A Milvus index whose Milvus Lite database is already in ``folder`` only rewrites its manifest;
        one in another place is copied into it; a server's collection stays where it is (the folder
        records its URI, without secrets, and its name).
        """
        if self.store.name == "milvus" and self._lite_inside(Path(folder)):
            extra = self.store.save(Path(folder))
            extra["milvus"]["uri"] = "milvus.db"
            files.write_manifest(Path(folder), {**self.manifest(), **extra}, atomic=True)
            return Path(folder)
        with atomic_dir(folder, overwrite=overwrite, flag="folder", keep=(self.model,),  # the index needs its model
                        overwrite_hint="overwrite=True (--overwrite in the CLI)") as tmp:
            extra = self.store.save(tmp)
            if self.store.name == "milvus" and extra["milvus"]["lite"]:
                self._copy_lite(tmp)
                extra["milvus"]["uri"] = "milvus.db"
            files.write_manifest(tmp, {**self.manifest(), **extra})
        return Path(folder)

    def _lite_inside(self, folder: Path) -> bool:
        from siamese_text.search.milvus import LITE_FILE, is_server_uri

        uri = self.store.uri  # type: ignore[attr-defined]
        return not is_server_uri(uri) and Path(uri).absolute() == (folder / LITE_FILE).absolute()

    def _copy_lite(self, target: Path) -> None:
        """Copy a Milvus Lite database (closed for the copy, then opened again) into ``target``."""
        from siamese_text.search.milvus import LITE_FILE, MilvusBackend

        store = self.store
        assert isinstance(store, MilvusBackend)
        store.close()
        try:
            shutil.copytree(store.uri, target / LITE_FILE, ignore=shutil.ignore_patterns("LOCK"))
        finally:
            fresh = MilvusBackend.connect(uri=store.uri, collection=store.collection, dimension=store.dimension,
                                          metric=store.metric, options=store.options)
            store.client = fresh.client

    @classmethod
    def load(cls, folder: str | os.PathLike, *, encoder: SiameseEncoder | None = None,
             model: str | os.PathLike | None = None, mmap: bool | None = None, token: str | None = None) -> SemanticIndex:
        """Read a saved index; ``encoder`` must be the model it was built with (checked).

        ``model`` (a folder or Hub id) replaces the model the manifest records, e.g. when that folder
        moved: it is loaded now and checked as in :meth:`use_encoder` with ``moved=True``. ``mmap``
        (default: on for binary and faiss) leaves the float embeddings on disk, paged in as rescoring
        touches them, so a binary index costs RAM for its codes only. A Milvus index connects to its
        collection (``token``, else ``MILVUS_TOKEN``, for a server that needs one).
        """
        if encoder is not None and model is not None:
            raise ConfigError("give encoder or model, not both: model loads the encoder from that folder or Hub id")
        folder = Path(folder)
        manifest = files.read_manifest(folder)
        index = cls(open_store(folder, manifest, mmap=mmap, token=token), model=manifest["model"],
                    probe=manifest.get("probe"))
        if encoder is not None:
            index._encoder = index._checked(encoder, where=f"index {folder}")
        if model is not None:
            from siamese_text.encoder import SiameseEncoder

            index.use_encoder(SiameseEncoder.load(model), moved=True)
        return index

    def close(self) -> None:
        """Release what the backend holds (a Milvus connection; for Milvus Lite, its folder's lock)."""
        self.store.close()

    def __enter__(self) -> SemanticIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_store(folder: Path, manifest: dict[str, Any], *, mmap: bool | None = None, token: str | None = None) -> Backend:
    """The backend of a saved index folder, opened (local files read, or the Milvus collection connected)."""
    options = {**DEFAULT_OPTIONS, **{k: v for k, v in manifest.get("options", {}).items() if k in DEFAULT_OPTIONS}}
    backend = manifest["backend"]
    check_backend(backend)
    if backend == "milvus":
        from siamese_text.search.milvus import MilvusBackend, is_server_uri

        milvus = manifest["milvus"]
        uri = milvus["uri"] if is_server_uri(milvus["uri"]) or Path(milvus["uri"]).is_absolute() else str(folder / milvus["uri"])
        if not is_server_uri(uri) and not Path(uri).is_dir():
            raise DataError(f"{uri} is missing; the index is incomplete, rebuild it")
        return MilvusBackend.connect(uri=uri, collection=milvus["collection"], dimension=manifest["dimension"],
                                     metric=manifest["metric"], options=options, token=token)
    assert backend in LOCAL_BACKENDS
    return local_backend_class(backend).load(folder, manifest, mmap=backend != "exact" if mmap is None else mmap)


def search_texts(encoder: SiameseEncoder, queries: str | Sequence[str], corpus: Sequence[str],
                 *, top_k: int = 10) -> list:
    """Quick in-memory exact search of a list of texts; hit ids are corpus positions."""
    return SemanticIndex.build(encoder, corpus).search(queries, top_k=top_k)
