"""What length-grouped batches do to the mix of labels in a batch, with and without ``--length-strata``.

    python benchmarks/batch_mix.py        # STS-B and MRPC train pairs, batch 16, seed 42; seconds, no model

Random batches were the STS-B default once only because they keep each batch's mix of scores. For
each sampler this counts, per batch, how many of the 4 score quartiles (MRPC: of the 2 labels) it
holds and the standard deviation of its scores, and the padding share by characters (the length the
sampler sorts pairs by: the longer text of each pair). Prints a table and writes
benchmarks/results/batch_mix.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETS = {"stsb": ("sentence-transformers/stsb", None, "sentence1", "sentence2", "score", 4),
        "mrpc": ("nyu-mll/glue", "mrpc", "sentence1", "sentence2", "label", 2)}


def measure(name: str, *, batch_size: int, seed: int) -> dict[str, dict[str, float]]:
    from datasets import load_dataset

    from siamese_text.data.samplers import LengthGroupedBatchSampler, RandomBatchSampler

    repo, config, a, b, label, strata = SETS[name]
    ds = load_dataset(repo, config)["train"].select_columns([a, b, label])
    ds = ds.rename_columns({a: "text_a", b: "text_b", label: "label"})
    lengths = np.maximum([len(t) for t in ds["text_a"]], [len(t) for t in ds["text_b"]])
    labels = np.asarray(ds["label"], dtype=float)
    ranges = np.searchsorted(np.unique(np.quantile(labels, np.linspace(0, 1, strata + 1)[1:-1])), labels, side="right")
    samplers = {
        "random": RandomBatchSampler(ds, batch_size=batch_size, drop_last=False, seed=seed),
        "length-grouped (the default)": LengthGroupedBatchSampler(ds, batch_size=batch_size, drop_last=False, seed=seed),
        f"length-grouped, --length-strata {strata}": LengthGroupedBatchSampler(ds, batch_size=batch_size, drop_last=False,
                                                                              seed=seed, strata=strata),
    }
    out = {}
    for row, sampler in samplers.items():
        batches = [np.asarray(x) for x in sampler]
        longest = sum(len(x) * lengths[x].max() for x in batches)
        out[row] = {"label_ranges_per_batch": round(float(np.mean([len(set(ranges[x])) for x in batches])), 3),
                    "of_ranges": len(set(ranges.tolist())),
                    "label_sd_in_batch": round(float(np.mean([labels[x].std() for x in batches])), 4),
                    "pad_fraction_chars": round(float((longest - sum(lengths[x].sum() for x in batches)) / longest), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "batch_mix.json"))
    args = parser.parse_args()
    results = {name: measure(name, batch_size=args.batch_size, seed=args.seed) for name in SETS}
    print(f"{'data':<6}{'batches':<40}{'ranges/batch':>14}{'label sd':>10}{'pad (chars)':>13}")
    for name, rows in results.items():
        for row, r in rows.items():
            print(f"{name:<6}{row:<40}{r['label_ranges_per_batch']:>9.2f} of {r['of_ranges']}{r['label_sd_in_batch']:>10.3f}"
                  f"{r['pad_fraction_chars']:>13.3f}")
    Path(args.output).write_text(json.dumps({"settings": vars(args), "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
