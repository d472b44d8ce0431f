"""``siamtext serve``: the model, its calibration and an index behind an HTTP API (FastAPI on uvicorn)."""

from __future__ import annotations

import logging
import os

import click

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.command()
@click.argument("model")
@click.option("--index", "index_path", default=None, help="Also serve POST /v1/search over this index folder (siamtext index build).")
@click.option("--model-backend", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
              help="Run the model with torch or with its ONNX export (siamtext export).")
@click.option("--onnx-file", default=None, help="With --model-backend onnx: which onnx/*.onnx file, e.g. onnx/model_qint8_quantized.onnx.")
@click.option("--device", default=None, help="torch device, e.g. cuda (default: cpu).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 exposes the server to the network.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on.")
@click.option("--max-batch-size", type=int, default=64, show_default=True,
              help="Most texts gathered from concurrent requests into one batch (run in chunks of similar length).")
@click.option("--max-wait-ms", type=float, default=5.0, show_default=True,
              help="How long the first waiting text waits for others to join its batch.")
@click.option("--no-batching", is_flag=True, help="One forward pass per request, never gathered (to compare).")
@click.option("--max-request-texts", type=int, default=2048, show_default=True,
              help="Most texts (pairs, queries) one request may carry.")
@click.option("--max-body-mb", type=float, default=8.0, show_default=True, help="Largest request body, in MB.")
@click.option("--api-key-env", default=None, metavar="NAME",
              help="Require 'Authorization: Bearer KEY' on every route but /health, KEY read from environment variable NAME.")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True, help="Server log level.")
@click.option("--access-log", is_flag=True, help="Log every request (method, path, status; never headers or bodies).")
def serve(model: str, index_path: str | None, model_backend: str, onnx_file: str | None, device: str | None, host: str,
          port: int, max_batch_size: int, max_wait_ms: float, no_batching: bool, max_request_texts: int,
          max_body_mb: float, api_key_env: str | None, log_level: str, access_log: bool) -> None:
    """Serve MODEL (a folder 'siamtext train' wrote, or a Hub id) over HTTP until SIGTERM or Ctrl-C.

    POST /v1/embeddings (OpenAI-compatible), /v1/similarity (calibrated decisions), /v1/search (with --index);
    GET /health, /metrics (Prometheus), /v1/models.
    """
    from siamese_text.errors import ConfigError, ModelError
    from siamese_text.serving.options import ServeOptions, need_serve_extra

    need_serve_extra()
    options = ServeOptions(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, batching=not no_batching,
                           max_request_texts=max_request_texts, max_body_bytes=int(max_body_mb * 1024 * 1024))
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env, "")
        if not api_key.strip():
            raise ConfigError(f"--api-key-env {api_key_env}: the environment variable {api_key_env} is not set or empty; "
                              f"export {api_key_env}=<a long random key> first")
    from siamese_text.serving.model import check_served_paths
    from siamese_text.serving.server import bind_socket, is_loopback, make_server, run_server

    check_served_paths(model, index_path, model_backend, onnx_file)  # a bad folder is one line, before the port is taken
    sock = bind_socket(host, port)
    _log_to_stderr(log_level)
    if not is_loopback(host) and api_key is None:
        click.echo(f"warning: listening on {host} without --api-key-env: anyone who can reach port {port} can use it",
                   err=True)
    from siamese_text_cli.progress import library_progress_bars

    from siamese_text.serving.app import create_app

    failed: list[str] = []
    server = None

    def stop(reason: str) -> None:
        failed.append(reason)
        server.should_exit = True

    app = create_app(model, index_path, backend=model_backend, onnx_file=onnx_file, device=device, options=options,
                     api_key=api_key, on_load_error=stop)
    server = make_server(app, host=host, port=port, log_level=log_level, access_log=access_log)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving {model} on http://{shown}:{sock.getsockname()[1]} (GET /health says when it is ready; "
               "SIGTERM or Ctrl-C drains and stops)", err=True)
    with library_progress_bars(on=False):
        run_server(server, sockets=[sock])
    if failed:
        raise ModelError(failed[0])


def _log_to_stderr(level: str) -> None:
    logger = logging.getLogger("siamese_text.serving")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
