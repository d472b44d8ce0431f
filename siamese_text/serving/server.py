"""Running an app under uvicorn until SIGTERM or Ctrl-C, then draining what is in flight.

On SIGTERM (or SIGINT) uvicorn stops accepting connections, waits for the requests in flight to be
answered (each awaits its batch), then the app's lifespan finishes whatever the batcher still holds;
only then does :func:`run_server` return, so the process exits 0 with nothing left half-done.
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

import uvicorn

__all__ = ["run_server", "make_server", "bind_socket", "is_loopback"]

def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` before anything loads, so a port in use is one line, not a log after loading."""
    from siamese_text.errors import ConfigError

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host") from None
    return sock


def make_server(app: Any, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info",
                graceful_timeout: float | None = 30.0, access_log: bool = False) -> uvicorn.Server:
    """A uvicorn server for ``app`` (not started). Access logs are off by default: they would log every request."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=graceful_timeout, server_header=False,
                            timeout_keep_alive=30)
    return uvicorn.Server(config)


def run_server(server: uvicorn.Server, *, sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGTERM, SIGINT or SIGHUP (or ``server.should_exit``), drain, and return normally.

    uvicorn handles SIGTERM and SIGINT while it serves, then re-raises the signal it caught once it has
    shut down, which would end the process with that signal's status after a clean drain. Around it,
    every one of them only asks the server to stop, so a signal before uvicorn listens, the re-raised
    one, and SIGHUP (a closed terminal) all end in the same drain.
    """

    def stop(signum: int, frame: Any) -> None:
        server.should_exit = True

    main = threading.current_thread() is threading.main_thread()
    signals = [sig for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if sig is not None]
    previous = {sig: signal.signal(sig, stop) for sig in signals} if main else {}
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
