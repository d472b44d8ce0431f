"""From role-named data to what a loss needs: contrastive pairs or (anchor, positive, negative).

Scores -> contrastive labels
    A similarity score ``s`` in [0, 1] is used as a *soft* label by default: contrastive loss with
    label ``y = s`` is smallest at distance ``(1 - s) * margin``, so every pair teaches the model
    where it belongs in the order of similarity (what STS Spearman measures). ``binary=True``
    thresholds instead (``y = s >= threshold``, default 0.6, i.e. 3 of 5 on STS-B: "roughly
    equivalent"), which throws the order within each side away.

Scored pairs -> triplets with score-scaled margins (``score_margin_triplets``, the default for scores)
    A triplet only says "p is nearer to a than n is"; STS Spearman is decided by how *much* nearer.
    So every pair (a, b, s) gives two kinds of triplet whose ``label`` scales the margin
    (adaptive-margin triplets, Ha & Blanz 2021):

    * (a, b, n), label ``s``: b must beat a random text n (seeded; in STS-style data almost always
      unrelated) by ``m * s`` -- a floor on sim(a, b) that rises with the score;
    * (b, b, a), label ``1 - s``: b itself, encoded a second time under dropout, must beat a by
      ``m * (1 - s)`` -- a ceiling on sim(a, b) that falls with the score.

    Similarity is symmetric, so each is made from both sides too: (b, a, n') and (a, a, b). With
    cosine distance the floor asks ``cos(a, b) >= cos(a, n) + m s`` and the ceiling
    ``cos(a, b) <= cos(b, b') - m (1 - s)``; random texts sit near cosine 0 and b' near b, so both
    pin ``cos(a, b)`` near ``m s`` and every pair, not only the related ones, takes its place in the
    order of similarity. Both can hold only for ``m < 1`` (the default is 0.9). A triplet whose label
    is 0 has no margin and is left out.

Pairs -> classic triplets (``scored_pairs_to_triplets``: 0/1 pairs, or scores with --binary-labels)
    A pair with ``s >= positive_threshold`` gives the triplet (a, b, n) and, since similarity is
    symmetric, (b, a, n'). The negative is, in order of preference: another partner of the anchor
    scored at least ``negative_gap`` lower (a graded negative the data vouches for); otherwise a
    text drawn at random (seeded) from the other pairs, which in STS-style data is almost always
    unrelated. Pairs below ``positive_threshold`` give no triplet of their own.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from siamese_text.data.loading import column
from siamese_text.errors import DataError

__all__ = [
    "scores_to_contrastive",
    "scored_pairs_to_triplets",
    "score_margin_triplets",
    "pair_rows",
    "ClassIndex",
    "iter_class_pairs",
    "iter_class_triplets",
    "class_pairs_dataset",
    "class_triplets_dataset",
    "few_shot",
    "dedupe_class_texts",
    "check_class_sizes",
]


def pair_rows(ds: Any) -> tuple[list[str], list[str], list[float]]:
    """The (text_a, text_b, label) columns of a role-named pair data set as Python lists."""
    return column(ds, "text_a"), column(ds, "text_b"), [float(v) for v in column(ds, "label")]


def scores_to_contrastive(ds: Any, *, binary: bool = False, threshold: float = 0.6) -> Any:
    """Pairs with a contrastive label: the score itself (soft), or ``score >= threshold``."""
    import datasets

    a, b, scores = pair_rows(ds)
    labels = [float(s >= threshold) for s in scores] if binary else scores
    return datasets.Dataset.from_dict({"text_a": a, "text_b": b, "label": labels})


def scored_pairs_to_triplets(
    ds: Any,
    *,
    positive_threshold: float = 0.6,
    negative_gap: float = 0.4,
    symmetric: bool = True,
    seed: int = 42,
) -> Any:
    """(anchor, positive, negative) triplets from scored (or 0/1-labelled) pairs; see the module doc."""
    import datasets

    a, b, scores = pair_rows(ds)
    partners: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for x, y, s in zip(a, b, scores, strict=True):
        partners[x].append((y, s))
        partners[y].append((x, s))
    pool = _negative_pool(a, b)
    rng = random.Random(seed)
    anchors: list[str] = []
    positives: list[str] = []
    negatives: list[str] = []
    for x, y, s in zip(a, b, scores, strict=True):
        if s < positive_threshold:
            continue
        for anchor, positive in ((x, y), (y, x)) if symmetric else ((x, y),):
            graded = [t for t, score in partners[anchor] if score <= s - negative_gap and t not in (anchor, positive)]
            negative = rng.choice(graded) if graded else _random_other(rng, pool, anchor, positive)
            anchors.append(anchor)
            positives.append(positive)
            negatives.append(negative)
    if not anchors:
        raise DataError(f"no pair scores at least {positive_threshold}, so no triplet has a positive; lower the threshold")
    return datasets.Dataset.from_dict({"anchor": anchors, "positive": positives, "negative": negatives})


def _negative_pool(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """Every distinct text of the pairs, sorted (so seeded draws repeat); at least 3 to draw from."""
    pool = sorted(set(a) | set(b))
    if len(pool) < 3:
        raise DataError(f"{len(pool)} distinct texts are too few to draw negatives from; give at least 3")
    return pool


def _random_other(rng: random.Random, pool: Sequence[str], *avoid: str) -> str:
    text = rng.choice(pool)
    while text in avoid:
        text = rng.choice(pool)
    return text


def score_margin_triplets(ds: Any, *, seed: int = 42) -> Any:
    """(anchor, positive, negative, label) from scored pairs, ``label`` scaling each margin; see the module doc."""
    import datasets

    a, b, scores = pair_rows(ds)
    pool = _negative_pool(a, b)
    bad = next((i for i, s in enumerate(scores) if not 0 <= s <= 1), None)
    if bad is not None:
        raise DataError(f"row {bad}: score {scores[bad]} is outside [0, 1]; score-scaled triplet margins need scores in [0, 1]")
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {"anchor": [], "positive": [], "negative": [], "label": []}
    for x, y, s in zip(a, b, scores, strict=True):
        triplets = []
        for anchor, other in ((x, y), (y, x)):
            if s > 0:
                triplets.append((anchor, other, _random_other(rng, pool, x, y), s))
            if s < 1:
                triplets.append((other, other, anchor, 1.0 - s))
        for triplet in triplets:
            for key, value in zip(rows, triplet, strict=True):
                rows[key].append(value)
    return datasets.Dataset.from_dict(rows)


# ---- class-labelled texts ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClassIndex:
    """Texts grouped by class without copying them: ``order`` lists text indices sorted by class.

    Class ``c`` occupies ``order[starts[c] : starts[c] + sizes[c]]``; ``cls[i]`` is the class
    position of text ``i`` and ``rank[i]`` its place within its class.
    """

    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    cls: np.ndarray
    rank: np.ndarray

    @classmethod
    def build(cls, labels: Sequence[int] | np.ndarray) -> ClassIndex:
        labels = np.asarray(labels)
        order = np.argsort(labels, kind="stable")
        classes, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
        position = np.empty(len(labels), dtype=np.int64)
        position[order] = np.arange(len(labels))
        of = np.searchsorted(classes, labels)
        return cls(order=order, starts=starts, sizes=sizes, cls=of, rank=position - starts[of])

    def positives(self, anchors: np.ndarray, rng: np.random.Generator, *, allow_self: bool = False) -> np.ndarray:
        """A random text of each anchor's class; another text unless ``allow_self``."""
        c = self.cls[anchors]
        size = self.sizes[c]
        offset = rng.integers(0 if allow_self else 1, size)
        return self.order[self.starts[c] + (self.rank[anchors] + offset) % size]

    def negatives(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random text of another class for each anchor (uniform over those texts)."""
        c = self.cls[anchors]
        u = rng.integers(0, len(self.order) - self.sizes[c])
        return self.order[np.where(u >= self.starts[c], u + self.sizes[c], u)]


def check_class_sizes(labels: Sequence[int], *, minimum: int, names: Sequence[str] | None, why: str, source: str = "the train split") -> None:
    """Refuse data where a class has fewer than ``minimum`` texts, naming the class."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    if len(values) < 2:
        raise DataError(f"{source} has {len(values)} class; {why} needs at least 2 classes")
    small = values[counts < minimum]
    if len(small):
        first = int(small[0])
        name = names[first] if names is not None and first < len(names) else str(first)
        count = int(counts[counts < minimum][0])
        raise DataError(
            f"{source}: class {name!r} has {count} text{'s' if count != 1 else ''} ({len(small)} class(es) under {minimum}); "
            f"{why} needs at least {minimum} per class: add examples, drop those classes, or use --loss contrastive"
        )


def _anchor_stream(candidates: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` anchors: fresh permutations of ``candidates`` one after another (even use of every text)."""
    rounds = -(-count // max(len(candidates), 1))
    return np.concatenate([rng.permutation(candidates) for _ in range(rounds)])[:count]


def _check_count(count: int, name: str) -> None:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise DataError(f"{name} (--max-pairs) must be a whole number of at least 1, got {count!r}")


def iter_class_pairs(
    labels: Sequence[int], num_pairs: int, *, seed: int = 42, allow_self: bool = False, chunk_size: int = 65536
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Balanced (i, j, same) index pairs in chunks: half same-class (1), half different (0), interleaved."""
    _check_count(num_pairs, "num_pairs")
    index = ClassIndex.build(labels)
    if len(index.sizes) < 2:
        raise DataError("class-labelled data needs at least 2 classes to make negative pairs")
    rng = np.random.default_rng(seed)
    eligible = np.arange(len(index.cls)) if allow_self else np.flatnonzero(index.sizes[index.cls] >= 2)
    if len(eligible) == 0:
        raise DataError("every class has a single text, so no positive pair exists; add examples or pass allow_self")
    for start in range(0, num_pairs, chunk_size):
        n = min(chunk_size, num_pairs - start)
        n_pos, n_neg = (n + 1) // 2, n // 2
        pos_a = _anchor_stream(eligible, n_pos, rng)
        neg_a = _anchor_stream(np.arange(len(index.cls)), n_neg, rng)
        a = np.empty(n, dtype=np.int64)
        b = np.empty(n, dtype=np.int64)
        a[0::2], b[0::2] = pos_a, index.positives(pos_a, rng, allow_self=allow_self)
        a[1::2], b[1::2] = neg_a, index.negatives(neg_a, rng)
        same = np.zeros(n, dtype=np.int8)
        same[0::2] = 1
        yield a, b, same


def iter_class_triplets(
    labels: Sequence[int], num_triplets: int, *, seed: int = 42, chunk_size: int = 65536
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(anchor, positive, negative) index triplets in chunks; anchors from classes with >= 2 texts."""
    _check_count(num_triplets, "num_triplets")
    index = ClassIndex.build(labels)
    check_class_sizes(labels, minimum=1, names=None, why="a triplet")
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(index.sizes[index.cls] >= 2)
    if len(eligible) == 0:
        raise DataError("every class has a single text, so no triplet has a positive; add examples")
    for start in range(0, num_triplets, chunk_size):
        anchors = _anchor_stream(eligible, min(chunk_size, num_triplets - start), rng)
        yield anchors, index.positives(anchors, rng), index.negatives(anchors, rng)


def _take(texts: Any, idx: np.ndarray) -> Any:
    import pyarrow as pa

    return texts.take(pa.array(idx))


def class_pairs_dataset(ds: Any, num_pairs: int, *, seed: int = 42, allow_self: bool = False) -> Any:
    """``num_pairs`` balanced contrastive pairs (text_a, text_b, label 1/0) from a (text, label) split.

    Built one Arrow chunk at a time from index pairs, so nothing quadratic is ever made.
    """
    import pyarrow as pa

    ds = dedupe_class_texts(ds)
    texts = pa.array(column(ds, "text"), type=pa.string())
    chunks = [
        pa.table({"text_a": _take(texts, a), "text_b": _take(texts, b), "label": pa.array(y.astype(np.float32))})
        for a, b, y in iter_class_pairs(column(ds, "label"), num_pairs, seed=seed, allow_self=allow_self)
    ]
    return _dataset(chunks, f"pairs-{ds._fingerprint}-{num_pairs}-{seed}-{allow_self}")


def _dataset(chunks: list[Any], key: str) -> Any:
    """A Dataset on the Arrow chunks; the fingerprint is given, since hashing a million rows takes seconds."""
    import hashlib

    import datasets
    import pyarrow as pa

    return datasets.Dataset(pa.concat_tables(chunks), fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16])


def class_triplets_dataset(ds: Any, num_triplets: int, *, seed: int = 42) -> Any:
    """``num_triplets`` (anchor, positive, negative) text triplets from a (text, label) split."""
    import pyarrow as pa

    ds = dedupe_class_texts(ds)
    texts = pa.array(column(ds, "text"), type=pa.string())
    chunks = [
        pa.table({"anchor": _take(texts, a), "positive": _take(texts, p), "negative": _take(texts, n)})
        for a, p, n in iter_class_triplets(column(ds, "label"), num_triplets, seed=seed)
    ]
    return _dataset(chunks, f"triplets-{ds._fingerprint}-{num_triplets}-{seed}")


def dedupe_class_texts(ds: Any) -> Any:
    """The split without repeated (text, label) rows, so no text is its own positive through a copy."""
    seen: set[tuple[str, int]] = set()
    keep = []
    for i, key in enumerate(zip(column(ds, "text"), column(ds, "label"))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return ds if len(keep) == len(ds) else ds.select(keep)


def few_shot(ds: Any, samples_per_class: int, *, seed: int = 42) -> Any:
    """``samples_per_class`` texts of each class (all of a smaller class), drawn with ``seed``."""
    if samples_per_class < 1:
        raise DataError(f"--samples-per-class must be at least 1, got {samples_per_class}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(column(ds, "label"))
    keep = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:samples_per_class] for c in np.unique(labels)]
    )
    return ds.select(np.sort(keep).tolist())
