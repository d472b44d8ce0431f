"""Offline hard-negative mining: top-k nearest allowed texts, false negatives blocked, re-mining swaps them."""

import datasets
import numpy as np
import pytest

from siamese_text.data.loading import column
from siamese_text.data.mining import ClassNeighbours, HardNegatives, remine_callback


class FakeEncoder:
    """Embeds each text as a fixed 2-d direction at the given angle (degrees), so similarities are known."""

    def __init__(self, angles):
        self.angles = dict(angles)
        self.calls = 0

        class Model:
            training = True

            def train(self, mode=True):
                self.training = mode

        self.model = Model()

    def encode(self, texts, batch_size=64, normalize=False):
        self.calls += 1
        self.model.training = False  # like SentenceTransformer.encode
        rad = np.radians([self.angles[t] for t in texts])
        return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def test_class_mining_takes_nearest_other_class_texts_in_order():
    ds = datasets.Dataset.from_dict({"text": ["a1", "a2", "b1", "b2", "c1", "c2"], "label": [0, 0, 1, 1, 2, 2]})
    enc = FakeEncoder({"a1": 0, "a2": 5, "b1": 30, "b2": 60, "c1": 90, "c2": 170})
    hard = HardNegatives.from_classes(ds, k=2, margin=0.0, seed=0)
    stats = hard.mine(enc)
    assert stats["mined_fraction"] == 1.0
    neg = {hard.texts[a]: [hard.texts[n] for n in row] for a, row in zip(hard.anchors, hard.negatives)}
    assert neg["a1"] == ["b1", "b2"]  # nearest first; a2 (same class, nearer) is blocked
    # c1's positive c2 is 80 degrees away, b2 only 30: with class labels a negative nearer than the
    # positive is a true (and the most useful) negative, so the margin filter does not apply
    assert neg["c1"] == ["b2", "b1"]


def test_candidates_within_the_margin_of_the_positive_are_skipped():
    ds = datasets.Dataset.from_dict({"text_a": ["q"], "text_b": ["p"], "label": [1]})
    extra = datasets.Dataset.from_dict({"text_a": ["near", "mid"], "text_b": ["far", "far2"], "label": [0, 0]})
    pairs = datasets.concatenate_datasets([ds, extra])
    # q-p cos(20 deg)=0.94; near (10 deg, 0.985) is closer than the positive: a likely false negative
    enc = FakeEncoder({"q": 0, "p": 20, "near": 10, "mid": 40, "far": 120, "far2": 150})
    hard = HardNegatives.from_pairs(pairs, k=1, margin=0.05, seed=0)
    hard.mine(enc)
    q = hard.texts.index("q")
    row = list(hard.anchors).index(q)
    assert hard.texts[hard.negatives[row, 0]] == "mid"
    hard.margin = -1.0  # (no filter) -> the nearest text wins; sanity check of the filter itself
    hard.mine(enc)
    assert hard.texts[hard.negatives[row, 0]] == "near"


def test_known_positives_are_never_negatives():
    pairs = datasets.Dataset.from_dict({"text_a": ["q", "q", "x"], "text_b": ["p1", "p2", "y"], "label": [1, 1, 0]})
    enc = FakeEncoder({"q": 0, "p1": 50, "p2": 5, "x": 80, "y": 100})
    hard = HardNegatives.from_pairs(pairs, k=1, margin=0.0, seed=0)
    hard.mine(enc)
    blocked = {"q": {"p1", "p2"}, "p1": {"q"}, "p2": {"q"}}
    for a, n in zip(hard.anchors, hard.negatives[:, 0]):
        assert hard.texts[n] not in blocked[hard.texts[a]] | {hard.texts[a]}
    # q's nearest other text is p2 (5 degrees), a known positive: its negative is the next allowed one
    q_rows = [i for i, a in enumerate(hard.anchors) if hard.texts[a] == "q"]
    assert {hard.texts[hard.negatives[i, 0]] for i in q_rows} == {"x"}


def test_datasets_read_the_current_negatives_and_remining_swaps_them():
    ds = datasets.Dataset.from_dict({"text": ["a1", "a2", "b1", "b2", "c1", "c2"], "label": [0, 0, 1, 1, 2, 2]})
    hard = HardNegatives.from_classes(ds, k=1, margin=0.0, seed=0)
    hard.mine(FakeEncoder({"a1": 0, "a2": 5, "b1": 30, "b2": 60, "c1": 90, "c2": 170}))
    triplets = hard.triplet_dataset()
    first = [row["negative"] for row in triplets]
    assert triplets[0].keys() == {"anchor", "positive", "negative"}
    # a model that now puts class c next to class a: the same data set yields other negatives
    enc = FakeEncoder({"a1": 0, "a2": 5, "b1": 120, "b2": 150, "c1": 10, "c2": 20})
    callback = remine_callback(hard, enc, every=2, log=lambda _line: None)

    class State:
        global_step, max_steps = 2, 10

    callback.on_step_end(None, State(), None)
    assert enc.calls == 1 and enc.model.training  # training mode restored after encoding
    second = [row["negative"] for row in triplets]
    assert first != second and second[0] in ("c1", "c2")
    State.global_step = 3
    callback.on_step_end(None, State(), None)
    assert enc.calls == 1 and len(callback.history) == 1


def test_contrastive_dataset_appends_mined_negative_pairs():
    base = datasets.Dataset.from_dict({"text_a": ["q", "x"], "text_b": ["p", "y"], "label": [1.0, 0.0]})
    hard = HardNegatives.from_pairs(base, k=2, margin=0.0, seed=0)
    hard.mine(FakeEncoder({"q": 0, "p": 10, "x": 40, "y": 90}))
    ds = hard.contrastive_dataset(base)
    rows = [ds[i] for i in range(len(ds))]
    assert len(rows) == 2 + 2 * 2  # both directions of the one positive pair, 2 negatives each
    assert rows[:2] == [{"text_a": "q", "text_b": "p", "label": 1.0}, {"text_a": "x", "text_b": "y", "label": 0.0}]
    assert all(r["label"] == 0.0 and r["text_b"] not in ("p", "q") or r["text_a"] not in ("p", "q") for r in rows[2:])
    assert column(ds, "row") == list(range(6))  # the stored column; the transform gives the texts


def test_mining_chunks_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(0)
    texts = [f"t{i}" for i in range(60)]
    ds = datasets.Dataset.from_dict({"text": texts, "label": [i % 6 for i in range(60)]})
    enc = FakeEncoder({t: float(a) for t, a in zip(texts, rng.uniform(0, 360, 60))})
    whole = HardNegatives.from_classes(ds, k=3, margin=0.0, seed=0)
    whole.mine(enc)
    monkeypatch.setattr("siamese_text.data.mining._CHUNK_ELEMENTS", 60 * 7)
    chunked = HardNegatives.from_classes(ds, k=3, margin=0.0, seed=0)
    chunked.mine(enc)
    np.testing.assert_array_equal(whole.negatives, chunked.negatives)


def test_single_text_classes_have_no_anchor():
    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    with pytest.raises(Exception, match="single text"):
        HardNegatives.from_classes(ds, k=1)


def test_class_neighbours_order_classes_by_mean_embedding():
    ds = datasets.Dataset.from_dict({"text": ["a1", "a2", "b1", "b2", "c1", "c2"], "label": [0, 0, 1, 1, 2, 2]})
    neighbours = ClassNeighbours.from_classes(ds, k=1)
    neighbours.mine(FakeEncoder({"a1": 0, "a2": 10, "b1": 100, "b2": 110, "c1": 20, "c2": 30}))
    assert neighbours.table == {0: [2, 1], 1: [2, 0], 2: [0, 1]}
