"""`siamtext export` (ONNX fp32 + int8), loading with backend="onnx", and `siamtext encode` on both backends.

One export of the tiny model is shared by the module (the dynamo exporter takes several seconds).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

pytest.importorskip("onnxruntime")

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "bank money account card transfer fee refund lost stolen pin",
         "how do i reset my password", "x"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def one_error_line(result: Any, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def saved(tiny_encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder.save(tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture(scope="module")
def exported(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exported") / "onnx-model"
    result = run("export", str(saved), "--format", "onnx", "--quantize", "int8", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "onnx/model.onnx" in result.output and "onnx/model_qint8_quantized.onnx" in result.output
    return out


def test_export_writes_a_standard_folder(exported: Path, saved: Path) -> None:
    import onnx

    assert (exported / "onnx" / "model.onnx").is_file() and (exported / "onnx" / "model_qint8_quantized.onnx").is_file()
    for name in ("modules.json", "config.json", "tokenizer.json", "1_Pooling/config.json", "model.safetensors"):
        assert (exported / name).read_bytes() == (saved / name).read_bytes(), name
    assert not list(saved.glob("onnx"))  # --out leaves the source alone
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]
    # the input/output names optimum's ORTModelForFeatureExtraction (sentence-transformers' ONNX backend) reads
    for name in ("model.onnx", "model_qint8_quantized.onnx"):
        graph = onnx.load(str(exported / "onnx" / name)).graph
        inputs = [i.name for i in graph.input]
        assert inputs[:2] == ["input_ids", "attention_mask"] and set(inputs) <= {"input_ids", "attention_mask", "token_type_ids"}
        assert [o.name for o in graph.output] == ["last_hidden_state"]
    int8 = onnx.load(str(exported / "onnx" / "model_qint8_quantized.onnx")).graph
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for node in int8.node)


def test_onnx_backend_matches_torch(exported: Path, saved: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from siamese_text.encoder import SiameseEncoder

    torch_emb = SiameseEncoder.load(saved).encode(TEXTS)
    onnx_encoder = SiameseEncoder.load(exported, backend="onnx")
    assert onnx_encoder.dimension == 32 and onnx_encoder.normalize and onnx_encoder.max_seq_length == 32
    np.testing.assert_allclose(onnx_encoder.encode(TEXTS), torch_emb, atol=1e-5)
    # texts longer than max_seq_length are truncated the same way (the tokenizer is sentence-transformers')
    long = [" ".join(["bank money"] * 40)]
    np.testing.assert_allclose(onnx_encoder.encode(long), SiameseEncoder.load(saved).encode(long), atol=1e-5)
    int8 = SiameseEncoder.load(exported, backend="onnx", model_kwargs={"file_name": "onnx/model_qint8_quantized.onnx"})
    cosine = (int8.encode(TEXTS) * torch_emb).sum(axis=1)
    assert cosine.min() > 0.99 and not np.allclose(int8.encode(TEXTS), torch_emb, atol=1e-6)
    # the copied torch weights still load in sentence-transformers as they are
    np.testing.assert_allclose(SentenceTransformer(str(exported), device="cpu").encode(TEXTS), torch_emb, atol=1e-6)


def test_exported_folder_loads_in_sentence_transformers_onnx_backend(exported: Path, saved: Path) -> None:
    """sentence-transformers' own ONNX backend needs optimum (which pins transformers<4.58): runs where it is installed."""
    pytest.importorskip("optimum.onnxruntime")
    from sentence_transformers import SentenceTransformer

    from siamese_text.encoder import SiameseEncoder

    model = SentenceTransformer(str(exported), backend="onnx", model_kwargs={"file_name": "onnx/model.onnx"})
    np.testing.assert_allclose(model.encode(TEXTS), SiameseEncoder.load(saved).encode(TEXTS), atol=1e-5)


def test_encode_cli_torch_and_onnx(exported: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    outputs = {}
    for backend, extra in (("torch", []), ("onnx", []), ("int8", ["--onnx-file", "onnx/model_qint8_quantized.onnx"])):
        out = tmp_path / f"{backend}.npy"
        result = run("encode", str(exported), "--input", str(texts), "--output", str(out),
                     "--backend", "torch" if backend == "torch" else "onnx", *extra)
        assert result.exit_code == 0, result.output
        assert f"wrote {len(TEXTS)} x 32 embeddings" in result.output
        outputs[backend] = np.load(out)
    assert outputs["torch"].dtype == np.float32 and outputs["torch"].shape == (len(TEXTS), 32)
    np.testing.assert_allclose(outputs["onnx"], outputs["torch"], atol=1e-5)
    assert (outputs["int8"] * outputs["torch"]).sum(axis=1).min() > 0.99


def test_encode_cli_reads_a_table_column(saved: Path, tmp_path: Path) -> None:
    from siamese_text.encoder import SiameseEncoder

    table = tmp_path / "t.csv"
    table.write_text('id,text\n1,the cat sat\n2,"a dog, ran"\n')
    result = run("encode", str(saved), "--input", str(table), "--column", "text", "-o", str(tmp_path / "e.npy"))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), SiameseEncoder.load(saved).encode(["the cat sat", "a dog, ran"]),
                               atol=1e-6)
    parquet = tmp_path / "t.parquet"
    datasets.Dataset.from_dict({"id": [1, 2], "text": ["the cat sat", "a dog, ran"]}).to_parquet(str(parquet))
    result = run("encode", str(saved), "--input", str(parquet), "--column", "text", "-o", str(tmp_path / "p.npy"))
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), np.load(tmp_path / "e.npy"))
    result = run("encode", str(saved), "--input", str(parquet), "--column", "txt", "-o", str(tmp_path / "q.npy"))
    assert result.exit_code == 2 and "has no column 'txt'; its columns are id, text" in result.output


def test_export_in_place_and_refuses_to_overwrite(saved: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    result = run("export", str(folder))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (folder / "onnx").iterdir()) == ["model.onnx"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    before = snapshot(folder)
    one_error_line(run("export", str(folder)), "onnx/model.onnx already exists; pass --overwrite")
    assert snapshot(folder) == before


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "is not a folder"),
        ("no-modules", "no modules.json"),
        ("onnx-only", "has no torch weights to export"),
        ("out-not-empty", "--out"),
        ("out-is-file", "is a file"),
        ("bad-quantize", "'int4' is not 'int8'"),
        ("bad-format", "'tflite' is not 'onnx'"),
    ],
)
def test_export_bad_input(case: str, message: str, saved: Path, exported: Path, tmp_path: Path) -> None:
    folder, out, extra = tmp_path / "model", tmp_path / "out", []
    shutil.copytree(saved, folder)
    if case == "missing":
        folder = tmp_path / "nope"
    elif case == "no-modules":
        (folder / "modules.json").unlink()
    elif case == "onnx-only":
        shutil.rmtree(folder)
        shutil.copytree(exported, folder)
        (folder / "model.safetensors").unlink()
    elif case == "out-not-empty":
        out.mkdir()
        (out / "keep.txt").write_text("precious")
    elif case == "out-is-file":
        out.write_text("x")
    elif case == "bad-quantize":
        extra = ["--quantize", "int4"]
    elif case == "bad-format":
        extra = ["--format", "tflite"]
    before = snapshot(tmp_path)
    one_error_line(run("export", str(folder), "--out", str(out), *extra), message)
    assert snapshot(tmp_path) == before  # nothing written or removed


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-input", "does not exist"),
        ("empty-line", "line 2 is empty"),
        ("empty-row", "row 3, column 'text' is empty"),  # data rows from 0, as train and score number them
        ("bad-suffix", "use .txt, .csv, .tsv, .jsonl or .parquet"),
        ("csv-no-column", "name its text column with --column"),
        ("csv-wrong-column", "has no column 'txt'"),
        ("not-npy", "ending in .npy"),
        ("exists", "already exists; pass --overwrite"),
        ("onnx-file-torch", "--onnx-file needs --backend onnx"),
        ("no-onnx", "has no ONNX file; run 'siamtext export"),
        ("wrong-onnx-file", "has no onnx/model_fp16.onnx"),
        ("batch", "--batch-size must be at least 1"),
        ("latin-1", "is not UTF-8 text (invalid continuation byte at byte 3); save it as UTF-8"),
        ("number", "row 1, column 'text' is not text (12345); quote it or remove it"),
    ],
)
def test_encode_bad_input(case: str, message: str, saved: Path, exported: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("one\ntwo\n")
    model, inp, out, extra = exported, texts, tmp_path / "e.npy", []
    if case == "no-input":
        inp = tmp_path / "nope.txt"
    elif case == "empty-line":
        texts.write_text("one\n\nthree\n")
    elif case == "empty-row":
        inp, extra = tmp_path / "t.csv", ["--column", "text"]
        inp.write_text("id,text\n0,one\n1,two\n2,three\n3,\n")
    elif case == "bad-suffix":
        inp = tmp_path / "texts.md"
        inp.write_text("one\n")
    elif case in ("csv-no-column", "csv-wrong-column"):
        inp = tmp_path / "t.csv"
        inp.write_text("text\none\n")
        extra = ["--column", "txt"] if case == "csv-wrong-column" else []
    elif case == "not-npy":
        out = tmp_path / "e.txt"
    elif case == "exists":
        out.write_bytes(b"old")
    elif case == "onnx-file-torch":
        extra = ["--onnx-file", "onnx/model.onnx"]
    elif case == "no-onnx":
        model, extra = saved, ["--backend", "onnx"]
    elif case == "wrong-onnx-file":
        extra = ["--backend", "onnx", "--onnx-file", "onnx/model_fp16.onnx"]
    elif case == "batch":
        extra = ["--batch-size", "0"]
    elif case == "latin-1":
        texts.write_bytes("café\n".encode("latin-1"))
    elif case == "number":
        inp, extra = tmp_path / "t.jsonl", ["--column", "text"]
        inp.write_text('{"text": "one"}\n{"text": 12345}\n')
    before = snapshot(tmp_path)
    one_error_line(run("encode", str(model), "--input", str(inp), "--output", str(out), *extra), message)
    assert snapshot(tmp_path) == before


def test_encode_and_score_read_a_csv_with_a_byte_order_mark(saved: Path, tmp_path: Path) -> None:
    """Excel writes UTF-8 CSV with a BOM and CRLF; the BOM must not become part of the first column's name."""
    table = tmp_path / "excel.csv"
    table.write_bytes("sentence1,sentence2\r\none cat,a cat\r\ntwo dogs,a fee\r\n".encode("utf-8-sig"))
    result = run("encode", str(saved), "--input", str(table), "--column", "sentence1", "-o", str(tmp_path / "e.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "e.npy").shape[0] == 2
    result = run("score", str(saved), "--pairs", str(table), "--text-columns", "sentence1,sentence2", "-o", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("flag", ["--output", "-o", "--out"])
def test_export_takes_output_o_and_out(flag: str, saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    one_error_line(run("export", str(saved), flag, str(out)), f"{out} already exists and is not empty")


def test_search_embeds_queries_with_the_onnx_export(exported: Path, tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\na dog ran in the park\nmy card was lost\nhow do i reset my password\n")
    index = tmp_path / "index"
    built = run("index", "build", str(exported), str(corpus), "--out", str(index))
    assert built.exit_code == 0, built.output
    torch_hits = run("search", str(index), "my card was lost", "-k", "2", "--json")
    onnx_hits = run("search", str(index), "my card was lost", "-k", "2", "--json", "--model-backend", "onnx")
    assert torch_hits.exit_code == 0 and onnx_hits.exit_code == 0, torch_hits.output + onnx_hits.output
    t, o = json.loads(torch_hits.output)[0]["hits"], json.loads(onnx_hits.output)[0]["hits"]
    assert [h["id"] for h in t] == [h["id"] for h in o]
    assert o[0]["text"] == "my card was lost"
    assert abs(t[0]["score"] - o[0]["score"]) < 1e-4
    bad = run("search", str(index), "x", "--onnx-file", "onnx/model.onnx")
    assert bad.exit_code == 2 and "--model-backend onnx" in bad.output


def test_onnx_search_with_a_moved_model_says_how_to_give_it(exported: Path, tmp_path: Path):
    model, moved, index = tmp_path / "model", tmp_path / "moved", tmp_path / "index"
    shutil.copytree(exported, model)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\nmy card was lost\n")
    assert run("index", "build", str(model), str(corpus), "-o", str(index), "-q").exit_code == 0
    model.rename(moved)
    one_error_line(run("search", str(index), "my card", "--model-backend", "onnx"),
                   "if the model moved, pass where it is now: --model PATH")
    found = run("search", str(index), "my card was lost", "--model-backend", "onnx", "--model", str(moved), "--json", "-k", "1")
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)[0]["hits"][0]["text"] == "my card was lost"


def test_encode_shows_progress_unless_quiet(saved: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("one\ntwo\nthree\n")
    shown = run("encode", str(saved), "--input", str(texts), "-o", str(tmp_path / "a.npy"))
    quiet = run("encode", str(saved), "--input", str(texts), "-o", str(tmp_path / "b.npy"), "--quiet")
    assert shown.exit_code == quiet.exit_code == 0
    assert "Batches" in shown.output and "Batches" not in quiet.output
