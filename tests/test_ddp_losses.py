"""In-batch losses and mining on 2 real processes (torch.multiprocessing, gloo, CPU).

Each rank holds part of a batch (unequal parts, as the last batches of an epoch and class chunks give).
The gathered loss on every rank equals the one-process loss of the whole batch, and the gradients,
averaged over the ranks as DDP averages them, equal the one-process gradients. Mining runs on rank 0
and rank 1 trains on the very negatives one process mines.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

CLASS_TEXTS = [
    "lost card", "stolen card", "card lost today", "top up failed", "top up money", "cash withdraw atm",
    "atm cash limit", "withdraw cash", "exchange rate", "currency exchange rate", "pin reset", "reset my pin password",
]
CLASS_LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]
PAIRS_A = ["a cat sat", "the dog ran", "bank fee", "my card", "red bird flies", "boat sails", "sun shines", "quick car"]
PAIRS_B = ["a cat sat on mat", "a bird flies", "bank account fee", "my card lost", "blue sky", "boat sails ocean",
           "happy sun", "slow car"]
PAIR_SCORES = [0.9, 0.1, 0.8, 0.7, 0.2, 0.95, 0.3, 0.4]
SPLIT = {"class": 7, "pairs": 5}  # rank 0 takes the first SPLIT rows, rank 1 the rest: unequal on purpose
LOSSES = ["batch-hard-triplet", "batch-semi-hard-triplet", "batch-all-triplet", "batch-centroid-triplet",
          "batch-centroid-softmax", "cosent", "online-contrastive"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loss_and_grads(name: str, model, rows: slice, *, gather: bool) -> tuple[float, dict[str, list[float]]]:
    import torch

    from siamese_text.losses import build_loss

    loss = build_loss(name, model, gather_across_devices=gather)
    model.zero_grad()
    if name in ("cosent", "online-contrastive"):
        features = [model.tokenize(PAIRS_A[rows]), model.tokenize(PAIRS_B[rows])]
        labels = torch.tensor([round(s) if name == "online-contrastive" else s for s in PAIR_SCORES[rows]])
    else:
        features = [model.tokenize(CLASS_TEXTS[rows])]
        labels = torch.tensor(CLASS_LABELS[rows])
    value = loss(features, labels)
    value.backward()
    grads = {n: p.grad.flatten()[:64].tolist() for n, p in model.named_parameters()
             if p.grad is not None and ("layer.1.output.dense" in n or "word_embeddings" in n)}
    return float(value), grads


def _worker(rank: int, world_size: int, port: int, model_dir: str, out: str) -> None:
    import numpy as np
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank), HF_HUB_OFFLINE="1")
    torch.set_num_threads(1)
    from siamese_text.distributed import start

    ranks = start()  # accelerate joins the group, as train() does
    assert dist.is_initialized() and ranks.world_size == world_size and ranks.rank == rank
    from siamese_text.encoder import SiameseEncoder

    encoder = SiameseEncoder.from_pretrained(model_dir, max_seq_length=16)
    model = encoder.model
    model.eval()  # no dropout: the same numbers on every rank
    results = {}
    for name in LOSSES:
        n = SPLIT["pairs" if name in ("cosent", "online-contrastive") else "class"]
        size = len(PAIRS_A) if name in ("cosent", "online-contrastive") else len(CLASS_TEXTS)
        whole, whole_grads = _loss_and_grads(name, model, slice(0, size), gather=False)
        mine = slice(0, n) if rank == 0 else slice(n, size)
        local, local_grads = _loss_and_grads(name, model, mine, gather=True)
        averaged = {}
        for key, grad in local_grads.items():  # what DDP does with the gradients
            t = torch.tensor(grad)
            dist.all_reduce(t)
            averaged[key] = (t / world_size).tolist()
        alone, _ = _loss_and_grads(name, model, mine, gather=False)
        results[name] = {"whole": whole, "local": local, "alone": alone, "whole_grads": whole_grads, "ddp_grads": averaged}

    from siamese_text.data.mining import ClassNeighbours, HardNegatives
    from siamese_text.distributed import mine_on_rank0

    ds = {"text_a": PAIRS_A, "text_b": PAIRS_B, "label": PAIR_SCORES}
    import datasets

    hard = HardNegatives.from_pairs(datasets.Dataset.from_dict(ds), k=2, threshold=0.5, margin=0.0)
    alone = HardNegatives.from_pairs(datasets.Dataset.from_dict(ds), k=2, threshold=0.5, margin=0.0)
    if rank == 1:  # rank 1 must not mine: poison its encoder, so mining there would give other negatives
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
    mine_on_rank0(hard, encoder, ranks)
    reference = SiameseEncoder.from_pretrained(model_dir, max_seq_length=16)
    alone.mine(reference)
    near = ClassNeighbours.from_classes(datasets.Dataset.from_dict({"text": CLASS_TEXTS, "label": CLASS_LABELS}), k=2)
    mine_on_rank0(near, encoder, ranks)
    near_alone = ClassNeighbours.from_classes(datasets.Dataset.from_dict({"text": CLASS_TEXTS, "label": CLASS_LABELS}), k=2)
    near_alone.mine(reference)
    results["mining"] = {"same_negatives": bool(np.array_equal(hard.negatives, alone.negatives)),
                         "same_table": near.table == near_alone.table, "rounds": hard.rounds}
    from siamese_text.config import TrainConfig
    from siamese_text.distributed import output_folder, sum_over_ranks
    from siamese_text.errors import SiameseTextError

    blocker = Path(out, "blocker")
    blocker.write_text("a file where rank 0 is to write a folder")
    try:  # only rank 0 looks at the output; rank 1 must stop with its error, not wait for it
        with output_folder(TrainConfig(output=str(blocker), loss="contrastive"), ranks):
            results["output_error"] = None
    except SiameseTextError as exc:
        results["output_error"] = str(exc)
    results["summed"] = sum_over_ranks([1.0, float(rank)], ranks)
    Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tiny_model_dir, tmp_path_factory):
    import torch.multiprocessing as mp

    out = tmp_path_factory.mktemp("ddp-losses")
    mp.start_processes(_worker, args=(2, _free_port(), str(tiny_model_dir), str(out)), nprocs=2, join=True,
                       start_method="spawn")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("name", LOSSES)
def test_gathered_loss_is_the_one_process_loss_of_the_whole_batch(two_ranks, name):
    for rank in two_ranks:
        assert rank[name]["local"] == pytest.approx(rank[name]["whole"], rel=1e-5, abs=1e-6)
    # and the gathering matters: on its own part alone, some rank's loss differs
    assert any(abs(r[name]["alone"] - r[name]["whole"]) > 1e-4 for r in two_ranks)


@pytest.mark.parametrize("name", LOSSES)
def test_ddp_averaged_gradients_are_the_one_process_gradients(two_ranks, name):
    rank0 = two_ranks[0][name]
    assert rank0["ddp_grads"], "no gradient reached the model"
    assert any(abs(g) > 0 for grads in rank0["whole_grads"].values() for g in grads)
    for key, whole in rank0["whole_grads"].items():
        assert rank0["ddp_grads"][key] == pytest.approx(whole, rel=1e-4, abs=1e-7), key


def test_mining_runs_on_rank0_and_every_rank_trains_on_its_rows(two_ranks):
    for rank in two_ranks:
        assert rank["mining"] == {"same_negatives": True, "same_table": True, "rounds": 1}


def test_rank0s_output_error_stops_every_rank_with_the_same_line(two_ranks):
    errors = [rank["output_error"] for rank in two_ranks]
    assert errors[0] is not None and "is a file" in errors[0] and errors[1] == errors[0]
    assert [rank["summed"] for rank in two_ranks] == [[2.0, 1.0], [2.0, 1.0]]
