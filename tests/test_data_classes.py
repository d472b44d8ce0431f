"""Class-labelled texts -> balanced pairs and triplets, streamed and memory-bounded; few-shot; bad input."""

import time
import tracemalloc

import datasets
import numpy as np
import pytest

from siamese_text.data import load_data
from siamese_text.data.loading import column
from siamese_text.data.pairs import (
    check_class_sizes,
    class_pairs_dataset,
    class_triplets_dataset,
    few_shot,
    iter_class_pairs,
    iter_class_triplets,
)
from siamese_text.errors import DataError


def class_ds(n_classes=5, per_class=6, seed=0):
    texts = [f"text {c} {i}" for c in range(n_classes) for i in range(per_class)]
    labels = [c for c in range(n_classes) for _ in range(per_class)]
    order = np.random.default_rng(seed).permutation(len(texts))
    return datasets.Dataset.from_dict({"text": [texts[i] for i in order], "label": [labels[i] for i in order]})


def test_pairs_are_balanced_correct_and_never_self():
    ds = class_ds()
    pairs = class_pairs_dataset(ds, 1000, seed=3)
    label_of = dict(zip(column(ds, "text"), column(ds, "label")))
    a, b, y = column(pairs, "text_a"), column(pairs, "text_b"), column(pairs, "label")
    assert len(pairs) == 1000 and sum(y) == 500
    for x, z, same in zip(a, b, y):
        assert (label_of[x] == label_of[z]) == bool(same)
        assert x != z
    # every text is used as an anchor about equally often (fresh permutations, not i.i.d. draws)
    counts = np.unique(a, return_counts=True)[1]
    assert counts.max() - counts.min() <= 2


@pytest.mark.parametrize("count", [0, -5, 2.5])
def test_a_pair_or_triplet_count_below_one_is_refused(count):
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 0, 1, 1]})
    with pytest.raises(DataError, match=r"num_pairs \(--max-pairs\) must be a whole number of at least 1"):
        class_pairs_dataset(ds, count)
    with pytest.raises(DataError, match=r"num_triplets \(--max-pairs\) must be a whole number of at least 1"):
        class_triplets_dataset(ds, count)


def test_pairs_are_seeded():
    ds = class_ds()
    assert class_pairs_dataset(ds, 200, seed=1)[:] == class_pairs_dataset(ds, 200, seed=1)[:]
    assert class_pairs_dataset(ds, 200, seed=1)[:] != class_pairs_dataset(ds, 200, seed=2)[:]


def test_allow_self_pairs_a_text_with_itself_only_when_asked():
    labels = [0, 0, 1, 1]
    pos = [(a[y == 1], b[y == 1]) for a, b, y in iter_class_pairs(labels, 4000, seed=0, allow_self=True)][0]
    assert (pos[0] == pos[1]).any()
    pos = [(a[y == 1], b[y == 1]) for a, b, y in iter_class_pairs(labels, 4000, seed=0)][0]
    assert not (pos[0] == pos[1]).any()


def test_duplicate_texts_in_a_class_are_not_paired_with_their_copy():
    ds = datasets.Dataset.from_dict({"text": ["same", "same", "other", "x", "y"], "label": [0, 0, 0, 1, 1]})
    pairs = class_pairs_dataset(ds, 200, seed=0)
    assert all(a != b for a, b in zip(column(pairs, "text_a"), column(pairs, "text_b")))


def test_a_million_pairs_from_banking77_sized_labels_is_cheap_and_never_quadratic():
    labels = np.random.default_rng(0).integers(0, 77, 10003)  # Banking77's train size and classes
    tracemalloc.start()
    start = time.perf_counter()
    total = 0
    for a, b, y in iter_class_pairs(labels, 1_000_000, seed=0):
        total += len(a)
        assert (labels[a[y == 1]] == labels[b[y == 1]]).all() and (labels[a[y == 0]] != labels[b[y == 0]]).all()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == 1_000_000
    # the n^2 table alone would be 10003^2 / 2 pairs x 16 bytes = 800 MB; the stream stays at one chunk
    assert peak < 50e6, f"peak {peak / 1e6:.0f} MB"
    assert seconds < 5


def test_triplets_have_a_same_class_positive_and_other_class_negative():
    ds = class_ds()
    label_of = dict(zip(column(ds, "text"), column(ds, "label")))
    triplets = class_triplets_dataset(ds, 300, seed=0)
    assert len(triplets) == 300
    for a, p, n in zip(*(column(triplets, c) for c in ("anchor", "positive", "negative"))):
        assert label_of[a] == label_of[p] and a != p and label_of[n] != label_of[a]


def test_triplet_anchors_skip_single_text_classes():
    labels = [0, 0, 0, 1, 2, 2]
    for a, p, n in iter_class_triplets(labels, 100, seed=0):
        y = np.asarray(labels)
        assert 3 not in a.tolist() and (y[a] == y[p]).all() and (a != p).all() and (y[a] != y[n]).all()


def test_few_shot_takes_k_per_class_seeded():
    ds = class_ds(per_class=10)
    shot = few_shot(ds, 3, seed=0)
    assert sorted(np.unique(column(shot, "label"), return_counts=True)[1].tolist()) == [3] * 5
    assert column(few_shot(ds, 3, seed=0), "text") == column(shot, "text")
    assert column(few_shot(ds, 3, seed=1), "text") != column(shot, "text")


def test_class_sizes_are_checked_by_name():
    with pytest.raises(DataError, match="class 'refund' has 1 text .* at least 2 per class"):
        check_class_sizes([0, 0, 1], minimum=2, names=["card", "refund"], why="--loss batch-hard-triplet")
    with pytest.raises(DataError, match="needs at least 2 classes"):
        check_class_sizes([0, 0], minimum=2, names=None, why="in-batch mining")


def test_string_class_labels_get_one_numbering_across_splits(tmp_path):
    folder = tmp_path / "intents"
    folder.mkdir()
    (folder / "train.csv").write_text("utterance,intent\nlost my card,lost_card\nwhere is my card,card_arrival\ncard stolen,lost_card\n")
    (folder / "test.csv").write_text("utterance,intent\ncard gone,lost_card\n")
    data = load_data(str(folder), text_columns=("utterance",), label_column="intent")
    assert data.label_kind == "class" and data.label_names == ["card_arrival", "lost_card"]
    assert column(data.split("train"), "label") == [1, 0, 1] and column(data.split("test"), "label") == [1]
    assert "2 classes" in data.summary()


def test_missing_class_label_names_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("utterance,intent\nlost my card,lost_card\nwhere is my card,\n")
    with pytest.raises(DataError, match="train row 1: label column 'intent' has no class"):
        load_data(str(path), text_columns=("utterance",), label_column="intent")


def test_whitespace_only_text_names_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('utterance,intent\nlost my card,a\n"   ",b\n')
    with pytest.raises(DataError, match="train row 1: column 'utterance' is empty"):
        load_data(str(path), text_columns=("utterance",), label_column="intent")


def test_more_columns_than_roles(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,d\nw,x,y,z\n")
    with pytest.raises(DataError, match="names 4 columns .*give 1 .*, 2 .* or 3"):
        load_data(str(path), text_columns=("a", "b", "c", "d"))
    with pytest.raises(DataError, match="label column 'd' is 'z', not a number; .*triplets a margin scale"):
        load_data(str(path), text_columns=("a", "b", "c"), label_column="d")  # a triplet's label scales its margin
    with pytest.raises(DataError, match="--label-kind class takes one text column"):
        load_data(str(path), text_columns=("a", "b"), label_column="d", label_kind="class")


def test_labelled_pairs_become_triplets_with_the_negatives_the_data_gives():
    from siamese_text.data.pairs import scored_pairs_to_triplets

    ds = datasets.Dataset.from_dict({
        "text_a": ["how to reset pin", "how to reset pin", "card lost", "fee for transfer"],
        "text_b": ["reset my pin code", "order a new card", "my card is gone", "exchange rate today"],
        "label": [1, 0, 1, 0],
    })
    triplets = scored_pairs_to_triplets(ds, positive_threshold=0.5, seed=0)
    rows = list(zip(*(column(triplets, c) for c in ("anchor", "positive", "negative"))))
    assert len(rows) == 4  # two positive pairs, both ways round
    # the anchor's own 0-labelled partner is its negative
    assert ("how to reset pin", "reset my pin code", "order a new card") in rows
    assert all(n not in (a, p) for a, p, n in rows)


def test_held_out_validation_takes_the_same_share_of_every_class(tmp_path):
    import csv
    from collections import Counter

    from siamese_text.data.loading import column, load_data

    path = tmp_path / "intents.csv"
    sizes = {"a": 10, "b": 20, "c": 40}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "intent"])
        writer.writerows((f"{intent} text number {i}", intent) for intent, n in sizes.items() for i in range(n))
    data = load_data(str(path), text_columns=("text",), label_column="intent", validation_split=0.1, seed=7)
    assert Counter(column(data.split("validation"), "label")) == {0: 1, 1: 2, 2: 4}
    assert len(data.split("train")) == 63 and "validation 7 (10% of train, held out)" in data.summary()
    train, held = set(column(data.split("train"), "text")), set(column(data.split("validation"), "text"))
    assert not train & held and len(train | held) == 70
    again = load_data(str(path), text_columns=("text",), label_column="intent", validation_split=0.1, seed=7)
    assert column(again.split("validation"), "text") == column(data.split("validation"), "text")  # seeded
