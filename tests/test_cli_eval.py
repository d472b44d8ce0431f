"""`siamtext evaluate | calibrate | verify | score` end to end on the tiny model, and each bad input (issue section 4)."""

import csv
import json
import random

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

from siamese_text.calibration import CALIBRATION_FILE, load_calibration
from tests.conftest import WORDS
from tests.test_evaluation import _binary_pairs, _class_texts


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, match):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    # progress bars of datasets may come before it; the error itself is the one last line
    assert lines[-1].startswith("Error: ") and sum("Error" in line for line in lines) == 1, result.output
    assert match in lines[-1], lines[-1]
    assert "Traceback" not in result.output


def write_csv(path, header, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def model(tiny_encoder, tmp_path):
    path = tmp_path / "model"
    tiny_encoder.save(path)
    return path


@pytest.fixture()
def binary_folder(tmp_path):
    folder = tmp_path / "para"
    folder.mkdir()
    for name, seed, n in (("train", 11, 60), ("validation", 12, 45), ("test", 13, 30)):
        a, b, y = _binary_pairs(n, seed=seed)
        rows = list(zip(a, b, y, strict=True))
        if name == "validation":  # identical texts, yet "different": no threshold is 99.9% precise
            rows.append(("the cat sat on the mat", "the cat sat on the mat", 0))
        write_csv(folder / f"{name}.csv", ["q1", "q2", "is_dup"], rows)
    return folder


BIN = ("--text-columns", "q1,q2", "--label-column", "is_dup")


def test_evaluate_scored_pairs_prints_table_and_writes_json(model, scored_folder, tmp_path, tiny_encoder):
    from siamese_text.data import load_data
    from siamese_text.evaluation import evaluate_data

    out = tmp_path / "eval.json"
    result = run("evaluate", model, "--dataset", scored_folder, "--text-columns", "sentence1,sentence2",
                 "--label-column", "score", "--metric", "all", "--output", out)
    assert result.exit_code == 0, result.output
    assert "spearman" in result.output and "manhattan" in result.output and "hamming" in result.output
    saved = json.loads(out.read_text())
    assert saved["split"] == "test" and saved["label_kind"] == "score"
    data = load_data(str(scored_folder), text_columns=("sentence1", "sentence2"), label_column="score")
    want = evaluate_data(tiny_encoder, data.split("test"), "score", metrics=("cosine", "dot", "euclidean", "manhattan", "hamming"))
    assert saved["figures"] == pytest.approx(want, abs=1e-4)


def test_evaluate_keeps_an_existing_report_unless_asked(model, scored_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ("evaluate", model, "--dataset", scored_folder, "--text-columns", "sentence1,sentence2", "--label-column", "score")
    assert run(*args).exit_code == 0
    report = tmp_path / "eval-sts-test.json"  # the default name: data set and split
    report.write_text("{}\n")
    one_line_error(run(*args), "pass --overwrite")
    assert report.read_text() == "{}\n"
    assert run(*args, "--overwrite").exit_code == 0 and json.loads(report.read_text())["split"] == "test"
    one_line_error(run(*args, "-o", tmp_path / "eval.txt"), "ending in .json")


def test_evaluate_binary_pairs_with_thresholds_from_train(model, binary_folder, tmp_path):
    out = tmp_path / "bin.json"
    result = run("evaluate", model, "--dataset", binary_folder, *BIN, "--split", "validation", "--metric", "cosine",
                 "--threshold-split", "train", "--output", out)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())["figures"]
    assert {"cosine_accuracy", "cosine_f1", "cosine_ap", "cosine_accuracy_threshold", "cosine_fitted_accuracy_accuracy"} <= set(figures)
    # the in-sample best threshold is at least as accurate as one carried over from train
    assert figures["cosine_accuracy"] >= figures["cosine_fitted_accuracy_accuracy"]


def test_evaluate_triplets_and_classes(model, tmp_path):
    rng = random.Random(0)
    rows = [(" ".join(rng.sample(WORDS, 5)), " ".join(rng.sample(WORDS, 5)), " ".join(rng.sample(WORDS, 5))) for _ in range(12)]
    trip = write_csv(tmp_path / "trip.csv", ["a", "p", "n"], rows)
    result = run("evaluate", model, "--dataset", trip, "--text-columns", "a,p,n", "--split", "train", "--output", tmp_path / "t.json")
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "t.json").read_text())["figures"]) == {f"{m}_accuracy" for m in ("cosine", "dot", "euclidean", "manhattan", "hamming")}
    folder = tmp_path / "intents"
    folder.mkdir()
    for name, per, seed in (("train", 8, 1), ("test", 3, 2)):
        texts, labels = _class_texts(per, seed)
        write_csv(folder / f"{name}.csv", ["utterance", "intent"], list(zip(texts, labels, strict=True)))
    result = run("evaluate", model, "--dataset", folder, "--text-columns", "utterance", "--label-column", "intent",
                 "--label-kind", "class", "--metric", "cosine", "--output", tmp_path / "c.json")
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "c.json").read_text())["figures"]
    assert figures["queries"] == 15 and figures["corpus"] == 40
    for key in ("cosine_mrr@10", "cosine_ndcg@10", "cosine_recall@1", "cosine_recall@5", "cosine_recall@10",
                "cosine_map@100", "cosine_1nn_accuracy", "cosine_centroid_accuracy"):
        assert 0.0 <= figures[key] <= 100.0
    one_line_error(run("evaluate", model, "--dataset", folder, "--text-columns", "utterance", "--label-column", "intent",
                       "--label-kind", "class", "--split", "train"), "choose another --split")


def test_class_texts_with_only_a_train_split_evaluate_a_held_out_share(model, tmp_path):
    from siamese_text.data import load_data

    texts, labels = _class_texts(8, seed=1)
    intents = tmp_path / "intents.tsv"
    intents.write_text("text\tintent\n" + "".join(f"{t}\tintent_{c}\n" for t, c in zip(texts, labels, strict=True)))
    args = ("evaluate", model, "--dataset", intents, "--text-columns", "text", "--label-column", "intent", "--metric", "cosine")
    one_line_error(run(*args, "--output", tmp_path / "e.json"), "--validation-split 0.2 holds a share of it out")
    one_line_error(run(*args, "--validation-split", "1.5"), "--validation-split is the share of train rows held out, in (0, 1)")
    result = run(*args, "--validation-split", "0.25", "--seed", "7", "--output", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["split"] == "validation" and record["held_out"] == 0.25 and record["seed"] == 7
    assert record["figures"]["queries"] == 10 and record["figures"]["corpus"] == 30  # 2 of each class's 8, against the rest
    data = load_data(str(intents), text_columns=("text",), label_column="intent", validation_split=0.25, seed=7)
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import evaluate_data

    want = evaluate_data(SiameseEncoder.load(model), data.split("validation"), "class", metrics=("cosine",), corpus=data.split("train"))
    assert record["figures"] == pytest.approx(want, abs=1e-4)


def test_evaluate_help_says_which_split_it_takes_without_test_or_validation():
    help_text = " ".join(run("evaluate", "--help").output.split())
    assert "default: test, else validation, else train" in help_text and "--validation-split" in help_text


def test_calibrate_verify_and_score(model, binary_folder, tmp_path):
    result = run("calibrate", model, "--dataset", binary_folder, *BIN, "--objective", "accuracy")
    assert result.exit_code == 0, result.output
    c = load_calibration(model)
    assert c.split == "validation" and c.objective == "accuracy" and c.dataset == str(binary_folder)
    assert f"{c.threshold:.4f}" in result.output

    result = run("verify", model, "the cat sat on the mat", "the cat sat on a mat", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["same"] == (record["score"] >= c.threshold)
    assert record["probability"] == pytest.approx(float(c.probability([record["score"]])[0]))
    text = run("verify", model, "the cat sat on the mat", "the cat sat on a mat")
    assert "probability" in text.output and "decision" in text.output
    rule = f"same if cosine >= {c.threshold:.4f}; threshold for best accuracy on {binary_folder} validation, platt probabilities"
    assert text.stdout.splitlines()[-1].endswith(f"({rule})")  # one level of brackets

    a, b, _ = _binary_pairs(25, seed=21)
    pairs_csv = write_csv(tmp_path / "pairs.csv", ["text_a", "text_b"], list(zip(a, b, strict=True)))
    out = tmp_path / "scored.csv"
    result = run("score", model, "--pairs", pairs_csv, "--output", out, "--chunk-size", "4", "--quiet")
    assert result.exit_code == 0, result.output
    assert "Loading weights" not in result.stderr  # --quiet: transformers' bars too
    assert result.stdout.strip() == f"scored 25 pairs -> {out} ({rule})"
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 25 and list(rows[0]) == ["text_a", "text_b", "score", "probability", "same"]
    from siamese_text.encoder import SiameseEncoder

    want = SiameseEncoder.load(model).similarity(a, b)
    np.testing.assert_allclose([float(r["score"]) for r in rows], want, atol=1e-5)
    assert [int(r["same"]) for r in rows] == [int(float(r["score"]) >= c.threshold - 1e-6) for r in rows]

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": a, "y": b}), tmp_path / "pairs.parquet", row_group_size=7)
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"x": x, "y": y}) + "\n" for x, y in zip(a, b, strict=True)))
    for name in ("pairs.parquet", "pairs.jsonl"):
        out2 = tmp_path / f"{name}.csv"
        result = run("score", model, "--pairs", tmp_path / name, "--text-columns", "x,y", "--output", out2, "--chunk-size", "5", "-q")
        assert result.exit_code == 0, result.output
        assert [r["score"] for r in csv.DictReader(out2.open())] == [r["score"] for r in rows]


def test_recalibrating_updates_our_model_card_and_leaves_another_alone(model, binary_folder, tmp_path):
    import shutil

    from siamese_text.model_card import write_model_card

    other = tmp_path / "other"
    shutil.copytree(model, other)
    (other / "README.md").write_text("# my own notes\n")
    write_model_card(model)
    for objective in ("accuracy", "recall:0.99"):
        result = run("calibrate", model, "--dataset", binary_folder, *BIN, "--objective", objective, "--overwrite")
        assert result.exit_code == 0, result.output
        card = (model / "README.md").read_text()
        assert f"similarity >= {load_calibration(model).threshold:.4f}**" in card and f"threshold for {objective}," in card
        assert f"updated the model card {model / 'README.md'}" in result.output
    assert not list(model.glob(".README*"))  # written atomically: no temporary file left
    result = run("calibrate", other, "--dataset", binary_folder, *BIN)
    assert result.exit_code == 0, result.output
    assert (other / "README.md").read_text() == "# my own notes\n" and "model card" not in result.output
    card = (model / "README.md").read_text()
    (model / "results.json").write_text("{broken")  # the card cannot be rendered: the calibration still stands
    result = run("calibrate", model, "--dataset", binary_folder, *BIN, "--overwrite")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "warning: the model card was not updated:" in result.output and "results.json is not valid JSON" in result.output
    assert (model / "README.md").read_text() == card and load_calibration(model).objective == "f1"


def test_hamming_calibration_decides_on_differing_sign_bits(model, binary_folder, tmp_path, tiny_encoder):
    result = run("calibrate", model, "--dataset", binary_folder, *BIN, "--metric", "hamming", "--objective", "accuracy")
    assert result.exit_code == 0, result.output
    c = load_calibration(model)
    assert c.metric == "hamming" and c.threshold <= 0  # minus the number of differing bits
    a, b, _ = _binary_pairs(12, seed=31)
    bits = [int(((x > 0) != (y > 0)).sum()) for x, y in zip(tiny_encoder.encode(a), tiny_encoder.encode(b), strict=True)]
    pairs_csv = write_csv(tmp_path / "pairs.csv", ["text_a", "text_b"], list(zip(a, b, strict=True)))
    out = tmp_path / "scored.csv"
    assert run("score", model, "--pairs", pairs_csv, "--output", out, "-q").exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert [float(r["score"]) for r in rows] == [-d for d in bits]
    assert [int(r["same"]) for r in rows] == [int(-d >= c.threshold) for d in bits]
    record = json.loads(run("verify", model, a[0], b[0], "--json").stdout)
    assert record["metric"] == "hamming" and record["score"] == -bits[0]
    one_line_error(run("verify", model, a[0], b[0], "--metric", "cosine"), "the calibration is for hamming")


def test_verify_and_score_without_calibration_say_how_to_make_one(model, tmp_path):
    result = run("verify", model, "a cat", "a dog")
    assert result.exit_code == 0 and "siamtext calibrate" in result.output and "score" in result.output
    pairs_csv = write_csv(tmp_path / "p.csv", ["text_a", "text_b"], [("a cat", "a dog")])
    result = run("score", model, "--pairs", pairs_csv, "--output", tmp_path / "s.csv", "-q")
    assert result.exit_code == 0 and "siamtext calibrate" in result.output
    assert list(csv.DictReader((tmp_path / "s.csv").open()))[0].keys() == {"text_a", "text_b", "score"}


# ---- section 4: bad input, one line each, exit code 2, nothing written -----------------------


def test_score_rejects_a_pairs_file_missing_a_column(model, tmp_path):
    pairs = write_csv(tmp_path / "p.csv", ["text_a", "other"], [("a cat", "a dog")])
    out = tmp_path / "s.csv"
    one_line_error(run("score", model, "--pairs", pairs, "--output", out), "has no column 'text_b'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "p.csv"]


def test_score_rejects_mismatched_a_and_b_midway_and_leaves_nothing(model, tmp_path):
    rows = [("a cat", "a dog")] * 9 + [("a cat", "")]  # row 9 has no text_b: a and b do not pair up
    pairs = write_csv(tmp_path / "p.csv", ["text_a", "text_b"], rows)
    out = tmp_path / "s.csv"
    one_line_error(run("score", model, "--pairs", pairs, "--output", out, "--chunk-size", "4", "-q"), "row 9: column 'text_b' is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "p.csv"]


def test_score_refuses_to_overwrite(model, tmp_path):
    pairs = write_csv(tmp_path / "p.csv", ["text_a", "text_b"], [("a cat", "a dog")])
    out = tmp_path / "s.csv"
    out.write_text("keep me")
    one_line_error(run("score", model, "--pairs", pairs, "--output", out), "pass --overwrite")
    assert out.read_text() == "keep me"


def test_calibrate_rejects_one_class_split(model, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    a, b, _ = _binary_pairs(10)
    write_csv(folder / "validation.csv", ["q1", "q2", "is_dup"], [(x, y, 1) for x, y in zip(a, b, strict=True)])
    one_line_error(run("calibrate", model, "--dataset", folder, *BIN, "--label-kind", "binary"), "only label 1 rows")
    assert not (model / CALIBRATION_FILE).exists()


def test_calibrate_rejects_unreachable_objective(model, binary_folder):
    one_line_error(run("calibrate", model, "--dataset", binary_folder, *BIN, "--objective", "precision:0.999"),
                   "no threshold reaches precision 0.999")
    assert not (model / CALIBRATION_FILE).exists()


def test_calibrate_rejects_test_split_bad_objective_and_existing_file(model, binary_folder):
    one_line_error(run("calibrate", model, "--dataset", binary_folder, *BIN, "--split", "test"), "would leak it")
    one_line_error(run("calibrate", model, "--dataset", binary_folder, *BIN, "--objective", "auc"), "--objective 'auc'")
    assert not (model / CALIBRATION_FILE).exists()
    (model / CALIBRATION_FILE).write_text("{}")
    one_line_error(run("calibrate", model, "--dataset", binary_folder, *BIN), "pass --overwrite")
    assert (model / CALIBRATION_FILE).read_text() == "{}"


def test_corrupt_calibration_file_is_one_line_for_verify_and_score(model, tmp_path):
    (model / CALIBRATION_FILE).write_text("{not json")
    one_line_error(run("verify", model, "a cat", "a dog"), "is not a valid calibration")
    pairs = write_csv(tmp_path / "p.csv", ["text_a", "text_b"], [("a cat", "a dog")])
    out = tmp_path / "s.csv"
    one_line_error(run("score", model, "--pairs", pairs, "--output", out), "is not a valid calibration")
    assert not out.exists()


def test_evaluate_rejects_unknown_split_and_bad_output(model, scored_folder, tmp_path):
    args = ("evaluate", model, "--dataset", scored_folder, "--text-columns", "sentence1,sentence2", "--label-column", "score")
    one_line_error(run(*args, "--split", "dev", "--output", tmp_path / "e.json"), "no 'dev' split")
    (tmp_path / "file").write_text("x")
    one_line_error(run(*args, "--output", tmp_path / "file" / "e.json"), "is a file, not a folder")
    assert not (tmp_path / "e.json").exists()
    result = run(*args, "--output", tmp_path / "missing" / "e.json")  # missing folders are made
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "missing" / "e.json").read_text())["metrics"]
