"""`siamtext index build|add` and `siamtext search` on the tiny BERT, and every bad input of issue 5:
one line, exit code 2, nothing written or overwritten."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

ROWS = [
    ("q1", "my card was lost", "card"), ("q2", "my card was stolen", "card"),
    ("q3", "how do i reset my password", "password"), ("q4", "what is the exchange rate", "exchange"),
    ("q5", "the cat sat on the mat", "other"), ("q6", "a dog ran in the park", "other"),
]


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1] and message in errors[0], result.output
    assert not result.stdout.strip() and "Traceback" not in result.output


@pytest.fixture()
def corpus_csv(tmp_path):
    path = tmp_path / "faq.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question", "topic"])
        writer.writerows(ROWS)
    return path


@pytest.fixture()
def built(tiny_model_dir, corpus_csv, tmp_path):
    out = tmp_path / "index"
    result = run("index", "build", tiny_model_dir, corpus_csv, "--output", out, "--text-column", "question",
                 "--id-column", "id", "--quiet")
    assert result.exit_code == 0, result.output
    assert "Loading weights" not in result.stderr  # --quiet: transformers' bars too
    return out


def test_build_then_search_text_and_json(built, tiny_model_dir):
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["count"] == 6 and manifest["backend"] == "exact" and manifest["model"] == str(tiny_model_dir)
    from transformers.utils import logging as hf_logging

    result = run("search", built, "my card was stolen", "-k", "2")
    assert result.exit_code == 0, result.output
    assert "Loading weights" not in result.stderr  # the bars would bury the hits
    assert hf_logging.is_progress_bar_enabled()  # ... and are back for whatever runs next in this process
    lines = result.stdout.splitlines()
    assert lines[0] == "query: my card was stolen" and lines[1].split()[:3] == ["1", "1.0000", "q2"]
    assert len(lines) == 3
    result = run("search", built, "how do i reset my password", "a dog ran in the park", "--json", "-k", "3")
    out = json.loads(result.stdout)
    assert [o["query"] for o in out] == ["how do i reset my password", "a dog ran in the park"]
    top = out[0]["hits"][0]
    assert top["id"] == "q3" and top["rank"] == 1 and top["metadata"] == {"topic": "password"}
    assert len(out[1]["hits"]) == 3 and out[1]["hits"][0]["id"] == "q6"


def test_queries_from_a_file_and_from_stdin(built, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("my card was lost\n\nthe cat sat on the mat\n")
    from_file = json.loads(run("search", built, "--queries-file", queries, "--json", "-k", "1").stdout)
    assert [o["hits"][0]["id"] for o in from_file] == ["q1", "q5"]
    from_stdin = json.loads(run("search", built, "--json", "-k", "1", input="my card was lost\nthe cat sat on the mat\n").stdout)
    assert from_stdin == from_file
    one_line_error(run("search", built, input=""), "give a QUERY")


@pytest.mark.parametrize("backend", ["binary", "faiss"])
def test_other_backends_build_and_search(backend, tiny_model_dir, corpus_csv, tmp_path):
    if backend == "faiss":
        pytest.importorskip("faiss")
    out = tmp_path / backend
    result = run("index", "build", tiny_model_dir, corpus_csv, "--out", out, "--text-column", "question",
                 "--backend", backend, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / ("codes.npy" if backend == "binary" else "faiss.index")).is_file()
    hits = json.loads(run("search", out, "how do i reset my password", "--json").stdout)[0]["hits"]
    assert hits[0]["id"] == 2 and len(hits) == 6  # ids are row numbers without --id-column


def test_txt_jsonl_parquet_corpora(tiny_model_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [row[1] for row in ROWS]
    (tmp_path / "c.txt").write_text("\n".join(texts[:3]) + "\n\n" + "\n".join(texts[3:]) + "\n")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)))
    pq.write_table(pa.table({"text": texts, "doc": [f"d{i}" for i in range(6)]}), tmp_path / "c.parquet")
    for name, extra in [("c.txt", []), ("c.jsonl", []), ("c.parquet", ["--id-column", "doc"])]:
        out = tmp_path / f"ix-{name}"
        result = run("index", "build", tiny_model_dir, tmp_path / name, "--out", out, "--quiet", *extra)
        assert result.exit_code == 0, result.output
        hit = json.loads(run("search", out, texts[4], "--json", "-k", "1").stdout)[0]["hits"][0]
        assert hit["text"] == texts[4]
        assert hit["id"] == ("d4" if name == "c.parquet" else 4)
        assert hit["metadata"] == ({"n": 4} if name == "c.jsonl" else None)


def test_add_grows_the_index_atomically(built, tmp_path):
    more = tmp_path / "more.csv"
    more.write_text("id,question,topic\nq7,how do i top up my account,top-up\n")
    result = run("index", "add", built, more, "--text-column", "question", "--id-column", "id", "--quiet")
    assert result.exit_code == 0, result.output
    assert "Loading weights" not in result.stderr
    assert "added 1 texts" in result.output and json.loads((built / "manifest.json").read_text())["count"] == 7
    hit = json.loads(run("search", built, "how do i top up my account", "--json", "-k", "1").stdout)[0]["hits"][0]
    assert hit["id"] == "q7" and hit["metadata"] == {"topic": "top-up"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".index")], "temporary folders left behind"
    before = (built / "embeddings.npy").read_bytes()
    one_line_error(run("index", "add", built, more, "--text-column", "question", "--id-column", "id"),
                   "duplicate column 'id' 'q7'")
    assert (built / "embeddings.npy").read_bytes() == before


@pytest.mark.parametrize("flag", ["--output", "-o", "--out"])
def test_existing_out_needs_overwrite(built, tiny_model_dir, corpus_csv, flag):
    before = (built / "manifest.json").read_text()
    one_line_error(run("index", "build", tiny_model_dir, corpus_csv, flag, built, "--text-column", "question"),
                   f"--output {built} already exists and is not empty; pass --overwrite to replace it")
    assert (built / "manifest.json").read_text() == before
    result = run("index", "build", tiny_model_dir, corpus_csv, flag, built, "--text-column", "question",
                 "--overwrite", "--quiet")
    assert result.exit_code == 0 and json.loads((built / "manifest.json").read_text())["model"]


# ---- bad input (issue 5, section 4): one line, exit code 2, nothing written ---------------------


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("id,question,topic\n", ["--text-column", "question"], "has no rows"),
        ("id,question,topic\nq1,hello,x\n", ["--text-column", "questoin"], "no column 'questoin' (--text-column); did you mean 'question'"),
        ("id,question,topic\nq1,hello,x\n", ["--text-column", "question", "--id-column", "ids"], "no column 'ids' (--id-column)"),
        ("id,question,topic\nq1,hello,x\nq1,bye,y\n", ["--text-column", "question", "--id-column", "id"],
         "row 1: duplicate column 'id' 'q1' (also at row 0)"),
        ("id,question,topic\nq1,hello,x\nq2,,y\n", ["--text-column", "question"], "row 1: column 'question' is"),
        ("id,question,topic\nq1,hello,x\n,bye,y\n", ["--text-column", "question", "--id-column", "id"],
         "row 1: column 'id' is missing"),
        ("id,question,topic\nq1,hello,x\n", ["--text-column", "question", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_corpus_is_refused_before_anything_is_written(tiny_model_dir, tmp_path, content, extra, message):
    corpus = tmp_path / "bad.csv"
    corpus.write_text(content)
    out = tmp_path / "index"
    one_line_error(run("index", "build", tiny_model_dir, corpus, "--out", out, *extra), message)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".index")]


def test_empty_txt_corpus_and_missing_file(tiny_model_dir, tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    one_line_error(run("index", "build", tiny_model_dir, tmp_path / "empty.txt", "--out", tmp_path / "ix"), "has no texts")
    one_line_error(run("index", "build", tiny_model_dir, tmp_path / "nope.csv", "--out", tmp_path / "ix"), "does not exist")
    (tmp_path / "c.xml").write_text("<a/>")
    one_line_error(run("index", "build", tiny_model_dir, tmp_path / "c.xml", "--out", tmp_path / "ix"), "must be a .txt")
    assert not (tmp_path / "ix").exists()


@pytest.mark.parametrize("k", ["0", "-3"])
def test_top_k_below_one(built, k):
    one_line_error(run("search", built, "my card", "-k", k), f"-k/--top-k must be at least 1, got {k}")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "embeddings.npy").unlink(), "embeddings.npy is missing"),
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda d: (d / "records.parquet").unlink(), "records.parquet is missing"),
        (lambda d: (d / "embeddings.npy").write_bytes((d / "embeddings.npy").read_bytes()[:-100]), "truncated"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json is not valid JSON"),
    ],
)
def test_damaged_index_folder(built, damage, message):
    damage(built)
    one_line_error(run("search", built, "my card"), message)


def _edit_manifest(folder, **changes):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 7}, "the manifest says 7 x 32 float32: the manifest does not match the data"),
        ({"dimension": 16}, "has no valid 'probe' (16 finite numbers)"),  # its 32 numbers no longer fit
        ({"backend": "binary"}, "codes.npy is missing"),
        ({"backend": "annoy"}, "not a siamese-text-index manifest this version reads"),
        ({"count": "six"}, "has no valid 'count'"),
        ({"dimension": True}, "has no valid 'dimension'"),
        ({"options": None}, "has no valid 'options'"),
        ({"files": {"embeddings.npy": "big"}}, "has no valid 'files'"),
        ({"probe": "abc"}, "has no valid 'probe' (32 finite numbers)"),
        ({"probe": [0.5] * 31}, "has no valid 'probe'"),
    ],
)
def test_manifest_that_does_not_match_the_data(built, changes, message):
    _edit_manifest(built, **changes)
    one_line_error(run("search", built, "my card"), message)


def test_records_that_do_not_match_the_manifest(built):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = built / "records.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["b"], "metadata": pa.array([None], pa.string())}), path)
    _edit_manifest(built, files={})  # the sizes agree, so only the row count can tell
    one_line_error(run("search", built, "my card"), "has 1 rows")


@pytest.mark.parametrize(("ids", "metadata", "message"), [
    (["a", "b"], ["{not json", None], "holds metadata that is not JSON"),
    (["a", "a"], [None, None], "holds the same id twice"),
])
def test_records_that_are_damaged(built, ids, metadata, message):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ids, "text": ["b", "c"], "metadata": pa.array(metadata, pa.string())}), built / "records.parquet")
    np.save(built / "embeddings.npy", np.load(built / "embeddings.npy")[:2])
    _edit_manifest(built, files={}, count=2)
    one_line_error(run("search", built, "my card"), message)


def test_a_different_model_is_refused_with_both_names(built, tiny_model_dir, tmp_path):
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.errors import ModelError
    from siamese_text.search import SemanticIndex

    other = tmp_path / "other-model"
    SiameseEncoder.from_pretrained(str(tiny_model_dir), pooling="cls", max_seq_length=32).save(other)
    with pytest.raises(ModelError) as info:
        SemanticIndex.load(built, encoder=SiameseEncoder.load(other))
    assert str(tiny_model_dir) in str(info.value) and str(other) in str(info.value)
    # same name, other weights (a model folder retrained in place): the probe embedding tells
    _edit_manifest(built, model=str(other))
    one_line_error(run("search", built, "my card"), "no longer embeds text as when")


def test_pickle_is_refused(built):
    np.save(built / "embeddings.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _edit_manifest(built, files={})
    one_line_error(run("search", built, "my card"), "embeddings.npy")


def test_a_moved_model_is_given_with_model(tiny_encoder, corpus_csv, tmp_path):
    model, moved, index = tmp_path / "model", tmp_path / "moved", tmp_path / "index"
    tiny_encoder.save(model)
    assert run("index", "build", model, corpus_csv, "-o", index, "--text-column", "question", "-q").exit_code == 0
    model.rename(moved)
    one_line_error(run("search", index, "my card"), "if the model moved, pass where it is now: --model PATH")
    result = run("search", index, "my card was stolen", "--model", moved, "--json", "-k", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["hits"][0]["text"] == "my card was stolen"
    more = tmp_path / "more.txt"
    more.write_text("how do i top up my account\n")
    result = run("index", "add", index, more, "--model", moved, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((index / "manifest.json").read_text())["model"] == str(moved)  # recorded for next time
    hit = json.loads(run("search", index, "how do i top up my account", "--json", "-k", "1").stdout)[0]["hits"][0]
    assert hit["text"] == "how do i top up my account"


def test_library_bars_off_covers_the_widget_examples_bar(capsys):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerModelCardData
    from siamese_text_cli.progress import library_progress_bars

    texts = Dataset.from_dict({"anchor": [row[1] for row in ROWS], "positive": [row[2] for row in ROWS]})
    with library_progress_bars(on=False):  # what train --quiet runs in; the bar is drawn when the trainer is made
        SentenceTransformerModelCardData().set_widget_examples(texts)
    assert "Computing widget examples" not in capsys.readouterr().err
    SentenceTransformerModelCardData().set_widget_examples(texts)  # and is back after the block
    assert "Computing widget examples" in capsys.readouterr().err
