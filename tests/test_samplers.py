"""The class-balanced batch sampler: every class in a batch has >= 2 texts, every batch >= 2 classes."""

from collections import Counter

import datasets
import numpy as np
import pytest

from siamese_text.data.samplers import ClassBalancedBatchSampler
from siamese_text.errors import DataError


def labelled(labels):
    return datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(len(labels))], "label": list(labels)})


@pytest.mark.parametrize(("batch_size", "per_class"), [(16, 4), (8, 4), (32, 2), (7, 3), (4, 4), (64, 4)])
def test_every_batch_has_two_of_each_class_present_and_two_classes(batch_size, per_class):
    rng = np.random.default_rng(batch_size)
    labels = rng.integers(0, 20, 300).tolist() + [21, 21, 22, 22, 22]  # uneven classes, some tiny
    sampler = ClassBalancedBatchSampler(labelled(labels), batch_size, False, ["label"], None, 0, per_class=per_class)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        for batch in batches:
            counts = Counter(labels[i] for i in batch)
            assert min(counts.values()) >= 2 and len(counts) >= 2, counts
            assert len(batch) <= batch_size and len(set(batch)) == len(batch)
        used = {i for batch in batches for i in batch}
        assert len(used) > 0.9 * len(labels)  # at most one text per class (and a dominant tail) sits out


def test_epochs_differ_and_are_seeded():
    labels = [i % 10 for i in range(200)]
    first = ClassBalancedBatchSampler(labelled(labels), 16, False, ["label"], None, 7)
    second = ClassBalancedBatchSampler(labelled(labels), 16, False, ["label"], None, 7)
    assert list(first) == list(second)
    first.set_epoch(1)
    assert list(first) != list(second)


def test_drop_last_keeps_only_full_batches():
    labels = [i % 5 for i in range(42)]
    sampler = ClassBalancedBatchSampler(labelled(labels), 16, True, ["label"], None, 0)
    assert all(len(b) == 16 for b in sampler) and len(list(sampler)) == len(sampler)


def test_a_class_with_one_text_is_refused_by_name():
    with pytest.raises(DataError, match="has 1 text"):
        ClassBalancedBatchSampler(labelled([0, 0, 1, 2, 2]), 8, False, ["label"], None, 0)


def test_random_batches_would_fail_the_guarantee():
    """The property above is not automatic: plain random batches of this data break it."""
    labels = [i % 20 for i in range(200)]
    perm = np.random.default_rng(0).permutation(200)
    batches = [perm[i : i + 16] for i in range(0, 200, 16)]
    assert any(min(Counter(labels[i] for i in b).values()) < 2 for b in batches)


class Neighbours:
    """Class c's nearest classes are c+1, c+2, c+3 (mod 20), as mining would say."""

    k = 3
    table = {c: [(c + d) % 20 for d in range(1, 20)] for c in range(20)}


def _near(a, b):
    return (a - b) % 20 in (1, 2, 3) or (b - a) % 20 in (1, 2, 3)


def test_nearest_class_batches_keep_the_guarantee_and_group_near_classes():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 20, 400).tolist()
    plain = ClassBalancedBatchSampler(labelled(labels), 16, False, ["label"], None, 0)
    hard = ClassBalancedBatchSampler(labelled(labels), 16, False, ["label"], None, 0, neighbours=Neighbours())

    def near_share(batches):
        classes = [sorted(Counter(labels[i] for i in b)) for b in batches]
        return np.mean([all(any(_near(x, y) for y in cs if y != x) for x in cs) for cs in classes])

    batches = list(hard)
    assert abs(len(plain) - len(batches)) <= 1
    for batch in batches:
        counts = Counter(labels[i] for i in batch)
        assert min(counts.values()) >= 2 and len(counts) >= 2
    assert near_share(batches) > 0.6 > near_share(list(plain))


def test_nearest_class_table_is_read_batch_by_batch():
    labels = [i % 20 for i in range(400)]
    neighbours = Neighbours()
    sampler = ClassBalancedBatchSampler(labelled(labels), 8, False, ["label"], None, 0, per_class=4, neighbours=neighbours)
    it = iter(sampler)
    first = Counter(labels[i] for i in next(it))
    assert len(first) == 2 and _near(*first)
    neighbours.table = {c: [(c + 10) % 20] + [d for d in range(20) if d not in (c, (c + 10) % 20)] for c in range(20)}
    neighbours.k = 1
    for _ in range(5):
        a, b = sorted(Counter(labels[i] for i in next(it)))
        assert (b - a) % 20 == 10


def test_length_grouped_class_batches_keep_the_guarantee_and_cut_padding():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 12, 400).tolist()
    texts = ["w" * int(n) for n in rng.integers(5, 200, len(labels))]  # lengths unrelated to classes
    data = datasets.Dataset.from_dict({"text": texts, "label": labels})

    def padding(batches):
        lengths = [[len(texts[i]) for i in b] for b in batches]
        return sum(max(ls) - n for ls in lengths for n in ls) / sum(max(ls) * len(ls) for ls in lengths)

    plain = ClassBalancedBatchSampler(data, 16, False, ["label"], None, 5)
    grouped = ClassBalancedBatchSampler(data, 16, False, ["label"], None, 5, group_by_length=True)
    for epoch in range(2):
        plain.set_epoch(epoch)
        grouped.set_epoch(epoch)
        batches = list(grouped)
        assert len(batches) == len(grouped) == len(plain)
        for batch in batches:
            counts = Counter(labels[i] for i in batch)
            assert min(counts.values()) >= 2 and len(counts) >= 2, counts
        assert sum(map(len, batches)) == sum(map(len, plain))  # as many texts per epoch, only grouped differently
        assert padding(batches) < 0.5 * padding(list(plain))
    grouped.set_epoch(0)
    first = list(grouped)
    grouped.set_epoch(1)
    assert first != list(grouped)  # the jitter and the shuffle change the batches each epoch


def test_length_grouped_class_batches_never_hold_one_class():
    # class 0's texts are all short, the others' long: sorted by length, class 0's chunks would fill batches alone
    labels = [0] * 32 + [1] * 32 + [2] * 32
    texts = ["x" * (5 + i % 5) if label == 0 else "y" * (300 + i % 7) for i, label in enumerate(labels)]
    data = datasets.Dataset.from_dict({"text": texts, "label": labels})
    sampler = ClassBalancedBatchSampler(data, 8, False, ["label"], None, 0, group_by_length=True)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 12
        for batch in batches:
            counts = Counter(labels[i] for i in batch)
            assert len(counts) >= 2 and min(counts.values()) >= 2, counts


def test_a_small_data_set_is_not_sorted_whole():
    """Windows hold at most a third of the batches: batches of a small set still mix lengths."""
    from siamese_text.data.samplers import LengthGroupedBatchSampler

    n = 16 * 12
    data = datasets.Dataset.from_dict({"text_a": ["w" * (i + 1) for i in range(n)], "text_b": ["x"] * n, "label": [0.5] * n})
    sampler = LengthGroupedBatchSampler(data, batch_size=16, drop_last=False, seed=0)
    assert sampler.window == 4 and len(list(sampler)) == len(sampler) == 12
    spans = sorted(max(b) - min(b) for b in sampler)  # index = length - 1: a batch sorted whole spans 15
    assert spans[-1] > 15


def test_length_strata_keep_the_label_mix_of_random_batches_at_grouped_padding():
    """Data where the score follows length: plain grouping makes batches of one or two score ranges;
    --length-strata 4 gives every batch all four, as random batches have, at less padding than theirs."""
    from siamese_text.data.samplers import LengthGroupedBatchSampler, RandomBatchSampler

    rng = np.random.default_rng(0)
    n = 16 * 64 * 3
    lengths = rng.integers(5, 200, n)
    scores = (lengths - lengths.min()) / (lengths.max() - lengths.min()) + rng.uniform(0, 0.5, n)  # long texts score higher
    data = datasets.Dataset.from_dict({"text_a": ["w" * int(k) for k in lengths], "text_b": ["x"] * n,
                                       "label": scores.tolist()})
    quartile = np.searchsorted(np.quantile(scores, [0.25, 0.5, 0.75]), scores, side="right")

    def ranges_and_padding(sampler):
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(n))  # every row once
        ranges = np.mean([len(set(quartile[b])) for b in batches])
        padding = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches) / sum(len(b) * lengths[b].max() for b in batches)
        return ranges, padding

    grouped = ranges_and_padding(LengthGroupedBatchSampler(data, batch_size=16, drop_last=False, seed=1))
    mixed = ranges_and_padding(LengthGroupedBatchSampler(data, batch_size=16, drop_last=False, seed=1, strata=4))
    random = ranges_and_padding(RandomBatchSampler(data, batch_size=16, drop_last=False, seed=1))
    assert grouped[0] < 2.5 and mixed[0] > 3.9 and random[0] > 3.5  # label ranges a batch holds, on average
    assert grouped[1] < mixed[1] < random[1]  # the mix costs padding only where the ranges differ in length


def test_length_strata_of_binary_labels_are_the_two_labels():
    from siamese_text.data.samplers import _label_strata

    data = datasets.Dataset.from_dict({"label": [0, 1, 1, 1, 0, 1, 1, 1]})
    assert _label_strata(data, 4).tolist() == [0, 1, 1, 1, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="needs a label column"):
        _label_strata(datasets.Dataset.from_dict({"text": ["a"]}), 2)
