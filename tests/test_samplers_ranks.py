"""Every batch sampler under 2 ranks, as the trainer runs it: wrapped in accelerate's BatchSamplerShard
(even_batches=False, as sentence-transformers sets it), one wrapper per rank.

Per epoch the ranks' batches are disjoint, cover the data, are equally many (no rank waits on another),
and class-balanced batches keep >= 2 texts per class present and >= 2 classes on every rank.
"""

from collections import Counter

import datasets
import numpy as np
import pytest
from accelerate.data_loader import BatchSamplerShard

from siamese_text.data.samplers import (
    ClassBalancedBatchSampler,
    LengthGroupedBatchSampler,
    RandomBatchSampler,
    round_sizes,
)
from siamese_text.errors import DataError


def pairs(n):
    rng = np.random.default_rng(n)
    return datasets.Dataset.from_dict({
        "text_a": ["w " * int(k) for k in rng.integers(1, 40, n)],
        "text_b": ["v " * int(k) for k in rng.integers(1, 40, n)],
    })


def labelled(labels):
    return datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(len(labels))], "label": list(labels)})


def per_rank(make, world_size=2, epoch=0):
    """Each rank's batches for ``epoch``: its own sampler (built the same way on every rank) in its own shard."""
    out = []
    for rank in range(world_size):
        sampler = make()
        sampler.set_epoch(epoch)
        shard = BatchSamplerShard(sampler, num_processes=world_size, process_index=rank, split_batches=False,
                                  even_batches=False)
        batches = list(shard)
        assert len(batches) == len(shard), "the trainer plans its steps from len()"
        out.append(batches)
    return out


@pytest.mark.parametrize("kind", ["random", "length"])
@pytest.mark.parametrize(("n", "per_device"), [(33, 4), (97, 8), (7, 2), (41, 1), (5, 2), (1001, 16)])
def test_rows_are_dealt_disjoint_equal_and_complete(kind, n, per_device):
    cls = RandomBatchSampler if kind == "random" else LengthGroupedBatchSampler
    for epoch in (0, 1):
        ranks = per_rank(lambda: cls(pairs(n), per_device, False, None, None, 3, world_size=2), epoch=epoch)
        assert len(ranks[0]) == len(ranks[1]) > 0
        seen = [i for batches in ranks for batch in batches for i in batch]
        assert len(seen) == len(set(seen)), "a row went to two ranks (or twice to one)"
        assert all(0 < len(b) <= per_device for batches in ranks for b in batches)
        # every row, except with a per-device batch of 1, where a rest smaller than the world sits out
        assert len(set(seen)) >= n - (1 if per_device == 1 else 0)
        # each step the two ranks' batches differ by at most one row (nobody waits on a much larger batch)
        assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(*ranks, strict=True))


def test_rounds_are_the_one_process_batches_split_in_two():
    """Random and length-grouped: the same global batches for 1 and 2 processes (same seed), so a run can be
    resumed on another world size and a 2-process run follows the 1-process one."""
    ds = pairs(64)
    one = list(LengthGroupedBatchSampler(ds, 16, False, None, None, 7))
    two = per_rank(lambda: LengthGroupedBatchSampler(ds, 8, False, None, None, 7, world_size=2))
    assert [sorted(a + b) for a, b in zip(*two, strict=True)] == [sorted(batch) for batch in one]


def test_one_process_is_unchanged_by_the_world_size_argument():
    ds = pairs(50)
    assert list(LengthGroupedBatchSampler(ds, 4, False, None, None, 1)) == list(
        LengthGroupedBatchSampler(ds, 4, False, None, None, 1, world_size=1))


@pytest.mark.parametrize("by_length", [False, True])
@pytest.mark.parametrize(("batch_size", "per_class"), [(8, 4), (16, 4), (8, 2), (6, 3)])
def test_class_balance_holds_within_each_ranks_batch(batch_size, per_class, by_length):
    rng = np.random.default_rng(batch_size)
    labels = rng.integers(0, 15, 203).tolist() + [30, 30, 31, 31, 31]  # odd total, uneven and tiny classes
    data = labelled(labels).map(lambda row, i: {"text": "w " * (i % 37)}, with_indices=True)
    for epoch in (0, 1):
        make = lambda: ClassBalancedBatchSampler(data, batch_size, False, ["label"], None, 0,  # noqa: E731
                                                 per_class=per_class, world_size=2, group_by_length=by_length)
        ranks = per_rank(make, epoch=epoch)
        assert len(ranks[0]) == len(ranks[1]) > 0
        seen = [i for batches in ranks for batch in batches for i in batch]
        assert len(seen) == len(set(seen))
        assert len(set(seen)) > 0.85 * len(labels)  # a single text per class (and a dominant tail) sits out
        for batches in ranks:
            for batch in batches:
                counts = Counter(labels[i] for i in batch)
                assert min(counts.values()) >= 2 and len(counts) >= 2, counts


def test_hard_class_batches_come_in_whole_rounds():
    from siamese_text.data.mining import ClassNeighbours

    labels = [i % 9 for i in range(101)]
    near = ClassNeighbours(texts=[f"t{i}" for i in range(101)], labels=labels, k=2,
                           table={c: [(c + 1) % 9, (c + 2) % 9] for c in range(9)})
    make = lambda: ClassBalancedBatchSampler(labelled(labels), 8, False, ["label"], None, 0, neighbours=near,  # noqa: E731
                                             world_size=2)
    ranks = per_rank(make)
    assert len(ranks[0]) == len(ranks[1]) > 0
    seen = [i for batches in ranks for batch in batches for i in batch]
    assert len(seen) == len(set(seen))


def test_a_rank_left_without_data_is_a_one_line_error():
    with pytest.raises(DataError, match="3 processes"):
        RandomBatchSampler(pairs(2), 4, False, None, None, 0, world_size=3)
    with pytest.raises(DataError, match="class chunks"):  # 2 classes of 2: 2 chunks, 2 ranks need 4
        ClassBalancedBatchSampler(labelled([0, 0, 1, 1]), 4, False, ["label"], None, 0, world_size=2)


def test_round_sizes():
    assert round_sizes(10, per_batch=4) == [[4], [4], [2]]
    sizes = round_sizes(17, per_batch=4, world_size=2)  # a rest of 1 < 2 ranks: the last round and it, over two
    assert sizes == [[4, 4], [3, 2], [2, 2]]
    assert round_sizes(19, per_batch=4, world_size=2) == [[4, 4], [4, 4], [2, 1]]
    assert round_sizes(19, per_batch=4, world_size=2, drop_last=True) == [[4, 4], [4, 4]]
    assert round_sizes(3, per_batch=1, world_size=2) == [[1, 1]]  # batch 1: a rest of 1 sits out
    assert round_sizes(1, per_batch=4, world_size=2) == []
