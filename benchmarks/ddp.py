"""One process against several: `siamtext train` alone and under `torchrun --nproc_per_node N`, same global batch.

    python benchmarks/ddp.py                                   # STS-B, MiniLM, 2,000 pairs, 1 epoch: 1 vs 2 processes
    python benchmarks/ddp.py --processes 1 --precisions fp32,bf16 --peak-tflops 989   # one GPU: fp32 vs bf16, MFU

Each row is a real run of the CLI (a subprocess; torchrun for N > 1) with the same seed and ``--batch-size``,
which is the global batch (N processes take batch/N each), so the rows see the same batches and differ
only in how the work is shared. From each run's results.json: steps/s, pairs/s, useful (unpadded)
tokens/s, the final validation figure and, with ``--peak-tflops`` (the accelerator's dense peak for
the precision), the model FLOPs utilisation of the useful tokens: ``6 x parameters x tokens/s / peak``
(forward and backward of every token that is not padding; attention's own FLOPs left out, so a lower bound).
Prints a table and writes benchmarks/results/ddp.json (or ``--out``); each run's log goes beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parent


def run_row(*, processes: int, precision: str, args: argparse.Namespace, work: Path, logs: Path) -> dict:
    out = work / f"p{processes}-{precision}"
    train = ["-m", "siamese_text_cli", "train", "--dataset", args.dataset, "--model", args.model,
             "--max-pairs", str(args.max_pairs), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
             "--precision", precision, "--seed", str(args.seed), "--no-eval-every-epoch", "--quiet", "--output", str(out)]
    if processes == 1:
        cmd = [sys.executable, *train]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), *train]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = logs / f"ddp_p{processes}_{precision}_seed{args.seed}.log"
    t0 = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}); see {log}")
    results = json.loads((out / "results.json").read_text())
    seconds = results["train_seconds"]
    steps = args.epochs * math.ceil(results["train_examples"] / args.batch_size)
    validation = results["metrics"].get("validation", {})
    row = {
        "processes": processes, "precision": results["precision"], "batch_size": args.batch_size,
        "batch_per_process": args.batch_size // processes, "steps": steps, "train_seconds": seconds,
        "steps_per_second": round(steps / seconds, 3), "pairs_per_second": results["train_examples_per_second"],
        "useful_tokens_per_second": results["useful_tokens_per_second"], "pad_fraction": results["pad_fraction"],
        "validation_spearman": validation.get("spearman_cosine"), "wall_seconds": round(time.perf_counter() - t0, 1),
        "log": str(log.relative_to(ROOT.parent)) if log.is_relative_to(ROOT.parent) else str(log),
    }
    if args.peak_tflops:
        params = _parameters(out)
        row["mfu"] = round(6 * params * results["useful_tokens_per_second"] / (args.peak_tflops * 1e12), 4)
    return row


def _parameters(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as f:
        for key in f.keys():
            total += math.prod(f.get_slice(key).get_shape())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="stsb")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--max-pairs", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16, help="The global batch (each of N processes takes batch/N).")
    parser.add_argument("--processes", default="1,2", help="Comma-separated process counts, one row each.")
    parser.add_argument("--precisions", default="auto", help="Comma-separated --precision values (fp32, bf16, fp16, auto).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="Dense peak of one accelerator at the precision (e.g. 989 for H100/H200 bf16): adds MFU.")
    parser.add_argument("--out", default=str(ROOT / "results" / "ddp.json"))
    args = parser.parse_args()
    logs = ROOT / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ddp-bench-") as work:
        for precision in args.precisions.split(","):
            for processes in (int(p) for p in args.processes.split(",")):
                rows.append(run_row(processes=processes, precision=precision, args=args, work=Path(work), logs=logs))
                print(json.dumps(rows[-1]), flush=True)
    columns = ["processes", "batch_per_process", "precision", "steps_per_second", "pairs_per_second",
               "useful_tokens_per_second", "validation_spearman", *(["mfu"] if args.peak_tflops else [])]
    print("\n" + " | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"arguments": vars(args), "machine": _machine(), "rows": rows}, indent=2) + "\n")


def _machine() -> dict:
    import platform

    import torch

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


if __name__ == "__main__":
    main()
