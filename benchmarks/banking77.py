"""Banking77: class-labelled texts, full training set and 8-shot, against sentence-transformers in the same run.

    python benchmarks/banking77.py                      # every row (about an hour on 2 CPU cores)
    python benchmarks/banking77.py --only zero,8-shot   # rows whose name contains one of these

Rows (all on all-MiniLM-L6-v2, seed 42, the Banking77 test split as queries):
* zero-shot: 1-NN accuracy and MRR@10 against the train texts, nearest-centroid accuracy, and
  8-shot centroid accuracy (centroids of 8 seeded texts per class);
* ``siamtext train --dataset banking77`` with its defaults (batch-hard triplet on class-balanced batches);
* sentence-transformers ``BatchHardTripletLoss`` with its defaults (Euclidean, margin 5) and its
  ``GROUP_BY_LABEL`` batches, same epochs / batch / lr;
* ``--loss batch-centroid-softmax`` on the full training set (the few-shot default loss);
* 8-shot (the same 8 texts per class everywhere): ours (the default, batch-centroid-softmax),
  batch-hard and batch-centroid-triplet on class-balanced batches, and SetFit-style pairs (each text, 20 times: one random same-class
  partner, itself allowed, and one other-class partner) with sentence-transformers
  ``CosineSimilarityLoss``, same epochs budget in steps;
* re-mining, 8-shot: triplet loss with 2 mined hard negatives per pair, without and with
  ``--remine-every``, same steps;
* re-mining for batch-hard: class-balanced batches filled with each class's nearest classes
  (``--hard-negatives 8``), mined once before training vs re-mined ``--remine-every`` steps, same steps.

Prints a table and writes benchmarks/results/banking77.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rows import run_rows, train_in_tmp

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SEED = 42
SHOTS = 8


def _class_metrics(encoder, queries, corpus) -> dict:
    from siamese_text.evaluation import evaluate_classes

    m = evaluate_classes(encoder, queries, corpus, metrics=("cosine",))
    return {"1nn_accuracy": m["cosine_1nn_accuracy"], "centroid_accuracy": m["cosine_centroid_accuracy"],
            "mrr@10": m["cosine_mrr@10"]}


def _splits(shots: int | None = None):
    from siamese_text.data import load_data
    from siamese_text.data.pairs import few_shot

    data = load_data("banking77")
    train = data.split("train")
    return (few_shot(train, shots, seed=SEED) if shots else train), data.split("test")


def zero_shot() -> dict:
    from siamese_text.encoder import SiameseEncoder

    enc = SiameseEncoder.load(MODEL)
    train, test = _splits()
    out = _class_metrics(enc, test, train)
    shot, _ = _splits(SHOTS)
    out["8shot_centroid_accuracy"] = _class_metrics(enc, test, shot)["centroid_accuracy"]
    return out


def ours(*, shots: int | None = None, **options) -> dict:
    config, result, seconds = train_in_tmp(dataset="banking77", samples_per_class=shots, seed=SEED, **options)
    test = result.metrics["test"]
    return {"1nn_accuracy": test["cosine_1nn_accuracy"], "centroid_accuracy": test["cosine_centroid_accuracy"],
            "mrr@10": test["cosine_mrr@10"], "train_seconds": result.results["train_seconds"], "total_seconds": round(seconds, 1),
            "settings": {k: config.to_dict()[k] for k in ("loss", "epochs", "lr", "batch_size", "margin", "distance",
                                                        "hard_negatives", "remine_every", "per_class_in_batch")}}


def st_run(*, kind: str, shots: int | None, epochs: int, batch_size: int, lr: float, iterations: int = 20) -> dict:
    """sentence-transformers' own recipe: BatchHardTripletLoss defaults, or SetFit-style pairs + CosineSimilarityLoss."""
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import losses

    from siamese_text.data.pairs import class_pairs_dataset
    from siamese_text.encoder import SiameseEncoder

    torch.manual_seed(SEED)
    train, test = _splits(shots)
    model = SentenceTransformer(MODEL, device="cpu")
    extra = {}
    if kind == "batch-hard":
        dataset, loss = train.rename_column("text", "sentence"), losses.BatchHardTripletLoss(model)
        extra["batch_sampler"] = BatchSamplers.GROUP_BY_LABEL
    else:  # SetFit's sampling: per text and iteration one positive (itself allowed) and one negative
        dataset = class_pairs_dataset(train, 2 * iterations * len(train), seed=SEED, allow_self=True)
        loss = losses.CosineSimilarityLoss(model)
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, per_device_train_batch_size=batch_size, learning_rate=lr,
            warmup_steps=0.1, seed=SEED, data_seed=SEED, save_strategy="no", report_to="none", disable_tqdm=True,
            use_cpu=True, **extra,
        )
        t0 = time.perf_counter()
        SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss).train()
        seconds = time.perf_counter() - t0
    out = _class_metrics(SiameseEncoder(model), test, train)
    out.update({"train_seconds": round(seconds, 1), "train_examples": len(dataset)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated parts of row names to run")
    parser.add_argument("--few-shot-epochs", type=int, default=10)
    parser.add_argument("--setfit-iterations", type=int, default=20, help="SetFit's num_iterations (pairs per text / 2)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "banking77.json"))
    args = parser.parse_args()
    fe = args.few_shot_epochs
    runs = {
        "zero-shot all-MiniLM-L6-v2": zero_shot,
        f"8-shot: siamese_text batch-hard, batch 32, lr 2e-5, {fe} epochs": lambda: ours(
            shots=SHOTS, loss="batch-hard-triplet", epochs=fe, batch_size=32, lr=2e-5),
        f"8-shot: siamese_text batch-centroid-triplet, batch 32, lr 2e-5, {fe} epochs": lambda: ours(
            shots=SHOTS, loss="batch-centroid-triplet", epochs=fe, batch_size=32, lr=2e-5),
        f"8-shot: siamese_text batch-centroid-triplet, batch 64, lr 4e-5, {fe} epochs": lambda: ours(
            shots=SHOTS, loss="batch-centroid-triplet", epochs=fe),
        f"8-shot: siamese_text defaults (batch-centroid-softmax, batch 64, lr 4e-5), {fe} epochs": lambda: ours(
            shots=SHOTS, epochs=fe),
        f"8-shot: SetFit-style pairs ({args.setfit_iterations} iterations) + ST CosineSimilarityLoss, 1 epoch": lambda: st_run(
            kind="setfit", shots=SHOTS, epochs=1, batch_size=16, lr=2e-5, iterations=args.setfit_iterations),
        "full: siamtext train --dataset banking77 (defaults)": lambda: ours(),
        "full: --loss batch-centroid-softmax": lambda: ours(loss="batch-centroid-softmax"),
        "full: sentence-transformers BatchHardTripletLoss (its defaults)": lambda: st_run(
            kind="batch-hard", shots=None, epochs=1, batch_size=32, lr=2e-5),
        f"8-shot remine: triplet + 2 mined negatives, {fe} epochs": lambda: ours(
            shots=SHOTS, loss="triplet", hard_negatives=2, epochs=fe),
        f"8-shot remine: triplet + 2 mined negatives, re-mined every 40 steps, {fe} epochs": lambda: ours(
            shots=SHOTS, loss="triplet", hard_negatives=2, remine_every=40, epochs=fe),
        f"8-shot batch-hard remine: nearest-class batches (--hard-negatives 8), {fe} epochs": lambda: ours(
            shots=SHOTS, loss="batch-hard-triplet", hard_negatives=8, epochs=fe),
        f"8-shot batch-hard remine: nearest-class batches, re-mined every 20 steps, {fe} epochs": lambda: ours(
            shots=SHOTS, loss="batch-hard-triplet", hard_negatives=8, remine_every=20, epochs=fe),
        "full batch-hard remine: nearest-class batches (--hard-negatives 8)": lambda: ours(hard_negatives=8),
        "full batch-hard remine: nearest-class batches, re-mined every 100 steps": lambda: ours(
            hard_negatives=8, remine_every=100),
    }
    results = run_rows(runs, only=args.only, output=args.output)
    print(f"\n{'run':<82}{'1-NN acc':>10}{'centroid':>10}{'MRR@10':>8}{'8-shot centroid':>17}{'train s':>9}")
    for name, row in results.items():  # recorded rows may lack a figure (e.g. by_a tables): shown as "-"
        cells = [f"{row[key]:.{digits}f}" if isinstance(row.get(key), (int, float)) else "-" for key, digits in
                 (("1nn_accuracy", 2), ("centroid_accuracy", 2), ("mrr@10", 2), ("8shot_centroid_accuracy", 2), ("train_seconds", 0))]
        print(f"{name:<82}{cells[0]:>10}{cells[1]:>10}{cells[2]:>8}{cells[3]:>17}{cells[4]:>9}")


if __name__ == "__main__":
    main()
