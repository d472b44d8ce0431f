"""Semantic search over an embedded corpus: one :class:`SemanticIndex` over four backends.

* ``exact`` (default): a blocked matrix product over every row; exact, no extra dependency;
* ``faiss``: an HNSW graph or IVF lists (``pip install 'siamese-text[faiss]'``);
* ``binary``: 1-bit codes searched by Hamming distance, the best candidates rescored in float32;
* ``milvus``: a Milvus collection (``pip install 'siamese-text[milvus]'``): Milvus Lite in the index
  folder by default, a Milvus server or cluster by URI, for corpora no single process should hold.

Every backend takes the same metadata filter (:mod:`siamese_text.search.filters`), deletes and
upserts by id, and saves as an index folder that ``siamtext search`` reads. Big corpora are built
and grown a chunk at a time (:mod:`siamese_text.search.streaming`), never held whole in memory.
"""

from siamese_text.search.base import BACKENDS, DEFAULT_OPTIONS, INDEX_METRICS, Backend
from siamese_text.search.filters import Filter, FilterError, parse_filter
from siamese_text.search.index import SemanticIndex, check_backend, search_texts
from siamese_text.search.kernels import exact_top_k, hamming_candidates, pack_codes
from siamese_text.search.records import PROBE_TEXT, Hit, RecordChecker, check_records

__all__ = ["SemanticIndex", "Hit", "Backend", "Filter", "FilterError", "parse_filter", "search_texts", "check_records",
           "RecordChecker", "check_backend", "exact_top_k", "pack_codes", "hamming_candidates", "BACKENDS",
           "DEFAULT_OPTIONS", "INDEX_METRICS", "PROBE_TEXT"]
