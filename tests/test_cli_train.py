"""`siamtext train` end to end on a tiny random BERT and a local data set, and its bad-input paths."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def train_args(model, data, out, *extra):
    return [
        "train", "--model", str(model), "--dataset", str(data), "--text-columns", "sentence1,sentence2",
        "--label-column", "score", "--epochs", "1", "--batch-size", "8", "--max-seq-length", "32",
        "--output", str(out), "--quiet", *extra,
    ]


def test_train_writes_a_sentence_transformers_folder_and_results(tiny_model_dir, scored_folder, tmp_path):
    from sentence_transformers import SentenceTransformer

    from siamese_text.encoder import SiameseEncoder

    out = tmp_path / "model"
    result = run(*train_args(tiny_model_dir, scored_folder, out))
    assert result.exit_code == 0, result.output
    assert "spearman_cosine" in result.output and "validation" in result.output
    assert "length-grouped batches" in result.output  # the scored-pair default
    results = json.loads((out / "results.json").read_text())
    assert results["arguments"]["group_by_length"] is True
    assert results["loss"] == {"name": "contrastive", "distance": "cosine", "margin": 0.9}
    assert results["seed"] == 42 and results["train_examples"] == 32
    assert set(results["metrics"]) == {"validation_before", "validation", "test"}
    assert {"pearson_cosine", "spearman_cosine", "pearson_euclidean", "spearman_euclidean"} <= set(results["metrics"]["test"])
    assert "sentence_transformers" in results["versions"]
    assert results["precision"] in ("bf16", "fp32")  # --precision auto, by the CPU's bfloat16 units
    assert 0 < results["seconds_to_first_step"] < results["total_seconds"]
    assert 0 <= results["pad_fraction"] < 1 and results["useful_tokens_per_second"] > 0  # six words a text: no padding
    assert "first training step after" in result.output
    texts = ["the cat sat", "a dog ran in the park"]
    st = SentenceTransformer(str(out), device="cpu").encode(texts)
    np.testing.assert_allclose(st, SiameseEncoder.load(out).encode(texts), atol=1e-6)
    # the weights moved: the trained model differs from the base
    base = SiameseEncoder.from_pretrained(str(tiny_model_dir), max_seq_length=32).encode(texts)
    assert not np.allclose(st, base)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")], "temporary folders left behind"


@pytest.mark.parametrize("quiet", [True, False])
def test_stdout_holds_the_table_and_the_training_log_goes_to_stderr(tiny_model_dir, scored_folder, tmp_path, quiet):
    args = train_args(tiny_model_dir, scored_folder, tmp_path / "m", "--epochs", "2")
    result = run(*[a for a in args if a != "--quiet" or quiet])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["metric", "validation_before", "validation", "test"] and "saved model" in lines[-1]
    assert len(lines) == 6 and "{" not in result.stdout  # four metrics: no trainer records among them
    assert "step 8/8: loss " in result.stderr  # 32 pairs, batch 8, 2 epochs: one line per logging step
    library_bars = ("Loading weights", "Writing model shards", "Computing widget examples")  # transformers' and sentence-transformers'
    if quiet:  # for a log file
        assert not any(bar in result.stderr for bar in library_bars), result.stderr
    else:
        assert all(bar in result.stderr for bar in library_bars)


def test_data_without_validation_or_test_says_nothing_was_evaluated(tiny_model_dir, scored_folder, tmp_path):
    result = run(*train_args(tiny_model_dir, scored_folder / "train.csv", tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("nothing evaluated: the data has no validation or test split; --validation-split")


def test_validation_split_holds_train_rows_out_to_evaluate_and_calibrate(tiny_model_dir, tmp_path):
    import csv

    from tests.test_evaluation import _binary_pairs

    a, b, y = _binary_pairs(60, seed=3)
    with (tmp_path / "pairs.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("q1", "q2", "dup"), *zip(a, b, y, strict=True)])
    out = tmp_path / "m"
    result = run("train", "--model", str(tiny_model_dir), "--dataset", str(tmp_path / "pairs.csv"), "--text-columns", "q1,q2",
                 "--label-column", "dup", "--validation-split", "0.25", "--epochs", "1", "--max-seq-length", "32",
                 "--output", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert "train 45, validation 15 (25% of train, held out)" in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["rows"] == {"train": 45, "validation": 15} and results["train_examples"] == 45
    assert "cosine_accuracy" in results["metrics"]["validation"] and results["arguments"]["validation_split"] == 0.25
    assert results["calibration"]["split"] == "validation"  # 0/1 pairs get a threshold to decide with


@pytest.mark.parametrize(("value", "message"), [("1.0", "in (0, 1), e.g. 0.1"), ("0", "in (0, 1), e.g. 0.1")])
def test_validation_split_outside_0_1_is_refused(tiny_model_dir, scored_folder, tmp_path, value, message):
    result = run(*train_args(tiny_model_dir, scored_folder / "train.csv", tmp_path / "m", "--validation-split", value))
    assert result.exit_code == 2 and message in result.output and not (tmp_path / "m").exists()


def test_validation_split_on_data_with_a_validation_split_is_refused(tiny_model_dir, scored_folder, tmp_path):
    result = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "m", "--validation-split", "0.1"))
    assert result.exit_code == 2 and "has a validation split already; drop the option" in result.output


def test_same_seed_gives_same_metrics(tiny_model_dir, scored_folder, tmp_path):
    first = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "a", "--loss", "triplet"))
    second = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "b", "--loss", "triplet"))
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    m1 = json.loads((tmp_path / "a" / "results.json").read_text())["metrics"]
    m2 = json.loads((tmp_path / "b" / "results.json").read_text())["metrics"]
    assert m1 == m2


def test_validation_is_evaluated_every_epoch_without_changing_training(tiny_model_dir, scored_folder, tmp_path):
    curve = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "a", "--epochs", "2"))
    plain = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "b", "--epochs", "2", "--no-eval-every-epoch"))
    assert curve.exit_code == 0 and plain.exit_code == 0, curve.output + plain.output
    assert "epoch 1/2: validation spearman_cosine" in curve.output and "epoch 2/2: validation" in curve.output
    assert "epoch 1/2" not in plain.output
    with_curve = json.loads((tmp_path / "a" / "results.json").read_text())
    without = json.loads((tmp_path / "b" / "results.json").read_text())
    history = with_curve["history"]["validation"]
    assert [row["epoch"] for row in history] == [1, 2] and history[0]["step"] < history[1]["step"]
    assert history[0]["pearson_cosine"] != history[1]["pearson_cosine"]  # the weights moved between epochs
    # the last epoch's figures are the final validation figures, and evaluating did not change training
    assert {k: v for k, v in history[-1].items() if k not in ("epoch", "step")} == with_curve["metrics"]["validation"]
    assert with_curve["metrics"] == without["metrics"] and "history" not in without


def test_bf16_mixed_precision_trains_and_saves_float32_weights(tiny_model_dir, scored_folder, tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer

    result = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "bf16", "--precision", "bf16"))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "bf16" / "results.json").read_text())
    assert results["arguments"]["precision"] == "bf16"
    assert run(*train_args(tiny_model_dir, scored_folder, tmp_path / "fp32", "--precision", "fp32")).exit_code == 0
    full = json.loads((tmp_path / "fp32" / "results.json").read_text())
    assert (results["precision"], full["precision"]) == ("bf16", "fp32")
    assert results["metrics"]["test"] != full["metrics"]["test"]  # autocast really ran: the figures moved
    model = SentenceTransformer(str(tmp_path / "bf16"), device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_fp16_without_a_gpu_is_one_line_exit_2_and_writes_nothing(tiny_model_dir, scored_folder, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: fp16 is allowed here")
    result = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "fp16", "--precision", "fp16"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --precision fp16 needs a CUDA GPU and none is visible; use --precision bf16 on a CPU, or fp32"
    ]
    assert "Traceback" not in result.output and not (tmp_path / "fp16").exists()


def test_dropout_flag_sets_every_dropout_layer_and_changes_training(tiny_model_dir, scored_folder, tmp_path):
    default = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "a"))
    no_dropout = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "b", "--dropout", "0"))
    assert default.exit_code == 0 and no_dropout.exit_code == 0, default.output + no_dropout.output
    assert "dropout 0.0 on 7 layers" in no_dropout.output  # embeddings + 2 layers x (attention probs, attention out, out)
    assert " on 7 layers" not in default.output  # without the flag the model keeps its own rates
    r1 = json.loads((tmp_path / "a" / "results.json").read_text())
    r2 = json.loads((tmp_path / "b" / "results.json").read_text())
    assert r1["arguments"]["dropout"] is None and r2["arguments"]["dropout"] == 0.0
    assert r1["metrics"]["test"] != r2["metrics"]["test"]


def test_triplet_on_scores_trains_on_score_margin_triplets_and_binary_labels_on_plain_ones(tiny_model_dir, scored_folder, tmp_path):
    from siamese_text.data.loading import column, load_data
    from siamese_text.data.pairs import score_margin_triplets, scored_pairs_to_triplets

    soft_run = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "a", "--loss", "triplet"))
    plain_args = ("--loss", "triplet", "--binary-labels", "--no-group-by-length")
    plain_run = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "b", *plain_args))
    assert soft_run.exit_code == 0 and plain_run.exit_code == 0, soft_run.output + plain_run.output
    assert "length-grouped batches" in soft_run.output and "random batches" in plain_run.output
    soft, plain = (json.loads((tmp_path / name / "results.json").read_text()) for name in "ab")
    # triplet loss on scored pairs keeps length-grouped batches unless --no-group-by-length asks for random ones
    assert (soft["arguments"]["group_by_length"], plain["arguments"]["group_by_length"]) == (True, False)
    train = load_data(str(scored_folder), text_columns=("sentence1", "sentence2"), label_column="score").split("train")
    assert soft["train_examples"] == len(score_margin_triplets(train, seed=42))
    assert plain["train_examples"] == len(scored_pairs_to_triplets(train, positive_threshold=0.6, seed=42))
    assert (soft["loss"]["margin"], plain["loss"]["margin"]) == (0.9, 0.2)
    assert soft["loss"]["score_margins"] and "score_margins" not in plain["loss"]
    assert "Ha, Mai Lan" in (tmp_path / "a" / "README.md").read_text()
    # every pair, not only those scored >= 0.6, gives score-margin triplets
    assert soft["train_examples"] > plain["train_examples"] == 2 * sum(s >= 0.6 for s in column(train, "label"))


def test_cosent_trains_a_loadable_model_with_no_margin_and_cites_its_loss(tiny_model_dir, scored_folder, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "model"
    result = run(*train_args(tiny_model_dir, scored_folder, out, "--loss", "cosent"))
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["loss"] == {"name": "cosent", "distance": "cosine", "margin": None}
    assert "spearman_cosine" in results["metrics"]["test"]
    assert SentenceTransformer(str(out), device="cpu").encode(["the cat sat"]).shape[0] == 1
    card = (out / "README.md").read_text()
    assert "CoSENT loss" in card and "su2022cosent" in card


def test_existing_output_needs_overwrite(tiny_model_dir, scored_folder, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = run(*train_args(tiny_model_dir, scored_folder, out))
    assert result.exit_code == 2
    assert "--overwrite" in result.output and len(result.output.strip().splitlines()) == 1
    assert (out / "keep.txt").read_text() == "precious"
    result = run(*train_args(tiny_model_dir, scored_folder, out, "--overwrite"))
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists() and (out / "modules.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--loss", "online-contrastive", "--batch-size", "1"], "--batch-size must be at least 2"),
        (["--margin", "-1"], "--margin must be positive"),
        (["--label-threshold", "1.5"], "--label-threshold must be in (0, 1)"),
        (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
        (["--warmup-ratio", "1.5"], "--warmup-ratio must be in [0, 1)"),
        (["--margin", "3", "--distance", "euclidean"], "impossible for Euclidean"),
        (["--text-columns", "sentence1,sentenc2"], "no column 'sentenc2'; did you mean 'sentence2'"),
        (["--dataset", "stsbb"], "unknown data set 'stsbb'"),
        (["--dataset", "missing/train.csv"], "--dataset missing/train.csv: no such file or folder"),
        (["--label-kind", "triplet"], "--label-kind triplet takes three text columns"),
        (["--loss", "batch-hard-triplet"], "needs class-labelled texts"),
        (["--loss", "cosent", "--margin", "0.5"], "has no margin; leave out --margin"),
        (["--length-strata", "2", "--no-group-by-length"], "--length-strata mixes label ranges within length-grouped batches"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_model_dir, scored_folder, tmp_path, extra, message):
    out = tmp_path / "model"
    result = run(*train_args(tiny_model_dir, scored_folder, out), *extra)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert message in lines[-1] and lines[-1].startswith("Error: ")
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


def test_pairs_of_one_label_are_refused_for_contrastive_loss(tiny_model_dir, tmp_path):
    data = tmp_path / "dups.csv"
    data.write_text("q,d,dup\n" + "\n".join(f"question {i},the same question {i},1" for i in range(12)) + "\n")
    out = tmp_path / "model"
    args = ["train", "--model", str(tiny_model_dir), "--dataset", str(data), "--text-columns", "q,d", "--label-column", "dup",
            "--epochs", "1", "--batch-size", "4", "--max-seq-length", "32", "--output", str(out), "--quiet"]
    result = run(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "every train pair of" in result.output and "is similar (1); --loss contrastive needs pairs of both kinds" in result.output
    assert not out.exists()
    assert run(*args, "--loss", "triplet").exit_code == 0  # triplets draw their negatives at random
    assert (out / "modules.json").exists()
    mined = run(*args[:-3], "--output", str(tmp_path / "mined"), "--quiet", "--hard-negatives", "1")  # mined 0s
    assert mined.exit_code == 0, mined.output


def test_output_that_is_a_file_is_refused(tiny_model_dir, scored_folder, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    result = run(*train_args(tiny_model_dir, scored_folder, target))
    assert result.exit_code == 2 and "is a file" in result.output
    assert target.read_text() == "x"
    result = run(*train_args(tiny_model_dir, scored_folder, target / "model"))  # a file where a folder should be
    assert result.exit_code == 2 and f"{target} is a file, not a folder" in result.output
    assert target.read_text() == "x"


def test_default_output_in_a_fresh_folder_creates_runs(tiny_model_dir, scored_folder, tmp_path, monkeypatch):
    """The README's first command names no --output: runs/DATASET-LOSS is made, parents and all."""
    monkeypatch.chdir(tmp_path)
    args = train_args(tiny_model_dir, scored_folder, "unused")
    at = args.index("--output")
    result = run(*args[:at], *args[at + 2:])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "sts-contrastive"  # named after the data folder
    assert (out / "modules.json").is_file() and (out / "results.json").is_file()
    nested = tmp_path / "a" / "b" / "model"
    assert run(*train_args(tiny_model_dir, scored_folder, nested)).exit_code == 0
    assert (nested / "modules.json").is_file()


def test_help_is_instant_and_does_not_import_torch():
    code = "import sys; from siamese_text_cli.main import cli; cli.main(['--help'], standalone_mode=False); assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout


def dup_folder(tmp_path):
    """A local folder of 0/1 duplicate-question pairs (train 24, validation 12), half of them duplicates."""
    folder = tmp_path / "dups"
    folder.mkdir()
    words = "the cat dog sat on mat ran in park bank money card fee".split()
    for split, n in (("train", 24), ("validation", 12)):
        rows = ["q1,q2,dup"]
        for i in range(n):
            a = " ".join(words[(i + j) % len(words)] for j in range(4))
            b = a if i % 2 == 0 else " ".join(reversed(words[i % 5 : i % 5 + 4]))
            rows.append(f"{a},{b},{int(i % 2 == 0)}")
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_binary_pairs_are_calibrated_and_every_model_gets_a_card(tiny_model_dir, tmp_path):
    import yaml

    from siamese_text.calibration import load_calibration, predict_pairs
    from siamese_text.encoder import SiameseEncoder

    folder = dup_folder(tmp_path)
    out = tmp_path / "model"
    result = run("train", "--model", str(tiny_model_dir), "--dataset", str(folder), "--text-columns", "q1,q2",
                 "--label-column", "dup", "--batch-size", "8", "--output", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    calibration = load_calibration(out)
    assert calibration is not None and calibration.split == "validation"
    results = json.loads((out / "results.json").read_text())
    assert results["calibration"]["threshold"] == pytest.approx(calibration.threshold)
    predictions = predict_pairs(SiameseEncoder.load(out), [("the cat dog sat", "the cat dog sat")])
    assert predictions[0].same is True
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "sentence-transformers" and "loss:contrastive" in front["tags"]
    assert f"{calibration.threshold:.4f}"[:4] in card


def test_interrupted_run_keeps_checkpoints_and_resume_finishes_it(tiny_model_dir, scored_folder, tmp_path):
    from transformers import TrainerCallback

    from siamese_text.config import TrainConfig
    from siamese_text.errors import ConfigError
    from siamese_text.training import train

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise KeyboardInterrupt

    def config(output, **options):
        return TrainConfig(dataset=str(scored_folder), model=str(tiny_model_dir), text_columns=("sentence1", "sentence2"),
                           label_column="score", epochs=2, batch_size=8, max_seq_length=32, output=str(output), **options)

    out, checkpoints, lines = tmp_path / "model", tmp_path / "model.checkpoints", []
    with pytest.raises(KeyboardInterrupt):  # 4 steps an epoch: stopped in the second epoch
        train(config(out, checkpoint_every=2), progress=False, log=lines.append, callbacks=[Interrupt()])
    assert not out.exists(), "a half-trained model folder was left"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert lines[-1].startswith(f"training stopped; checkpoints kept in {checkpoints}") and "--resume" in lines[-1]
    with pytest.raises(ConfigError, match="holds checkpoints of an interrupted run; add --resume"):
        train(config(out, checkpoint_every=2), progress=False, log=lines.append)

    resumed = train(config(out, checkpoint_every=2, resume=True), progress=False, log=lines.append)
    assert any(line.startswith(f"resuming from {checkpoints / 'checkpoint-4'}") for line in lines)
    assert resumed.results["resumed_from"] == "checkpoint-4"
    assert (out / "modules.json").exists() and not checkpoints.exists(), "checkpoints outlived the saved model"
    # the trainer restored weights, optimiser, schedule and random state: the same model as one uninterrupted run
    straight = train(config(tmp_path / "straight"), progress=False, log=lambda _line: None)
    for split in ("validation", "test"):
        for name, value in straight.metrics[split].items():
            assert resumed.metrics[split][name] == pytest.approx(value, abs=1e-3), (split, name)


def test_resume_without_checkpoints_is_one_line_exit_2(tiny_model_dir, scored_folder, tmp_path):
    result = run(*train_args(tiny_model_dir, scored_folder, tmp_path / "model", "--resume"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: --resume found no checkpoint in {tmp_path / 'model.checkpoints'}; "
        "train without --resume (with --checkpoint-every N to keep some)"
    ]
    assert [p.name for p in tmp_path.iterdir()] == [scored_folder.name]  # nothing written beside the data


def test_epoch_eval_callback_logs_records_and_restores_training_mode():
    from types import SimpleNamespace

    import torch

    from siamese_text.training import epoch_eval_callback

    model, lines, calls = torch.nn.Linear(2, 2), [], []

    def evaluate():
        calls.append(model.training)
        model.eval()  # as encoding does
        return {"spearman_cosine": 80.0 + len(calls), "pearson_cosine": 1.0}

    callback = epoch_eval_callback(evaluate, split="validation", headline="spearman_cosine", log=lines.append)
    args = SimpleNamespace(num_train_epochs=2)
    for epoch, step in ((1.0, 4), (2.0, 8)):
        model.train()
        callback.on_epoch_end(args, SimpleNamespace(epoch=epoch, global_step=step), None, model=model)
        assert model.training, "the model was left in eval mode"
    assert lines == ["epoch 1/2: validation spearman_cosine 81.00", "epoch 2/2: validation spearman_cosine 82.00"]
    assert callback.history == [
        {"epoch": 1.0, "step": 4.0, "spearman_cosine": 81.0, "pearson_cosine": 1.0},
        {"epoch": 2.0, "step": 8.0, "spearman_cosine": 82.0, "pearson_cosine": 1.0},
    ]
    assert callback.seconds > 0  # evaluation time, taken out of train_seconds


def test_sigterm_stops_training_like_ctrl_c_and_leaves_nothing_behind(tiny_model_dir, scored_folder, tmp_path):
    """kill / timeout / a scheduler send SIGTERM: the half-built folder and the parents made are removed."""
    import os
    import signal
    import time

    out = tmp_path / "runs" / "x"
    args = train_args(tiny_model_dir, scored_folder, out, "--checkpoint-every", "100000")  # none reached: no empty folder left
    args[args.index("--epochs") + 1] = "1000"
    proc = subprocess.Popen([sys.executable, "-c", "from siamese_text_cli.main import cli; cli()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob(".x.tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # into the run
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Interrupted; no output folder or file was replaced or left half-written." in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # no temporary folder, no lock file, and the parent it made is gone


def test_a_diverging_run_stops_with_the_fix_and_saves_nothing(tiny_model_dir, scored_folder, tmp_path):
    out = tmp_path / "diverged"
    args = train_args(tiny_model_dir, scored_folder, out, "--lr", "1e30")
    args[args.index("--epochs") + 1] = "3"
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Error: training diverged: the loss is nan at step" in result.output and "lower --lr (it is 1e+30)" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [scored_folder]


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--lr", "inf", "--lr must be a positive number, got inf"),
    ("--lr", "nan", "--lr must be a positive number, got nan"),
    ("--seed", "-1", r"--seed must be in [0, 2**32)"),
    ("--seed", "99999999999999999999", r"--seed must be in [0, 2**32)"),
    ("--batch-size", "99999999999999999999", "is more than 1,048,576; give a smaller batch"),
    ("--margin", "nan", "--margin must be a finite number"),
    ("--length-strata", "0", "0 is not in the range x>=1"),
])
def test_numbers_no_run_can_use_are_refused_before_loading(flag, value, message, tiny_model_dir, scored_folder, tmp_path):
    args = train_args(tiny_model_dir, scored_folder, tmp_path / "out")
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_length_strata_batches_train_and_are_recorded(tiny_model_dir, scored_folder, tmp_path):
    out = tmp_path / "model"
    result = run(*train_args(tiny_model_dir, scored_folder, out), "--length-strata", "2")
    assert result.exit_code == 0, result.output
    assert "length-grouped batches mixing 2 label ranges" in result.output
    assert json.loads((out / "results.json").read_text())["arguments"]["length_strata"] == 2
