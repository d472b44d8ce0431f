"""Serving speed: `siamtext serve` under a bounded load on 127.0.0.1, dynamic batching against one forward per request.

    flock /tmp/siamese_bench.lock python benchmarks/serve.py > benchmarks/results/serve.log 2>&1
    python benchmarks/serve.py --scale 0.25 --backends torch     # a quick smoke run

sentence-transformers/all-MiniLM-L6-v2 (from the cache) is served twice per backend, by `siamtext serve`
subprocesses on free loopback ports: with dynamic batching (the defaults: --max-batch-size 64
--max-wait-ms 5) and with --no-batching (one forward pass per request). Backends: torch, and the ONNX
int8 export (`siamese_text.export.export_onnx(..., quantize="int8")`, made here in a temporary folder).

For each request size (1 and 16 STS-B test sentences per request) and concurrency (1, 8, 32 clients in a
closed loop: each sends its next request when the last is answered, on its own keep-alive connection)
a fixed number of requests is sent to POST /v1/embeddings (encoding_format base64, as the openai client asks), after `concurrency`
unmeasured warm-up requests; the two servers of a backend take turns, half the requests each, in the
order A B B A, so load from other jobs on the machine hits both alike. Nothing leaves 127.0.0.1 and every run stops
by itself; the servers are stopped with SIGTERM and must exit 0.

Prints a table and writes benchmarks/results/serve.json. Targets (issue 29): at concurrency 32 with
one-text requests, dynamic batching >= 3x the texts/s of one forward per request, and its p99 latency
<= 3x its p50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
INT8 = "onnx/model_qint8_quantized.onnx"
CONCURRENCY = (1, 8, 32)
SIZES = (1, 16)
# requests per (texts per request, concurrency): enough for a p99 at the one-text rows, bounded for the 16-text ones
REQUESTS = {(1, 1): 64, (1, 8): 128, (1, 32): 256, (16, 1): 8, (16, 8): 24, (16, 32): 64}
MODES = {"batching": [], "per-request": ["--no-batching"]}


def sentences() -> list[str]:
    from datasets import load_dataset

    data = load_dataset("sentence-transformers/stsb", split="test")
    return list(dict.fromkeys(list(data["sentence1"]) + list(data["sentence2"])))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    siamtext = Path(sys.executable).with_name("siamtext")
    proc = subprocess.Popen([str(siamtext), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--log-level",
                             "warning", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode


def batch_counts(url: str) -> tuple[float, float]:
    """(forward passes, texts in them) so far, from the server's /metrics."""
    import httpx

    found = {"siamtext_batch_size_texts_count": 0.0, "siamtext_batch_size_texts_sum": 0.0}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found["siamtext_batch_size_texts_count"], found["siamtext_batch_size_texts_sum"]


class Connection:
    """One keep-alive HTTP/1.1 connection: a load generator that costs far less CPU than the server it measures
    (httpx spends about as long per request as the server does, on the same two cores)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            return await self._post(path, body)
        except (ConnectionError, IndexError):  # the server closed an idle keep-alive connection: open a new one
            await self.close()
            await self.open()
            return await self._post(path, body)

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def load(url: str, texts: list[str], *, size: int, concurrency: int, requests: int) -> tuple[list[float], float]:
    """``requests`` requests of ``size`` texts from ``concurrency`` clients in a closed loop; latencies in ms."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    connections = [Connection(host, int(port)) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in connections))

    async def one(connection: Connection, i: int, record: bool) -> None:
        batch = [texts[(i * size + j) % len(texts)] for j in range(size)]
        body = json.dumps({"input": batch, "model": "bench", "encoding_format": "base64"}).encode()
        started = time.perf_counter()
        status, data = await connection.post("/v1/embeddings", body)
        if record:
            latencies.append((time.perf_counter() - started) * 1000)
        if status != 200 or len(json.loads(data)["data"]) != size:
            raise RuntimeError(f"request {i}: HTTP {status}: {data[:300]!r}")

    await asyncio.gather(*(one(c, 10_000 + i, False) for i, c in enumerate(connections)))  # warm-up
    numbers = itertools.count()

    async def client_loop(connection: Connection) -> None:
        while (i := next(numbers)) < requests:
            await one(connection, i, True)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(c) for c in connections))
    wall = time.perf_counter() - started
    await asyncio.gather(*(c.close() for c in connections))
    return latencies, wall


def figures(latencies: list[float], wall: float, size: int) -> dict[str, float]:
    latencies = sorted(latencies)
    requests = len(latencies)
    return {"requests": requests, "seconds": round(wall, 2), "requests_per_s": round(requests / wall, 1),
            "texts_per_s": round(requests * size / wall, 1), "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[min(requests - 1, int(0.99 * requests))], 1)}


def export_int8(tmp: Path) -> tuple[Path, float]:
    from huggingface_hub import snapshot_download

    from siamese_text.export import export_onnx

    started = time.perf_counter()
    export_onnx(Path(snapshot_download(MODEL)), out=tmp / "onnx-model", quantize="int8")
    return tmp / "onnx-model", time.perf_counter() - started


def run_backend(backend: str, model: str, extra: list[str], texts: list[str], scale: float, sizes: list[int],
                concurrencies: list[int]) -> tuple[list[dict], dict]:
    servers = {mode: start_server(model, [*extra, *flags]) for mode, flags in MODES.items()}
    rows: list[dict] = []
    try:
        for proc, url in servers.values():
            wait_ready(proc, url)
        for size, concurrency in itertools.product(sizes, concurrencies):
            requests = max(concurrency, int(REQUESTS[(size, concurrency)] * scale))
            # A B B A: each mode runs half its requests in each turn, so load that drifts hits both alike
            taken: dict[str, list] = {mode: [[], 0.0, 0.0, 0.0] for mode in servers}  # latencies, wall, forwards, texts
            for mode in [*servers, *reversed(servers)]:
                url = servers[mode][1]
                before = batch_counts(url)
                latencies, wall = asyncio.run(load(url, texts, size=size, concurrency=concurrency,
                                                   requests=max(concurrency, requests // 2)))
                after = batch_counts(url)
                got = taken[mode]
                got[0] += latencies
                got[1] += wall
                got[2] += after[0] - before[0]
                got[3] += after[1] - before[1]
            for mode, (latencies, wall, forwards, batched) in taken.items():
                row = {"backend": backend, "mode": mode, "concurrency": concurrency, "texts_per_request": size,
                       **figures(latencies, wall, size), "mean_batch_texts": round(batched / forwards, 1) if forwards else None}
                rows.append(row)
                print(f"  {backend:9} {mode:11} c={concurrency:<3} {size:>2} texts: {row['texts_per_s']:7.1f} texts/s "
                      f"p50 {row['p50_ms']:7.1f} ms p99 {row['p99_ms']:7.1f} ms batch {row['mean_batch_texts']}",
                      flush=True)
    finally:
        exits = {mode: stop_server(proc) for mode, (proc, _) in servers.items()}
    return rows, exits


def targets(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for backend in dict.fromkeys(row["backend"] for row in rows):
        pick = {row["mode"]: row for row in rows
                if row["backend"] == backend and row["concurrency"] == 32 and row["texts_per_request"] == 1}
        if len(pick) < 2:
            continue
        speedup = pick["batching"]["texts_per_s"] / pick["per-request"]["texts_per_s"]
        spread = pick["batching"]["p99_ms"] / pick["batching"]["p50_ms"]
        out[backend] = {"batching_speedup_c32_1text": round(speedup, 2), "speedup >= 3": speedup >= 3,
                        "p99_over_p50_c32_1text": round(spread, 2), "p99 <= 3 x p50": spread <= 3}
    return out


def versions() -> dict[str, str | None]:
    """The server's stack; uvicorn runs on httptools and uvloop when they are installed (h11 and asyncio if not)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in ("torch", "onnxruntime", "fastapi", "uvicorn", "httptools", "uvloop"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="torch,onnx-int8", help="Comma-separated: torch, onnx-int8.")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every request count (0.25: a smoke run).")
    parser.add_argument("--sizes", default="1,16", help="Texts per request, comma-separated (1 and 16 have request counts).")
    parser.add_argument("--concurrency", default="1,8,32", help="Clients, comma-separated (1, 8, 32).")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve.json"))
    args = parser.parse_args()
    import torch

    texts = sentences()
    report: dict = {"model": MODEL, "data": "sentence-transformers/stsb test sentences (unique)", "endpoint": "/v1/embeddings",
                    "encoding_format": "base64", "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_before": os.getloadavg()[0], "scale": args.scale,
                    "server_defaults": {"max_batch_size": 64, "max_wait_ms": 5}, "versions": versions()}
    rows: list[dict] = []
    exits: dict[str, dict] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        for backend in args.backends.split(","):
            if backend == "torch":
                model, extra = MODEL, []
            elif backend == "onnx-int8":
                folder, seconds = export_int8(Path(tmp))
                report["onnx_export_seconds"] = round(seconds, 1)
                model, extra = str(folder), ["--model-backend", "onnx", "--onnx-file", INT8]
            else:
                raise SystemExit(f"--backends: unknown backend {backend!r}; use torch, onnx-int8")
            print(f"{backend}:", flush=True)
            backend_rows, exits[backend] = run_backend(backend, model, extra, texts, args.scale,
                                                       [int(x) for x in args.sizes.split(",")],
                                                       [int(x) for x in args.concurrency.split(",")])
            rows += backend_rows
    report.update(rows=rows, server_exit_codes=exits, targets=targets(rows), wall_seconds=round(time.perf_counter() - started),
                  load_average_after=os.getloadavg()[0])
    print()
    print(f"{'backend':10} {'mode':12} {'conc':>4} {'texts/req':>9} {'req/s':>7} {'texts/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'batch':>6}")
    for row in rows:
        print(f"{row['backend']:10} {row['mode']:12} {row['concurrency']:>4} {row['texts_per_request']:>9} "
              f"{row['requests_per_s']:>7.1f} {row['texts_per_s']:>8.1f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
              f"{row['mean_batch_texts'] or 0:>6.1f}")
    print("targets:", json.dumps(report["targets"]))
    print("server exit codes after SIGTERM:", json.dumps(exits))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
