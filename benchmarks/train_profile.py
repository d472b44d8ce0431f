"""Where a training step's time goes: tokenise / forward / backward / optimiser, per batching and precision.

    python benchmarks/train_profile.py                  # STS-B train pairs, MiniLM, 60 steps a row
    python benchmarks/train_profile.py --compile        # also torch.compile (compile seconds reported apart)

Each row trains a fresh MiniLM copy with the default contrastive loss on the same STS-B pairs
(batch 16) for ``--steps`` steps, timing each phase with ``time.perf_counter`` around it (the CPU runs
one phase at a time, so the phases add up to the step). Rows: random vs length-grouped batches,
tokenising each batch vs the TokenCache, float32 vs bf16 autocast, padding to a multiple of 8, and
optionally ``torch.compile(dynamic=True)``. Prints a table and writes benchmarks/results/train_profile.json:
pairs/s, pad fraction and the share of each phase. Timing only (no quality): decide defaults with
benchmarks/seeds.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def batches(texts_a: list[str], texts_b: list[str], scores: list[float], *, grouped: bool, batch_size: int,
            seed: int, steps: int) -> list[list[int]]:
    """Index batches as the trainer's samplers draw them: random, or the LengthGroupedBatchSampler's."""
    import torch
    from datasets import Dataset

    from siamese_text.data.samplers import LengthGroupedBatchSampler

    ds = Dataset.from_dict({"text_a": texts_a, "text_b": texts_b, "label": scores})
    if grouped:
        sampler = LengthGroupedBatchSampler(ds, batch_size=batch_size, drop_last=False, seed=seed)
        out = list(sampler)
    else:
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(ds), generator=g).tolist()
        out = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return out[:steps]


def profile_row(data, *, grouped: bool, cached: bool, precision: str, pad8: bool, compile_model: bool,
                steps: int, batch_size: int, seed: int) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    from siamese_text.data.tokens import TokenCache, pad_fraction
    from siamese_text.losses import build_loss

    a, b, y = data
    torch.manual_seed(seed)
    model = SentenceTransformer(MODEL, device="cpu")
    loss = build_loss("contrastive", model, distance="cosine", margin=0.9)
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)  # the trainer default, adamw_torch_fused
    cache = TokenCache(model.preprocess, pad_token_id=model.tokenizer.pad_token_id, pad_to_multiple_of=8 if pad8 else None)
    t0 = time.perf_counter()
    if cached:
        cache.fill(a + b)
    fill_seconds = time.perf_counter() - t0
    tokenize = cache if cached or pad8 else model.preprocess
    compile_seconds = 0.0
    forward_model = model
    if compile_model:
        forward_model = torch.compile(model, dynamic=True)
    phases = {"tokenise": 0.0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0}
    real = padded = 0
    plan = batches(a, b, y, grouped=grouped, batch_size=batch_size, seed=seed, steps=steps)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else None
    loss.model = forward_model
    for step, idx in enumerate(plan):
        t = time.perf_counter()
        fa = tokenize([a[i] for i in idx])
        fb = tokenize([b[i] for i in idx])
        labels = torch.tensor([y[i] for i in idx])
        for f in (fa, fb):
            mask = f["attention_mask"]
            real += int(mask.sum())
            padded += int(mask.numel() - mask.sum())
        t1 = time.perf_counter()
        if autocast is not None:
            with autocast:
                value = loss([fa, fb], labels)
        else:
            value = loss([fa, fb], labels)
        t2 = time.perf_counter()
        value.backward()
        t3 = time.perf_counter()
        optimiser.step()
        optimiser.zero_grad()
        t4 = time.perf_counter()
        if compile_model and step < 3:  # the first steps compile (one graph per new shape kind)
            compile_seconds += t4 - t
            continue
        phases["tokenise"] += t1 - t
        phases["forward"] += t2 - t1
        phases["backward"] += t3 - t2
        phases["optimiser"] += t4 - t3
    timed_steps = len(plan) - (3 if compile_model else 0)
    total = sum(phases.values())
    return {
        "pairs_per_second": round(timed_steps * batch_size / total, 2),
        "seconds_per_step": round(total / timed_steps, 4),
        "share": {k: round(v / total, 3) for k, v in phases.items()},
        "pad_fraction": round(pad_fraction(real, padded), 4),
        "cache_fill_seconds": round(fill_seconds, 2),
        **({"compile_seconds": round(compile_seconds, 1)} if compile_model else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile rows")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "train_profile.json"))
    args = parser.parse_args()
    from datasets import load_dataset

    train = load_dataset("sentence-transformers/stsb")["train"]
    data = (list(train["sentence1"]), list(train["sentence2"]), [float(s) for s in train["score"]])
    rows = {
        "random, tokenise per batch, fp32 (before #27)": {"grouped": False, "cached": False, "precision": "fp32", "pad8": False},
        "random, TokenCache, fp32": {"grouped": False, "cached": True, "precision": "fp32", "pad8": False},
        "random, TokenCache, bf16": {"grouped": False, "cached": True, "precision": "bf16", "pad8": False},
        "grouped, TokenCache, fp32": {"grouped": True, "cached": True, "precision": "fp32", "pad8": False},
        "grouped, TokenCache, bf16": {"grouped": True, "cached": True, "precision": "bf16", "pad8": False},
        "grouped, TokenCache, bf16, pad to 8": {"grouped": True, "cached": True, "precision": "bf16", "pad8": True},
    }
    if args.compile:
        rows["grouped, TokenCache, bf16, torch.compile"] = {"grouped": True, "cached": True, "precision": "bf16",
                                                           "pad8": False, "compile_model": True}
    results = {}
    for name, options in rows.items():
        print(f"running: {name}", flush=True)
        results[name] = profile_row(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                                    **{"compile_model": False, **options})
        print(f"  {results[name]}", flush=True)
    base = results["random, tokenise per batch, fp32 (before #27)"]["pairs_per_second"]
    print(f"\n{'row':<44}{'pairs/s':>9}{'x':>7}{'pad':>6}{'tokenise':>10}{'forward':>9}{'backward':>10}{'optim':>7}")
    for name, r in results.items():
        s = r["share"]
        print(f"{name:<44}{r['pairs_per_second']:>9.1f}{r['pairs_per_second'] / base:>6.2f}x{r['pad_fraction']:>6.2f}"
              f"{s['tokenise']:>10.1%}{s['forward']:>9.1%}{s['backward']:>10.1%}{s['optimiser']:>7.1%}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"settings": vars(args), "model": MODEL, "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
