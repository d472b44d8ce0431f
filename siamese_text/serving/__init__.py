"""``siamtext serve``: a model folder, its calibration and an index behind an HTTP API.

* :func:`create_app` (``siamese_text.serving.app``): the FastAPI app; OpenAI-compatible
  ``/v1/embeddings``, ``/v1/similarity`` with calibrated decisions, ``/v1/search``, ``/health``, ``/metrics``;
* :class:`~siamese_text.serving.batcher.DynamicBatcher`: concurrent requests gathered into one forward pass;
* :func:`run_server`: uvicorn until SIGTERM, draining what is in flight.

Needs the serve extra (``pip install "siamese-text[serve]"``); names are imported on first use, so
``ServeOptions`` and :func:`need_serve_extra` work without it.
"""

from __future__ import annotations

import importlib
from typing import Any

from siamese_text.serving.options import SERVE_HINT, ServeOptions, need_serve_extra

_LAZY = {"create_app": "siamese_text.serving.app", "DynamicBatcher": "siamese_text.serving.batcher",
         "run_server": "siamese_text.serving.server", "make_server": "siamese_text.serving.server"}

__all__ = ["ServeOptions", "SERVE_HINT", "need_serve_extra", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        need_serve_extra()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'siamese_text.serving' has no attribute {name!r}")
