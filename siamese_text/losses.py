"""Siamese losses, as small pieces: a distance, a miner (where the loss mines), and the formula.

Each loss is a ``torch.nn.Module`` with the sentence-transformers loss signature
``forward(sentence_features, labels)``, so it plugs into ``SentenceTransformerTrainer``; the
formula itself is a plain function of distances and labels (``contrastive_loss``,
``online_contrastive_loss``, ``triplet_loss``, ``centroid_triplet_loss`` of embeddings and labels)
that the tests check against a naive Python loop.

All distances are *distances* (lower = closer): cosine distance ``1 - cos`` in [0, 2], Euclidean,
Manhattan. ``d`` below is the distance of the two embeddings of a pair.

===========================  ===============================  =============================  ==========
loss                         inputs (columns, in order)       labels                         batch >= 2
===========================  ===============================  =============================  ==========
``ContrastiveLoss``          (text_a, text_b)                 1 same / 0 different, or soft  no
                                                              similarity in [0, 1]
``OnlineContrastiveLoss``    (text_a, text_b)                 1 same / 0 different           yes
``TripletLoss``              (anchor, positive, negative)     none, or a margin scale per    no
                                                              triplet in [0, 1]
``BatchHardTripletLoss``     (text)                           class id                       yes
``BatchSemiHardTripletLoss`` (text)                           class id                       yes
``BatchAllTripletLoss``      (text)                           class id                       yes
``BatchCentroidTripletLoss`` (text)                           class id                       yes
``BatchCentroidSoftmaxLoss`` (text)                           class id                       yes
``CoSENTLoss``               (text_a, text_b)                 similarity score, or 0/1       yes
===========================  ===============================  =============================  ==========

Contrastive (Hadsell, Chopra & LeCun 2006): ``L = y d^2 + (1 - y) max(m - d, 0)^2``, averaged over
the batch. With a soft ``y`` the loss is smallest at ``d = (1 - y) m``: similarity scores become a
target distance, so the order of the scores is what the model learns.

Triplet (Schroff et al. 2015): ``L = max(d(a, p) - d(a, n) + m, 0)``, averaged over the triplets.
With a label ``w`` per triplet the margin is ``w * m`` (adaptive margin, Ha & Blanz 2021): scored
pairs become triplets whose margins carry the scores (``data.pairs.score_margin_triplets``).

Centroid triplet (Wieczorek, Rychalska & Dabrowski 2021): the triplet formula with class centroids of
the batch in place of texts. The positive of anchor ``a`` is the mean embedding of the *other* texts
of its class in the batch; the negative is the nearest centroid of another class. Nearest-centroid
classification asks exactly that of a text; batch-hard asks it of the farthest positive text and the
nearest negative text, which with a few shots a class is one outlier pair.

Centroid softmax (prototypical networks, Snell, Swersky & Zemel 2017, on cosine similarity with a
scale as in Chen et al. 2019): the same in-batch centroids, but every other class counts, not only the
nearest: ``L = -log softmax_own(s cos(a, c))`` over the anchor's own centroid (without it) and each
other class's centroid, scale s = 20. It is the multi-class (N-pair, Sohn 2016) form of the centroid
triplet: ``log(1 + sum_c exp(s (cos(a, c) - cos(a, c_own))))`` is a smooth maximum over the negative
centroids of the triplet's violation, with no margin. A hinge stops at the margin and listens only to
the nearest class; the softmax keeps pulling each text towards its class and away from all the others
in proportion to how close they are, which is what nearest-centroid classification among 77 classes
asks (measured on Banking77 8-shot, README).

Several processes (DDP): the losses that compare the texts of a batch with each other (online
contrastive, batch-hard/semi-hard/all, the centroid losses, CoSENT) gather every rank's embeddings
(sentence-transformers' ``all_gather_with_grad``, :func:`siamese_text.distributed.gather_rows`) and compute the
loss of the global batch, on every rank; gradients flow back to each rank's own rows, and the trainer's
gradient averaging then gives exactly the one-process gradient of that batch. ``gather_across_devices=False``
keeps each rank's batch to itself. One process: no gathering, no cost.

CoSENT (Su 2022), a ranking loss: ``L = log(1 + sum over pairs i, j of the batch with y_i > y_j of
exp(s (d_i - d_j)))``, d the cosine distance, scale s = 20. It asks only that every pair be closer
than each pair scored below it, which is what Spearman correlation measures; on STS-B it beats
contrastive loss (README). sentence-transformers has a ``CoSENTLoss``; this one is the same formula
on the same distance function as the losses above, so it is checked against the same naive loops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamese_text import scoring
from siamese_text.citations import CITATIONS
from siamese_text.config import DEFAULT_MARGINS, IN_BATCH_LOSSES, LOSSES, check_margin, check_scaled_options
from siamese_text.encoder import model_dimension, model_normalizes
from siamese_text.errors import ConfigError
from siamese_text.miners import mine_all_triplets, mine_batch_hard, mine_batch_semi_hard

__all__ = [
    "LOSSES",
    "IN_BATCH_LOSSES",
    "DEFAULT_MARGINS",
    "contrastive_loss",
    "online_contrastive_loss",
    "triplet_loss",
    "check_margin",
    "ContrastiveLoss",
    "OnlineContrastiveLoss",
    "TripletLoss",
    "BatchHardTripletLoss",
    "BatchSemiHardTripletLoss",
    "BatchAllTripletLoss",
    "BatchCentroidTripletLoss",
    "centroid_triplet_loss",
    "BatchCentroidSoftmaxLoss",
    "centroid_softmax_loss",
    "CoSENTLoss",
    "cosent_loss",
    "build_loss",
]

DISTANCES = scoring.DISTANCES


# ---- formulas ---------------------------------------------------------------------------------


def contrastive_loss(distances: Tensor, labels: Tensor, *, margin: float) -> Tensor:
    """Mean of ``y d^2 + (1 - y) max(m - d, 0)^2``; ``labels`` in {0, 1} or soft in [0, 1]."""
    y = labels.to(distances.dtype).view(-1)
    return (y * distances.pow(2) + (1 - y) * F.relu(margin - distances).pow(2)).mean()


def online_contrastive_loss(distances: Tensor, labels: Tensor, *, margin: float) -> Tensor:
    """Contrastive loss on the hard pairs of the batch only, divided by the batch size.

    Hard positives are farther than the closest negative; hard negatives are closer than the
    farthest positive. With no negative in the batch every positive counts (and vice versa).
    """
    y = labels.view(-1) > 0.5
    pos, neg = distances[y], distances[~y]
    if len(neg) > 0 and len(pos) > 0:
        hard_pos = pos[pos > neg.min().detach()]
        hard_neg = neg[neg < pos.max().detach()]
    else:
        hard_pos, hard_neg = pos, neg
    total = hard_pos.pow(2).sum() + F.relu(margin - hard_neg).pow(2).sum()
    return total / max(len(distances), 1)


def triplet_loss(d_ap: Tensor, d_an: Tensor, *, margin: float | Tensor) -> Tensor:
    """Mean of ``max(d(a,p) - d(a,n) + m, 0)``, ``m`` one margin or one per triplet; 0 for no triplets."""
    if d_ap.numel() == 0:
        return d_ap.sum() * 0.0
    return F.relu(d_ap - d_an + margin).mean()


def _batch_centroids(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """In-batch class centroids: (own, centroids, members, keep), or None if no anchor has a positive and a negative.

    ``own[i]`` is the mean of the *other* embeddings with text i's label (a text is never its own
    positive), ``centroids`` the mean of each label of the batch, ``members[i, c]`` whether text i has
    label c, and ``keep[i]`` whether text i has another text of its class in the batch.
    """
    classes, inverse = labels.unique(return_inverse=True)
    members = F.one_hot(inverse, len(classes)).to(embeddings.dtype)  # n x C
    counts = members.sum(0)
    sums = members.T @ embeddings
    keep = counts[inverse] > 1
    if len(classes) < 2 or not keep.any():
        return None
    own = (sums[inverse] - embeddings) / (counts[inverse] - 1).clamp_min(1)[:, None]
    return own, sums / counts[:, None], members.bool(), keep


def centroid_triplet_loss(embeddings: Tensor, labels: Tensor, *, margin: float, distance: str = "cosine") -> Tensor:
    """Mean over anchors of ``max(d(a, c_own) - min_{c != own} d(a, c) + m, 0)``; 0 if no anchor has both.

    ``c_own`` is the mean of the other embeddings with the anchor's label (the anchor is left out, so
    it cannot be its own positive); the negatives are the means of every other label in the batch.
    Anchors alone in their class, or in a batch of one class, are skipped.
    """
    found = _batch_centroids(embeddings, labels)
    if found is None:
        return embeddings.sum() * 0.0
    own, centroids, members, keep = found
    d_pos = _distance_matrix(embeddings, own, distance=distance).diagonal()  # n x n: cheap at batch size
    d_neg = _distance_matrix(embeddings, centroids, distance=distance).masked_fill(members, float("inf")).min(1).values
    return triplet_loss(d_pos[keep], d_neg[keep], margin=margin)


def centroid_softmax_loss(embeddings: Tensor, labels: Tensor, *, scale: float = 20.0) -> Tensor:
    """Mean over anchors of ``-log softmax`` of ``scale * cos`` to the own centroid among all the batch's centroids.

    The same centroids as :func:`centroid_triplet_loss` (the own one without the anchor); every other
    class of the batch is a negative. 0 if no anchor has both a positive and a negative.
    """
    found = _batch_centroids(embeddings, labels)
    if found is None:
        return embeddings.sum() * 0.0
    own, centroids, members, keep = found
    d_own = _distance_matrix(embeddings, own, distance="cosine").diagonal()
    d_other = _distance_matrix(embeddings, centroids, distance="cosine").masked_fill(members, float("inf"))
    # -scale * cosine distance = scale * cos - scale: the constant cancels in the softmax.
    logits = -scale * torch.cat([d_own[:, None], d_other], dim=1)[keep]
    return F.cross_entropy(logits, logits.new_zeros(len(logits), dtype=torch.long))


def cosent_loss(distances: Tensor, labels: Tensor, *, scale: float = 20.0) -> Tensor:
    """``log(1 + sum_{y_i > y_j} exp(scale (d_i - d_j)))`` over the pairs of the batch; 0 with one label."""
    d = distances.view(-1) * scale
    y = labels.to(d.dtype).view(-1)
    ranked = y[:, None] > y[None, :]  # ranked[i, j]: pair i should be closer than pair j
    violations = (d[:, None] - d[None, :])[ranked]
    return torch.logsumexp(torch.cat([violations.new_zeros(1), violations]), dim=0)


# ---- modules for the sentence-transformers trainer ---------------------------------------------


def _distance_matrix(a: Tensor, b: Tensor, *, distance: str) -> Tensor:
    """``scoring.distance_matrix`` with a usable gradient where two rows coincide."""
    if distance == "euclidean":  # torch.cdist has a NaN gradient at distance 0 (a text and itself)
        return (a[:, None, :] - b[None, :, :]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    return scoring.distance_matrix(a, b, metric=distance, max_elements=None)


def _distance_fn(distance: str) -> Callable[[Tensor, Tensor], Tensor]:
    if distance not in DISTANCES:
        raise ConfigError(f"--distance {distance!r} is not one of {', '.join(DISTANCES)}")
    return lambda a, b: scoring.pairwise_distance(a, b, metric=distance)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def _across_devices(loss: nn.Module, *local: Tensor) -> tuple[Tensor, ...]:
    """Every rank's rows of each tensor when ``loss`` gathers and training runs on several processes; else ``local``."""
    if not (loss.gather_across_devices and _distributed()):
        return local
    from siamese_text.distributed import gather_rows

    return tuple(gather_rows(t) for t in local)


def _embed(model: nn.Module, sentence_features: Iterable[dict[str, Tensor]]) -> list[Tensor]:
    # The twin: every column goes through the same module, with the same weights.
    return [model(features)["sentence_embedding"] for features in sentence_features]


class _SiameseLoss(nn.Module):
    name = ""

    def __init__(
        self, model: nn.Module, *, distance: str = "cosine", margin: float | None = None, gather_across_devices: bool = True
    ) -> None:
        super().__init__()
        self.model = model
        self.gather_across_devices = gather_across_devices  # in-batch losses only (see the module doc)
        self.distance = distance
        self.distance_fn = _distance_fn(distance)
        self.margin = DEFAULT_MARGINS[self.name][distance] if margin is None else float(margin)
        if margin is not None:  # train() checks too; this covers losses built directly, as in a plain trainer
            check_margin(self.name, distance, self.margin, normalized=model_normalizes(model), dimension=model_dimension(model))

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": self.distance, "margin": self.margin}

    @property
    def citation(self) -> str:
        return CITATIONS["contrastive" if "contrastive" in self.name else "triplet"]["bibtex"]


class ContrastiveLoss(_SiameseLoss):
    """Contrastive loss on (text_a, text_b) pairs with a 0/1 or soft [0, 1] label."""

    name = "contrastive"

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        a, b = _embed(self.model, sentence_features)
        return contrastive_loss(self.distance_fn(a, b), labels, margin=self.margin)


class OnlineContrastiveLoss(_SiameseLoss):
    """Contrastive loss on the hard positive and hard negative pairs of each batch."""

    name = "online-contrastive"

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        a, b = _embed(self.model, sentence_features)
        distances, labels = _across_devices(self, self.distance_fn(a, b), labels.view(-1))
        return online_contrastive_loss(distances, labels, margin=self.margin)


class TripletLoss(_SiameseLoss):
    """Triplet loss on (anchor, positive, negative) columns; a label column, if any, scales each margin."""

    name = "triplet"

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        a, p, n = _embed(self.model, sentence_features)
        margin = self.margin if labels is None else self.margin * labels.to(a.dtype)
        return triplet_loss(self.distance_fn(a, p), self.distance_fn(a, n), margin=margin)


class _BatchTripletLoss(_SiameseLoss):
    """Triplet loss on triplets mined inside a batch of class-labelled texts."""

    def mine(self, distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def reduce(self, d_ap: Tensor, d_an: Tensor) -> Tensor:
        return triplet_loss(d_ap, d_an, margin=self.margin)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        (emb,) = _embed(self.model, sentence_features)
        emb, labels = _across_devices(self, emb, labels.view(-1))
        distances = _distance_matrix(emb, emb, distance=self.distance)
        a, p, n = self.mine(distances, labels)
        return self.reduce(distances[a, p], distances[a, n])


class BatchHardTripletLoss(_BatchTripletLoss):
    """For each anchor: its farthest positive and closest negative in the batch."""

    name = "batch-hard-triplet"

    def mine(self, distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return mine_batch_hard(distances, labels)


class BatchSemiHardTripletLoss(_BatchTripletLoss):
    """For each positive pair: the closest negative that is farther than the positive."""

    name = "batch-semi-hard-triplet"

    def mine(self, distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return mine_batch_semi_hard(distances, labels)


class BatchAllTripletLoss(_BatchTripletLoss):
    """Every valid triplet of the batch; the mean is over the triplets that still violate the margin."""

    name = "batch-all-triplet"

    def mine(self, distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return mine_all_triplets(distances, labels)

    def reduce(self, d_ap: Tensor, d_an: Tensor) -> Tensor:
        losses = F.relu(d_ap - d_an + self.margin)
        return losses.sum() / (losses > 1e-16).sum().clamp_min(1)


class BatchCentroidTripletLoss(_SiameseLoss):
    """Triplet loss of each text against in-batch class centroids: its own (without it) and the nearest other."""

    name = "batch-centroid-triplet"

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        (emb,) = _embed(self.model, sentence_features)
        emb, labels = _across_devices(self, emb, labels.view(-1))
        return centroid_triplet_loss(emb, labels, margin=self.margin, distance=self.distance)

    @property
    def citation(self) -> str:
        return CITATIONS["centroid-triplet"]["bibtex"]


class _ScaledLoss(nn.Module):
    """A softmax-style loss on cosine similarity times a scale; no margin, no other distance (SCALED_LOSSES)."""

    name = ""

    def __init__(
        self, model: nn.Module, *, distance: str = "cosine", margin: float | None = None, scale: float = 20.0,
        gather_across_devices: bool = True,
    ) -> None:
        check_scaled_options(self.name, distance, margin)
        super().__init__()
        self.model = model
        self.scale = scale
        self.gather_across_devices = gather_across_devices

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": "cosine", "scale": self.scale}


class BatchCentroidSoftmaxLoss(_ScaledLoss):
    """Prototypical (softmax) loss of each text against every in-batch class centroid, cosine similarity x scale."""

    name = "batch-centroid-softmax"

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        (emb,) = _embed(self.model, sentence_features)
        emb, labels = _across_devices(self, emb, labels.view(-1))
        return centroid_softmax_loss(emb, labels, scale=self.scale)

    @property
    def citation(self) -> str:
        return CITATIONS["prototypical"]["bibtex"]


class CoSENTLoss(_ScaledLoss):
    """CoSENT ranking loss on (text_a, text_b) pairs with a similarity score (or 0/1) label."""

    name = "cosent"

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        a, b = _embed(self.model, sentence_features)
        distances, labels = _across_devices(self, scoring.pairwise_distance(a, b, metric="cosine"), labels.view(-1))
        return cosent_loss(distances, labels, scale=self.scale)

    @property
    def citation(self) -> str:
        return CITATIONS["cosent"]["bibtex"]


_CLASSES: dict[str, type[nn.Module]] = {
    cls.name: cls
    for cls in (
        ContrastiveLoss,
        OnlineContrastiveLoss,
        TripletLoss,
        BatchHardTripletLoss,
        BatchSemiHardTripletLoss,
        BatchAllTripletLoss,
        BatchCentroidTripletLoss,
        BatchCentroidSoftmaxLoss,
        CoSENTLoss,
    )
}


def build_loss(
    name: str, model: nn.Module, *, distance: str = "cosine", margin: float | None = None, gather_across_devices: bool = True
) -> nn.Module:
    """The loss module called ``name`` (one of :data:`LOSSES`) on ``model``; ``gather_across_devices``: an in-batch
    loss sees the global batch when training runs on several processes (no effect on one)."""
    if name not in _CLASSES:
        raise ConfigError(f"--loss {name!r} is not one of {', '.join(LOSSES)}")
    return _CLASSES[name](model, distance=distance, margin=margin, gather_across_devices=gather_across_devices)
