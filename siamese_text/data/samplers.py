"""Batch samplers for the sentence-transformers trainer.

``LengthGroupedBatchSampler``: sentence-transformers draws batches at random, so each batch is
padded to its longest text; on a CPU that padding is most of the work. Grouping texts of similar
length (within shuffled windows of ``window`` batches, then shuffling the batch order) keeps the
randomness of the data order while cutting the padding. Use it for losses that treat every pair
on its own (contrastive, triplet); in-batch mining wants random batches.
Lengths are ``text_length(text)``, characters by default. Token counts
(:meth:`siamese_text.data.tokens.TokenCache.length`) sort tighter: STS-B batches of 16 in windows of
64 are 26% padding sorted by characters, 10% by tokens (56% at random). Training sorts pairs by
characters, the grouping whose STS-B validation mean was measured over seeds; class-balanced
batches by tokens.

``ClassBalancedBatchSampler``: batch-hard, semi-hard and batch-all losses only learn from an anchor
whose batch holds another text of its class (a positive) and a text of another class. Random
batches of 32 from Banking77's 77 classes leave most anchors without a positive, so the loss is
mostly zero. This sampler builds "P classes x K texts" batches (Hermans et al. 2017): each class's
texts are shuffled and cut into chunks of ``per_class`` (a last chunk of 2 or more is kept, a last
single text sits the epoch out, a different one each epoch); classes take turns giving one chunk each, in a freshly shuffled order
every round, and a batch is ``batch_size // per_class`` consecutive chunks. So every class present
in a batch has at least 2 texts there, and every batch has at least 2 classes (no two neighbouring
chunks share a class). sentence-transformers' ``GroupByLabelBatchSampler`` does this with K fixed at
2; we want K = 4 (more positives per anchor) and an error that names the class that is too small.
The rounds stop when fewer than 2 classes have chunks left, so the tail of a much larger class is
left out of that epoch (a different tail each epoch).

With ``neighbours`` (a :class:`siamese_text.data.mining.ClassNeighbours`, filled by mining with the
model) the same chunks are grouped into *hard* batches instead: each batch starts from the next
chunk of the stream and adds chunks of the classes the model finds nearest to it (drawn from its
``k`` nearest that still have chunks), so batch-hard mining meets confusable classes in the batch
rather than the random ones a 77-class round-robin gives. The table is read batch by batch, so
re-mining during training takes effect at the next batch.

With ``group_by_length`` (``--group-by-length``; not the default, see config.resolve) the same guarantee holds on far
less padding: random class-balanced batches of Banking77 are 65% padding (texts of 5 to 98 tokens
share a batch). Each class's texts are cut into chunks of similar length (shuffled, then sorted by
length plus a random jitter of ``jitter`` tokens, so chunks differ from epoch to epoch), and
the stream's chunks are sorted by length within windows of ``window`` batches before they are cut
into batches, whose order is then shuffled: 10% padding. A batch may then hold two chunks of one
class (more positives; still >= 2 classes, a batch of one class is given a chunk of its
neighbour). Hard (nearest-class) batches keep the stream order: there the classes decide.

Several processes (``world_size`` > 1, DDP under ``torchrun``): ``--batch-size`` is the global batch and
each process takes ``batch_size / world_size`` of it. Every sampler then cuts an epoch into *rounds*
(:func:`round_sizes`): a round holds one batch per rank, disjoint, all of equal size (the rest of the
epoch spread evenly over the last one or two rounds, so no rank's batch is empty and every rank takes
the same number of steps). The rounds are yielded one after another, rank 0's batch first;
accelerate's ``BatchSamplerShard``, which the trainer wraps every batch sampler in, hands batch ``i``
to rank ``i % world_size``. For that it must take our batches as they come (``batch_size`` None
tells it sizes vary), not pad or drop them. The same seed gives the same rounds on every rank and, for
random and length-grouped batches, the same rounds (the same global batches) for any world size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

from siamese_text.data.loading import column
from siamese_text.data.pairs import check_class_sizes
from siamese_text.data.tokens import TEXT_COLUMNS
from siamese_text.errors import DataError

__all__ = ["LengthGroupedBatchSampler", "ClassBalancedBatchSampler", "RandomBatchSampler", "round_sizes", "deal_rounds"]

T = TypeVar("T")


def _even(n: int, parts: int) -> list[int]:
    q, r = divmod(n, parts)
    return [q + (i < r) for i in range(parts)]


def round_sizes(n: int, *, per_batch: int, world_size: int = 1, minimum: int = 1, drop_last: bool = False) -> list[list[int]]:
    """How many of ``n`` units (texts, or class chunks) each rank's batch of each round takes.

    Full rounds of ``per_batch`` units per rank; the rest, if every rank can have ``minimum`` of it, is one
    more round split evenly; else, with several ranks, the last full round and the rest are split evenly
    over two rounds; else it sits this epoch out (a different rest each epoch). ``drop_last``: full rounds only.
    One rank: the usual batches, a last one of at least ``minimum`` units kept.
    """
    span = per_batch * world_size
    full, rest = divmod(n, span)
    sizes = [[per_batch] * world_size for _ in range(full)]
    if drop_last or rest == 0:
        return sizes
    if rest >= minimum * world_size:
        sizes.append(_even(rest, world_size))
    elif world_size > 1 and full and span + rest >= 2 * minimum * world_size:
        sizes.pop()
        parts = _even(span + rest, 2 * world_size)
        sizes += [parts[:world_size], parts[world_size:]]
    return sizes


def deal_rounds(units: Sequence[T], sizes: list[list[int]]) -> list[list[list[T]]]:
    """``units`` cut in order into the rounds of batches ``sizes`` gives (:func:`round_sizes`)."""
    rounds, start = [], 0
    for round_ in sizes:
        batches = []
        for size in round_:
            batches.append(list(units[start : start + size]))
            start += size
        rounds.append(batches)
    return rounds


def _check_world(sampler: Any, n_rounds: int, what: str) -> None:
    if sampler.world_size > 1 and n_rounds == 0:
        raise DataError(
            f"{sampler.n_units} {what} cannot give each of {sampler.world_size} processes a batch "
            f"(--batch-size {sampler.per_device * sampler.world_size}); use fewer processes or more data"
        )


class _Rounds:
    """What every sampler here shares: the per-device batch size, and world_size > 1's rounds."""

    def _setup_ranks(self, batch_size: int, world_size: int) -> None:
        self.per_device, self.world_size = batch_size, world_size
        if world_size > 1:
            self.batch_size = None  # accelerate's BatchSamplerShard: take our batches as they are (sizes vary)

    def _yield_rounds(self, rounds: list[list[list[int]]], order: list[int] | None = None) -> Iterator[list[int]]:
        for i in order if order is not None else range(len(rounds)):
            yield from rounds[i]


class RandomBatchSampler(_Rounds, DefaultBatchSampler):
    """Random batches in rounds across ranks (see the module doc); one process uses the trainer's own."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns,
                         generator=generator, seed=seed)
        self._setup_ranks(batch_size, world_size)
        self.n_units = len(dataset)
        _check_world(self, len(self._sizes()), "rows")

    def _sizes(self) -> list[list[int]]:
        return round_sizes(self.n_units, per_batch=self.per_device, world_size=self.world_size, drop_last=self.drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        generator.manual_seed(int(self.seed) + int(self.epoch))
        order = torch.randperm(self.n_units, generator=generator).tolist()
        yield from self._yield_rounds(deal_rounds(order, self._sizes()))

    def __len__(self) -> int:
        return len(self._sizes()) * self.world_size



class LengthGroupedBatchSampler(_Rounds, DefaultBatchSampler):
    """Random batches of texts of similar length (the longest text of each row decides).

    ``strata`` > 1 (``--length-strata``): the rows of a window are length-sorted within each of
    ``strata`` label ranges and interleaved, so every batch keeps the random batches' mix of scores
    (or of 0/1 labels) while its texts still have similar lengths for their range.
    """

    window = 64  # rounds per sorted window

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        world_size: int = 1,
        text_length: Callable[[str], int] = len,
        strata: int = 1,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        self._setup_ranks(batch_size, world_size)
        self.stratum = _label_strata(dataset, strata) if strata > 1 else None
        columns = [c for c in TEXT_COLUMNS if c in dataset.column_names]
        lengths = torch.zeros(len(dataset), dtype=torch.long)
        for name in columns:
            col = torch.tensor([text_length(t) for t in column(dataset, name)], dtype=torch.long)
            lengths = torch.maximum(lengths, col)
        self.lengths = lengths
        self.n_units = len(lengths)
        _check_world(self, len(self._sizes()), "rows")
        # A small data set sorted whole would make every batch one kind of text (one STS-B source):
        # windows hold at most a third of the (per-device) batches, so each keeps a mix of the lengths around it.
        n_batches = -(-self.n_units // (self.per_device * self.world_size))  # global batches: windows agree on N ranks
        self.window = max(1, min(type(self).window, n_batches // 3))

    def _sizes(self) -> list[list[int]]:
        return round_sizes(self.n_units, per_batch=self.per_device, world_size=self.world_size, drop_last=self.drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        generator.manual_seed(int(self.seed) + int(self.epoch))
        order = torch.randperm(len(self.lengths), generator=generator)
        span = self.per_device * self.world_size * self.window  # a window is whole rounds: a round never straddles two
        windows = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            by_length = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            if self.stratum is not None:
                by_length = _interleave_strata(by_length, self.stratum[by_length])
            windows.append(by_length)
        grouped = torch.cat(windows).tolist() if windows else []
        rounds = deal_rounds(grouped, self._sizes())  # a round's batches are neighbours in length: no rank waits long
        yield from self._yield_rounds(rounds, torch.randperm(len(rounds), generator=generator).tolist())

    def __len__(self) -> int:
        return len(self._sizes()) * self.world_size


def _label_strata(dataset: Any, strata: int) -> torch.Tensor:
    """Each row's label range: ``strata`` quantile bins of the ``label`` column (ties share a bin, so 0/1
    labels give two)."""
    if "label" not in dataset.column_names:
        raise ValueError(f"strata={strata} needs a label column; the data set has {dataset.column_names}")
    labels = torch.tensor(column(dataset, "label"), dtype=torch.float)
    edges = torch.quantile(labels, torch.linspace(0, 1, strata + 1)[1:-1]).unique()
    return torch.unique(torch.bucketize(labels, edges, right=True), return_inverse=True)[1]  # numbered 0, 1, ...


def _interleave_strata(rows: torch.Tensor, stratum: torch.Tensor) -> torch.Tensor:
    """``rows`` (sorted longest first) reordered so that each stretch of them draws from every label range
    in proportion: rows are ranked by their place within their own range (0 = its longest, 1 = its
    shortest), so neighbours have similar length *for their range* and a batch keeps the mix of scores
    that random batches have."""
    place = torch.empty(len(rows), dtype=torch.float)
    for value in stratum.unique():
        members = (stratum == value).nonzero().flatten()  # already longest first
        place[members] = (torch.arange(len(members), dtype=torch.float) + 0.5) / len(members)
    return rows[torch.argsort(place, stable=True)]


class ClassBalancedBatchSampler(_Rounds, DefaultBatchSampler):
    """Batches of ``batch_size // per_class`` class chunks of 2..``per_class`` texts; see the module doc."""

    per_class = 4
    window = 64  # batches per length-sorted window (group_by_length)
    jitter = 4.0  # random jitter on each text's length (in text_length's unit) when chunks are cut by length

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        per_class: int | None = None,
        neighbours: Any = None,
        world_size: int = 1,
        group_by_length: bool = False,
        text_length: Callable[[str], int] = len,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        if per_class is not None:
            self.per_class = per_class
        self.neighbours = neighbours
        self._setup_ranks(batch_size, world_size)
        self.lengths: torch.Tensor | None = None
        if group_by_length and neighbours is None:
            self.lengths = torch.tensor([text_length(t) for t in column(dataset, "text")], dtype=torch.float)
        if batch_size < 4:
            raise ValueError(f"class-balanced batches need at least 2 classes x 2 texts, so batch_size >= 4 (got {batch_size})")
        self.per_class = max(2, min(self.per_class, batch_size // 2))
        self.chunks_per_batch = max(2, batch_size // self.per_class)
        labels = column(dataset, "label")
        check_class_sizes(labels, minimum=2, names=None, why="in-batch mining")
        groups: dict[Any, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(label, []).append(i)
        self.groups = list(groups.values())
        self.group_labels = list(groups)
        chunks = sorted((self._n_chunks(len(g)) for g in self.groups), reverse=True)
        self._n_streamed = sum(min(n, chunks[1]) for n in chunks)  # rounds stop when < 2 classes are left
        self.n_units = self._n_streamed
        _check_world(self, len(self._sizes()), "class chunks")

    def _sizes(self) -> list[list[int]]:
        """Chunks per batch, in rounds across ranks; a batch has at least 2 chunks (2 classes)."""
        return round_sizes(self._n_streamed, per_batch=self.chunks_per_batch, world_size=self.world_size, minimum=2,
                           drop_last=self.drop_last)

    def _n_chunks(self, size: int) -> int:
        full, rest = divmod(size, self.per_class)
        return max(1, full + (rest >= 2))

    def _chunks(self, indices: list[int], generator: torch.Generator) -> list[list[int]]:
        """Shuffled chunks of 2..``per_class`` texts; a rest of one text sits this epoch out."""
        shuffled = [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
        if self.lengths is not None:  # neighbours in length share a chunk; the jitter varies them by epoch
            full, rest = divmod(len(shuffled), self.per_class)
            kept = shuffled[: full * self.per_class + (rest if rest >= 2 else 0)]  # a random text sits out, not the longest
            keys = self.lengths[kept] + self.jitter * torch.rand(len(kept), generator=generator)
            shuffled = [kept[i] for i in torch.argsort(keys, stable=True).tolist()]
        return [shuffled[i * self.per_class : (i + 1) * self.per_class] for i in range(self._n_chunks(len(shuffled)))]

    def _stream(self) -> list[tuple[int, list[int]]]:
        generator = torch.Generator()
        generator.manual_seed(int(self.seed) + int(self.epoch))
        queues = {c: self._chunks(g, generator) for c, g in enumerate(self.groups)}
        stream: list[tuple[int, list[int]]] = []
        alive = [c for c in queues if queues[c]]
        while len(alive) >= 2:
            alive = [alive[i] for i in torch.randperm(len(alive), generator=generator).tolist()]
            if stream and alive[0] == stream[-1][0]:  # no two neighbouring chunks of one class
                alive[0], alive[1] = alive[1], alive[0]
            stream.extend((c, queues[c].pop()) for c in alive)
            alive = [c for c in alive if queues[c]]
        return stream

    def __iter__(self) -> Iterator[list[int]]:
        stream = self._stream()
        if self.neighbours is not None:
            yield from self._whole_rounds(self._hard_batches(stream))
            return
        if self.lengths is not None:
            yield from self._length_batches(stream)
            return
        for round_ in deal_rounds(stream, self._sizes()):
            for group in round_:
                yield [i for _, chunk in group for i in chunk]

    def _whole_rounds(self, batches: Iterator[list[int]]) -> Iterator[list[int]]:
        """Hard batches are built one at a time (a re-mine takes effect at the next); with several ranks
        they go out a whole round at a time, and a last incomplete round sits the epoch out."""
        if self.world_size == 1:
            yield from batches
            return
        round_: list[list[int]] = []
        for batch in batches:
            round_.append(batch)
            if len(round_) == self.world_size:
                yield from round_
                round_ = []

    def _length_batches(self, stream: list[tuple[int, list[int]]]) -> Iterator[list[int]]:
        """The stream's chunks sorted by length within windows, cut into batches (rounds of them across ranks),
        in shuffled order."""
        assert self.lengths is not None
        window = max(1, min(self.window, len(stream) // (self.chunks_per_batch * self.world_size) // 3))  # global batches
        span = self.chunks_per_batch * self.world_size * window  # windows of whole rounds
        generator = torch.Generator()
        generator.manual_seed(int(self.seed) + int(self.epoch) + 2)
        ordered: list[tuple[int, list[int]]] = []
        for start in range(0, len(stream), span):
            ordered.extend(sorted(stream[start : start + span], key=lambda item: float(self.lengths[item[1]].max())))
        rounds = deal_rounds(ordered, self._sizes())
        groups = [group for round_ in rounds for group in round_]
        for g, group in enumerate(groups):  # rare: one class only; swap in a chunk of another class nearby
            if len({c for c, _ in group}) < 2:
                self._swap_in_another_class(groups, g)
        for r in torch.randperm(len(rounds), generator=generator).tolist():
            for group in rounds[r]:
                yield [i for _, chunk in group for i in chunk]

    @staticmethod
    def _swap_in_another_class(groups: list[list[tuple[int, list[int]]]], g: int) -> None:
        label = groups[g][0][0]
        for h in sorted(range(len(groups)), key=lambda h: abs(h - g)):
            other = groups[h]
            for j, (c, _) in enumerate(other):
                # the donor must keep 2 classes: it gives a chunk of another class and takes one of ours
                if c != label and len({x for k, (x, _) in enumerate(other) if k != j} | {label}) >= 2:
                    groups[g][-1], other[j] = other[j], groups[g][-1]
                    return

    def _hard_batches(self, stream: list[tuple[int, list[int]]]) -> Iterator[list[int]]:
        """The stream's chunks, each batch a seed class and classes among its ``k`` nearest (see module doc)."""
        pool: dict[int, list[list[int]]] = {}
        for c, chunk in stream:
            pool.setdefault(c, []).append(chunk)
        position = {label: g for g, label in enumerate(self.group_labels)}
        remaining, cursor, step = len(stream), 0, self.chunks_per_batch
        generator = torch.Generator()
        generator.manual_seed(int(self.seed) + int(self.epoch) + 1)
        while remaining:
            size = min(step, remaining)
            if size < step and (self.drop_last or size < 2):
                break
            while not pool[stream[cursor][0]]:
                cursor += 1
            seed = stream[cursor][0]
            biggest = max(pool, key=lambda c: len(pool[c]))
            if 2 * len(pool[biggest]) > remaining:  # drain a dominant class first, or it ends alone in a batch
                seed = biggest
            else:
                cursor += 1
            table = self.neighbours.table  # read now: a re-mine between batches takes effect here
            near = [position[label] for label in (table or {}).get(self.group_labels[seed], []) if label in position]
            near = [c for c in near[: self.neighbours.k] if pool.get(c) and c != seed]
            near = [near[i] for i in torch.randperm(len(near), generator=generator).tolist()]
            rest = list(dict.fromkeys(c for c, _ in stream[cursor:] if pool[c]))
            chosen = [seed]
            for c in [*near, *rest]:  # the nearest classes first, then the next classes of the stream
                if len(chosen) < size and c not in chosen:
                    chosen.append(c)
            for c in rest:  # only a few classes are left: a class may give a second chunk
                while len(chosen) < size and chosen.count(c) < len(pool[c]):
                    chosen.append(c)
            batch = [i for c in chosen for i in pool[c].pop()]
            remaining -= len(chosen)
            if len(set(chosen)) >= 2:  # a one-class batch has no negative: nothing to learn, skip it
                yield batch

    def __len__(self) -> int:
        return len(self._sizes()) * self.world_size
