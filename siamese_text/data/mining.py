"""Offline hard-negative mining with the model, and re-mining while it trains.

For every (anchor, positive) pair the model embeds the corpus (every distinct text of the train
split) and picks the ``k`` texts nearest the anchor that are not known to be like it:

* never the anchor or its positive, nor any text the data pairs with the anchor as a positive;
* never a text of the anchor's class, where classes are known (false negatives blocked outright);
* without classes, never a text scoring within ``margin`` of the positive, ``sim(a, n) > sim(a, p) -
  margin``: in pair data such near-ties are most often unlabelled positives (the "TopK-PercPos"
  filter of NV-Retriever, here as an absolute cosine gap). With classes the labels already say
  which texts are negatives, and the ones nearer than the positive are the most useful to learn from.

sentence-transformers' ``util.mine_hard_negatives`` mines for (anchor, positive) data too, but it
knows no classes to block and rebuilds a data set each time; here the negatives live in one array
that the training set reads through an on-the-fly transform, so :func:`remine_callback` can swap
them for ones mined by the model being trained without rebuilding the data loader. Similarities are
computed a chunk of anchors at a time (memory ``chunk x corpus``), never the full matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siamese_text.data.loading import column
from siamese_text.data.pairs import ClassIndex, dedupe_class_texts
from siamese_text.errors import DataError

__all__ = ["HardNegatives", "ClassNeighbours", "remine_callback"]

_CHUNK_ELEMENTS = 1 << 24  # similarities held at once: 16M floats = 64 MB


@dataclass
class HardNegatives:
    """(anchor, positive) pairs over a corpus of distinct texts, and ``k`` mined negatives for each."""

    texts: list[str]
    anchors: np.ndarray  # corpus ids
    positives: np.ndarray
    k: int
    margin: float = 0.05
    seed: int = 42
    labels: np.ndarray | None = None  # class of each corpus text, or None
    known: dict[int, set[int]] = field(default_factory=dict)  # corpus id -> ids given as its positives
    negatives: np.ndarray | None = None  # len(anchors) x k corpus ids
    rounds: int = 0  # how many times mine() has run

    # ---- building the pairs ---------------------------------------------------------------

    @classmethod
    def from_classes(cls, ds: Any, *, k: int, margin: float = 0.05, seed: int = 42) -> HardNegatives:
        """Each text of a (text, label) split is an anchor once, with a random other text of its class."""
        ds = dedupe_class_texts(ds)
        texts, labels = column(ds, "text"), np.asarray(column(ds, "label"))
        index = ClassIndex.build(labels)
        anchors = np.flatnonzero(index.sizes[index.cls] >= 2)
        if len(anchors) == 0:
            raise DataError("every class has a single text, so no anchor has a positive to mine against; add examples")
        positives = index.positives(anchors, np.random.default_rng(seed))
        return cls(texts=texts, anchors=anchors, positives=positives, k=k, margin=margin, seed=seed, labels=labels)

    @classmethod
    def from_pairs(cls, ds: Any, *, k: int, threshold: float = 0.5, margin: float = 0.05, seed: int = 42) -> HardNegatives:
        """The pairs labelled at least ``threshold``, both ways round; a pair's texts block each other."""
        a, b, y = column(ds, "text_a"), column(ds, "text_b"), column(ds, "label")
        texts = list(dict.fromkeys([*a, *b]))
        ids = {t: i for i, t in enumerate(texts)}
        pairs = [(ids[x], ids[z]) for x, z, s in zip(a, b, y, strict=True) if s >= threshold and x != z]
        if not pairs:
            raise DataError(f"no pair is labelled at least {threshold}, so there is no positive to mine negatives against")
        pairs += [(q, p) for p, q in pairs]
        known: dict[int, set[int]] = {}
        for p, q in pairs:
            known.setdefault(p, set()).add(q)
        anchors, positives = (np.asarray(side, dtype=np.int64) for side in zip(*pairs, strict=True))
        return cls(texts=texts, anchors=anchors, positives=positives, k=k, margin=margin, seed=seed, known=known)

    @classmethod
    def from_triplets(cls, ds: Any, *, k: int, margin: float = 0.05, seed: int = 42) -> HardNegatives:
        """The (anchor, positive) of every triplet; the given negatives stay in the corpus as candidates."""
        a, p, n = (column(ds, name) for name in ("anchor", "positive", "negative"))
        texts = list(dict.fromkeys([*a, *p, *n]))
        ids = {t: i for i, t in enumerate(texts)}
        anchors = np.asarray([ids[t] for t in a], dtype=np.int64)
        positives = np.asarray([ids[t] for t in p], dtype=np.int64)
        known: dict[int, set[int]] = {}
        for x, z in zip(anchors.tolist(), positives.tolist(), strict=True):
            known.setdefault(x, set()).add(z)
        return cls(texts=texts, anchors=anchors, positives=positives, k=k, margin=margin, seed=seed, known=known)

    # ---- mining ---------------------------------------------------------------------------

    def mine(self, encoder: Any, *, batch_size: int = 64) -> dict[str, float]:
        """Fill ``negatives`` with the model's hardest allowed candidates; returns how it went."""
        emb = np.asarray(encoder.encode(self.texts, batch_size=batch_size, normalize=True), dtype=np.float32)
        n_corpus = len(self.texts)
        chunk = max(1, _CHUNK_ELEMENTS // n_corpus)
        k = min(self.k, n_corpus)
        negatives = np.full((len(self.anchors), self.k), -1, dtype=np.int64)
        found = 0
        gaps: list[np.ndarray] = []
        for start in range(0, len(self.anchors), chunk):
            a = self.anchors[start : start + chunk]
            p = self.positives[start : start + chunk]
            sims = emb[a] @ emb.T
            pos = np.einsum("ij,ij->i", emb[a], emb[p])
            rows = np.arange(len(a))
            sims[rows, a] = -np.inf
            sims[rows, p] = -np.inf
            if self.labels is not None:
                sims[self.labels[a][:, None] == self.labels[None, :]] = -np.inf
            for r, anchor in enumerate(a.tolist()):
                blocked = self.known.get(anchor)
                if blocked:
                    sims[r, list(blocked)] = -np.inf
            if self.labels is None:
                sims[sims > (pos - self.margin)[:, None]] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            top_sims = np.take_along_axis(sims, top, 1)
            order = np.argsort(-top_sims, axis=1, kind="stable")
            top, top_sims = np.take_along_axis(top, order, 1), np.take_along_axis(top_sims, order, 1)
            valid = np.isfinite(top_sims)
            negatives[start : start + len(a), :k] = np.where(valid, top, -1)
            found += int(valid.sum())
            gaps.append((pos[:, None] - top_sims)[valid])
        self.negatives = self._fill_missing(negatives)
        self.rounds += 1
        gap = np.concatenate(gaps) if gaps else np.zeros(0)
        return {
            "mined_fraction": found / max(negatives.size, 1),
            "mean_positive_minus_negative": float(gap.mean()) if len(gap) else float("nan"),
        }

    def _fill_missing(self, negatives: np.ndarray) -> np.ndarray:
        """Where too few candidates passed the filters, a random allowed text (seeded) stands in."""
        rng = np.random.default_rng(self.seed + self.rounds)
        for i, j in zip(*np.nonzero(negatives < 0), strict=True):
            anchor, positive = int(self.anchors[i]), int(self.positives[i])
            blocked = self.known.get(anchor, set())
            for _ in range(100):
                c = int(rng.integers(len(self.texts)))
                same = self.labels is not None and self.labels[c] == self.labels[anchor]
                if c not in (anchor, positive) and c not in blocked and not same:
                    negatives[i, j] = c
                    break
            else:
                raise DataError("no text of the train split can serve as a negative for some anchor; add more varied data")
        return negatives

    # ---- training sets that read the current negatives -----------------------------------

    def _negative(self, row: np.ndarray) -> np.ndarray:
        if self.negatives is None:
            raise RuntimeError("call mine() before reading negatives")
        return self.negatives[row // self.k, row % self.k]

    def triplet_dataset(self) -> Any:
        """One (anchor, positive, negative) row per mined negative, read through the current negatives."""
        import datasets

        def rows(batch: dict[str, list[int]]) -> dict[str, list[str]]:
            if "row" not in batch:
                return batch
            r = np.asarray(batch["row"])
            return {
                "anchor": [self.texts[i] for i in self.anchors[r // self.k]],
                "positive": [self.texts[i] for i in self.positives[r // self.k]],
                "negative": [self.texts[i] for i in self._negative(r)],
            }

        return datasets.Dataset.from_dict({"row": np.arange(len(self.anchors) * self.k)}).with_transform(rows)

    def contrastive_dataset(self, base: Any) -> Any:
        """The ``base`` pairs (text_a, text_b, label), then one (anchor, negative, 0) pair per mined negative."""
        import datasets

        a, b, y = column(base, "text_a"), column(base, "text_b"), [float(v) for v in column(base, "label")]

        def rows(batch: dict[str, list[int]]) -> dict[str, list[Any]]:
            if "row" not in batch:
                return batch
            out: dict[str, list[Any]] = {"text_a": [], "text_b": [], "label": []}
            for r in batch["row"]:
                if r < len(a):
                    out["text_a"].append(a[r])
                    out["text_b"].append(b[r])
                    out["label"].append(y[r])
                else:
                    m = np.asarray([r - len(a)])
                    out["text_a"].append(self.texts[int(self.anchors[m[0] // self.k])])
                    out["text_b"].append(self.texts[int(self._negative(m)[0])])
                    out["label"].append(0.0)
            return out

        total = len(a) + len(self.anchors) * self.k
        return datasets.Dataset.from_dict({"row": np.arange(total)}).with_transform(rows)


@dataclass
class ClassNeighbours:
    """For in-batch losses: which classes the model finds nearest each class (by class-mean embedding).

    :class:`siamese_text.data.samplers.ClassBalancedBatchSampler` reads ``table`` to put a class in
    a batch with classes among its ``k`` nearest, so batch-hard mining meets hard negatives.
    """

    texts: list[str]
    labels: list[Any]
    k: int
    table: dict[Any, list[Any]] | None = None  # class -> the other classes, nearest first
    rounds: int = 0

    @classmethod
    def from_classes(cls, ds: Any, *, k: int) -> ClassNeighbours:
        return cls(texts=column(ds, "text"), labels=column(ds, "label"), k=k)

    def mine(self, encoder: Any, *, batch_size: int = 64) -> dict[str, float]:
        emb = np.asarray(encoder.encode(self.texts, batch_size=batch_size, normalize=True), dtype=np.float32)
        classes = sorted(set(self.labels))
        of = np.searchsorted(np.asarray(classes), np.asarray(self.labels))
        centroids = np.zeros((len(classes), emb.shape[1]), dtype=np.float32)
        np.add.at(centroids, of, emb)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(1e-12)
        sims = centroids @ centroids.T
        np.fill_diagonal(sims, -np.inf)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]
        self.table = {classes[i]: [classes[j] for j in row] for i, row in enumerate(order)}
        self.rounds += 1
        top = np.take_along_axis(sims, order[:, : min(self.k, order.shape[1])], 1)
        return {"mined_fraction": 1.0, "mean_nearest_class_similarity": float(top.mean())}


def remine_callback(
    hard: HardNegatives | ClassNeighbours, encoder: Any, *, every: int, log: Callable[[str], None] = print,
    mine: Callable[[], dict[str, float]] | None = None,
) -> Any:
    """A transformers ``TrainerCallback`` that re-mines ``hard`` with the training model every ``every`` steps.

    The model is put back in training mode afterwards (encoding switches it to eval mode). ``mine``: how to
    mine (default ``hard.mine(encoder)``; several processes: once on rank 0, shared with every rank).
    """
    from transformers import TrainerCallback

    class RemineCallback(TrainerCallback):
        history: list[dict[str, float]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step % every or state.global_step >= state.max_steps:
                return
            was_training = encoder.model.training
            stats = mine() if mine is not None else hard.mine(encoder)
            encoder.model.train(was_training)
            stats["step"] = float(state.global_step)
            self.history.append(stats)
            what = "nearest classes" if isinstance(hard, ClassNeighbours) else f"{hard.k} negatives per pair"
            log(f"step {state.global_step}: re-mined {what} with the current model")

    callback = RemineCallback()
    callback.history = []
    return callback
