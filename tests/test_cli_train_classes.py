"""`siamtext train` on class-labelled texts, mined negatives and few-shot; `siamtext datasets`; bad input."""

import json
from collections import Counter

import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture()
def seen(monkeypatch):
    """The labels of every batch the batch-hard family of losses is given, in order."""
    from siamese_text import losses

    batches = []
    forward = losses._BatchTripletLoss.forward

    def spy(self, sentence_features, labels):
        batches.append(labels.tolist())
        return forward(self, sentence_features, labels)

    monkeypatch.setattr(losses._BatchTripletLoss, "forward", spy)
    return batches


def results_of(out, *args):
    """Run ``siamtext *args``, require success, and return the results.json it wrote into ``out``."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


def class_args(model, data, out, *extra):
    return ["train", "--model", model, "--dataset", data, "--text-columns", "utterance", "--label-column", "intent",
            "--max-seq-length", "16", "--output", out, "--quiet", *extra]


def test_batch_hard_trains_on_class_balanced_batches(tiny_model_dir, intents, tmp_path, seen):
    """The sampler must actually switch on: every batch the loss sees has >= 2 texts of each class in it."""
    out = tmp_path / "model"
    result = run(*class_args(tiny_model_dir, intents, out, "--batch-size", "8", "--epochs", "2"))
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    # a short table on screen: 1-NN, centroid, MRR, nDCG, MAP (of cosine); results.json has every figure
    table = result.stdout.splitlines()
    assert [line.split()[0] for line in table[1:6]] == [
        "cosine_1nn_accuracy", "cosine_centroid_accuracy", "cosine_mrr@10", "cosine_ndcg@10", "cosine_map@100"]
    left_out = sum(map(len, results["metrics"].values())) - 2 * 5
    assert table[6] == f"({left_out} more figures in results.json)" and left_out > 0
    # 12 classes x 5 texts: one chunk of 4 per class and epoch (the 5th sits out), 2 chunks per batch
    assert len(seen) == 2 * 6
    for labels in seen:
        counts = Counter(labels)
        assert min(counts.values()) >= 2 and len(counts) >= 2, counts
    assert results["loss"]["name"] == "batch-hard-triplet"  # the default for class-labelled data
    assert results["arguments"]["batch_size"] == 8 and results["dataset"]["label_kind"] == "class"
    test = results["metrics"]["test"]
    assert {"cosine_1nn_accuracy", "cosine_mrr@10", "cosine_centroid_accuracy"} <= set(test)
    assert test["corpus"] == 60 and test["queries"] == 24  # searched against the training texts
    assert "test_before" in results["metrics"]


def test_few_shot_uses_k_texts_per_class_as_training_set_and_corpus(tiny_model_dir, intents, tmp_path):
    out = tmp_path / "model"
    results = results_of(out, *class_args(tiny_model_dir, intents, out, "--samples-per-class", "2",
                                          "--loss", "batch-all-triplet", "--batch-size", "8"))
    assert results["train_rows"] == 24 and results["metrics"]["test"]["corpus"] == 24


def test_centroid_triplet_trains_and_is_named_in_results_and_card(tiny_model_dir, intents, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "model"
    results = results_of(out, *class_args(tiny_model_dir, intents, out, "--samples-per-class", "4",
                                          "--loss", "batch-centroid-triplet", "--batch-size", "8", "--epochs", "2"))
    assert results["loss"]["name"] == "batch-centroid-triplet" and results["loss"]["margin"] == 0.2
    assert results["metrics"]["test"] != results["metrics"]["test_before"]  # it trained
    card = (out / "README.md").read_text()
    assert "Batch centroid triplet loss" in card and "wieczorek2021centroids" in card
    assert SentenceTransformer(str(out)).encode(["lost card"]).shape == (1, 32)


def test_centroid_softmax_trains_with_no_margin_and_is_named_in_results_and_card(tiny_model_dir, intents, tmp_path):
    out = tmp_path / "model"
    results = results_of(out, *class_args(tiny_model_dir, intents, out, "--samples-per-class", "4",
                                          "--loss", "batch-centroid-softmax", "--batch-size", "8", "--epochs", "2"))
    assert results["loss"] == {"name": "batch-centroid-softmax", "distance": "cosine", "margin": None}
    assert results["metrics"]["test"] != results["metrics"]["test_before"]  # it trained
    card = (out / "README.md").read_text()
    assert "Batch centroid softmax (prototypical) loss" in card and "snell2017prototypical" in card
    assert f"| Training examples | {results['train_rows']} texts |" in card


def test_contrastive_on_classes_makes_balanced_pairs(tiny_model_dir, intents, tmp_path):
    out = tmp_path / "model"
    results = results_of(out, *class_args(tiny_model_dir, intents, out, "--loss", "contrastive", "--max-pairs", "100"))
    assert results["train_examples"] == 100


def test_triplet_with_mined_negatives_and_remining(tiny_model_dir, intents, tmp_path):
    out = tmp_path / "model"
    results = results_of(out, *class_args(tiny_model_dir, intents, out, "--loss", "triplet", "--hard-negatives", "2",
                                          "--remine-every", "3", "--batch-size", "16"))
    assert results["train_examples"] == 60 * 2
    mined = results["hard_negatives"]
    assert mined["k"] == 2 and mined["pairs"] == 60
    # 120 triplets / 16 = 8 steps: mined once before training, re-mined at steps 3 and 6
    assert mined["mining_rounds"] == 3 and [h["step"] for h in mined["remine_history"]] == [3.0, 6.0]


def test_batch_hard_with_nearest_class_batches_and_remining(tiny_model_dir, intents, tmp_path, seen):
    out = tmp_path / "model"
    mined = results_of(out, *class_args(tiny_model_dir, intents, out, "--batch-size", "8", "--per-class-in-batch", "2",
                                        "--hard-negatives", "3", "--remine-every", "4"))["hard_negatives"]
    # 12 classes x 2 chunks of 2 = 24 chunks, 4 per batch: 6 steps; mined before training and at step 4
    assert len(seen) == 6 and mined["mining_rounds"] == 2 and mined["what"] == "nearest classes per batch"
    for labels in seen:
        counts = Counter(labels)
        assert min(counts.values()) >= 2 and len(counts) >= 2, counts


def test_contrastive_with_mined_negatives_on_scored_pairs(tiny_model_dir, scored_folder, tmp_path):
    out = tmp_path / "model"
    results = results_of(out, "train", "--model", tiny_model_dir, "--dataset", scored_folder, "--text-columns",
                         "sentence1,sentence2", "--label-column", "score", "--max-seq-length", "32", "--output", out,
                         "--quiet", "--hard-negatives", "1")
    n_pos = results["hard_negatives"]["pairs"]
    assert results["train_examples"] == 32 + n_pos and n_pos > 0


def test_datasets_lists_every_preset():
    from siamese_text.data.presets import PRESETS

    result = run("datasets", "--verbose")
    assert result.exit_code == 0
    for name, preset in PRESETS.items():
        assert name in result.output and preset.hub_id in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--text-columns", "utterence"], "no column 'utterence'; did you mean 'utterance'"),
        (["--label-column", "intnet"], "no column 'intnet'; did you mean 'intent'"),
        (["--text-columns", "utterance,intent,utterance,intent"], "names 4 columns"),
        (["--dataset", "bankin77"], "unknown data set 'bankin77'; did you mean 'banking77'"),
        (["--hard-negatives", "2", "--remine-every", "0"], "--remine-every must be at least 1"),
        (["--hard-negatives", "-1"], "--hard-negatives must be 0"),
        (["--loss", "triplet", "--remine-every", "5"], "needs --hard-negatives"),
        (["--samples-per-class", "1"], "--samples-per-class must be at least 2"),
        (["--batch-size", "3"], "--batch-size must be at least 4"),
    ],
)
def test_bad_class_input_is_one_line_exit_2_and_writes_nothing(tiny_model_dir, intents, tmp_path, extra, message):
    out = tmp_path / "model"
    args = class_args(tiny_model_dir, intents, out)
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and message in lines[-1], lines[-1]
    assert "Traceback" not in result.output and not out.exists()


def _bad_file(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("utterance,intent\nlost card,a\nlost it,a\nwhere card,b\n", "class 'b' has 1 text"),
        ("utterance,intent\nlost card,a\n   ,a\nwhere card,b\n", "row 1: column 'utterance' is empty"),
        ("utterance,intent\nlost card,a\nlost it,\nwhere card,b\n", "row 1: label column 'intent' has no class"),
    ],
)
def test_bad_class_files_are_named(tiny_model_dir, tmp_path, content, message):
    out = tmp_path / "model"
    result = run(*class_args(tiny_model_dir, _bad_file(tmp_path, content), out))
    assert result.exit_code == 2, result.output
    assert message in result.output.strip().splitlines()[-1] and not out.exists()


def test_nan_and_out_of_range_pair_labels_name_the_row(tiny_model_dir, tmp_path):
    out = tmp_path / "model"
    path = _bad_file(tmp_path, "a,b,y\nhello there,hi,1\nx y,z w,nan\n")
    result = run("train", "--model", tiny_model_dir, "--dataset", path, "--text-columns", "a,b", "--label-column", "y",
                 "--label-kind", "binary", "--output", out, "--quiet")
    assert result.exit_code == 2 and "row 1: label column 'y' is None, expected 0 or 1" in result.output  # csv reads nan as missing
    path = _bad_file(tmp_path, "a,b,y\nhello there,hi,0.5\nx y,z w,7.5\n")
    result = run("train", "--model", tiny_model_dir, "--dataset", path, "--text-columns", "a,b", "--label-column", "y",
                 "--output", out, "--quiet")
    assert result.exit_code == 2 and "row 1: label column 'y' is 7.5" in result.output and not out.exists()
