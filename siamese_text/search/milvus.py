"""The Milvus backend: Milvus Lite (a folder, no server) by default, a Milvus server or cluster by URI.

``pip install 'siamese-text[milvus]'`` (pymilvus and milvus-lite). A local path ending in ``.db``
starts Milvus Lite inside this process (pymilvus does that); ``http://host:19530`` reaches a Milvus
standalone server or a distributed cluster, with a token from ``MILVUS_TOKEN`` (never printed,
logged or saved). The same code runs on both: one collection of

    id (INT64 or VARCHAR primary key) | vector (FLOAT_VECTOR, HNSW) | text (VARCHAR) | metadata keys (dynamic fields)

so a filter on metadata is a plain Milvus expression (``lang == "en"``) that the engine evaluates.
Deletes and upserts are the engine's own. Collections are created with strong consistency, so a
search sees every write made before it, as with the in-process backends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from siamese_text.errors import ConfigError, DataError
from siamese_text.search.filters import Filter
from siamese_text.search.records import Hit

__all__ = ["MilvusBackend", "MILVUS_INSTALL", "import_pymilvus", "is_server_uri", "shown_uri", "collection_name",
           "LITE_FILE", "check_text_sizes"]

MILVUS_INSTALL = "pip install 'siamese-text[milvus]'"
LITE_FILE = "milvus.db"  # Milvus Lite's folder inside an index folder (pymilvus starts Lite for a path ending in .db)
SERVER_SCHEMES = ("http", "https", "tcp", "grpc", "unix")
MAX_TEXT_BYTES = 65_535  # Milvus's VARCHAR limit
MAX_ID_BYTES = 1024
RESERVED = ("id", "vector", "text")
_METRICS = {"cosine": "COSINE", "dot": "IP"}
_TIMEOUT_S = 10.0  # connecting and each call: a server that does not answer is an error, not a hang
_IDS_PER_CALL = 1000


def import_pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise ConfigError(f"--backend milvus needs pymilvus and milvus-lite; install them with {MILVUS_INSTALL}") from None
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # it logs every failed call with a traceback-like line
    return pymilvus


def is_server_uri(uri: str) -> bool:
    return urlsplit(uri).scheme.lower() in SERVER_SCHEMES


def shown_uri(uri: str) -> str:
    """The URI without a user name or password (as saved in manifests and shown in messages)."""
    if not is_server_uri(uri):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _token(uri: str, token: str | None) -> str:
    """``token``, else ``user:password`` from the URI, else ``MILVUS_TOKEN``, else none."""
    if token:
        return token
    parts = urlsplit(uri) if is_server_uri(uri) else None
    if parts is not None and parts.username:
        return f"{parts.username}:{parts.password or ''}"
    return os.environ.get("MILVUS_TOKEN", "")


def collection_name(name: str) -> str:
    """A Milvus collection name from a folder name: letters, digits and underscores, not starting with a digit."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "siamese_text"
    return ("c_" + cleaned if cleaned[0].isdigit() else cleaned)[:255]


def check_collection_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", name or ""):
        raise ConfigError(f"--collection {name!r} is not a Milvus collection name; use letters, digits and underscores, "
                          "starting with a letter or underscore")
    return name


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    text = re.sub(r"^<\w+: \(code=\d+, message=(.*)\)>$", r"\1", str(text).strip(), flags=re.S)
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _lite_manager() -> Any:
    from milvus_lite.server_manager import server_manager_instance

    return server_manager_instance


def connect(uri: str, *, token: str | None = None) -> Any:
    """A ``MilvusClient`` for ``uri``: Milvus Lite for a local ``*.db`` path (its folder made if missing), else a server."""
    pymilvus = import_pymilvus()
    if not is_server_uri(uri):
        if not uri.endswith(".db"):
            raise ConfigError(f"--uri {uri!r}: give a Milvus Lite path ending in .db, or a server as http://host:19530")
        try:
            import milvus_lite  # noqa: F401 - pymilvus starts it for a .db path
        except ImportError:
            raise ConfigError(f"a local Milvus index needs milvus-lite; install it with {MILVUS_INSTALL}") from None
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            return pymilvus.MilvusClient(str(Path(uri).absolute()))
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several kinds; one line names the place
            lock = Path(uri) / "LOCK"
            if lock.exists():
                raise ConfigError(f"the Milvus Lite index {uri} is open in another process; Milvus Lite serves one "
                                  "process at a time: stop that one, or serve the index with 'milvus-lite server' "
                                  "and give --uri http://host:port") from None
            raise ConfigError(f"cannot open the Milvus Lite index {uri} ({_first_line(exc)})") from None
    try:
        return pymilvus.MilvusClient(uri=uri, token=_token(uri, token), timeout=_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot connect to Milvus at {shown_uri(uri)} ({_first_line(exc)}); check --uri "
                          "and that the server is running (and MILVUS_TOKEN if it needs one)") from None


def release_lite(uri: str) -> None:
    """Stop Milvus Lite's in-process server for ``uri``, which holds the folder's lock until then."""
    if not is_server_uri(uri):
        with contextlib.suppress(Exception):
            _lite_manager().release_server(str(Path(uri).absolute()))


def release(client: Any, uri: str) -> None:
    """Close the client; for Milvus Lite also stop its in-process server."""
    with contextlib.suppress(Exception):
        client.close()
    release_lite(uri)


def check_text_sizes(texts: Sequence[str], *, where: str, first_row: int = 0) -> None:
    """Milvus keeps a text in a VARCHAR of at most 65,535 bytes: a longer one is refused, naming its row."""
    for row, text in enumerate(texts, start=first_row):
        if len(text) * 4 > MAX_TEXT_BYTES and len(text.encode()) > MAX_TEXT_BYTES:
            raise DataError(f"{where} row {row}: the text has {len(text.encode()):,} bytes, more than the {MAX_TEXT_BYTES:,} "
                            "a Milvus text field holds; split or shorten it")


def check_metadata_keys(metadata: Sequence[Any], *, where: str, first_row: int = 0) -> None:
    """Metadata keys become dynamic fields: one named like a field of the collection is refused, naming its row."""
    for row, meta in enumerate(metadata, start=first_row):
        clash = next((k for k in (meta or {}) if k in RESERVED or str(k).startswith("$")), None)
        if clash is not None:
            raise DataError(f"{where} row {row}: metadata key {clash!r} clashes with a field of the Milvus collection "
                            f"({', '.join(RESERVED)}); rename that key or column (or leave it out with --metadata-columns)")


def check_collection_free(uri: str, name: str, *, dimension: int | None = None, metric: str | None = None,
                          token: str | None = None) -> None:
    """Refuse to build a collection whose name is taken on ``uri`` (before anything is embedded);
    the message says when the one there holds other vectors than the model makes."""
    client = connect(uri, token=token)
    try:
        taken = client.has_collection(name)
        held = ""
        if taken and dimension is not None:
            fields = client.describe_collection(name)["fields"]
            vector = next((f for f in fields if f.get("name") == "vector"), {})
            have_dim = int(vector.get("params", {}).get("dim", -1))
            have_metric = str((client.describe_index(name, "vector") or {}).get("metric_type", "")).upper()
            if (have_dim, have_metric) != (dimension, _METRICS.get(metric or "cosine")):
                held = (f" and holds {have_dim}-d {have_metric or 'unindexed'} vectors, not the model's "
                        f"{dimension}-d {_METRICS.get(metric or 'cosine')} ones")
    finally:
        release(client, uri)
    if taken:
        raise DataError(f"collection {name!r} already exists on {shown_uri(uri)}{held}; pass --overwrite to replace it, "
                        "choose another --collection" + ("" if held else ", or grow it with 'siamtext index add'"))


class MilvusBackend:
    """One Milvus collection: vectors, texts and metadata, searched and filtered by the engine."""

    name: ClassVar[str] = "milvus"

    def __init__(self, client: Any, *, uri: str, collection: str, metric: str, dimension: int,
                 options: dict[str, int]) -> None:
        self.client, self.uri, self.collection = client, uri, collection
        self.metric, self._dimension, self.options = metric, dimension, options

    # ---- connecting -------------------------------------------------------------------------------

    @classmethod
    def create(cls, *, uri: str, collection: str, dimension: int, metric: str, options: dict[str, int], id_kind: type,
               token: str | None = None, replace: bool = False) -> MilvusBackend:
        """A new, empty collection (``replace``: an existing one of that name is dropped first)."""
        from pymilvus import DataType, MilvusClient

        client = connect(uri, token=token)
        backend = cls(client, uri=uri, collection=collection, metric=metric, dimension=dimension, options=options)
        with backend._calls("create the collection"):
            if client.has_collection(collection):
                if not replace:
                    raise DataError(backend._exists_message())
                client.drop_collection(collection)
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
            if id_kind is int:
                schema.add_field("id", DataType.INT64, is_primary=True)
            else:
                schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
            index = client.prepare_index_params()
            index.add_index(field_name="vector", index_type="HNSW", metric_type=_METRICS[metric],
                            params={"M": options["hnsw_m"], "efConstruction": options["ef_construction"]})
            client.create_collection(collection, schema=schema, index_params=index, consistency_level="Strong")
        return backend

    def _exists_message(self) -> str:
        return (f"collection {self.collection!r} already exists on {shown_uri(self.uri)}; pass --overwrite to replace it, "
                "choose another --collection, or grow it with 'siamtext index add'")

    @classmethod
    def connect(cls, *, uri: str, collection: str, dimension: int, metric: str, options: dict[str, int],
                token: str | None = None) -> MilvusBackend:
        """An existing collection, checked to hold ``dimension``-d vectors of ``metric``, loaded for search."""
        client = connect(uri, token=token)
        backend = cls(client, uri=uri, collection=collection, metric=metric, dimension=dimension, options=options)
        try:
            backend.check(dimension=dimension, metric=metric)
        except BaseException:
            backend.close()
            raise
        return backend

    def check(self, *, dimension: int, metric: str) -> None:
        where = f"collection {self.collection!r} on {shown_uri(self.uri)}"
        with self._calls("read the collection"):
            if not self.client.has_collection(self.collection):
                raise DataError(f"{where} does not exist (was it dropped or renamed?); rebuild the index")
            fields = self.client.describe_collection(self.collection)["fields"]
            vector = next((f for f in fields if f.get("name") == "vector"), None)
            index = self.client.describe_index(self.collection, "vector") or {}
        have_dim = int((vector or {}).get("params", {}).get("dim", -1))
        have_metric = str(index.get("metric_type", "")).upper()
        if vector is None or have_dim != dimension or have_metric != _METRICS[metric]:
            have = f"{have_dim}-d {have_metric or 'unindexed'}" if vector is not None else "no 'vector' field"
            raise DataError(f"{where} holds {have} vectors but this index needs {dimension}-d {_METRICS[metric]} ones "
                            "(another collection of that name?); choose another --collection or rebuild the index")
        with self._calls("load the collection"):
            self.client.load_collection(self.collection)

    @contextlib.contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """Engine errors as one line naming the collection and the server (without secrets)."""
        from pymilvus.exceptions import MilvusException

        try:
            yield
        except MilvusException as exc:
            raise DataError(f"Milvus could not {what} ({_first_line(exc)}); collection {self.collection!r} "
                            f"on {shown_uri(self.uri)}") from None

    def close(self) -> None:
        release(self.client, self.uri)

    # ---- size and ids -----------------------------------------------------------------------------

    def id_kind(self) -> type:
        """``int`` for an INT64 primary key, else ``str``."""
        with self._calls("read the collection"):
            fields = self.client.describe_collection(self.collection)["fields"]
        id_field = next((f for f in fields if f.get("name") == "id"), {})
        return int if "INT" in str(id_field.get("type", "")).upper() else str

    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        with self._calls("count the rows"):
            return int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def missing(self, ids: Sequence[Any]) -> list[Any]:
        found: set[Any] = set()
        with self._calls("look up ids"):
            for start in range(0, len(ids), _IDS_PER_CALL):
                part = list(ids[start : start + _IDS_PER_CALL])
                found.update(row["id"] for row in self.client.get(self.collection, ids=part, output_fields=["id"]))
        return [i for i in ids if i not in found]

    def all_ids(self) -> list[Any]:
        out: list[Any] = []
        with self._calls("read the ids"):
            iterator = self.client.query_iterator(self.collection, batch_size=10_000, filter="", output_fields=["id"])
            try:
                while batch := iterator.next():
                    out.extend(row["id"] for row in batch)
            finally:
                iterator.close()
        return out

    # ---- changes ----------------------------------------------------------------------------------

    def _rows(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str],
              metadata: Sequence[Any]) -> list[dict[str, Any]]:
        check_metadata_keys(metadata, where="corpus")
        check_text_sizes(texts, where="corpus")
        rows = []
        for vector, i, text, meta in zip(embeddings, ids, texts, metadata):
            row = {k: v for k, v in (meta or {}).items() if v is not None}
            row.update(id=i, vector=vector, text=text)
            rows.append(row)
        return rows

    def add(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any]) -> None:
        rows = self._rows(embeddings, ids, texts, metadata)
        with self._calls("insert rows"):
            self.client.insert(self.collection, rows)

    def upsert(self, embeddings: np.ndarray, ids: Sequence[Any], texts: Sequence[str], metadata: Sequence[Any]) -> None:
        rows = self._rows(embeddings, ids, texts, metadata)
        with self._calls("upsert rows"):
            self.client.upsert(self.collection, rows)

    def delete(self, ids: Sequence[Any]) -> None:
        with self._calls("delete rows"):
            for start in range(0, len(ids), _IDS_PER_CALL):
                self.client.delete(self.collection, ids=list(ids[start : start + _IDS_PER_CALL]))

    def flush(self) -> None:
        """Write what is buffered to the engine's storage (Milvus Lite: its segment files)."""
        with self._calls("flush"):
            self.client.flush(self.collection)

    def settle(self) -> None:
        """After a batch of writes: Milvus Lite searches unflushed rows by a scan in Python (1.8 s a query for 20k
        rows, measured; 0.25 s once flushed into an indexed segment), so it is flushed; a server indexes by itself."""
        if not is_server_uri(self.uri):
            self.flush()

    # ---- search -----------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, *, k: int, where: Filter | None = None) -> list[list[Hit]]:
        params = {"metric_type": _METRICS[self.metric], "params": {"ef": max(self.options["ef_search"], k)}}
        with self._calls("search"):
            found = self.client.search(self.collection, data=[q.tolist() for q in queries], limit=k,
                                       filter=where.to_milvus() if where is not None else "",
                                       search_params=params, output_fields=["text", "$meta"])
        out = []
        for hits in found:
            rows = []
            for rank, hit in enumerate(hits, start=1):
                entity = dict(hit.get("entity", {}))
                text = entity.pop("text", "")
                meta = {k: v for k, v in entity.items() if k not in RESERVED and not k.startswith("$")}
                rows.append(Hit(rank=rank, id=hit["id"], text=text, score=float(hit["distance"]), metadata=meta or None))
            out.append(rows)
        return out

    # ---- storage ----------------------------------------------------------------------------------

    def save(self, folder: Path) -> dict[str, Any]:
        """What the manifest records: where the collection is (the URI without secrets) and how many rows."""
        self.flush()
        return {"count": len(self), "milvus": {"uri": shown_uri(self.uri), "collection": self.collection,
                                               "lite": not is_server_uri(self.uri)}}

    def rename(self, collection: str, *, replace: bool) -> None:
        """Give the collection its final name (a build writes a partial one); ``replace`` drops one already there."""
        with self._calls("rename the collection"):
            if self.client.has_collection(collection):
                if not replace:
                    self.collection, old = collection, self.collection
                    raise DataError(self._exists_message() + f" (the new rows are in {old!r})")
                self.client.drop_collection(collection)
            self.client.rename_collection(self.collection, collection)
            self.collection = collection
            self.client.load_collection(collection)

    def drop(self) -> None:
        with self._calls("drop the collection"):
            self.client.drop_collection(self.collection)
