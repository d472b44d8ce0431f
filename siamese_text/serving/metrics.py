"""Prometheus metrics of one app, in a registry of its own (two apps in one process do not mix their counts)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["ServeMetrics", "CONTENT_TYPE_LATEST"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServeMetrics:
    """Requests and their latency by route and status, batch sizes and forward time, texts, queue depth."""

    def __init__(self, routes: tuple[str, ...]) -> None:
        self.routes = frozenset(routes)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("siamtext_requests", "HTTP requests answered, by route and status code",
                                ["route", "status"], registry=r)
        self.latency = Histogram("siamtext_request_duration_seconds", "Time to answer a request, by route",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("siamtext_batch_size_texts", "Texts in each forward pass", buckets=_BATCH_BUCKETS,
                                    registry=r)
        self.forward = Histogram("siamtext_forward_duration_seconds", "Time of each forward pass (tokenising included)",
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("siamtext_queue_depth_texts", "Texts waiting for a forward pass", registry=r)
        self.texts = Counter("siamtext_texts", "Texts embedded for requests", ["route"], registry=r)
        self.truncated = Counter("siamtext_truncated_texts", "Texts cut to the model's max_seq_length", ["route"],
                                 registry=r)

    def route(self, path: str) -> str:
        """A known route's path, else ``other`` (unknown paths must not grow the label set)."""
        return path if path in self.routes else "other"

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        route = self.route(path)
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_batch(self, texts: int, seconds: float) -> None:
        self.batch_size.observe(texts)
        self.forward.observe(seconds)

    def observe_texts(self, route: str, texts: int, truncated: int) -> None:
        self.texts.labels(route=route).inc(texts)
        if truncated:
            self.truncated.labels(route=route).inc(truncated)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
