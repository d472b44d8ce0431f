"""In-batch miners: which (anchor, positive, negative) index triples of a batch to train on.

As in pytorch-metric-learning, a miner only returns index tuples; the loss turns them into a
number. Every miner takes a ``n x n`` distance matrix and ``n`` class labels and returns three
``LongTensor`` of equal length ``(anchors, positives, negatives)``. ``positives[i]`` has the
label of ``anchors[i]`` (and is a different row); ``negatives[i]`` has another label.
"""

from __future__ import annotations

import torch
from torch import Tensor

from siamese_text.errors import DataError

__all__ = ["mine_all_triplets", "mine_batch_hard", "mine_batch_semi_hard"]


def _masks(distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(same class and not the row itself, other class) masks; labels of shape ``(n, 1)`` are taken as ``(n,)``."""
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels.view(-1)
    if labels.dim() != 1:
        raise DataError(f"labels must be n class labels (shape (n,)), got shape {tuple(labels.shape)}")
    n = len(labels)
    if tuple(distances.shape) != (n, n):
        raise DataError(f"distances of shape {tuple(distances.shape)} do not match {n} labels; give an {n} x {n} matrix")
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def mine_all_triplets(distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every valid triplet of the batch (batch-all)."""
    positive, negative = _masks(distances, labels)
    valid = positive[:, :, None] & negative[:, None, :]
    a, p, n = valid.nonzero(as_tuple=True)
    return a, p, n


def mine_batch_hard(distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each anchor, its farthest positive and its closest negative (Hermans et al. 2017).

    Anchors with no positive or no negative in the batch are skipped.
    """
    positive, negative = _masks(distances, labels)
    d = distances.detach()
    has = positive.any(1) & negative.any(1)
    hardest_pos = d.masked_fill(~positive, float("-inf")).argmax(1)
    hardest_neg = d.masked_fill(~negative, float("inf")).argmin(1)
    anchors = has.nonzero(as_tuple=True)[0]
    return anchors, hardest_pos[anchors], hardest_neg[anchors]


def mine_batch_semi_hard(distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each (anchor, positive) pair, the closest negative farther than the positive (FaceNet).

    A semi-hard negative is farther than the positive, ``d(a,p) < d(a,n)``; the closest such one
    is the hardest that is not harder than the positive. Where none is farther than the positive, the
    farthest negative is used (the least harmful choice, as in FaceNet's reference code).
    """
    positive, negative = _masks(distances, labels)
    d = distances.detach()
    a, p = positive.nonzero(as_tuple=True)
    if len(a) == 0:
        empty = torch.zeros(0, dtype=torch.long, device=labels.device)
        return empty, empty, empty
    d_ap = d[a, p][:, None]
    d_an = d[a]  # pairs x n
    neg = negative[a]
    semi = neg & (d_an > d_ap)
    closest_semi = d_an.masked_fill(~semi, float("inf")).argmin(1)
    farthest = d_an.masked_fill(~neg, float("-inf")).argmax(1)
    chosen = torch.where(semi.any(1), closest_semi, farthest)
    keep = neg.any(1)
    return a[keep], p[keep], chosen[keep]
