"""Thresholds, probability calibration, its file in the model folder, and predict_pairs."""

import json
import warnings

import datasets
import numpy as np
import pytest

from siamese_text import calibration as cal
from siamese_text.errors import ConfigError, DataError, ModelError
from tests.test_evaluation import _binary_pairs


def _synthetic(n: int, seed: int):
    """Scores whose true P(same) is known: sigmoid(12 * (s - 0.6))."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.0, 1.0, size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-12 * (s - 0.6)))).astype(int)
    return s, y


@pytest.fixture(scope="module")
def saved_model(tiny_encoder, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    tiny_encoder.save(path)
    return path


def test_expected_calibration_error_by_hand():
    p = np.array([0.05, 0.15, 0.95, 0.95])
    y = np.array([0, 1, 1, 1])
    # bins: [0.0,0.1): p .05 y 0 -> .05 ; [0.1,0.2): .15 vs 1 -> .85 ; [0.9,1.0]: .95 vs 1 -> .05 (2 items)
    assert cal.expected_calibration_error(p, y) == pytest.approx((0.05 + 0.85 + 2 * 0.05) / 4)


@pytest.mark.parametrize("method", cal.METHODS)
def test_calibration_is_well_calibrated_and_accurate_on_unseen_pairs(method):
    s, y = _synthetic(3000, seed=0)
    held_s, held_y = _synthetic(3000, seed=1)
    c = cal.fit_calibration(s, y, objective="accuracy", method=method)
    p = c.probability(held_s)
    assert cal.expected_calibration_error(p, held_y) < 0.03
    # the best possible decision is s >= 0.6; the fitted threshold is close and as accurate on new pairs
    assert c.threshold == pytest.approx(0.6, abs=0.05)
    best = ((held_s >= 0.6) == held_y).mean()
    assert ((held_s >= c.threshold) == held_y).mean() >= best - 0.02
    assert np.all(np.diff(c.probability(np.linspace(0, 1, 50))) >= 0), "P(same) must not fall as similarity rises"
    if method == "platt":
        assert c.params["a"] == pytest.approx(12, rel=0.2)


def test_objectives_pick_different_thresholds_and_are_recorded():
    s, y = _synthetic(2000, seed=2)
    strict = cal.fit_calibration(s, y, objective="precision:0.95")
    loose = cal.fit_calibration(s, y, objective="recall:0.95")
    assert strict.threshold > loose.threshold
    assert strict.fit["precision"] >= 95.0 and loose.fit["recall"] >= 95.0
    assert strict.objective == "precision:0.95" and strict.fit["pairs"] == 2000


def test_bad_calibration_requests_are_refused():
    s, y = _synthetic(200, seed=3)
    with pytest.raises(ConfigError, match="--split test.*leak"):
        cal.fit_calibration(s, y, split="test")
    with pytest.raises(DataError, match="only label 0 rows"):
        cal.fit_calibration(s, np.zeros_like(y), split="validation")
    with pytest.raises(DataError, match="no threshold reaches precision 0.999"):
        cal.fit_calibration(np.append(s, 2.0), np.append(y, 0), objective="precision:0.999")
    with pytest.raises(ConfigError, match="--method 'beta'"):
        cal.fit_calibration(s, y, method="beta")


@pytest.mark.parametrize(("dataset", "config", "split", "where"), [
    ("mrpc", "mrpc", "validation", "mrpc validation"),
    ("quora", "pair-class", "validation", "quora validation"),  # the preset's own config says nothing more
    ("all-nli", "pair-class", "dev", "all-nli pair-class dev"),  # not all-nli's own config (triplet)
    ("nyu-mll/glue", "mrpc", "validation", "nyu-mll/glue mrpc validation"),
    (None, None, None, "given pairs"),
])
def test_where_a_calibration_was_fitted_names_a_config_only_when_it_tells_something(dataset, config, split, where):
    s, y = _synthetic(200, seed=4)
    c = cal.fit_calibration(s, y, dataset=dataset, config=config, split=split)
    assert c.fitted_on == where and f"on {where}," in c.describe()


def test_saved_calibration_round_trips_and_sentence_transformers_still_loads(saved_model, tiny_encoder):
    from sentence_transformers import SentenceTransformer

    a, b, y = _binary_pairs(60, seed=7)
    ds = datasets.Dataset.from_dict({"text_a": a, "text_b": b, "label": y})
    c = cal.calibrate_model_dir(tiny_encoder, saved_model, ds, objective="f1", dataset="pairs.csv")
    loaded = cal.load_calibration(saved_model)
    assert loaded == c
    assert loaded.dimension == tiny_encoder.dimension and loaded.split == "validation"
    saved = json.loads((saved_model / cal.CALIBRATION_FILE).read_text())
    assert {"threshold", "metric", "objective", "dataset", "split", "method", "params"} <= set(saved)
    SentenceTransformer(str(saved_model), device="cpu").encode(["the cat sat"])
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        cal.save_calibration(saved_model, c)


def test_predict_pairs_uses_the_saved_threshold(saved_model, tiny_encoder):
    from siamese_text.encoder import SiameseEncoder

    a, b, y = _binary_pairs(60, seed=7)
    ds = datasets.Dataset.from_dict({"text_a": a, "text_b": b, "label": y})
    c = cal.calibrate_model_dir(tiny_encoder, saved_model, ds, objective="accuracy", overwrite=True)
    encoder = SiameseEncoder.load(saved_model)
    preds = cal.predict_pairs(encoder, list(zip(a[:10], b[:10], strict=True)))
    sims = tiny_encoder.similarity(a[:10], b[:10])
    for pred, sim in zip(preds, sims, strict=True):
        assert pred.score == pytest.approx(float(sim), abs=1e-5)
        assert pred.same == (pred.score >= c.threshold)
        assert pred.probability == pytest.approx(float(c.probability([pred.score])[0]))
    with pytest.raises(DataError, match="pair 1 is"):
        cal.predict_pairs(encoder, [("a", "b"), ("only one",)])


def test_predict_pairs_without_calibration_says_how_to_make_one(tiny_encoder):
    with pytest.warns(UserWarning, match="siamtext calibrate"):
        preds = cal.predict_pairs(tiny_encoder, [("a cat", "a dog")])
    assert preds[0].probability is None and preds[0].same is None and -1.0 <= preds[0].score <= 1.0


def test_mismatched_lengths_and_corrupt_file_are_one_line_errors(saved_model, tiny_encoder, tmp_path):
    with pytest.raises(DataError, match="3 texts a and 2 texts b"):
        cal.score_pairs(tiny_encoder, ["a", "b", "c"], ["a", "b"], calibration=None)
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / cal.CALIBRATION_FILE).write_text('{"metric": "cosine", "threshold": ')
    with pytest.raises(ModelError, match="is not a valid calibration") as err:
        cal.load_calibration(folder)
    assert "\n" not in str(err.value)
    (folder / cal.CALIBRATION_FILE).write_text(json.dumps({"metric": "cosine", "threshold": 0.5, "objective": "f1", "method": "platt", "params": {"a": "x"}}))
    with pytest.raises(ModelError, match="platt params"):
        cal.load_calibration(folder)
    (folder / cal.CALIBRATION_FILE).write_text(json.dumps({"metric": "cosine", "threshold": 0.5}))
    with pytest.raises(ModelError, match=r"is not a valid calibration \(no objective, method, params\)"):
        cal.load_calibration(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cal.load_calibration(tmp_path) is None


def test_one_pair_not_in_a_list_is_named(tiny_encoder):
    with pytest.raises(DataError, match=r"pairs is one pair, \('a cat', 'a dog'\); give a list of pairs"):
        cal.predict_pairs(tiny_encoder, ("a cat", "a dog"))


def test_a_hub_model_s_calibration_is_fetched_with_its_other_files(saved_model, tiny_encoder, monkeypatch, tmp_path):
    """push_to_hub uploads the calibration; a model loaded by Hub id reads it from the Hub (or its cache)."""
    import huggingface_hub

    a, b, y = _binary_pairs(60, seed=7)
    ds = datasets.Dataset.from_dict({"text_a": a, "text_b": b, "label": y})
    c = cal.calibrate_model_dir(tiny_encoder, saved_model, ds, objective="accuracy", overwrite=True)
    asked = []

    def fake_download(repo_id, filename, **kwargs):
        asked.append((repo_id, filename))
        if repo_id != "someone/tiny":
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        return str(saved_model / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert cal.load_calibration("someone/tiny") == c
    assert cal.load_calibration("someone/other") is None
    assert cal.load_calibration(str(tmp_path / "no" / "such")) is None  # a missing local path is not a Hub id
    assert asked == [("someone/tiny", cal.CALIBRATION_FILE), ("someone/other", cal.CALIBRATION_FILE)]
    hub_named = type(tiny_encoder)(tiny_encoder.model, name_or_path="someone/tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (pred,) = cal.predict_pairs(hub_named, [(a[0], b[0])])
    assert pred.same == (pred.score >= c.threshold)
