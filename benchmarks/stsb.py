"""STS-B: siamese_text's losses against sentence-transformers' own, same model, data, batch, epochs, seed.

    python benchmarks/stsb.py                 # full run (about 100 minutes on 2 idle CPU cores)
    python benchmarks/stsb.py --max-pairs 500 # a quick smoke run

Rows:
* zero-shot all-MiniLM-L6-v2;
* ``siamtext train --dataset stsb`` with its defaults (the default command), and with ``--loss cosent``;
* ``--loss triplet`` (score-margin triplets; its defaults: margin 0.9, 1 epoch, lr 2e-5), and
  ``--loss triplet --binary-labels`` (plain triplets from pairs scored >= 0.6, margin 0.2, same settings);
* siamese_text contrastive (soft labels), contrastive with 0/1 labels (score >= 0.6) and online-contrastive,
  at the reference settings (--ref-epochs, --batch-size, --ref-lr); the two contrastive rows again with
  ``--group-by-length`` (scored pairs train on random batches by default);
* the soft-label contrastive row again with ``--precision bf16`` (the trainer's CPU autocast);
* sentence-transformers CosineSimilarityLoss and ContrastiveLoss (labels score >= 0.6) at the same settings;
* sentence-transformers CoSENTLoss (a ranking loss, neither contrastive nor triplet) at the default's
  3 epochs and lr 5e-5: how far another objective gets on this model, for the issue's 86.5 target.

Prints a table and writes benchmarks/results/stsb.json: STS-B test Spearman (cosine, x100), training
pairs/s, and our pairs/s as a ratio of sentence-transformers' for the same loss (contrastive, 0/1 labels),
on random and on length-grouped batches.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rows import run_rows, train_in_tmp, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def st_baseline(loss_name: str, *, epochs: int, batch_size: int, lr: float, seed: int, max_pairs: int | None) -> dict:
    """Train sentence-transformers' own loss the way its docs do, and time trainer.train()."""
    import torch
    from datasets import load_dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    torch.manual_seed(seed)
    data = load_dataset("sentence-transformers/stsb")
    train = data["train"]
    if max_pairs:
        train = train.shuffle(seed=seed).select(range(max_pairs))
    model = SentenceTransformer(MODEL, device="cpu")
    if loss_name == "CosineSimilarityLoss":
        loss = losses.CosineSimilarityLoss(model)
    elif loss_name == "CoSENTLoss":
        loss = losses.CoSENTLoss(model)
    else:
        train = train.map(lambda row: {"score": float(row["score"] >= 0.6)})
        loss = losses.ContrastiveLoss(model)
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, per_device_train_batch_size=batch_size, learning_rate=lr,
            warmup_steps=0.1, seed=seed, data_seed=seed, save_strategy="no", report_to="none", disable_tqdm=True,
            use_cpu=True,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import evaluate_scored_pairs

    test = data["test"]
    metrics = evaluate_scored_pairs(SiameseEncoder(model), list(test["sentence1"]), list(test["sentence2"]), list(test["score"]))
    return {"spearman_cosine": metrics["spearman_cosine"], "pairs_per_second": len(train) * epochs / seconds,
            "train_seconds": seconds}


def ours(*, loss: str, epochs: int | None, batch_size: int, lr: float | None, seed: int, max_pairs: int | None,
         binary_labels: bool = False, group_by_length: bool | None = None, precision: str = "fp32") -> dict:
    config, result, _ = train_in_tmp(dataset="stsb", loss=loss, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                                     max_pairs=max_pairs, binary_labels=binary_labels, group_by_length=group_by_length,
                                     precision=precision, log=lambda _line: None)
    return {"spearman_cosine": result.metrics["test"]["spearman_cosine"],
            "validation_spearman_cosine": result.metrics["validation"]["spearman_cosine"],
            "pairs_per_second": result.results["train_examples_per_second"],
            "train_seconds": result.results["train_seconds"], "epochs": config.epochs, "lr": config.lr,
            "margin": config.effective_margin}


def zero_shot() -> dict:
    from datasets import load_dataset

    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import evaluate_scored_pairs

    test = load_dataset("sentence-transformers/stsb")["test"]
    enc = SiameseEncoder.load(MODEL)
    return {"spearman_cosine": evaluate_scored_pairs(enc, list(test["sentence1"]), list(test["sentence2"]), list(test["score"]))["spearman_cosine"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ref-lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-pairs", type=int, default=None)
    parser.add_argument("--only", default=None, help="comma-separated row names to run")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "stsb.json"))
    args = parser.parse_args()
    ref = {"epochs": args.ref_epochs, "batch_size": args.batch_size, "lr": args.ref_lr, "seed": args.seed,
           "max_pairs": args.max_pairs}
    runs = {
        "zero-shot": zero_shot,
        "siamtext train --dataset stsb (default)": lambda: ours(loss="contrastive", epochs=None, lr=None,
                                                               batch_size=16, seed=args.seed, max_pairs=args.max_pairs),
        "siamtext train --dataset stsb --loss cosent": lambda: ours(loss="cosent", epochs=None, lr=None,
                                                                   batch_size=16, seed=args.seed, max_pairs=args.max_pairs),
        "siamtext train --dataset stsb --loss triplet": lambda: ours(
            loss="triplet", epochs=None, lr=None, batch_size=16, seed=args.seed, max_pairs=args.max_pairs),
        "siamtext train --dataset stsb --loss triplet --binary-labels": lambda: ours(
            loss="triplet", epochs=None, lr=None, batch_size=16, seed=args.seed, max_pairs=args.max_pairs,
            binary_labels=True),
        "siamese_text contrastive (soft labels)": lambda: ours(loss="contrastive", **ref),
        "siamese_text contrastive (0/1 labels)": lambda: ours(loss="contrastive", binary_labels=True, **ref),
        "siamese_text contrastive (soft labels) --precision bf16": lambda: ours(loss="contrastive", precision="bf16", **ref),
        "siamese_text length-grouped contrastive (soft labels)": lambda: ours(loss="contrastive", group_by_length=True, **ref),
        "siamese_text length-grouped contrastive (0/1 labels)": lambda: ours(
            loss="contrastive", binary_labels=True, group_by_length=True, **ref),
        "siamese_text online-contrastive": lambda: ours(loss="online-contrastive", **ref),
        "sentence-transformers CosineSimilarityLoss": lambda: st_baseline("CosineSimilarityLoss", **ref),
        "sentence-transformers ContrastiveLoss (0/1 labels)": lambda: st_baseline("ContrastiveLoss", **ref),
        "sentence-transformers CoSENTLoss (3 epochs lr 5e-5)": lambda: st_baseline(
            "CoSENTLoss", **{**ref, "epochs": 3, "lr": 5e-5}),
    }
    results = run_rows(runs, only=args.only, output=args.output, header={"settings": ref})
    st_c = results.get("sentence-transformers ContrastiveLoss (0/1 labels)")

    def speed_ratio(row: str) -> float | None:
        ours_c = results.get(row)
        return ours_c["pairs_per_second"] / st_c["pairs_per_second"] if ours_c and st_c else None

    ratio = speed_ratio("siamese_text contrastive (0/1 labels)")
    ratio_grouped = speed_ratio("siamese_text length-grouped contrastive (0/1 labels)")
    print(f"\n{'run':<64}{'test Spearman':>15}{'pairs/s':>10}")
    for name, row in results.items():
        pps = f"{row['pairs_per_second']:.1f}" if "pairs_per_second" in row else "-"
        print(f"{name:<64}{row['spearman_cosine']:>15.2f}{pps:>10}")
    for what, value in (("", ratio), (" with --group-by-length", ratio_grouped)):
        if value:
            print(f"contrastive (0/1 labels) training speed{what}, siamese_text / sentence-transformers: {value:.2f}x")
    write(args.output, results, {"settings": ref}, speed_ratio_contrastive=ratio,
          speed_ratio_contrastive_grouped=ratio_grouped)


if __name__ == "__main__":
    main()
