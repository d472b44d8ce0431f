"""Run a list of training settings (a hyper-parameter sweep) through the library's ``train()``.

    python benchmarks/sweep.py benchmarks/sweeps/h100.json --output benchmarks/results/sweep_h100.json

The rows file is a JSON list of ``{"name": ..., "args": {TrainConfig keyword arguments}}``. Every
row is trained and evaluated exactly as ``siamtext train`` would (same code path, model written to
a temporary folder), and its figures are saved after each row, so a stopped sweep keeps what it
measured. ``--time-limit`` stops starting new rows after that many seconds, to fit a run inside a
lease on a borrowed GPU machine. It is for finding defaults fast; the figures the README quotes as
targets come from the per-data-set scripts run on the 2-core CPU machines.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from rows import run_rows, train_in_tmp

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The figures kept per split: STS correlation, binary-pair accuracy, class-data retrieval.
KEYS = ("spearman_cosine", "cosine_fitted_accuracy_accuracy", "cosine_accuracy", "cosine_f1",
        "cosine_1nn_accuracy", "cosine_centroid_accuracy", "cosine_mrr@10")


def run_row(args: dict) -> dict:
    _, result, _ = train_in_tmp(log=lambda _line: None, **args)
    metrics = {split: {k: v for k, v in m.items() if k in KEYS}
               for split, m in result.metrics.items() if not split.endswith("_before")}
    return {"args": args, "metrics": metrics, "train_seconds": result.results["train_seconds"],
            "total_seconds": result.results["total_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", help="JSON list of {name, args}")
    parser.add_argument("--output", required=True)
    parser.add_argument("--only", default=None, help="comma-separated parts of row names to run")
    parser.add_argument("--time-limit", type=float, default=None, help="start no row after this many seconds")
    args = parser.parse_args()
    start = time.perf_counter()

    def row(settings: dict):
        def run() -> dict:
            if args.time_limit is not None and time.perf_counter() - start > args.time_limit:
                return {"args": settings, "skipped": "time limit"}
            return run_row(settings)
        return run

    import torch

    header = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    runs = {item["name"]: row(item["args"]) for item in json.loads(Path(args.rows).read_text())}
    results = run_rows(runs, only=args.only, output=args.output, header=header)
    for name, result in results.items():
        figures = {split: {k: round(v, 2) for k, v in m.items()} for split, m in result.get("metrics", {}).items()}
        print(f"{name:<32} {figures or result.get('skipped')}")


if __name__ == "__main__":
    main()
