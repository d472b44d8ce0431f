"""Pictures (issue 28): valid PNGs of the promised size, that show what the model does, from the API, the CLI and train."""

import json
import struct
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

from siamese_text.plots import (
    DPI,
    plot_confusion,
    plot_projection,
    plot_reliability,
    plot_roc_pr,
    plot_score_histograms,
    plot_scored_pairs,
)
from siamese_text.plots.stats import binned_reliability, histogram_overlap, pr_curve, roc_curve
from tests.test_cli_eval import BIN, binary_folder, model, one_line_error  # noqa: F401 (fixtures)
from tests.test_cli_train import dup_folder
from tests.test_evaluation import _class_texts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def assert_png(path, figsize) -> None:
    assert png_size(path) == (round(figsize[0] * DPI), round(figsize[1] * DPI))


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def separable(n: int = 400, *, perfect: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(int)
    if perfect:  # every same pair scores above every different pair
        return np.where(labels == 1, rng.uniform(0.7, 1.0, n), rng.uniform(-0.2, 0.4, n)), labels
    return rng.uniform(-0.2, 1.0, n), labels  # scores that know nothing of the label


# ---- the numbers and the figures ------------------------------------------------------------


def test_every_figure_is_a_png_of_its_figsize_times_dpi(tmp_path):
    scores, labels = separable(perfect=False)
    emb = np.random.default_rng(1).normal(size=(60, 8))
    classes = [i % 15 for i in range(60)]
    cases = [
        (plot_scored_pairs, {"predicted": scores, "gold": scores * 5 + 1}, (6.4, 4.8)),
        (plot_score_histograms, {"scores": scores, "labels": labels, "threshold": 0.5}, (6.4, 4.8)),
        (plot_roc_pr, {"scores": scores, "labels": labels, "threshold": 0.5}, (10.0, 4.4)),
        (plot_projection, {"embeddings": emb, "labels": classes, "class_names": [f"class {i}" for i in range(15)]}, (7.2, 5.4)),
        (plot_confusion, {"gold": classes, "predicted": classes[1:] + classes[:1]}, (7.2, 6.4)),
        (plot_reliability, {"probabilities": np.clip(scores, 0, 1), "labels": labels}, (6.4, 6.0)),
    ]
    for function, kwargs, figsize in cases:
        path = function(**kwargs, path=tmp_path / f"{function.__name__}.png", title="test")
        assert_png(path, figsize)
    small = plot_scored_pairs(scores, scores, path=tmp_path / "small.png", figsize=(3.0, 2.5))
    assert_png(small, (3.0, 2.5))
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary file left


def test_a_perfect_separator_and_a_random_one_give_different_numbers_and_pictures(tmp_path):
    import matplotlib.colors
    import matplotlib.image

    perfect, random_ = separable(perfect=True), separable(perfect=False)
    assert histogram_overlap(*perfect) == 0.0 and histogram_overlap(*random_) > 0.6
    assert roc_curve(*perfect)[2] == pytest.approx(1.0) and abs(roc_curve(*random_)[2] - 0.5) < 0.1
    assert pr_curve(*perfect)[2] == pytest.approx(1.0) and pr_curve(*random_)[2] < 0.65
    both_colours = []
    for name, (scores, labels) in (("perfect", perfect), ("random", random_)):
        path = plot_score_histograms(scores, labels, path=tmp_path / f"{name}.png", threshold=0.55)
        pixels = matplotlib.image.imread(path)[..., :3]
        # where the two half-transparent histograms overlap the picture has their blend: orange, then blue over it
        orange, blue = (np.asarray(matplotlib.colors.to_rgb(c)) for c in ("tab:orange", "tab:blue"))
        blend = 0.5 * blue + 0.5 * (0.5 * orange + 0.5)
        both_colours.append(int((np.abs(pixels - blend).max(-1) < 0.01).sum()))
    assert both_colours[0] == 0 and both_colours[1] > 10_000, both_colours
    assert (tmp_path / "perfect.png").read_bytes() != (tmp_path / "random.png").read_bytes()


def test_reliability_bins_match_the_calibration_error(tmp_path):
    from siamese_text.calibration import expected_calibration_error

    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 2000)
    calibrated = (rng.uniform(0, 1, 2000) < p).astype(int)
    overconfident = (rng.uniform(0, 1, 2000) < 0.5).astype(int)
    for labels in (calibrated, overconfident):
        assert binned_reliability(p, labels)[3] == pytest.approx(expected_calibration_error(p, labels))
    assert binned_reliability(p, calibrated)[3] < 0.05 < 0.2 < binned_reliability(p, overconfident)[3]
    good = plot_reliability(p, calibrated, path=tmp_path / "good.png")
    bad = plot_reliability(p, overconfident, path=tmp_path / "bad.png")
    assert good.read_bytes() != bad.read_bytes()


def test_many_classes_colour_only_the_most_confused_and_say_so(tmp_path, monkeypatch):
    from siamese_text.plots import figures

    emb = np.random.default_rng(2).normal(size=(154, 16))
    labels = [i % 77 for i in range(154)]
    scatters = []
    original = figures._figure

    def spy(*args, **kwargs):
        fig, ax = original(*args, **kwargs)
        scatters.append(ax)
        return fig, ax

    monkeypatch.setattr(figures, "_figure", spy)
    plot_projection(emb, labels, path=tmp_path / "p.png", highlight=list(range(40, 60)), method="pca")
    ax = scatters[-1]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["67 other classes", *map(str, range(40, 50))]  # at most 10 coloured
    assert "10 most confused of 77 classes" in ax.get_title()


# ---- the CLI and the Python API -------------------------------------------------------------


def test_evaluate_plot_writes_the_pictures_of_each_kind_beside_the_json(model, scored_folder, binary_folder, tmp_path):  # noqa: F811
    result = run("evaluate", model, "--dataset", scored_folder, "--text-columns", "sentence1,sentence2",
                 "--label-column", "score", "--output", tmp_path / "sts.json", "--plot")
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "sts-scatter.png", (6.4, 4.8))
    assert f"wrote {tmp_path / 'sts-scatter.png'}" in result.output
    result = run("evaluate", model, "--dataset", binary_folder, *BIN, "--metric", "cosine", "--threshold-split", "train",
                 "--output", tmp_path / "dup.json", "--plot")
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "dup-histograms.png", (6.4, 4.8))
    assert_png(tmp_path / "dup-roc-pr.png", (10.0, 4.4))
    (tmp_path / "dup2-histograms.png").write_bytes(b"old")
    one_line_error(run("evaluate", model, "--dataset", binary_folder, *BIN, "--output", tmp_path / "dup2.json", "--plot"),
                   "dup2-histograms.png (a --plot picture) already exists; pass --overwrite")
    assert not (tmp_path / "dup2.json").exists() and (tmp_path / "dup2-histograms.png").read_bytes() == b"old"


def test_class_texts_get_a_projection_and_the_nearest_centroid_confusions(model, tmp_path):  # noqa: F811
    from siamese_text.data import load_data
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.plots import evaluate_with_plots

    folder = tmp_path / "intents"
    folder.mkdir()
    for split, seed in (("train", 1), ("test", 2)):
        texts, labels = _class_texts(6, seed=seed)
        (folder / f"{split}.tsv").write_text("text\tintent\n" + "".join(f"{t}\tintent_{c}\n" for t, c in zip(texts, labels, strict=True)))
    result = run("evaluate", model, "--dataset", folder, "--text-columns", "text", "--label-column", "intent",
                 "--metric", "cosine", "--output", tmp_path / "cls.json", "--plot")
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "cls-projection.png", (7.2, 5.4))
    assert_png(tmp_path / "cls-confusion.png", (7.2, 6.4))
    # the Python API: the same figures, and the pictures in plot_dir
    data = load_data(str(folder), text_columns=("text",), label_column="intent")
    figures, paths = evaluate_with_plots(SiameseEncoder.load(model), data.split("test"), "class", metrics=("cosine",),
                                         corpus=data.split("train"), plot_dir=tmp_path / "api")
    assert figures == pytest.approx(json.loads((tmp_path / "cls.json").read_text())["figures"], abs=1e-4)
    assert sorted(p.name for p in (tmp_path / "api").iterdir()) == ["confusion.png", "projection.png"]
    assert paths == {"projection": tmp_path / "api" / "projection.png", "confusion": tmp_path / "api" / "confusion.png"}


def test_without_matplotlib_plot_names_the_pip_command_and_calibrate_still_works(
    model, scored_folder, binary_folder, tmp_path, monkeypatch  # noqa: F811
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    result = run("evaluate", model, "--dataset", scored_folder, "--text-columns", "sentence1,sentence2",
                 "--label-column", "score", "--output", tmp_path / "sts.json", "--plot")
    one_line_error(result, "pip install 'siamese-text[plot]'")
    assert not (tmp_path / "sts.json").exists()
    result = run("calibrate", model, "--dataset", binary_folder, *BIN)
    assert result.exit_code == 0, result.output
    assert "no reliability diagram" in result.output and "siamese-text[plot]" in result.output
    assert (model / "siamese_calibration.json").is_file() and not (model / "plots").exists()


def test_calibrate_draws_the_reliability_diagram_into_the_model_folder(model, binary_folder):  # noqa: F811
    result = run("calibrate", model, "--dataset", binary_folder, *BIN)
    assert result.exit_code == 0, result.output
    assert_png(model / "plots" / "reliability.png", (6.4, 6.0))


# ---- training ---------------------------------------------------------------------------------


def train_dups(tiny_model_dir, tmp_path, out):
    return run("train", "--model", tiny_model_dir, "--dataset", dup_folder(tmp_path), "--text-columns", "q1,q2",
               "--label-column", "dup", "--batch-size", "8", "--epochs", "2", "--lr", "1e-3", "--output", out, "--quiet")


def test_train_saves_before_and_after_pictures_and_the_card_shows_them(tiny_model_dir, tmp_path):
    out = tmp_path / "model"
    result = train_dups(tiny_model_dir, tmp_path, out)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["after-histograms.png", "after-roc-pr.png", "before-histograms.png", "before-roc-pr.png", "reliability.png"]
    assert_png(out / "plots" / "after-histograms.png", (6.4, 4.8))
    assert (out / "plots" / "before-histograms.png").read_bytes() != (out / "plots" / "after-histograms.png").read_bytes()
    card = (out / "README.md").read_text()
    for name in names:
        assert f"](plots/{name})" in card  # relative links: the Hub shows them from the repository
    assert "## Pictures" in card and "The validation split as the base model saw it" in card
    assert not list(tmp_path.glob(".model*"))  # nothing half-written beside the folder


def test_train_without_matplotlib_trains_and_says_why_there_are_no_pictures(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "model"
    result = train_dups(tiny_model_dir, tmp_path, out)
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and not (out / "plots").exists()
    assert "siamese-text[plot]" in result.output
    assert "## Pictures" not in (out / "README.md").read_text()


def test_curves_agree_with_sklearn_and_a_missing_umap_is_named():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from siamese_text.errors import ConfigError
    from siamese_text.plots.stats import project_2d

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = np.round(labels * 0.2 + rng.normal(0.5, 0.2, 300), 2)  # rounded: ties, as real scores have
    assert roc_curve(scores, labels)[2] == pytest.approx(roc_auc_score(labels, scores))
    assert pr_curve(scores, labels)[2] == pytest.approx(average_precision_score(labels, scores))
    xy, used = project_2d(rng.normal(size=(50, 6)), method="pca")
    assert xy.shape == (50, 2) and used == "pca" and xy[:, 0].var() >= xy[:, 1].var()
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install umap-learn"):
            project_2d(rng.normal(size=(50, 6)), method="umap")
