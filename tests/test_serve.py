"""`siamtext serve` (issue 29): the real server on a free loopback port, called with httpx and the openai client.

Embeddings equal SentenceTransformer(MODEL).encode, similarity decisions equal `siamtext verify`, search
hits equal `siamtext search --json`; bad input is a one-line 4xx naming the field; the API key guards every
route but /health; /health is ready only after warm-up; SIGTERM drains the requests in flight and exits 0.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

from siamese_text.serving.app import create_app  # noqa: E402
from siamese_text.serving.batcher import BatcherClosed, DynamicBatcher  # noqa: E402
from siamese_text.serving.model import ServedModel  # noqa: E402
from siamese_text.serving.options import ServeOptions  # noqa: E402
from siamese_text.serving.server import bind_socket, make_server  # noqa: E402
from tests.test_evaluation import _binary_pairs  # noqa: E402

KEY = "test-key-5f0c9e"
ROWS = [
    ("q1", "my card was lost", "card"), ("q2", "my card was stolen", "card"),
    ("q3", "how do i reset my password", "password"), ("q4", "what is the exchange rate", "exchange"),
    ("q5", "the cat sat on the mat", "other"), ("q6", "a dog ran in the park", "other"),
]
TEXTS = ["the cat sat on the mat", "a dog ran in the park", "my card was stolen", "how do i reset my password"]
LONG = " ".join(["the quick red bird flies over the blue river"] * 8)  # > 32 tokens: truncated by the tiny model


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@contextlib.contextmanager
def running(app):
    """The app under uvicorn in a thread, on a free loopback port; stopped (drained) on exit."""
    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


def wait_ready(url, *, headers=None, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", headers=headers, timeout=5).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"{url} was not ready in {timeout} s")


@pytest.fixture(scope="module")
def model_dir(tiny_encoder, tmp_path_factory):
    """The tiny model saved, calibrated with `siamtext calibrate`, and indexed with `siamtext index build`."""
    root = tmp_path_factory.mktemp("serve")
    path = root / "model"
    tiny_encoder.save(path)
    data = root / "para"
    data.mkdir()
    for name, seed, n in (("train", 11, 30), ("validation", 12, 45)):
        a, b, y = _binary_pairs(n, seed=seed)
        with (data / f"{name}.csv").open("w", newline="") as f:
            csv.writer(f).writerows([("q1", "q2", "is_dup"), *zip(a, b, y)])
    result = run("calibrate", path, "--dataset", data, "--text-columns", "q1,q2", "--label-column", "is_dup",
                 "--objective", "accuracy")
    assert result.exit_code == 0, result.output
    corpus = root / "faq.csv"
    with corpus.open("w", newline="") as f:
        csv.writer(f).writerows([("id", "question", "topic"), *ROWS])
    result = run("index", "build", path, corpus, "--output", root / "index", "--text-column", "question",
                 "--id-column", "id", "--quiet")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def server(model_dir):
    options = ServeOptions(max_batch_size=16, max_wait_ms=20, max_request_texts=40, max_body_bytes=64 * 1024)
    app = create_app(model_dir, model_dir.parent / "index", options=options, api_key=KEY)
    with running(app) as url:
        wait_ready(url)
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
        yield c


def one_line_error(response, status, field):
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and field in message and "Traceback" not in response.text, message
    assert KEY not in response.text
    return message


# ---- the routes, against the library and the CLI ------------------------------------------------


def test_embeddings_equal_sentence_transformers_with_httpx_and_the_openai_client(server, client, model_dir):
    from sentence_transformers import SentenceTransformer

    texts = [*TEXTS, LONG]
    want = SentenceTransformer(str(model_dir), device="cpu").encode(texts)
    body = client.post("/v1/embeddings", json={"input": texts, "model": "tiny"}).json()
    got = np.array([row["embedding"] for row in body["data"]], dtype=np.float32)
    assert [row["index"] for row in body["data"]] == list(range(len(texts)))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert body["truncated"] == 1 and body["model"] == "model" and body["usage"]["prompt_tokens"] > 0
    one = client.post("/v1/embeddings", json={"input": TEXTS[0]}).json()
    np.testing.assert_allclose(one["data"][0]["embedding"], want[0], atol=1e-5)
    assert one["usage"]["prompt_tokens"] == 8 and one["truncated"] == 0  # [CLS] + 6 words + [SEP]

    api = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0)
    floats = api.embeddings.create(input=texts, model="tiny", encoding_format="float")
    np.testing.assert_allclose(np.array([d.embedding for d in floats.data]), want, atol=1e-5)
    packed = api.embeddings.create(input=texts, model="tiny", encoding_format="base64")  # returned as sent
    decoded = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in packed.data]
    np.testing.assert_allclose(np.array(decoded), want, atol=1e-5)
    default = api.embeddings.create(input=TEXTS[1], model="tiny")  # the client asks for base64 and decodes it
    np.testing.assert_allclose(default.data[0].embedding, want[1], atol=1e-5)
    assert default.usage.prompt_tokens == 8
    assert [m.id for m in api.models.list().data] == ["model"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0).embeddings.create(input="x", model="m")


def test_concurrent_requests_share_forward_passes_and_each_gets_its_own_rows(server, model_dir):
    from sentence_transformers import SentenceTransformer

    texts = [f"{a} {b}" for a in TEXTS for b in ("today", "yesterday", "in the park", "with money")]
    want = SentenceTransformer(str(model_dir), device="cpu").encode(texts)
    before = metric_value(server, "siamtext_batch_size_texts_count")

    async def fire():
        async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
            return await asyncio.gather(*(c.post("/v1/embeddings", json={"input": t}) for t in texts))

    responses = asyncio.run(fire())
    got = np.array([r.json()["data"][0]["embedding"] for r in responses], dtype=np.float32)
    np.testing.assert_allclose(got, want, atol=1e-5)
    forwards = metric_value(server, "siamtext_batch_size_texts_count") - before
    assert 1 <= forwards < len(texts)  # gathered: fewer forward passes than requests


def test_similarity_decisions_equal_siamtext_verify(client, model_dir):
    a, b, _ = _binary_pairs(6, seed=21)
    pairs = [[x, y] for x, y in zip(a, b)] + [[TEXTS[0], TEXTS[0]]]
    body = client.post("/v1/similarity", json={"pairs": pairs}).json()
    assert body["calibrated"] is True and body["metric"] == "cosine"
    for row, (x, y) in zip(body["data"], pairs):
        result = run("verify", model_dir, x, y, "--json")
        assert result.exit_code == 0, result.output
        want = json.loads(result.stdout)
        assert row["same"] == want["same"] and body["threshold"] == want["threshold"]
        assert row["score"] == pytest.approx(want["score"], abs=1e-5)
        assert row["probability"] == pytest.approx(want["probability"], abs=1e-5)
    assert body["data"][-1]["same"] is True
    one = client.post("/v1/similarity", json={"pairs": pairs[0]}).json()  # one pair, not in a list
    assert one["data"][0]["same"] == body["data"][0]["same"]
    one_line_error(client.post("/v1/similarity", json={"pairs": pairs, "metric": "dot"}), 422, "metric")


def test_search_hits_equal_siamtext_search_json(client, model_dir):
    index = model_dir.parent / "index"
    queries = ["my card was stolen", "a dog ran in the park"]
    result = run("search", index, *queries, "--json", "-k", "3")
    assert result.exit_code == 0, result.output
    want = json.loads(result.stdout)
    got = client.post("/v1/search", json={"queries": queries, "k": 3}).json()["results"]
    assert_same_hits(got, want)
    where = 'topic == "card"'
    want = json.loads(run("search", index, queries[1], "--json", "-k", "5", "--filter", where).stdout)
    got = client.post("/v1/search", json={"query": queries[1], "k": 5, "filter": where}).json()["results"]
    assert_same_hits(got, want)
    assert {hit["id"] for hit in got[0]["hits"]} == {"q1", "q2"}
    one_line_error(client.post("/v1/search", json={"query": "x", "filter": "topic =="}), 422, "filter")
    one_line_error(client.post("/v1/search", json={"query": "x", "queries": ["y"]}), 422, "query")


def assert_same_hits(got, want):
    assert [r["query"] for r in got] == [r["query"] for r in want]
    for mine, theirs in zip(got, want):
        assert [(h["rank"], h["id"], h["text"], h["metadata"]) for h in mine["hits"]] == \
            [(h["rank"], h["id"], h["text"], h["metadata"]) for h in theirs["hits"]]
        assert [h["score"] for h in mine["hits"]] == pytest.approx([h["score"] for h in theirs["hits"]], abs=1e-5)


# ---- bad input, auth, metrics -------------------------------------------------------------------


@pytest.mark.parametrize(("route", "body", "status", "field"), [
    ("/v1/embeddings", b'{"input": ["a", ', 400, "body"),
    ("/v1/embeddings", b"[1, 2]", 422, "body"),
    ("/v1/embeddings", {}, 422, "input"),
    ("/v1/embeddings", {"input": 5}, 422, "input"),
    ("/v1/embeddings", {"input": []}, 422, "input"),
    ("/v1/embeddings", {"input": ["a", " "]}, 422, "input[1]"),
    ("/v1/embeddings", {"input": [[1, 2, 3]]}, 422, "input[0]"),
    ("/v1/embeddings", {"input": ["a"] * 41}, 422, "input"),
    ("/v1/embeddings", {"input": ["word " * 20_000]}, 413, "body"),
    ("/v1/embeddings", {"input": "a", "encoding_format": "int8"}, 422, "encoding_format"),
    ("/v1/embeddings", {"input": "a", "dimensions": 7}, 422, "dimensions"),
    ("/v1/similarity", {"pairs": [["a", "b", "c"]]}, 422, "pairs[0]"),
    ("/v1/similarity", {"pairs": []}, 422, "pairs"),
    ("/v1/similarity", {"pairs": [["a", 3]]}, 422, "pairs[0]"),
    ("/v1/search", {"query": "a", "k": 0}, 422, "k"),
    ("/v1/search", {"queries": ["a"] * 41}, 422, "queries"),
    ("/v1/search", {}, 422, "query"),
])
def test_bad_input_is_a_one_line_4xx_naming_the_field_and_the_server_keeps_serving(client, route, body, status, field):
    if isinstance(body, bytes):
        response = client.post(route, content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(route, json=body)
    message = one_line_error(response, status, field)
    assert message.startswith(field) or field == "body", message
    assert client.post("/v1/embeddings", json={"input": "still serving"}).status_code == 200


def test_a_body_without_json_content_type_and_an_unknown_route_say_what_to_send(client):
    one_line_error(client.post("/v1/embeddings", content=b'{"input": "a"}', headers={"Content-Type": "text/plain"}),
                   415, "application/json")
    one_line_error(client.get("/v2/nothing"), 404, "/v2/nothing")


def test_the_api_key_guards_every_route_but_health(server):
    for method, route in (("GET", "/v1/models"), ("GET", "/metrics"), ("POST", "/v1/embeddings"),
                          ("POST", "/v1/similarity"), ("POST", "/v1/search")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}):
            response = httpx.request(method, f"{server}{route}", headers=headers, json={"input": "a"})
            one_line_error(response, 401, "Authorization: Bearer")
            assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{server}/health").json()["status"] == "ready"
    good = httpx.post(f"{server}/v1/embeddings", headers={"Authorization": f"bearer {KEY}"}, json={"input": "a"})
    assert good.status_code == 200


def metric_value(url, name):
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ") or
               line.startswith(name + "{"))


def test_metrics_count_requests_latency_batches_and_queue(client):
    client.post("/v1/embeddings", json={"input": ["a cat", "a dog"]})
    client.post("/v1/embeddings", json={"input": []})
    text = client.get("/metrics").text
    assert 'siamtext_requests_total{route="/v1/embeddings",status="200"}' in text
    assert 'siamtext_requests_total{route="/v1/embeddings",status="422"}' in text
    assert 'siamtext_request_duration_seconds_bucket{le="0.005",route="/v1/embeddings"}' in text
    for name in ("siamtext_batch_size_texts_bucket", "siamtext_forward_duration_seconds_count",
                 "siamtext_queue_depth_texts", 'siamtext_texts_total{route="/v1/embeddings"}',
                 'siamtext_truncated_texts_total{route="/v1/embeddings"}'):
        assert name in text, name


# ---- readiness, drain, the command --------------------------------------------------------------


def test_health_says_loading_until_the_model_is_warmed_up(model_dir, monkeypatch):
    gate = threading.Event()
    warm_up = ServedModel.warm_up

    def held_warm_up(self):
        assert gate.wait(60)
        warm_up(self)

    monkeypatch.setattr(ServedModel, "warm_up", held_warm_up)
    with running(create_app(model_dir)) as url:
        deadline = time.monotonic() + 60
        while True:  # the server listens at once; the model loads behind it
            with contextlib.suppress(httpx.TransportError):
                health = httpx.get(f"{url}/health", timeout=5)
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health.status_code == 503 and health.json()["status"] == "loading"
        one_line_error(httpx.post(f"{url}/v1/embeddings", json={"input": "a"}), 503, "still loading")
        gate.set()
        wait_ready(url)
        assert httpx.post(f"{url}/v1/embeddings", json={"input": "a"}).status_code == 200
        # a forward pass runs in a worker thread: /health answers while one takes 3 s
        embed = ServedModel.embed
        monkeypatch.setattr(ServedModel, "embed", lambda self, texts: (time.sleep(3), embed(self, texts))[1])
        slow = threading.Thread(target=lambda: httpx.post(f"{url}/v1/embeddings", json={"input": "slow"}, timeout=30))
        slow.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200 and slow.is_alive()
        assert time.monotonic() - started < 1.5
        slow.join(30)
        # no --index: search says how to get one
        one_line_error(httpx.post(f"{url}/v1/search", json={"query": "a"}), 404, "--index")


def test_sigterm_drains_requests_in_flight_then_exits_0(model_dir):
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # a long --max-wait-ms keeps the requests queued, waiting for company, when SIGTERM comes
    siamtext = Path(sys.executable).with_name("siamtext")
    proc = subprocess.Popen([str(siamtext), "serve", str(model_dir), "--port", str(port),
                             "--max-wait-ms", "1500", "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        results = []
        threads = [threading.Thread(target=lambda t=t: results.append(
            httpx.post(f"{url}/v1/embeddings", json={"input": t}, timeout=30))) for t in TEXTS]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(30)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert [r.status_code for r in results] == [200] * len(TEXTS)
    assert "Traceback" not in stderr


def test_the_command_refuses_bad_options_in_one_line(model_dir, monkeypatch, tmp_path):
    def error(result, text):
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert lines[-1].startswith("Error: ") and text in lines[-1] and "Traceback" not in result.output, result.output

    error(run("serve", tmp_path / "missing"), "no such model folder")
    monkeypatch.delenv("SIAMTEXT_TEST_KEY", raising=False)
    error(run("serve", model_dir, "--api-key-env", "SIAMTEXT_TEST_KEY"), "SIAMTEXT_TEST_KEY is not set")
    error(run("serve", model_dir, "--max-batch-size", "0"), "--max-batch-size")
    error(run("serve", model_dir, "--onnx-file", "x.onnx"), "--onnx-file goes with --model-backend onnx")
    error(run("serve", model_dir, "--index", tmp_path / "no-index"), "does not exist")
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    error(run("serve", model_dir, "--port", taken.getsockname()[1]), "choose another --port")
    taken.close()
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else find_spec(name, *a))
    error(run("serve", model_dir), 'pip install "siamese-text[serve]"')


# ---- the batcher on its own ---------------------------------------------------------------------


def _fake_forward(sizes):
    def forward(texts):
        sizes.append(len(texts))
        time.sleep(0.01)
        return np.array([[float(t)] for t in texts], dtype=np.float32), np.ones(len(texts), dtype=np.int64)
    return forward


@pytest.mark.parametrize("batching", [True, False])
def test_the_batcher_gathers_up_to_max_batch_size_and_answers_each_request_with_its_rows(batching):
    sizes: list[int] = []

    async def go():
        batcher = DynamicBatcher(_fake_forward(sizes), max_batch_size=4, max_wait_ms=50, batching=batching)
        batcher.start()
        requests = [[str(i)] for i in range(10)] + [[str(i) for i in range(100, 106)]]  # 6 texts: more than 4
        results = await asyncio.gather(*(batcher.submit(texts) for texts in requests))
        await batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.submit(["late"])
        return requests, results

    requests, results = asyncio.run(go())
    for texts, (embeddings, tokens) in zip(requests, results):
        assert embeddings[:, 0].tolist() == [float(t) for t in texts] and len(tokens) == len(texts)
    assert sum(sizes) == 16 and 6 in sizes
    if batching:
        assert len(sizes) < 11 and all(size <= 4 for size in sizes if size != 6)
    else:
        assert len(sizes) == 11


def test_a_lone_client_is_not_kept_waiting_for_company():
    sizes: list[int] = []

    async def one_at_a_time():
        batcher = DynamicBatcher(_fake_forward(sizes), max_batch_size=64, max_wait_ms=400)
        batcher.start()
        took = []
        for i in range(4):
            started = time.perf_counter()
            await batcher.submit([str(i)])
            took.append(time.perf_counter() - started)
        together = await asyncio.gather(*(batcher.submit([str(i)]) for i in range(3)))
        await batcher.close()
        return took, together

    took, together = asyncio.run(one_at_a_time())
    assert max(took[1:]) < 0.3  # the first may wait (no batch yet); after a lone one, none waits 400 ms
    assert len(together) == 3 and sizes[:4] == [1, 1, 1, 1]


def test_the_batcher_drains_its_queue_on_close_and_passes_errors_to_every_request():
    sizes: list[int] = []

    async def drain():
        batcher = DynamicBatcher(_fake_forward(sizes), max_batch_size=64, max_wait_ms=5000)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit([str(i)])) for i in range(5)]
        await asyncio.sleep(0.05)  # queued, waiting 5 s for company
        started = time.perf_counter()
        await batcher.close()  # does not wait out max_wait_ms, and leaves nothing unanswered
        assert time.perf_counter() - started < 2
        return [p.result()[0][0, 0] for p in pending]

    assert asyncio.run(drain()) == [0.0, 1.0, 2.0, 3.0, 4.0]

    def broken(texts):
        raise RuntimeError("forward failed")

    async def fail():
        batcher = DynamicBatcher(broken, max_batch_size=8, max_wait_ms=20)
        batcher.start()
        outcomes = await asyncio.gather(*(batcher.submit(["x"]) for _ in range(3)), return_exceptions=True)
        await batcher.close()
        return outcomes

    assert all(isinstance(o, RuntimeError) for o in asyncio.run(fail()))


def test_length_chunks_keep_padding_low_and_cover_every_text():
    from siamese_text.serving.model import length_chunks

    lengths = np.array([40, 12, 11, 11, 10, 9, 9, 8, 8, 8])
    chunks = length_chunks(lengths, most=4)
    assert [(c.start, c.stop) for c in chunks] == [(0, 1), (1, 5), (5, 9), (9, 10)]
    for c in chunks:  # each chunk pads to its first text; at least 80% of its tokens are real
        assert lengths[c].sum() >= 0.8 * lengths[c.start] * (c.stop - c.start)
    assert length_chunks(np.array([5] * 10), most=64) == [slice(0, 10)]
    assert length_chunks(np.array([], dtype=int), most=4) == []


def test_serve_options_name_the_flag():
    from siamese_text.errors import ConfigError

    for kwargs, flag in (({"max_batch_size": 0}, "--max-batch-size"), ({"max_wait_ms": -1}, "--max-wait-ms"),
                         ({"max_request_texts": 0}, "--max-request-texts"), ({"max_body_bytes": 10}, "--max-body-mb")):
        with pytest.raises(ConfigError, match=flag):
            ServeOptions(**kwargs)


def test_a_chunked_body_over_the_limit_is_refused_while_read(client):
    def chunks():
        yield b'{"input": ["'
        for _ in range(100):
            yield b"word " * 200  # 100 KB in all, no Content-Length
        yield b'"]}'

    response = client.post("/v1/embeddings", content=chunks(), headers={"Content-Type": "application/json"})
    one_line_error(response, 413, "body")
    assert client.post("/v1/embeddings", json={"input": "still serving"}).status_code == 200


@pytest.mark.slow  # the export takes ~10 s on a busy 2-core machine; the ONNX loader itself is tested in test_export
def test_the_onnx_backend_serves_the_export(model_dir, tmp_path):
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.export import export_onnx

    pytest.importorskip("onnxruntime")
    export_onnx(model_dir, out=tmp_path / "onnx-model")
    want = SiameseEncoder.load(model_dir).encode([*TEXTS, LONG])
    with running(create_app(tmp_path / "onnx-model", backend="onnx")) as url:
        wait_ready(url)
        body = httpx.post(f"{url}/v1/embeddings", json={"input": [*TEXTS, LONG]}).json()
    np.testing.assert_allclose([row["embedding"] for row in body["data"]], want, atol=1e-5)
    assert body["truncated"] == 1


def test_a_model_that_does_not_embed_as_the_index_s_did_fails_health_and_calls_back(model_dir, tiny_model_dir, tmp_path):
    from siamese_text.encoder import SiameseEncoder

    other = SiameseEncoder.from_pretrained(str(tiny_model_dir), pooling="cls", max_seq_length=32).save(tmp_path / "cls")
    reasons = []
    with running(create_app(other, model_dir.parent / "index", on_load_error=reasons.append)) as url:
        deadline = time.monotonic() + 60
        while not reasons and time.monotonic() < deadline:
            time.sleep(0.05)
        health = httpx.get(f"{url}/health")
        response = httpx.post(f"{url}/v1/embeddings", json={"input": "a"})
    assert reasons and "does not embed text as" in reasons[0]
    assert health.status_code == 503 and health.json()["status"] == "failed" and health.json()["error"] == reasons[0]
    one_line_error(response, 503, "failed to load")
