"""`siamtext index build|add|delete` streamed a chunk at a time, resumed after an interruption, on Milvus
Lite in the folder and on a Milvus server by URI (a real `milvus-lite server` process), with filters."""

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

pytest.importorskip("pymilvus")

WORDS = "card lost stolen pin atm cash transfer fee refund balance top up rate app password reset".split()


def run(*args, input=None, env=None):
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], input=input)


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output


def write_corpus(path, n, *, start=0, id_prefix="doc"):
    rng = np.random.default_rng(start)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "lang", "year"])
        for i in range(start, start + n):
            words = " ".join(rng.choice(WORDS, size=5))
            writer.writerow([f"{id_prefix}{i}", f"{words} {i}", ["en", "fr"][i % 2], 2000 + i % 20])
    return path


@pytest.fixture()
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.csv", 50)


def build(model, corpus, out, *extra):
    result = run("index", "build", model, corpus, "-o", out, "--id-column", "id", "--quiet", *extra)
    assert result.exit_code == 0, result.output
    return result


def hits(folder, query, *extra):
    result = run("search", folder, query, "--json", "-k", "100", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]["hits"]


# ---- streaming ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["exact", "binary", "faiss", "milvus"])
def test_small_chunks_build_the_same_index(tiny_model_dir, corpus, tmp_path, backend):
    build(tiny_model_dir, corpus, tmp_path / "one", "--backend", backend, "--chunk-size", "1000")
    build(tiny_model_dir, corpus, tmp_path / "many", "--backend", backend, "--chunk-size", "7")
    one, many = hits(tmp_path / "one", "card lost pin"), hits(tmp_path / "many", "card lost pin")
    assert [h["id"] for h in one] == [h["id"] for h in many] and len(one) == 50
    assert [h["score"] for h in one] == pytest.approx([h["score"] for h in many], abs=1e-5)
    assert one[0]["metadata"].keys() == {"lang", "year"}
    if backend != "milvus":
        a, b = (np.load(tmp_path / name / "embeddings.npy") for name in ("one", "many"))
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folder or lock left


@pytest.mark.parametrize("backend", ["exact", "faiss", "milvus"])
def test_an_interrupted_build_resumes_from_its_last_chunk(tiny_encoder, corpus, tmp_path, backend, monkeypatch):
    from siamese_text.search.corpus import open_corpus
    from siamese_text.search.streaming import build_index

    source = open_corpus(corpus, id_column="id")
    build_index(tiny_encoder, source, tmp_path / "whole", backend=backend, chunk_size=8)
    real, calls = type(tiny_encoder).encode, {"n": 0}

    def flaky(self, texts, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # the fourth chunk: three (24 texts) are written
            raise KeyboardInterrupt
        return real(self, texts, **kwargs)

    monkeypatch.setattr(type(tiny_encoder), "encode", flaky)
    logged = []
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_encoder, source, tmp_path / "ix", backend=backend, chunk_size=8, log=logged.append)
    assert "interrupted after 24 of 50 texts" in logged[-1] and "--resume" in logged[-1]
    assert not (tmp_path / "ix").exists() and (tmp_path / ".ix.partial").is_dir()
    monkeypatch.setattr(type(tiny_encoder), "encode", real)
    from siamese_text.errors import ConfigError

    with pytest.raises(ConfigError, match="--resume: the interrupted build was of another corpus or other settings "
                                          r"\(chunk_size differ\)"):
        build_index(tiny_encoder, source, tmp_path / "ix", backend=backend, chunk_size=9, resume=True)
    assert (tmp_path / ".ix.partial").is_dir()  # a refused resume keeps the work
    calls["n"] = 0
    done = build_index(tiny_encoder, source, tmp_path / "ix", backend=backend, chunk_size=8, resume=True,
                       log=logged.append)
    assert done.resumed_from == 24 and done.count == 50 and "resuming after 24 of 50 texts" in logged
    assert not (tmp_path / ".ix.partial").exists()
    from siamese_text.search import SemanticIndex

    with SemanticIndex.load(tmp_path / "ix") as resumed, SemanticIndex.load(tmp_path / "whole") as whole:
        assert len(resumed) == 50 and sorted(resumed.ids) == sorted(whole.ids)  # nothing twice, nothing lost
        q = tiny_encoder.encode(["card lost pin 3"])
        assert [h.id for h in resumed.search_vectors(q, top_k=10)[0]] == [h.id for h in whole.search_vectors(q, top_k=10)[0]]


def test_a_late_duplicate_id_is_refused_before_anything_is_embedded(tiny_model_dir, tmp_path):
    path = write_corpus(tmp_path / "c.csv", 40)
    with path.open("a", newline="") as f:
        csv.writer(f).writerow(["doc7", "again", "en", 2001])
    one_line_error(run("index", "build", tiny_model_dir, path, "-o", tmp_path / "ix", "--id-column", "id",
                       "--chunk-size", "6"), "row 40: duplicate column 'id' 'doc7' (also at row 7)")
    assert not [p for p in tmp_path.iterdir() if p.name not in ("c.csv",)]


def test_a_hub_data_set_is_a_corpus(tiny_model_dir, tmp_path):
    out = tmp_path / "b77"
    result = run("index", "build", tiny_model_dir, "PolyAI/banking77", "--split", "test", "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["count"] == 3080
    found = hits(out, "my card was stolen", "--filter", "label == 11")
    assert found and all(h["metadata"]["label"] == 11 for h in found)
    one_line_error(run("index", "build", tiny_model_dir, "PolyAI/banking77", "--split", "nope", "-o", tmp_path / "x"),
                   "cannot load Hub data set 'PolyAI/banking77' split 'nope'")


# ---- add, upsert, delete on the in-process backends -------------------------------------------------


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_add_upsert_and_delete(tiny_model_dir, corpus, tmp_path, backend):
    out = tmp_path / "ix"
    build(tiny_model_dir, corpus, out, "--backend", backend)
    more = write_corpus(tmp_path / "more.csv", 10, start=45)  # doc45..doc49 are in the index, doc50.. are new
    one_line_error(run("index", "add", out, more, "--id-column", "id"),
                   "row 0: duplicate column 'id' 'doc45' (also at row 45 of the index)")
    result = run("index", "add", out, more, "--id-column", "id", "--upsert", "--quiet")
    assert result.exit_code == 0, result.output
    assert "added or replaced 10 texts" in result.stdout and "(55 in all)" in result.stdout
    ids = [h["id"] for h in hits(out, "card")]
    assert len(ids) == len(set(ids)) == 55
    result = run("index", "delete", out, "doc1", "doc2")
    assert result.exit_code == 0 and "deleted 2 rows" in result.stdout and "(53 left)" in result.stdout
    one_line_error(run("index", "delete", out, "doc3", "nope"), "cannot delete id 'nope': not in this index; nothing was changed")
    assert len(hits(out, "card")) == 53 and "doc1" not in {h["id"] for h in hits(out, "card")}


def test_delete_by_integer_ids(tiny_model_dir, tmp_path):
    (tmp_path / "c.txt").write_text("\n".join(f"text number {i} card" for i in range(6)))
    result = run("index", "build", tiny_model_dir, tmp_path / "c.txt", "-o", tmp_path / "ix", "--quiet")
    assert result.exit_code == 0, result.output
    one_line_error(run("index", "delete", tmp_path / "ix", "x"), "id 'x' is not a whole number")
    assert run("index", "delete", tmp_path / "ix", "0", "5").exit_code == 0
    assert sorted(h["id"] for h in hits(tmp_path / "ix", "card")) == [1, 2, 3, 4]


# ---- Milvus Lite in the folder ----------------------------------------------------------------------


def test_milvus_lite_folder_with_filters_add_upsert_delete(tiny_model_dir, corpus, tmp_path):
    out = tmp_path / "mv"
    build(tiny_model_dir, corpus, out, "--backend", "milvus")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["milvus"] == {"uri": "milvus.db", "collection": "siamese_text", "lite": True}
    assert (out / "milvus.db").is_dir()
    found = hits(out, "card lost", "--filter", 'lang == "fr" and year >= 2010')
    assert found and all(h["metadata"]["lang"] == "fr" and h["metadata"]["year"] >= 2010 for h in found)
    assert {h["id"] for h in found} == {f"doc{i}" for i in range(50) if i % 2 and 2000 + i % 20 >= 2010}
    one_line_error(run("search", out, "card", "--filter", 'lang = "fr"'), "unexpected '='; compare with == at position 6")
    more = write_corpus(tmp_path / "more.csv", 5, start=48)
    one_line_error(run("index", "add", out, more, "--id-column", "id"), "duplicate column 'id' 'doc48' (already in the index)")
    assert run("index", "add", out, more, "--id-column", "id", "--upsert", "--quiet").exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["count"] == 53
    assert run("index", "delete", out, "doc0").exit_code == 0
    one_line_error(run("index", "delete", out, "doc0"), "cannot delete id 'doc0': not in this index")
    assert len(hits(out, "card")) == 52


def test_a_lite_index_open_elsewhere_is_named(tiny_model_dir, corpus, tmp_path):
    out = tmp_path / "mv"
    build(tiny_model_dir, corpus, out, "--backend", "milvus")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom siamese_text.search import SemanticIndex\n"
                               f"ix = SemanticIndex.load({str(out)!r}); print('open', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        one_line_error(run("search", out, "card"), "is open in another process; Milvus Lite serves one process at a time")
    finally:
        holder.kill()
        holder.wait()


# ---- a Milvus server by URI ---------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A real Milvus gRPC server (milvus-lite's standalone mode) on a free loopback port."""
    port = _free_port()
    data = tmp_path_factory.mktemp("milvus-server")
    exe = Path(sys.executable).parent / "milvus-lite"
    proc = subprocess.Popen([str(exe), "server", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    from pymilvus import MilvusClient

    deadline = time.monotonic() + 60
    while True:
        try:
            MilvusClient(uri=uri, timeout=2).list_collections()
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("milvus-lite server did not start")
            time.sleep(0.3)
    yield uri
    proc.terminate()
    proc.wait(timeout=30)


def test_a_server_by_uri_keeps_no_secret(tiny_model_dir, corpus, tmp_path, milvus_server):
    port = milvus_server.rsplit(":", 1)[1]
    out = tmp_path / "faq-index"
    env = {"MILVUS_TOKEN": "s3cr3t-token"}
    result = run("index", "build", tiny_model_dir, corpus, "-o", out, "--id-column", "id", "--quiet", "--backend",
                 "milvus", "--uri", f"http://alice:pa55word@127.0.0.1:{port}", env=env)
    assert result.exit_code == 0, result.output
    manifest_text = (out / "manifest.json").read_text()
    for secret in ("s3cr3t", "pa55word", "alice"):
        assert secret not in manifest_text and secret not in result.output
    manifest = json.loads(manifest_text)
    assert manifest["milvus"] == {"uri": f"http://127.0.0.1:{port}", "collection": "faq_index", "lite": False}
    assert sorted(os.listdir(out)) == ["manifest.json"]  # the rows are on the server
    assert len(hits(out, "card lost pin")) == 50
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_server)
    assert "faq_index" in client.list_collections() and "faq_index__partial" not in client.list_collections()
    # the same collection again: refused unless --overwrite
    one_line_error(run("index", "build", tiny_model_dir, corpus, "-o", tmp_path / "again", "--id-column", "id",
                       "--backend", "milvus", "--uri", milvus_server, "--collection", "faq_index", "-q"),
                   "collection 'faq_index' already exists on http://127.0.0.1")
    assert not (tmp_path / "again").exists()
    more = write_corpus(tmp_path / "more.csv", 4, start=50)
    assert run("index", "add", out, more, "--id-column", "id", "--quiet").exit_code == 0
    assert len(hits(out, "card")) == 54
    # someone replaces the collection with one of other vectors: the index says so
    client.drop_collection("faq_index")
    client.create_collection("faq_index", dimension=8, metric_type="IP", id_type="string", max_length=64)
    one_line_error(run("search", out, "card"), "holds 8-d IP vectors but this index needs 32-d COSINE ones")
    one_line_error(run("index", "build", tiny_model_dir, corpus, "-o", tmp_path / "third", "--id-column", "id",
                       "--backend", "milvus", "--uri", milvus_server, "--collection", "faq_index", "-q"),
                   "already exists on http://127.0.0.1:" + port + " and holds 8-d IP vectors, not the model's 32-d COSINE ones")
    assert run("index", "build", tiny_model_dir, corpus, "-o", tmp_path / "third", "--id-column", "id", "--quiet",
               "--backend", "milvus", "--uri", milvus_server, "--collection", "faq_index", "--overwrite").exit_code == 0
    assert len(hits(tmp_path / "third", "card")) == 50


def test_a_server_that_does_not_answer_is_one_line_in_seconds(tiny_model_dir, corpus, tmp_path):
    start = time.monotonic()
    one_line_error(run("index", "build", tiny_model_dir, corpus, "-o", tmp_path / "ix", "--backend", "milvus",
                       "--uri", "http://127.0.0.1:9"), "cannot connect to Milvus at http://127.0.0.1:9")
    assert time.monotonic() - start < 15 and not (tmp_path / "ix").exists()
    one_line_error(run("index", "build", tiny_model_dir, corpus, "-o", tmp_path / "ix", "--uri", "http://x:1"),
                   "--uri and --collection go with --backend milvus, not exact")
