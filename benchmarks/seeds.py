"""Configurations over seeds: mean ± sd of validation and test, pairs/s, pad fraction, useful tokens/s.

A default is decided on the validation mean over >= 3 seeds, never one run: the STS-B default's test
figure moves 0.3 with the seed alone. Each ``--row NAME:key=value,...`` is ``siamtext train`` with
those options (TrainConfig fields; ``NAME:`` alone is the default command); ``--st LOSS`` adds
sentence-transformers' own loss (CosineSimilarityLoss, CoSENTLoss) on the same data, batch size,
epochs, lr and seed, on its random batches.

    python benchmarks/seeds.py --dataset stsb --seeds 42,1,2 \\
        --row "default:" --row "before #27:precision=fp32,group_by_length=false" --st CosineSimilarityLoss

    # speed only (a quiet machine, a capped run): pairs/s side by side, quality columns meaningless
    python benchmarks/seeds.py --dataset stsb --seeds 42 --epochs 1 --max-pairs 1600 --row "default:" \\
        --st CosineSimilarityLoss --output benchmarks/results/speed_stsb.json

Every finished (row, seed) is written to the JSON at once and skipped when the command is run again,
so a long comparison can be stopped and continued. Prints a table; the speed ratio is each row's
mean pairs/s over the sentence-transformers row's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HEADLINE = {"score": "spearman_cosine", "binary": "accuracy", "class": "nn_accuracy"}


def parse_row(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` → (name, options); values are parsed as JSON where they can be."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"--row {text!r}: {item!r} is not key=value")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value.strip()
    return name.strip(), options


def headline(metrics: dict[str, float], kind: str) -> float | None:
    key = HEADLINE.get(kind)
    if key in metrics:
        return metrics[key]
    for name in ("nn_accuracy", "centroid_accuracy", "accuracy", "spearman_cosine"):
        if name in metrics:
            return metrics[name]
    return None


def ours(dataset: str, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    from siamese_text.config import TrainConfig
    from siamese_text.training import train

    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(output=str(Path(tmp) / "model"), dataset=dataset, seed=seed, **options)
        result = train(config, progress=False, log=lambda line: print("   ", line, flush=True))
    res = result.results
    kind = res["dataset"]["label_kind"]
    metrics = result.metrics
    return {
        "validation": headline(metrics.get("validation", {}), kind),
        "test": headline(metrics.get("test", {}), kind),
        "pairs_per_second": res["train_examples_per_second"],
        "train_seconds": res["train_seconds"],
        "seconds_to_first_step": res.get("seconds_to_first_step"),
        "pad_fraction": res.get("pad_fraction"),
        "useful_tokens_per_second": res.get("useful_tokens_per_second"),
        "precision": res.get("precision"),
        "arguments": res["arguments"],
    }


def sentence_transformers_row(dataset: str, seed: int, loss_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """sentence-transformers' loss the way its docs train it, on the pairs our default trains on."""
    import tempfile

    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.training_args import BatchSamplers

    from siamese_text.config import TrainConfig
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import evaluate_data
    from siamese_text.training import load_train_data, prepare_train_dataset, train_split

    config = TrainConfig(output="unused", dataset=dataset, seed=seed, **options)
    data = load_train_data(config, log=lambda _line: None)
    rows = train_split(data, config)
    train_ds = prepare_train_dataset(data, config, train=rows)
    torch.manual_seed(seed)
    model = SentenceTransformer(config.model, device="cpu")
    loss = getattr(losses, loss_name)(model)
    counted = {"real": 0, "padded": 0}
    preprocess = model.preprocess

    def counting(inputs: Any, *args: Any, **kwargs: Any) -> Any:  # pad fraction of its random batches
        out = preprocess(inputs, *args, **kwargs)
        mask = out["attention_mask"]
        counted["real"] += int(mask.sum())
        counted["padded"] += int(mask.numel() - mask.sum())
        return out

    model.preprocess = counting
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr, warmup_steps=config.warmup_ratio, seed=seed, data_seed=seed, save_strategy="no",
            report_to="none", disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
            # its in-batch losses (BatchHardTripletLoss) need several texts of a class in a batch
            batch_sampler=BatchSamplers.GROUP_BY_LABEL if data.label_kind == "class" else BatchSamplers.BATCH_SAMPLER,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_ds, loss=loss)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    model.preprocess = preprocess
    encoder = SiameseEncoder(model)
    kind = data.label_kind
    figures = {}
    for split in ("validation", "test"):
        if split in data.splits:
            metrics = evaluate_data(encoder, data.split(split), kind, corpus=rows if kind == "class" else None,
                                    threshold_data=rows if kind == "binary" else None)
            figures[split] = headline(metrics, kind)
    total = counted["real"] + counted["padded"]
    return {
        **figures,
        "pairs_per_second": round(len(train_ds) * config.epochs / seconds, 2),
        "train_seconds": round(seconds, 2),
        "pad_fraction": round(counted["padded"] / total, 4) if total else None,
        "useful_tokens_per_second": round(counted["real"] / seconds, 1),
        "arguments": {"loss": loss_name, "epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size},
    }


def mean_sd(values: list[float | None]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    seeds = sorted(runs)
    out: dict[str, Any] = {"seeds": [int(s) for s in seeds]}
    for key in ("validation", "test", "pairs_per_second", "pad_fraction", "useful_tokens_per_second", "seconds_to_first_step"):
        mean, sd = mean_sd([runs[s].get(key) for s in seeds])
        if mean is not None:
            out[key] = {"mean": round(mean, 4), "sd": round(sd, 4)}
    return out


def fmt(stat: dict[str, float] | None, digits: int = 2) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}" if stat else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="stsb")
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--row", action="append", default=[], help='"NAME:key=value,..." (TrainConfig fields)')
    parser.add_argument("--st", action="append", default=[], help="a sentence-transformers loss class to run beside")
    parser.add_argument("--epochs", type=int, default=None, help="override every row's epochs (speed runs)")
    parser.add_argument("--max-pairs", type=int, default=None, help="cap the training rows (speed runs)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    output = Path(args.output or Path(__file__).parent / "results" / f"seeds_{args.dataset}.json")
    saved = json.loads(output.read_text()) if output.exists() else {"dataset": args.dataset, "rows": {}}
    common = {k: v for k, v in (("epochs", args.epochs), ("max_pairs", args.max_pairs)) if v is not None}
    plan: list[tuple[str, Any]] = []
    for text in args.row:
        name, options = parse_row(text)
        plan.append((name, lambda seed, o={**options, **common}: ours(args.dataset, seed, o)))
    for loss_name in args.st:
        plan.append((f"sentence-transformers {loss_name}",
                     lambda seed, n=loss_name: sentence_transformers_row(args.dataset, seed, n, common)))
    for name, run in plan:
        row = saved["rows"].setdefault(name, {"runs": {}})
        for seed in seeds:
            if str(seed) in row["runs"]:
                continue
            print(f"running: {name}, seed {seed}", flush=True)
            row["runs"][str(seed)] = run(seed)
            print(f"  {json.dumps({k: v for k, v in row['runs'][str(seed)].items() if k != 'arguments'})}", flush=True)
            row["summary"] = summarise(row["runs"])
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(saved, indent=2) + "\n")
        row["summary"] = summarise(row["runs"])
    st_rows = [r for n, r in saved["rows"].items() if n.startswith("sentence-transformers") and "pairs_per_second" in r.get("summary", {})]
    st_speed = st_rows[0]["summary"]["pairs_per_second"]["mean"] if st_rows else None
    print(f"\n{args.dataset}: mean ± sd over seeds")
    print(f"{'row':<44}{'seeds':>10}{'validation':>16}{'test':>16}{'pairs/s':>16}{'pad':>7}{'tok/s':>9}{'ratio':>7}")
    for name, row in saved["rows"].items():
        s = row.get("summary") or summarise(row["runs"])
        pps = s.get("pairs_per_second")
        ratio = f"{pps['mean'] / st_speed:.2f}x" if pps and st_speed else "-"
        pad = f"{s['pad_fraction']['mean']:.2f}" if "pad_fraction" in s else "-"
        tok = f"{s['useful_tokens_per_second']['mean']:.0f}" if "useful_tokens_per_second" in s else "-"
        print(f"{name[:43]:<44}{','.join(map(str, s['seeds'])):>10}{fmt(s.get('validation')):>16}{fmt(s.get('test')):>16}"
              f"{fmt(pps, 1):>16}{pad:>7}{tok:>9}{ratio:>7}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
