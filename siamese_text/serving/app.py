"""The HTTP API: ``create_app(model_path, index_path)`` builds a FastAPI app that serves a model folder.

Routes: ``POST /v1/embeddings`` (OpenAI's API), ``POST /v1/similarity`` (scores, and with a calibration
``same`` and ``probability``), ``POST /v1/search`` (with an index), ``GET /v1/models``, ``GET /health``
and ``GET /metrics``. The model loads in a thread after the server starts, so ``/health`` answers at
once: 503 ``loading`` until the model is loaded and warmed up, then 200 ``ready``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from siamese_text.errors import ConfigError
from siamese_text.serving.batcher import BatcherClosed, DynamicBatcher
from siamese_text.serving.http import ApiError, GuardMiddleware, install_error_handlers
from siamese_text.serving.metrics import CONTENT_TYPE_LATEST, ServeMetrics
from siamese_text.serving.model import Precomputed, ServedModel, load_served_model, served_name
from siamese_text.serving.options import BACKENDS, ServeOptions
from siamese_text.serving.schemas import EmbeddingRequest, SearchRequest, SimilarityRequest, texts_of

__all__ = ["create_app", "ROUTES"]

logger = logging.getLogger("siamese_text.serving")

ROUTES = ("/health", "/metrics", "/v1/models", "/v1/embeddings", "/v1/similarity", "/v1/search")


@dataclass
class ServerState:
    """What the routes share: the loaded model (None until ready), the batcher, a load error."""

    name: str
    options: ServeOptions
    metrics: ServeMetrics
    served: ServedModel | None = None
    error: str | None = None
    batcher: DynamicBatcher | None = None
    search_thread: ThreadPoolExecutor | None = None
    started: int = field(default_factory=lambda: int(time.time()))

    def model(self) -> ServedModel:
        if self.served is not None:
            return self.served
        if self.error is not None:
            raise ApiError(503, f"the model failed to load ({self.error})", kind="server_error")
        raise ApiError(503, "the model is still loading; retry when GET /health says ready", kind="server_error",
                       headers={"Retry-After": "1"})

    def check_count(self, count: int, *, field: str, what: str = "texts") -> None:
        if count > self.options.max_request_texts:
            raise ApiError(422, f"{field}: {count} {what} in one request; at most {self.options.max_request_texts} "
                                "(the server's --max-request-texts): split the request", param=field)

    async def embed(self, texts: list[str], *, route: str) -> tuple[np.ndarray, int, int]:
        """Embeddings of ``texts`` through the batcher, the tokens they were given, and how many were truncated."""
        served = self.model()
        try:
            embeddings, tokens = await self.batcher.submit(texts)
        except BatcherClosed as exc:
            raise ApiError(503, str(exc), kind="server_error") from None
        limit = served.max_seq_length
        truncated = int((tokens > limit).sum()) if limit else 0
        used = int(np.minimum(tokens, limit).sum()) if limit else int(tokens.sum())
        self.metrics.observe_texts(route, len(texts), truncated)
        return embeddings, used, truncated


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": tokens, "total_tokens": tokens}


def _encode_row(row: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # OpenAI's: little-endian float32 bytes
        return base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode("ascii")
    return row.tolist()


def create_app(model_path: str | os.PathLike, index_path: str | os.PathLike | None = None, *, backend: str = "torch",
               onnx_file: str | None = None, device: str | None = None, options: ServeOptions | None = None,
               api_key: str | None = None, on_load_error: Callable[[str], None] | None = None) -> FastAPI:
    """A FastAPI app that serves ``model_path`` (a folder ``siamtext train`` wrote, or a Hub id), and ``index_path``.

    ``api_key``: every route but ``/health`` needs ``Authorization: Bearer <api_key>``. ``on_load_error``
    is called with the one-line reason if the model cannot be loaded (``siamtext serve`` then stops).
    """
    options = options or ServeOptions()
    if backend not in BACKENDS:
        raise ConfigError(f"--model-backend {backend!r} is not one of {', '.join(BACKENDS)}")
    model_path = str(model_path)
    state = ServerState(name=served_name(model_path), options=options, metrics=ServeMetrics(ROUTES))

    def forward(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return state.served.embed(texts)

    async def load() -> None:
        try:
            served = await asyncio.to_thread(
                load_served_model, model_path, index=index_path, backend=backend, onnx_file=onnx_file, device=device,
                batch_size=options.max_batch_size)
            await asyncio.to_thread(served.warm_up)
        except Exception as exc:  # noqa: BLE001 - any failure is reported on /health and to on_load_error
            state.error = _one_line(exc)
            logger.error("cannot serve %s: %s", model_path, state.error)
            if on_load_error is not None:
                on_load_error(state.error)
            return
        state.served = served
        logger.info("ready: %s (%s, %d dimensions%s%s)", state.name, backend, served.encoder.dimension,
                    ", calibrated" if served.calibration else "", f", index of {len(served.index):,}" if served.index else "")

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        state.batcher = DynamicBatcher(forward, max_batch_size=options.max_batch_size, max_wait_ms=options.max_wait_ms,
                                       batching=options.batching, on_batch=state.metrics.observe_batch,
                                       on_queue=state.metrics.queue_depth.set)
        state.batcher.start()
        state.search_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamtext-search")
        loading = asyncio.get_running_loop().create_task(load())
        try:
            yield
        finally:  # uvicorn has answered the requests in flight; finish anything still queued, then let go
            await state.batcher.close()
            await loading
            state.search_thread.shutdown(wait=True)
            if state.served is not None:
                state.served.close()

    app = FastAPI(title="siamese-text", summary=f"serving {state.name}", lifespan=lifespan, docs_url="/docs",
                  redoc_url=None)
    app.state.serving = state
    install_error_handlers(app)
    app.add_middleware(GuardMiddleware, metrics=state.metrics, api_key=api_key, max_body_bytes=options.max_body_bytes)
    _add_routes(app, state)
    return app


def _add_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/health")
    async def health() -> JSONResponse:
        if state.served is not None:
            return JSONResponse({"status": "ready", "model": state.name})
        if state.error is not None:
            return JSONResponse({"status": "failed", "model": state.name, "error": state.error}, status_code=503)
        return JSONResponse({"status": "loading", "model": state.name}, status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models() -> JSONResponse:
        served = state.model()
        calibration = served.calibration
        card = {"id": state.name, "object": "model", "created": state.started, "owned_by": "siamese-text",
                "dimension": served.encoder.dimension, "max_seq_length": served.max_seq_length,
                "calibration": None if calibration is None else
                {"metric": calibration.metric, "threshold": calibration.threshold, "rule": calibration.describe()},
                "index": None if served.index is None else
                {"count": len(served.index), "backend": served.index.backend, "metric": served.index.metric},
                "batching": {"max_batch_size": state.options.max_batch_size, "max_wait_ms": state.options.max_wait_ms,
                             "enabled": state.options.batching}}
        return JSONResponse({"object": "list", "data": [card]})

    @app.post("/v1/embeddings")
    async def embeddings(request: EmbeddingRequest) -> JSONResponse:
        texts = texts_of(request.input)
        served = state.model()
        if request.dimensions is not None and request.dimensions != served.encoder.dimension:
            raise ApiError(422, f"dimensions: this model gives {served.encoder.dimension}-dimensional embeddings; "
                                f"omit dimensions or send {served.encoder.dimension}", param="dimensions")
        state.check_count(len(texts), field="input")
        vectors, tokens, truncated = await state.embed(texts, route="/v1/embeddings")
        data = [{"object": "embedding", "index": i, "embedding": _encode_row(row, request.encoding_format)}
                for i, row in enumerate(vectors)]
        return JSONResponse({"object": "list", "data": data, "model": state.name, "usage": _usage(tokens),
                             "truncated": truncated})

    @app.post("/v1/similarity")
    async def similarity(request: SimilarityRequest) -> JSONResponse:
        from siamese_text.calibration import not_calibrated_message, score_pairs
        from siamese_text.scoring import METRICS

        served = state.model()
        calibration = served.calibration
        if request.metric is not None and request.metric not in METRICS:
            raise ApiError(422, f"metric: {request.metric!r} is not one of {', '.join(METRICS)}", param="metric")
        if calibration is not None and request.metric not in (None, calibration.metric):
            raise ApiError(422, f"metric: the model's calibration is for {calibration.metric}; drop metric or send "
                                f"{calibration.metric}", param="metric")
        state.check_count(len(request.pairs), field="pairs", what="pairs")
        a, b = [pair[0] for pair in request.pairs], [pair[1] for pair in request.pairs]
        unique = list(dict.fromkeys(a + b))
        vectors, tokens, truncated = await state.embed(unique, route="/v1/similarity")
        result = score_pairs(Precomputed(unique, vectors, served.encoder.dimension), a, b, calibration=calibration,
                             metric=request.metric or "cosine")
        data = []
        for i, score in enumerate(result["score"]):
            row: dict[str, Any] = {"index": i, "score": float(score), "same": None, "probability": None}
            if calibration is not None:
                row.update(same=bool(result["same"][i]), probability=float(result["probability"][i]))
            data.append(row)
        body: dict[str, Any] = {
            "object": "list", "data": data, "model": state.name,
            "metric": calibration.metric if calibration else request.metric or "cosine",
            "calibrated": calibration is not None, "threshold": calibration.threshold if calibration else None,
            "usage": _usage(tokens), "truncated": truncated}
        if calibration is None:
            body["note"] = not_calibrated_message(state.name)
        return JSONResponse(body)

    @app.post("/v1/search")
    async def search(request: SearchRequest) -> JSONResponse:
        from siamese_text.search import parse_filter

        served = state.model()
        if served.index is None:
            raise ApiError(404, "no index is served; start the server with --index INDEX to search", kind="not_found")
        try:
            queries = request.texts()
        except ValueError as exc:
            raise ApiError(422, f"query: {exc}", param="query") from None
        if request.k > state.options.max_top_k:
            raise ApiError(422, f"k: {request.k} is more than the {state.options.max_top_k} hits a search returns",
                           param="k")
        try:
            where = parse_filter(request.filter)
        except ValueError as exc:  # FilterError: a SiameseTextError with the position of the fault
            raise ApiError(422, f"filter: {_one_line(exc).removeprefix('--filter ')}", param="filter") from None
        state.check_count(len(queries), field="queries", what="queries")
        vectors, tokens, truncated = await state.embed(queries, route="/v1/search")
        hits = await asyncio.get_running_loop().run_in_executor(
            state.search_thread, lambda: served.index.search_vectors(vectors, top_k=request.k, filter=where))
        results = [{"query": q, "hits": [hit.to_dict() for hit in found]} for q, found in zip(queries, hits)]
        return JSONResponse({"object": "list", "results": results, "model": state.name, "usage": _usage(tokens),
                             "truncated": truncated})
