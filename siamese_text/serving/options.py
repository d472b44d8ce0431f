"""What ``siamtext serve`` is asked for, checked before anything loads (imports no web framework).

Messages name the CLI flag, so ``siamtext serve`` prints them as they are.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from siamese_text.errors import ConfigError

__all__ = ["ServeOptions", "SERVE_HINT", "need_serve_extra", "BACKENDS"]

SERVE_HINT = 'pip install "siamese-text[serve]"'
BACKENDS: tuple[str, ...] = ("torch", "onnx")
_SERVE_MODULES = ("fastapi", "uvicorn", "prometheus_client")


def need_serve_extra() -> None:
    """Refuse to serve without the ``[serve]`` extra, naming the pip command that installs it."""
    missing = [name for name in _SERVE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"serving needs {', '.join(missing)}; install the serve extra: {SERVE_HINT}")


@dataclass(frozen=True)
class ServeOptions:
    """How requests are batched and bounded.

    * ``max_batch_size``: the most texts one batch gathers from concurrent requests (a single request
      with more is encoded alone); a batch runs in length-sorted chunks of at most this many texts;
    * ``max_wait_ms``: how long the first queued text waits for others to join its batch;
    * ``batching=False``: one forward per request, never gathered (to measure what batching buys);
    * ``max_request_texts``: the most texts (or pairs, or queries) one request may carry;
    * ``max_body_bytes``: the largest request body; a bigger one is answered 413 unread;
    * ``max_top_k``: the largest ``k`` a search may ask for.
    """

    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    batching: bool = True
    max_request_texts: int = 2048
    max_body_bytes: int = 8 * 1024 * 1024
    max_top_k: int = 1000

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ConfigError(f"--max-batch-size must be at least 1, got {self.max_batch_size}")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise ConfigError(f"--max-wait-ms must be between 0 and 10000, got {self.max_wait_ms}")
        if self.max_request_texts < 1:
            raise ConfigError(f"--max-request-texts must be at least 1, got {self.max_request_texts}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"--max-body-mb must allow at least 1 KB, got {self.max_body_bytes} bytes")
        if self.max_top_k < 1:
            raise ConfigError(f"max_top_k must be at least 1, got {self.max_top_k}")
