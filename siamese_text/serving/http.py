"""The server's guard and its errors: API key, body size limit, request metrics, one-line 4xx messages.

Errors are OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so its clients raise
them with the message; the message is one line that names the field at fault. The API key is
compared in constant time and never written to a log or an error.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from siamese_text.errors import SiameseTextError
from siamese_text.serving.metrics import ServeMetrics

__all__ = ["ApiError", "GuardMiddleware", "install_error_handlers", "error_body"]

logger = logging.getLogger("siamese_text.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ApiError(Exception):
    """A request the server refuses: HTTP ``status``, a one-line ``message`` and the ``param`` (field) at fault."""

    def __init__(self, status: int, message: str, *, param: str | None = None, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.headers = status, message, param, kind, headers


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class _BodyTooLarge(StarletteHTTPException):
    pass


class GuardMiddleware:
    """Every HTTP request: timed into the metrics, its API key checked (all but ``open_paths``), its body bounded."""

    def __init__(self, app: Any, *, metrics: ServeMetrics, api_key: str | None, max_body_bytes: int,
                 open_paths: tuple[str, ...] = ("/health",)) -> None:
        self.app, self.metrics, self.max_body_bytes, self.open_paths = app, metrics, max_body_bytes, open_paths
        self._key = None if api_key is None else api_key.encode()

    def _authorised(self, scope: Scope) -> bool:
        if self._key is None or scope["path"] in self.open_paths:
            return True
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = value
                break
        scheme, _, token = given.partition(b" ")
        # compare_digest on every request, well formed or not, so the time taken tells nothing about the key
        return hmac.compare_digest(token.strip(), self._key) and scheme.lower() == b"bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if not self._authorised(scope):
                await _send_json(send_status, 401, error_body(
                    "missing or wrong API key: send the header 'Authorization: Bearer <key>'", kind="authentication_error"),
                    {"WWW-Authenticate": "Bearer"})
                return
            length = dict(scope.get("headers", ())).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await _send_json(send_status, 413, error_body(self._too_large(), param="body"))
                return
            await self.app(scope, self._bounded(receive), send_status)
        finally:
            self.metrics.observe_request(scope["path"], status, time.perf_counter() - started)

    def _too_large(self) -> str:
        return (f"body: larger than the server's limit of {self.max_body_bytes:,} bytes; send fewer texts per request "
                "(the server's --max-body-mb)")

    def _bounded(self, receive: Receive) -> Receive:
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:  # a chunked body without content-length
                    raise _BodyTooLarge(413, self._too_large())
            return message

        return bounded


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] == "body" else [str(p) for p in loc]
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name or "body"


def validation_message(error: dict[str, Any]) -> tuple[int, str, str]:
    """(status, field, one-line message) of the first of pydantic's errors."""
    kind, loc = error.get("type", ""), tuple(error.get("loc", ()))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return 400, "body", f"body: not valid JSON ({reason}); send a JSON object" if reason else "body: not valid JSON"
    field = _field(loc)
    message = str(error.get("msg", "is not valid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
        separator = "" if message.startswith("[") else ": "
        return 422, field, f"{field}{separator}{message}"
    if kind == "missing":
        return 422, field, f"{field}: required" if field != "body" else "body: missing; send a JSON object"
    if field == "body" and kind in ("model_attributes_type", "dict_type"):
        return 422, field, "body: must be a JSON object"
    return 422, field, f"{field}: {message[0].lower() + message[1:] if message else 'is not valid'}"


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal as one line in OpenAI's error shape; unexpected errors logged and answered 500 without detail."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _json_response(exc.status, error_body(exc.message, kind=exc.kind, param=exc.param), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "")
        if "json" not in content_type.lower():  # FastAPI reads a body as JSON only when it says it is
            return _json_response(415, error_body(
                f"body: sent as {content_type or 'no content type'}; send a JSON object with the header "
                "'Content-Type: application/json'", param="body"))
        errors = list(exc.errors()) or [{"type": "", "loc": ("body",), "msg": "is not valid"}]
        status, field, message = validation_message(errors[0])
        return _json_response(status, error_body(message, param=field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.url.path}; see GET /v1/models, POST /v1/embeddings, /v1/similarity, /v1/search"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return _json_response(exc.status_code, error_body(message, kind=kind), dict(exc.headers or {}))

    @app.exception_handler(SiameseTextError)
    async def _library(_: Request, exc: SiameseTextError) -> JSONResponse:
        return _json_response(422, error_body(str(exc).splitlines()[0]))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return _json_response(500, error_body(f"internal error ({type(exc).__name__}); see the server's log",
                                              kind="server_error"))
