"""Defaults by label kind, and the flags that override them."""

from __future__ import annotations

import pytest

from siamese_text.config import (
    DEFAULT_MARGINS,
    FEW_SHOT_BATCH_SIZE,
    FEW_SHOT_DROPOUT,
    FEW_SHOT_EPOCHS,
    FEW_SHOT_LOSS,
    FEW_SHOT_LR,
    KIND_DEFAULTS,
    LOSS_DEFAULTS,
    SCORE_MARGIN,
    TrainConfig,
)
from siamese_text.errors import ConfigError


def test_binary_pairs_default_to_the_measured_contrastive_margin() -> None:
    config = TrainConfig(dataset="mrpc").resolve("binary")
    assert config.loss == "contrastive"
    assert config.effective_margin == KIND_DEFAULTS["binary"]["margin"] != DEFAULT_MARGINS["contrastive"]["cosine"]


def test_scored_pairs_default_to_the_measured_soft_label_margin() -> None:
    config = TrainConfig(dataset="stsb").resolve("score")
    assert config.loss == "contrastive"
    assert config.effective_margin == KIND_DEFAULTS["score"]["margin"] == 0.9


@pytest.mark.parametrize(
    ("kind", "options", "grouped"),
    [
        ("score", {}, True),  # grouped batches: same validation mean over 3 seeds, 2.3x faster
        ("score", {"group_by_length": False}, False),  # the flag wins
        ("score", {"loss": "triplet"}, True),  # score-margin triplets measured better grouped
        ("score", {"loss": "triplet", "group_by_length": False}, False),
        ("binary", {}, True),
        ("triplet", {}, True),
        ("binary", {"group_by_length": False}, False),
        ("class", {}, False),  # class-balanced batches: length grouping lost held-out 1-NN on seeds 1 and 2
        ("class", {"group_by_length": True}, True),
        ("class", {"loss": "triplet"}, True),  # triplets built from classes: plain length-grouped batches
    ],
)
def test_length_grouping_comes_from_the_label_kind_unless_given(kind: str, options: dict, grouped: bool) -> None:
    assert TrainConfig(dataset="x.csv", **options).resolve(kind).group_by_length is grouped


def test_binary_labels_on_scored_pairs_keep_the_plain_contrastive_margin() -> None:
    # the kind margin was measured for soft labels; 0/1 labels cut from the scores keep the loss's own
    config = TrainConfig(dataset="stsb", binary_labels=True).resolve("score")
    assert config.effective_margin == DEFAULT_MARGINS["contrastive"]["cosine"] == 1.0


@pytest.mark.parametrize(
    ("options", "margin"),
    [
        ({"margin": 0.8}, 0.8),  # the flag wins
        ({"distance": "euclidean"}, DEFAULT_MARGINS["contrastive"]["euclidean"]),  # the kind margin is a cosine one
        ({"loss": "online-contrastive"}, DEFAULT_MARGINS["online-contrastive"]["cosine"]),  # only for the kind's loss
    ],
)
def test_kind_margin_never_overrides_what_the_user_chose(options: dict, margin: float) -> None:
    assert TrainConfig(dataset="mrpc", **options).resolve("binary").effective_margin == margin


def test_unset_options_come_from_the_label_kind() -> None:
    config = TrainConfig(dataset="banking77").resolve("class")
    assert (config.loss, config.epochs, config.batch_size) == ("batch-hard-triplet", 1, 32)
    assert TrainConfig(dataset="x.csv", epochs=2).resolve("class").epochs == 2


def test_few_shot_class_data_trains_longer_with_more_dropout_unless_told() -> None:
    few, full = (TrainConfig(dataset="banking77", samples_per_class=k).resolve("class") for k in (8, None))
    assert few.epochs == FEW_SHOT_EPOCHS > 1
    assert few.dropout == FEW_SHOT_DROPOUT == 0.2
    assert few.loss == FEW_SHOT_LOSS == "batch-centroid-softmax" != full.loss
    assert (few.batch_size, few.lr) == (FEW_SHOT_BATCH_SIZE, FEW_SHOT_LR) == (64, 4e-5) != (full.batch_size, full.lr)
    flagged = TrainConfig(dataset="banking77", samples_per_class=8, batch_size=16, lr=1e-5).resolve("class")
    assert (flagged.batch_size, flagged.lr) == (16, 1e-5)  # a flag the user gives wins
    hinge = TrainConfig(dataset="banking77", samples_per_class=8, loss="batch-centroid-triplet").resolve("class")
    assert (hinge.batch_size, hinge.lr) == (64, 4e-5)  # the previous few-shot loss: measured at those settings too
    other = TrainConfig(dataset="banking77", samples_per_class=8, loss="batch-hard-triplet").resolve("class")
    assert other.loss == "batch-hard-triplet"
    assert (other.batch_size, other.lr) == (full.batch_size, full.lr)  # measured with the few-shot loss only
    assert TrainConfig(dataset="banking77", samples_per_class=8, dropout=0.1).resolve("class").dropout == 0.1
    assert TrainConfig(dataset="banking77").resolve("class").dropout is None  # the full set keeps the model's own
    assert TrainConfig(dataset="banking77", samples_per_class=8, epochs=3).resolve("class").epochs == 3
    assert TrainConfig(dataset="x.csv", samples_per_class=8).resolve("binary").epochs == KIND_DEFAULTS["binary"]["epochs"]


def test_triplet_on_scored_pairs_takes_its_own_measured_settings() -> None:
    triplet = TrainConfig(dataset="stsb", loss="triplet").resolve("score")
    assert (triplet.epochs, triplet.lr) == (LOSS_DEFAULTS["score", "triplet"]["epochs"], LOSS_DEFAULTS["score", "triplet"]["lr"])
    assert (triplet.epochs, triplet.lr) != (KIND_DEFAULTS["score"]["epochs"], KIND_DEFAULTS["score"]["lr"])
    assert TrainConfig(dataset="stsb", loss="triplet", epochs=3).resolve("score").epochs == 3  # the flag wins
    default = TrainConfig(dataset="stsb").resolve("score")  # the kind's own loss keeps the kind's settings
    assert (default.loss, default.epochs, default.lr) == ("contrastive", 3, 5e-5)


def test_score_margin_triplets_take_their_own_margin_on_cosine_only() -> None:
    # score-margin triplets: a margin a little under 1 lets each pair's floor and ceiling both hold
    assert TrainConfig(dataset="stsb", loss="triplet").resolve("score").effective_margin == SCORE_MARGIN == 0.9
    assert TrainConfig(dataset="stsb", loss="triplet", margin=0.5).resolve("score").effective_margin == 0.5
    euclidean = TrainConfig(dataset="stsb", loss="triplet", distance="euclidean").resolve("score")
    assert euclidean.effective_margin == DEFAULT_MARGINS["triplet"]["euclidean"]
    # --binary-labels trains on plain triplets, which keep the plain triplet margin
    binary = TrainConfig(dataset="stsb", loss="triplet", binary_labels=True).resolve("score")
    assert binary.effective_margin == DEFAULT_MARGINS["triplet"]["cosine"]
    assert TrainConfig(dataset="x.csv", loss="triplet").resolve("binary").effective_margin == DEFAULT_MARGINS["triplet"]["cosine"]
    mined = TrainConfig(dataset="stsb", loss="triplet", hard_negatives=1).resolve("score")  # mined plain triplets
    assert mined.effective_margin == DEFAULT_MARGINS["triplet"]["cosine"] and not mined.uses_score_margins("score")


def test_margin_before_resolve_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="resolve"):
        _ = TrainConfig(dataset="mrpc").effective_margin


@pytest.mark.parametrize(("loss", "kind", "what"), [("cosent", "score", "ranks the pairs"),
                                                     ("batch-centroid-softmax", "class", "every other class centroid")])
def test_scaled_losses_have_no_margin_and_compare_cosines_only(loss, kind, what) -> None:
    config = TrainConfig(dataset="stsb", loss=loss).resolve(kind)
    assert config.effective_margin is None and config.to_dict()["margin"] is None
    with pytest.raises(ConfigError, match=f"--loss {loss} .*{what}.* has no margin; leave out --margin"):
        TrainConfig(dataset="stsb", loss=loss, margin=0.5)
    with pytest.raises(ConfigError, match="use --distance cosine"):
        TrainConfig(dataset="stsb", loss=loss, distance="euclidean")
    with pytest.raises(ConfigError, match="--batch-size must be at least 2"):
        TrainConfig(dataset="stsb", loss=loss, batch_size=1)


def test_a_margin_with_the_few_shot_default_names_the_loss_that_takes_one() -> None:
    with pytest.raises(ConfigError, match="has no margin; leave out --margin, or use --loss batch-centroid-triplet"):
        TrainConfig(dataset="banking77", samples_per_class=8, margin=0.2).resolve("class")
    hinge = TrainConfig(dataset="banking77", samples_per_class=8, loss="batch-centroid-triplet", margin=0.3).resolve("class")
    assert hinge.effective_margin == 0.3


def test_precision_is_one_of_the_trainer_modes_and_names_its_flag() -> None:
    assert TrainConfig(precision="bf16").precision == "bf16" and TrainConfig().precision == "auto"
    with pytest.raises(ConfigError, match=r"--precision 'fp8' is not one of auto, fp32, fp16, bf16"):
        TrainConfig(precision="fp8")


def test_default_output_is_named_after_the_data_and_the_loss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.data.csv").write_text("a,b,y\n")
    (tmp_path / "pairs").mkdir()

    def output(dataset: str, loss: str = "contrastive", **kwargs) -> str | None:
        return TrainConfig(dataset=dataset, loss=loss, **kwargs).output

    assert output("stsb") == "runs/stsb-contrastive"
    assert output("user/sts.v2", "triplet") == "runs/user_sts.v2-triplet"
    assert output(str(tmp_path / "my.data.csv")) == "runs/my.data-contrastive"
    assert output("pairs/") == "runs/pairs-contrastive"
    assert output(".") == f"runs/{tmp_path.name}-contrastive"
    assert output("stsb", output="elsewhere") == "elsewhere"


def test_max_seq_length_is_left_to_the_model_unless_given() -> None:
    assert TrainConfig().max_seq_length is None and TrainConfig(max_seq_length=64).max_seq_length == 64
    with pytest.raises(ConfigError, match="--max-seq-length must be at least 2, got 1"):
        TrainConfig(max_seq_length=1)


def test_default_max_seq_length_trains_a_model_with_fewer_positions(tiny_model_dir, tmp_path) -> None:
    """300-word texts and a model of 64 positions: the default length (256) is capped at 64, no crash."""
    import csv

    from siamese_text.encoder import SiameseEncoder
    from siamese_text.training import train
    from tests.conftest import _pairs

    data = tmp_path / "long.csv"
    with data.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence1", "sentence2", "score"])
        writer.writerows((" ".join([a] * 50), b, s) for a, b, s in _pairs()[:16])
    config = TrainConfig(dataset=str(data), model=str(tiny_model_dir), text_columns=("sentence1", "sentence2"),
                         label_column="score", epochs=1, batch_size=8, output=str(tmp_path / "model"))
    train(config, progress=False, log=lambda _line: None)
    assert SiameseEncoder.load(tmp_path / "model").max_seq_length == 64


def test_text_columns_as_one_string_and_an_unknown_label_kind() -> None:
    assert TrainConfig(dataset="x.csv", text_columns="q, d").text_columns == ("q", "d")
    with pytest.raises(ConfigError, match="--label-kind 'scores' is not one of score, binary, class, triplet"):
        TrainConfig(dataset="x.csv", label_kind="scores")
    with pytest.raises(ConfigError, match="must be a finite number"):
        TrainConfig(dataset="x.csv", loss="contrastive", margin=float("nan"))
