"""The model card: built from a real training run's results.json, valid YAML front matter and Markdown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from siamese_text.errors import ModelError
from siamese_text.model_card import read_results, render_model_card, write_model_card


def split_card(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def tables(body: str) -> list[list[list[str]]]:
    """Each Markdown table as rows of cells (the |---| line left out)."""
    found, current = [], []
    in_code = False
    for line in body.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return [[row for row in t if not set("".join(row)) <= set("-:")] for t in found]


def check_markdown(body: str) -> None:
    """Every table row has the header's cell count, tables have a blank line before and after, code fences close."""
    assert body.count("```") % 2 == 0
    for table in tables(body):
        assert len({len(row) for row in table}) == 1, table
    lines = body.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and not lines[i + 1].startswith("|"):
            assert lines[i + 1] == "", f"no blank line after a table: {lines[i + 1]!r}"
        if not line.startswith("|") and lines[i + 1].startswith("|"):
            assert line == "", f"no blank line before a table: {line!r}"
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(body)
    assert html.count("<table>") == len(tables(body))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A real (tiny) training run: the folder holds what siamese_text.training writes, results.json included."""
    import csv

    from siamese_text.config import TrainConfig
    from siamese_text.training import train
    from tests.conftest import _pairs

    root = tmp_path_factory.mktemp("card")
    data = root / "sts"
    data.mkdir()
    rows = _pairs()
    for name, part in (("train", rows[:32]), ("validation", rows[32:40]), ("test", rows[40:])):
        with (data / f"{name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence1", "sentence2", "score"])
            writer.writerows(part)
    config = TrainConfig(dataset=str(data), model=str(tiny_model_dir), text_columns=("sentence1", "sentence2"),
                         label_column="score", epochs=1, batch_size=8, max_seq_length=32, output=str(root / "model"))
    train(config, progress=False, log=lambda _line: None)
    return root / "model"


def test_card_from_a_training_run(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained, folder)
    results = json.loads((folder / "results.json").read_text())
    path = write_model_card(folder)
    assert path == folder / "README.md"
    front, body = split_card(path.read_text())
    assert front["library_name"] == "sentence-transformers"
    assert front["pipeline_tag"] == "sentence-similarity"
    assert {"siamese", "sentence-similarity", "loss:contrastive", "distance:cosine"} <= set(front["tags"])
    assert "base_model" not in front and "datasets" not in front  # local paths are not Hub ids
    (entry,) = front["model-index"]
    splits = {r["dataset"]["split"]: {m["type"]: m["value"] for m in r["metrics"]} for r in entry["results"]}
    assert set(splits) == {"validation", "test"}  # the "before training" baseline is not a result of this model
    assert splits["test"]["spearman_cosine"] == pytest.approx(results["metrics"]["test"]["spearman_cosine"], abs=1e-4)
    assert entry["results"][0]["task"]["type"] == "semantic-similarity"
    # the body: loss with margin and distance, seed, time, sizes, evaluation table, usage, citations, versions
    assert "**Contrastive loss** (`contrastive`) on the **cosine distance**, margin **0.9**" in body
    assert "soft labels" in body and "distance (1 - s) x 0.9" in body
    assert "| seed | 42 |" in body
    assert f"{results['train_seconds']} s" in body
    assert "train 32" in body and "32 pairs" in body
    table = next(t for t in tables(body) if t[0][0] == "Metric")
    assert table[0] == ["Metric", "validation (before)", "validation", "test"]
    row = next(r for r in table if r[0] == "spearman_cosine")
    assert row[3] == f"{results['metrics']['test']['spearman_cosine']:.2f}"
    assert 'SentenceTransformer("' in body and "SiameseEncoder.load(" in body
    assert "Hadsell" in body and "Reimers" in body and "Schroff" not in body
    assert f"- transformers: {results['versions']['transformers']}" in body
    assert "Calibrated decision" not in body  # no calibration file: no threshold is invented
    # the validation curve: one row per epoch, the last equal to the final validation figure
    curve = next(t for t in tables(body) if t[0][0] == "Epoch")
    assert curve[0] == ["Epoch", "Step", "spearman_cosine"]
    assert curve[1:] == [["1", "4", f"{results['metrics']['validation']['spearman_cosine']:.2f}"]]
    check_markdown(body)
    # sentence-transformers still loads the folder with our README.md in it
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(folder), device="cpu").encode(["a cat"]).shape == (1, 32)


def test_card_shows_the_summary_figures_and_folds_the_others_away(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained, folder)
    results = json.loads((folder / "results.json").read_text())
    figures = {"cosine_mrr@10": 94.7, "cosine_1nn_accuracy": 92.9, "euclidean_1nn_accuracy": 92.9,
               "cosine_centroid_accuracy": 87.7, "queries": 3080.0}
    results["dataset"]["label_kind"] = "class"
    results["metrics"] = {"test_before": figures, "test": figures}
    _, body = split_card(render_model_card(folder, results=results))
    table, more = [t for t in tables(body) if t[0][0] == "Metric"]
    assert [row[0] for row in table[1:]] == ["cosine_1nn_accuracy", "cosine_centroid_accuracy", "cosine_mrr@10"]
    assert [row[0] for row in more[1:]] == ["euclidean_1nn_accuracy", "queries"]
    assert "<details><summary>2 more figures</summary>" in body
    check_markdown(body)


def test_card_curve_has_a_row_per_epoch_and_none_without_history(trained: Path, tmp_path: Path) -> None:
    results = json.loads((trained / "results.json").read_text())
    last = results["history"]["validation"][0]
    results["history"]["validation"] = [{**last, "epoch": 1.0, "step": 4.0, "spearman_cosine": 12.3456}, {**last, "epoch": 2.0, "step": 8.0}]
    _, body = split_card(render_model_card(trained, results=results))
    curve = next(t for t in tables(body) if t[0][0] == "Epoch")
    assert curve[1:] == [["1", "4", "12.35"], ["2", "8", f"{last['spearman_cosine']:.2f}"]]
    del results["history"]
    _, body = split_card(render_model_card(trained, results=results))
    assert "at the end of each epoch" not in body and not [t for t in tables(body) if t[0][0] == "Epoch"]


def test_card_written_inside_a_temporary_folder_names_the_output(trained: Path, tmp_path: Path) -> None:
    """Training writes the card before atomic_dir renames the folder: the card names the final output."""
    tmp = tmp_path / ".model.tmp-abc123"
    shutil.copytree(trained, tmp)
    results = json.loads((tmp / "results.json").read_text())
    results["arguments"]["output"] = "runs/stsb-contrastive"
    _, body = split_card(write_model_card(tmp, results).read_text())
    assert "# stsb-contrastive" in body and 'SiameseEncoder.load("runs/stsb-contrastive")' in body
    assert ".model.tmp" not in body


def test_card_shows_the_calibrated_threshold(trained: Path, tmp_path: Path) -> None:
    from siamese_text.calibration import Calibration, save_calibration

    folder = tmp_path / "model"
    shutil.copytree(trained, folder)
    save_calibration(folder, Calibration(metric="cosine", threshold=0.8123, objective="f1", method="platt",
                                         params={"a": 9.0, "b": -7.0}, dataset="nyu-mll/glue", config="mrpc",
                                         split="validation", fit={"pairs": 408, "f1": 81.5}))
    front, body = split_card(write_model_card(folder, repo_id="alice/tiny").read_text())
    assert "**cosine similarity >= 0.8123**" in body
    assert "nyu-mll/glue mrpc validation" in body and "| f1 | 81.50 |" in body
    assert "predict_pairs" in body and 'SiameseEncoder.load("alice/tiny")' in body
    assert front["model-index"][0]["name"] == "alice/tiny"
    check_markdown(body)


@pytest.mark.parametrize(("dataset", "config", "where"), [
    ("mrpc", "mrpc", "fitted on mrpc validation;"),  # a preset: its own config is not repeated
    ("quora", "pair-class", "fitted on quora validation;"),
    ("nyu-mll/glue", "mrpc", "fitted on nyu-mll/glue mrpc validation;"),  # a Hub id needs its config
])
def test_card_names_where_the_calibration_was_fitted_once(trained: Path, tmp_path: Path, dataset, config, where) -> None:
    from siamese_text.calibration import Calibration, save_calibration

    folder = tmp_path / "model"
    shutil.copytree(trained, folder)
    save_calibration(folder, Calibration(metric="cosine", threshold=0.7, objective="f1", method="platt",
                                         params={"a": 9.0, "b": -7.0}, dataset=dataset, config=config, split="validation"))
    _, body = split_card(render_model_card(folder))
    assert where in body


def test_hub_metadata_and_licence_of_the_base_model(trained: Path, tmp_path: Path) -> None:
    """A Hub base model and data set go in the front matter; the licence is read from the cached base card."""
    results = json.loads((trained / "results.json").read_text())
    results["base_model"] = "sentence-transformers/all-MiniLM-L6-v2"
    results["dataset"].update(id="sentence-transformers/stsb", name="stsb")
    front, body = split_card(render_model_card(trained, results=results))
    assert front["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert front["datasets"] == ["sentence-transformers/stsb"]
    assert front["license"] == "apache-2.0"
    assert front["model-index"][0]["results"][0]["dataset"]["type"] == "sentence-transformers/stsb"
    assert "[sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)" in body


def test_triplet_loss_cites_schroff_and_batch_losses_hermans(trained: Path) -> None:
    results = json.loads((trained / "results.json").read_text())
    results["loss"] = {"name": "batch-hard-triplet", "distance": "euclidean", "margin": 0.5}
    front, body = split_card(render_model_card(trained, results=results))
    assert "loss:batch-hard-triplet" in front["tags"] and "distance:euclidean" in front["tags"]
    assert "Schroff" in body and "Hermans" in body and "Hadsell" not in body
    assert "margin **0.5**" in body


def test_triplet_on_scores_explains_and_cites_score_scaled_margins(trained: Path) -> None:
    results = json.loads((trained / "results.json").read_text())
    results["loss"] = {"name": "triplet", "distance": "cosine", "margin": 1.0, "score_margins": True}
    _, body = split_card(render_model_card(trained, results=results))
    assert "Schroff" in body and "Ha, Mai Lan" in body and "margin x (1 - s)" in body
    del results["loss"]["score_margins"]  # plain triplets (--binary-labels, --hard-negatives)
    _, body = split_card(render_model_card(trained, results=results))
    assert "Schroff" in body and "Ha, Mai Lan" not in body and "margin x (1 - s)" not in body


def test_binary_labels_are_not_called_soft(trained: Path) -> None:
    results = json.loads((trained / "results.json").read_text())
    results["arguments"]["binary_labels"] = True
    _, body = split_card(render_model_card(trained, results=results))
    assert "Contrastive loss" in body and "soft labels" not in body


def test_card_without_results_is_still_valid(tiny_encoder, tmp_path: Path) -> None:
    folder = tiny_encoder.save(tmp_path / "plain")
    assert read_results(folder) is None
    front, body = split_card(write_model_card(folder).read_text())
    assert front["library_name"] == "sentence-transformers" and "model-index" not in front
    assert "## Training" not in body and "## Evaluation" not in body
    assert "Reimers" in body and "- sentence_transformers:" in body
    assert "It was saved (the folder\nholds no training record) with siamese_text" in body and "trained with" not in body
    assert "results.json" not in body  # nothing it says comes from one
    check_markdown(body)


def test_broken_results_json_is_a_model_error(tiny_encoder, tmp_path: Path) -> None:
    folder = tiny_encoder.save(tmp_path / "broken")
    (folder / "results.json").write_text("{not json")
    before = (folder / "README.md").read_bytes() if (folder / "README.md").exists() else None
    with pytest.raises(ModelError, match="results.json is not valid JSON"):
        write_model_card(folder)
    after = (folder / "README.md").read_bytes() if (folder / "README.md").exists() else None
    assert before == after


@pytest.mark.parametrize(("field", "value"), [("dataset", "oops"), ("history", [1]), ("history", {"validation": [1]}), ("loss", [])])
def test_results_json_with_a_field_of_the_wrong_type_is_one_line(tiny_encoder, tmp_path: Path, field, value) -> None:
    folder = tiny_encoder.save(tmp_path / "edited")
    (folder / "results.json").write_text(json.dumps({"base_model": "x", field: value}))
    with pytest.raises(ModelError, match=f"results.json: '{field}' "):
        write_model_card(folder)


def test_template_is_packaged() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "*.md" in pyproject["tool"]["setuptools"]["package-data"]["siamese_text.templates"]
    assert (Path(__file__).parents[1] / "siamese_text" / "templates" / "model_card.md").is_file()
