"""`siamtext pairs`: the pairs and triplets `siamtext train` trains on, written to a file; bad input."""

import csv
import json

import datasets
import pytest

from siamese_text import training_rows
from siamese_text.config import TrainConfig
from siamese_text.data.loading import load_data
from siamese_text.errors import ConfigError
from siamese_text.training import prepare_train_dataset
from tests.test_cli_eval import one_line_error
from tests.test_cli_train_classes import run

CLASS_COLUMNS = ("--text-columns", "utterance", "--label-column", "intent")


def classes_of(folder):
    with (folder / "train.csv").open() as f:
        return {row["utterance"]: row["intent"] for row in csv.DictReader(f)}


def test_class_pairs_are_what_train_trains_on_and_balanced(intents, tmp_path):
    out = tmp_path / "pairs.parquet"
    result = run("pairs", "--dataset", intents, *CLASS_COLUMNS, "--max-pairs", "200", "--seed", "3", "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 200 pairs (text_a, text_b, label; 100 with label 1)" in result.output
    written = datasets.Dataset.from_parquet(str(out))
    data = load_data(str(intents), text_columns=("utterance",), label_column="intent")
    config = TrainConfig(dataset=str(intents), loss="contrastive", max_pairs=200, seed=3).resolve(data.label_kind)
    assert written.to_dict() == prepare_train_dataset(data, config).to_dict()
    cls = classes_of(intents)
    for a, b, y in zip(written["text_a"], written["text_b"], written["label"], strict=True):
        assert a != b and (cls[a] == cls[b]) == (y == 1)


def test_scored_pairs_give_score_margin_triplets_or_plain_ones(scored_folder, tmp_path):
    cols = ("--text-columns", "sentence1,sentence2", "--label-column", "score")
    out = tmp_path / "t.jsonl"
    result = run("pairs", "--dataset", scored_folder, *cols, "--triplets", "-o", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(rows[0]) == {"anchor", "positive", "negative", "label"} and all(0 < r["label"] <= 1 for r in rows)
    plain = tmp_path / "plain.tsv"
    assert run("pairs", "--dataset", scored_folder, *cols, "--triplets", "--binary-labels", "-o", plain).exit_code == 0
    with plain.open() as f:
        assert next(csv.reader(f, delimiter="\t")) == ["anchor", "positive", "negative"]
    soft = tmp_path / "soft.csv"
    result = run("pairs", "--dataset", scored_folder, *cols, "-o", soft)
    assert "labels from" in result.output
    with soft.open() as f:
        labels = [float(r["label"]) for r in csv.DictReader(f)]
    assert len(labels) == 32 and any(0 < y < 1 for y in labels)  # soft labels, as contrastive loss trains on


def test_validation_split_leaves_the_held_out_rows_out_of_the_pairs(scored_folder, tmp_path):
    out = tmp_path / "p.csv"
    result = run("pairs", "--dataset", scored_folder / "train.csv", "--text-columns", "sentence1,sentence2",
                 "--label-column", "score", "--validation-split", "0.25", "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 24 pairs" in result.output  # 32 train rows, 8 held out as validation, as train would


def test_written_pairs_train_back(intents, tiny_model_dir, tmp_path):
    out = tmp_path / "pairs.csv"
    assert run("pairs", "--dataset", intents, *CLASS_COLUMNS, "--max-pairs", "64", "-o", out).exit_code == 0
    model = tmp_path / "model"
    result = run("train", "--model", tiny_model_dir, "--dataset", out, "--text-columns", "text_a,text_b", "--label-column", "label",
                 "--epochs", "1", "--max-seq-length", "16", "--output", model, "--quiet")
    assert result.exit_code == 0, result.output
    results = json.loads((model / "results.json").read_text())
    assert results["dataset"]["label_kind"] == "binary" and results["train_examples"] == 64


def test_mined_negatives_come_from_other_classes(intents, tiny_model_dir, tmp_path):
    out = tmp_path / "hard.csv"
    result = run("pairs", "--dataset", intents, *CLASS_COLUMNS, "--triplets", "--hard-negatives", "2",
                 "--model", tiny_model_dir, "-o", out)
    assert result.exit_code == 0, result.output
    assert "mined 2 hard negatives" in result.output
    cls = classes_of(intents)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(cls[r["anchor"]] == cls[r["positive"]] != cls[r["negative"]] for r in rows)


def test_bad_requests_are_one_line_and_leave_files_alone(intents, scored_folder, tmp_path):
    out = tmp_path / "pairs.csv"
    out.write_text("keep me\n")
    one_line_error(run("pairs", "--dataset", intents, *CLASS_COLUMNS, "-o", out), "pass --overwrite")
    assert out.read_text() == "keep me\n"
    one_line_error(run("pairs", "--dataset", intents, *CLASS_COLUMNS, "-o", tmp_path / "pairs.xlsx"), "ending in .csv")
    one_line_error(run("pairs", "--dataset", intents, *CLASS_COLUMNS, "-o", out / "p.csv"), "is a file, not a folder")
    one_line_error(run("pairs", "--dataset", intents, "--text-columns", "utterance", "--label-column", "intnt", "-o", tmp_path / "x.csv"),
                   "did you mean 'intent'")
    assert not (tmp_path / "x.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left behind


def test_in_batch_losses_have_no_rows_to_make(intents):
    config = TrainConfig(dataset=str(intents), text_columns=("utterance",), label_column="intent", loss="batch-hard-triplet")
    with pytest.raises(ConfigError, match="no pairs or triplets to make"):
        training_rows(config, log=lambda _: None)



def test_written_score_margin_triplets_train_back_with_their_margins(scored_folder, tiny_model_dir, tmp_path):
    cols = ("--text-columns", "sentence1,sentence2", "--label-column", "score")
    out = tmp_path / "triplets.jsonl"
    assert run("pairs", "--dataset", scored_folder, *cols, "--triplets", "-o", out).exit_code == 0
    written = len(out.read_text().splitlines())
    common = ("train", "--model", tiny_model_dir, "--dataset", out, "--epochs", "1", "--max-seq-length", "16", "--quiet")
    scaled, plain = tmp_path / "scaled", tmp_path / "plain"
    result = run(*common, "--text-columns", "anchor,positive,negative", "--label-column", "label", "--output", scaled)
    assert result.exit_code == 0, result.output
    results = json.loads((scaled / "results.json").read_text())
    assert results["dataset"]["label_kind"] == "triplet" and results["train_examples"] == written
    assert results["loss"]["margin"] == 0.9 and results["loss"]["score_margins"]  # as --loss triplet trained on the pairs
    assert run(*common, "--text-columns", "anchor,positive,negative", "--output", plain).exit_code == 0
    results = json.loads((plain / "results.json").read_text())
    assert results["loss"]["margin"] == 0.2 and "score_margins" not in results["loss"]  # plain triplets
