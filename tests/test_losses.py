"""Losses and miners against naive Python loops."""

import math

import pytest
import torch

from siamese_text.config import check_margin
from siamese_text.errors import ConfigError, DataError
from siamese_text.losses import (
    BatchAllTripletLoss,
    BatchCentroidSoftmaxLoss,
    BatchCentroidTripletLoss,
    BatchHardTripletLoss,
    BatchSemiHardTripletLoss,
    ContrastiveLoss,
    CoSENTLoss,
    TripletLoss,
    build_loss,
    centroid_softmax_loss,
    centroid_triplet_loss,
    contrastive_loss,
    cosent_loss,
    online_contrastive_loss,
    triplet_loss,
)
from siamese_text.miners import mine_all_triplets, mine_batch_hard, mine_batch_semi_hard


def test_contrastive_matches_formula_with_binary_and_soft_labels():
    d = torch.tensor([0.1, 0.7, 0.3, 1.2, 0.0])
    y = torch.tensor([1.0, 0.0, 0.4, 0.0, 1.0])
    m = 0.5
    want = sum(yi * di**2 + (1 - yi) * max(m - di, 0) ** 2 for di, yi in zip(d.tolist(), y.tolist())) / len(d)
    assert contrastive_loss(d, y, margin=m).item() == pytest.approx(want, rel=1e-6)


def test_soft_contrastive_is_smallest_at_the_target_distance():
    d = torch.linspace(0, 1, 101)
    y = torch.full_like(d, 0.3)
    losses = torch.stack([contrastive_loss(di.view(1), yi.view(1), margin=1.0) for di, yi in zip(d, y)])
    assert d[losses.argmin()].item() == pytest.approx((1 - 0.3) * 1.0, abs=0.011)


def test_cosent_matches_loop_over_ordered_pairs():
    g = torch.Generator().manual_seed(0)
    d = torch.rand(7, generator=g) * 2
    y = torch.tensor([0.9, 0.2, 0.2, 0.5, 1.0, 0.0, 0.7])
    terms = [math.exp(20 * (d[i] - d[j]).item()) for i in range(7) for j in range(7) if y[i] > y[j]]
    assert cosent_loss(d, y).item() == pytest.approx(math.log(1 + sum(terms)), rel=1e-5)


def test_cosent_sees_only_order():
    d = torch.tensor([0.1, 0.4, 0.8])
    # the same order of labels on any scale gives the same loss; no ordered pair (one label) gives log 1 = 0
    assert cosent_loss(d, torch.tensor([1.0, 0.5, 0.0])).item() == pytest.approx(
        cosent_loss(d, torch.tensor([5.0, 2.0, 1.0])).item())
    assert cosent_loss(d, torch.tensor([0.3, 0.3, 0.3])).item() == 0.0
    ordered, reversed_ = cosent_loss(d, torch.tensor([1.0, 0.5, 0.0])), cosent_loss(d, torch.tensor([0.0, 0.5, 1.0]))
    assert ordered.item() < 0.01 < 5 < reversed_.item()


def test_online_contrastive_keeps_only_hard_pairs():
    d = torch.tensor([0.1, 0.9, 0.4, 0.2, 0.8, 0.5])
    y = torch.tensor([1, 1, 1, 0, 0, 0])
    m = 1.0
    pos = [di for di, yi in zip(d.tolist(), y.tolist()) if yi == 1]
    neg = [di for di, yi in zip(d.tolist(), y.tolist()) if yi == 0]
    hard_pos = [p for p in pos if p > min(neg)]
    hard_neg = [n for n in neg if n < max(pos)]
    want = (sum(p**2 for p in hard_pos) + sum(max(m - n, 0) ** 2 for n in hard_neg)) / len(d)
    assert online_contrastive_loss(d, y, margin=m).item() == pytest.approx(want, rel=1e-6)
    assert hard_pos == pytest.approx([0.9, 0.4]) and hard_neg == pytest.approx([0.2, 0.8, 0.5])


def test_triplet_matches_formula():
    ap, an = torch.tensor([0.2, 0.5, 0.9]), torch.tensor([0.6, 0.4, 0.1])
    want = sum(max(p - n + 0.3, 0) for p, n in zip(ap.tolist(), an.tolist())) / 3
    assert triplet_loss(ap, an, margin=0.3).item() == pytest.approx(want, rel=1e-6)


def test_triplet_margin_per_triplet_matches_loop():
    ap, an = torch.tensor([0.2, 0.5, 0.9, 0.3]), torch.tensor([0.6, 0.4, 0.1, 0.9])
    margins = torch.tensor([1.0, 0.0, 0.5, 0.25])
    want = sum(max(p - n + m, 0) for p, n, m in zip(ap.tolist(), an.tolist(), margins.tolist())) / 4
    assert triplet_loss(ap, an, margin=margins).item() == pytest.approx(want, rel=1e-6)


def _random_batch(seed=0, n=10, classes=3):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, 4, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    return emb, labels, torch.cdist(emb, emb)


def test_batch_hard_miner_matches_loop():
    _, labels, d = _random_batch()
    a, p, n = mine_batch_hard(d, labels)
    want = []
    for i in range(len(labels)):
        pos = [j for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(len(labels)) if labels[j] != labels[i]]
        if pos and neg:
            want.append((i, max(pos, key=lambda j: d[i, j].item()), min(neg, key=lambda j: d[i, j].item())))
    assert list(zip(a.tolist(), p.tolist(), n.tolist())) == want


def test_semi_hard_miner_matches_loop():
    _, labels, d = _random_batch(1)
    a, p, n = mine_batch_semi_hard(d, labels)
    want = []
    for i in range(len(labels)):
        for j in range(len(labels)):
            if i == j or labels[i] != labels[j]:
                continue
            neg = [k for k in range(len(labels)) if labels[k] != labels[i]]
            if not neg:
                continue
            semi = [k for k in neg if d[i, k] > d[i, j]]
            k = min(semi, key=lambda k: d[i, k].item()) if semi else max(neg, key=lambda k: d[i, k].item())
            want.append((i, j, k))
    assert sorted(zip(a.tolist(), p.tolist(), n.tolist())) == sorted(want)


def test_all_triplets_miner_counts_every_valid_triplet():
    _, labels, d = _random_batch(2)
    a, p, n = mine_all_triplets(d, labels)
    L = labels.tolist()
    want = {(i, j, k) for i in range(len(L)) for j in range(len(L)) for k in range(len(L)) if i != j and L[i] == L[j] and L[k] != L[i]}
    assert set(zip(a.tolist(), p.tolist(), n.tolist())) == want


@pytest.mark.parametrize("miner", [mine_batch_hard, mine_batch_semi_hard, mine_all_triplets])
def test_miners_take_column_labels_and_refuse_shapes_that_do_not_match(miner):
    _, labels, d = _random_batch(3)
    as_column = miner(d, labels.view(-1, 1))
    for got, want in zip(as_column, miner(d, labels), strict=True):
        assert torch.equal(got, want)
    with pytest.raises(DataError, match=r"labels must be n class labels \(shape \(n,\)\), got shape \(2, 3\)"):
        miner(torch.zeros(6, 6), torch.zeros(2, 3))
    with pytest.raises(DataError, match=r"distances of shape \(5, 5\) do not match 6 labels"):
        miner(torch.zeros(5, 5), torch.zeros(6))


class FakeModel(torch.nn.Module):
    """Embeds features['x'] unchanged: lets the loss modules be tested without a transformer."""

    def forward(self, features):
        return {"sentence_embedding": features["x"]}


def test_loss_modules_use_the_shared_model_and_formulas():
    g = torch.Generator().manual_seed(3)
    a, b, c = (torch.randn(6, 5, generator=g) for _ in range(3))
    y = torch.tensor([1, 0, 1, 0, 1, 0])
    model = FakeModel()
    cl = ContrastiveLoss(model, distance="euclidean", margin=1.5)
    want = contrastive_loss(torch.linalg.norm(a - b, dim=1), y, margin=1.5)
    assert cl([{"x": a}, {"x": b}], y).item() == pytest.approx(want.item(), rel=1e-5)
    tl = TripletLoss(model, distance="cosine", margin=0.2)
    cos = torch.nn.functional.cosine_similarity
    want = triplet_loss(1 - cos(a, b), 1 - cos(a, c), margin=0.2)
    assert tl([{"x": a}, {"x": b}, {"x": c}], None).item() == pytest.approx(want.item(), rel=1e-5)
    scale = torch.tensor([1.0, 0.5, 0.0, 0.25, 1.0, 0.75])  # a label column scales each triplet's margin
    want = triplet_loss(1 - cos(a, b), 1 - cos(a, c), margin=0.2 * scale)
    assert tl([{"x": a}, {"x": b}, {"x": c}], scale).item() == pytest.approx(want.item(), rel=1e-5)


def test_cosent_module_ranks_cosine_distances_of_the_pairs():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    y = torch.tensor([0.1, 0.9, 0.4, 0.4, 0.0, 0.6])
    want = cosent_loss(1 - torch.nn.functional.cosine_similarity(a, b), y)
    assert CoSENTLoss(FakeModel())([{"x": a}, {"x": b}], y).item() == pytest.approx(want.item(), rel=1e-5)
    with pytest.raises(ConfigError, match="--distance cosine and no --margin"):
        build_loss("cosent", FakeModel(), distance="euclidean")


@pytest.mark.parametrize(
    ("cls", "distance"),
    [(cls, distance) for cls in (BatchHardTripletLoss, BatchSemiHardTripletLoss, BatchAllTripletLoss, BatchCentroidTripletLoss)
     for distance in ("cosine", "euclidean")] + [(BatchCentroidSoftmaxLoss, "cosine")],
)
def test_batch_losses_give_finite_gradients(cls, distance):
    emb, labels, _ = _random_batch(4, n=12, classes=3)
    emb.requires_grad_(True)
    loss = cls(FakeModel(), distance=distance)([{"x": emb}], labels)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(emb.grad).all()


def test_batch_hard_loss_equals_loop():
    emb, labels, d = _random_batch(5)
    loss = BatchHardTripletLoss(FakeModel(), distance="euclidean", margin=0.5)([{"x": emb}], labels)
    a, p, n = mine_batch_hard(d, labels)
    want = sum(max(d[i, j].item() - d[i, k].item() + 0.5, 0) for i, j, k in zip(a.tolist(), p.tolist(), n.tolist())) / len(a)
    assert loss.item() == pytest.approx(want, rel=1e-4)


def _naive_anchors(emb, labels):
    """(anchor, its own class's mean without it, the other classes' means) for each anchor that has both."""
    rows, labels = emb.tolist(), labels.tolist()

    def mean(members):
        return [sum(col) / len(members) for col in zip(*(rows[j] for j in members))]

    for i, y in enumerate(labels):
        own = [j for j in range(len(rows)) if labels[j] == y and j != i]
        others = sorted(set(labels) - {y})
        if own and others:
            yield rows[i], mean(own), [mean([j for j in range(len(rows)) if labels[j] == c]) for c in others]


def _naive_centroid_triplet(emb, labels, margin, dist):
    losses = [max(dist(a, own) - min(dist(a, c) for c in others) + margin, 0.0) for a, own, others in _naive_anchors(emb, labels)]
    return sum(losses) / len(losses)


def _cosine_distance(u, v):
    return 1 - sum(a * b for a, b in zip(u, v)) / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


@pytest.mark.parametrize(("distance", "dist"), [("cosine", _cosine_distance), ("euclidean", math.dist)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centroid_triplet_loss_equals_loop(distance, dist, seed):
    emb, labels, _ = _random_batch(seed, n=12, classes=4)
    labels[0] = 7  # a class of one text: skipped as an anchor, still a negative centroid for the others
    got = BatchCentroidTripletLoss(FakeModel(), distance=distance, margin=0.3)([{"x": emb}], labels)
    assert got.item() == pytest.approx(_naive_centroid_triplet(emb, labels, 0.3, dist), rel=1e-5)


def test_centroid_triplet_leaves_the_anchor_out_of_its_own_centroid():
    # Class 0 is two orthogonal texts; class 1 sits between them. Left out of its own centroid, each
    # class-0 text has the other as positive (cosine distance 1) and class 1 as the nearest negative
    # centroid (1 - 0.707): loss 1 - 0.293 + 0.2. Counted in, its centroid would be (0.5, 0.5): loss 0.2.
    # Each class-1 text: positive at distance 0, class 0's centroid (0.5, 0.5) at distance 0 too: loss 0.2.
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [0.7, 0.7]])
    per_text = [1 - (1 - math.sqrt(0.5)) + 0.2] * 2 + [0.2, 0.2]
    assert centroid_triplet_loss(emb, torch.tensor([0, 0, 1, 1]), margin=0.2).item() == pytest.approx(
        sum(per_text) / 4, rel=1e-5)
    # one class, or one text a class: no anchor has both a positive and a negative
    assert centroid_triplet_loss(emb, torch.tensor([0, 0, 0, 0]), margin=0.2).item() == 0.0
    assert centroid_triplet_loss(emb, torch.tensor([0, 1, 2, 3]), margin=0.2).item() == 0.0


def _naive_centroid_softmax(emb, labels, scale):
    losses = []
    for a, own, others in _naive_anchors(emb, labels):
        positive = math.exp(scale * (1 - _cosine_distance(a, own)))
        negatives = sum(math.exp(scale * (1 - _cosine_distance(a, c))) for c in others)
        losses.append(-math.log(positive / (positive + negatives)))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_centroid_softmax_loss_equals_loop(seed, scale):
    emb, labels, _ = _random_batch(seed, n=12, classes=4)
    labels[0] = 7  # a class of one text: skipped as an anchor, still a negative centroid for the others
    got = BatchCentroidSoftmaxLoss(FakeModel(), scale=scale)([{"x": emb}], labels)
    assert got.item() == pytest.approx(_naive_centroid_softmax(emb, labels, scale), rel=1e-5)


def test_centroid_softmax_feels_every_other_class_where_the_triplet_sees_only_the_nearest():
    # Two class-0 anchors at (1, 0); classes 1 and 2 have one text each (never anchors, still centroids).
    # Class 1 sits at cosine 0; class 2 at cosine 0 too, or opposite (cosine -1). The nearest negative
    # is at cosine 0 either way, so the triplet form cannot tell; the softmax loss drops as class 2 leaves.
    labels = torch.tensor([0, 0, 1, 2])
    beside = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    opposite = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert centroid_triplet_loss(beside, labels, margin=1.5).item() == pytest.approx(
        centroid_triplet_loss(opposite, labels, margin=1.5).item()) == pytest.approx(0.5)
    s = 2.0
    assert centroid_softmax_loss(beside, labels, scale=s).item() == pytest.approx(
        -math.log(math.exp(s) / (math.exp(s) + 2)), rel=1e-5)
    assert centroid_softmax_loss(opposite, labels, scale=s).item() == pytest.approx(
        -math.log(math.exp(s) / (math.exp(s) + 1 + math.exp(-s))), rel=1e-5)
    # one class, or one text a class: no anchor has both a positive and a negative
    assert centroid_softmax_loss(beside, torch.tensor([0, 0, 0, 0])).item() == 0.0
    assert centroid_softmax_loss(beside, torch.tensor([0, 1, 2, 3])).item() == 0.0


def test_centroid_softmax_has_a_scale_not_a_margin():
    with pytest.raises(ConfigError, match="has no margin; leave out --margin"):
        build_loss("batch-centroid-softmax", FakeModel(), margin=0.2)
    with pytest.raises(ConfigError, match="--distance cosine"):
        build_loss("batch-centroid-softmax", FakeModel(), distance="euclidean")
    assert BatchCentroidSoftmaxLoss(FakeModel()).get_config_dict() == {"distance": "cosine", "scale": 20.0}


@pytest.mark.parametrize(
    ("loss", "distance", "margin", "normalized", "match"),
    [
        ("contrastive", "cosine", -0.1, True, "must be positive"),
        ("triplet", "cosine", 0.0, True, "must be positive"),
        ("contrastive", "cosine", 2.5, True, r"\[0, 2\]"),
        ("triplet", "euclidean", 5.0, True, "normalised"),
    ],
)
def test_impossible_margins_are_refused_with_a_reason(loss, distance, margin, normalized, match):
    with pytest.raises(ConfigError, match=match):
        check_margin(loss, distance, margin, normalized=normalized)


@pytest.mark.parametrize("margin", [math.nan, math.inf, -math.inf])
def test_a_margin_that_is_not_a_number_is_refused(margin):
    with pytest.raises(ConfigError, match="must be a finite number"):
        check_margin("contrastive", "euclidean", margin, normalized=False)


def test_losses_built_directly_check_their_margin_too(tiny_encoder):
    """A plain sentence-transformers trainer never goes through TrainConfig, so the loss checks."""
    with pytest.raises(ConfigError, match="must be positive"):
        build_loss("contrastive", tiny_encoder.model, margin=-1)
    with pytest.raises(ConfigError, match="must be positive"):
        TripletLoss(tiny_encoder.model, margin=0)
    with pytest.raises(ConfigError, match="normalised"):  # the tiny model ends in Normalize
        BatchHardTripletLoss(tiny_encoder.model, distance="euclidean", margin=5.0)
    with pytest.raises(ConfigError, match="Manhattan distance on 32-d unit vectors"):
        build_loss("contrastive", tiny_encoder.model, distance="manhattan", margin=12.0)
    assert build_loss("triplet", tiny_encoder.model, distance="euclidean", margin=1.5).margin == 1.5


def test_margin_checks_that_pass():
    check_margin("triplet", "euclidean", 5.0, normalized=False)
    check_margin("contrastive", "manhattan", 10.0, normalized=True, dimension=384)
    with pytest.raises(ConfigError, match="Manhattan"):
        check_margin("contrastive", "manhattan", 2 * math.sqrt(16) + 1, normalized=True, dimension=16)


def test_build_loss_rejects_unknown_names():
    with pytest.raises(ConfigError, match="--loss 'nope'"):
        build_loss("nope", FakeModel())
