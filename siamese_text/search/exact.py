"""The exact backend: every row scored by a blocked matrix product (:func:`~siamese_text.search.kernels.exact_top_k`).

Exact, no extra dependency, and as fast as the memory bandwidth allows for one query (a
matrix-vector product over the corpus) or the GEMM rate for a batch. Deleted rows are masked until
the index is saved, which drops them (a copy, nothing to rebuild).
"""

from __future__ import annotations

from typing import ClassVar

from siamese_text.search.local import LocalBackend

__all__ = ["ExactBackend"]


class ExactBackend(LocalBackend):
    name: ClassVar[str] = "exact"
