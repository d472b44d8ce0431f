"""The faiss backend: an HNSW graph (default) or IVF lists, from ``pip install 'siamese-text[faiss]'``.

A deleted row stays in the graph, masked by an ID selector at search time (and saved as
``deleted.npy``): removing it from an HNSW graph means rebuilding the graph, which is what faiss
itself would do. A filter that keeps few rows is answered by an exact search of just those rows,
as vector databases do: a graph walk that must skip most nodes loses recall.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from siamese_text.errors import ConfigError, DataError
from siamese_text.search import folder as files
from siamese_text.search.local import LocalBackend

__all__ = ["FaissBackend", "import_faiss", "FAISS_INSTALL"]

FAISS_INSTALL = "pip install 'siamese-text[faiss]'"


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ConfigError(f"--backend faiss needs the faiss library; install it with {FAISS_INSTALL}") from None
    return faiss


def new_faiss_index(sample: np.ndarray, options: dict[str, int]) -> Any:
    """An empty HNSW graph, or IVF lists trained on ``sample`` when ``options["nlist"] > 0``."""
    faiss = import_faiss()
    dim = sample.shape[1]
    if options["nlist"] > 0:  # IVF: k-means lists trained on the first batch of embeddings
        if sample.shape[0] < options["nlist"]:
            raise DataError(f"IVF with nlist={options['nlist']} needs at least that many texts to train on, "
                            f"got {sample.shape[0]}; use a smaller nlist or HNSW (nlist=0)")
        index = faiss.index_factory(dim, f"IVF{options['nlist']},Flat", faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(sample))
        return index
    index = faiss.IndexHNSWFlat(dim, options["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = options["ef_construction"]
    return index


class FaissBackend(LocalBackend):
    name: ClassVar[str] = "faiss"
    compacts: ClassVar[bool] = False  # dropping rows from a graph means rebuilding it

    def __init__(self, embeddings: np.ndarray, **kwargs: Any) -> None:
        super().__init__(embeddings, **kwargs)
        self.index: Any = None

    def build(self) -> None:
        self._index_rows(self.embeddings)

    def _index_rows(self, new: np.ndarray) -> None:
        if self.index is None:
            self.index = new_faiss_index(new, self.options)
        self.index.add(np.ascontiguousarray(new))

    def _params(self, k: int, allowed: np.ndarray | None) -> tuple[Any, Any]:
        faiss = import_faiss()
        selector, bits = None, None
        if allowed is not None:
            bits = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        if hasattr(self.index, "hnsw"):
            params = faiss.SearchParametersHNSW(efSearch=max(self.options["ef_search"], k), sel=selector)
        else:
            params = faiss.SearchParametersIVF(nprobe=self.options["nprobe"], sel=selector)
        return params, bits  # the bits must outlive the search: faiss holds only a pointer to them

    def _top_k(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        params, _bits = self._params(k, allowed)
        scores, rows = self.index.search(np.ascontiguousarray(queries), k, params=params)
        rows = rows.astype(np.int64)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        return scores, rows

    def _write_structure(self, folder: Path, keep: np.ndarray | None) -> None:
        import_faiss().write_index(self.index, str(folder / files.FAISS_FILE))

    def _read_structure(self, folder: Path, manifest: dict[str, Any]) -> None:
        path = files.check_file(folder, files.FAISS_FILE, manifest)
        faiss = import_faiss()
        try:
            self.index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise DataError(f"cannot read {path} ({str(exc).strip().splitlines()[0][:200]}); rebuild the index") from None
        count, dim = manifest["count"], manifest["dimension"]
        if self.index.ntotal != count or self.index.d != dim:
            raise DataError(f"{path} holds {self.index.ntotal} x {self.index.d} but the manifest says {count} x {dim}: "
                            "the manifest does not match the data, rebuild the index")
