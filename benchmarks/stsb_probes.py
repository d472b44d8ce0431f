"""STS-B: what else was tried to lift the contrastive default past 86.0 test Spearman (none did).

    python benchmarks/stsb_probes.py            # about 40 minutes on 2 idle CPU cores
    python benchmarks/stsb_probes.py --only wise

Every row trains ``siamtext train --dataset stsb`` with its defaults (contrastive, soft labels,
3 epochs, lr 5e-5, batch 16, seed 42) and changes one thing:

* ``quantile-mapped labels``: each gold score is replaced by the zero-shot model's cosine at the same
  rank among the train pairs. Spearman only sees order, so the targets keep the order and ask the model
  to change as little of its cosine scale as it can;
* ``layer-wise lr decay 0.8``: each transformer layer below the top gets 0.8x the learning rate of the
  one above it (embeddings lowest);
* ``no dropout``: dropout off while training, as some regression fine-tuning recipes do;
* ``weight interpolation (WiSE-FT)``: the trained weights mixed with the base model's,
  ``a * trained + (1 - a) * base``, with ``a`` picked on validation (test reported for that ``a``).

Writes benchmarks/results/stsb_probes.json (validation and test Spearman, cosine, x100).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rows import run_rows, train_in_tmp

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def figures(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    return {"validation": metrics["validation"]["spearman_cosine"], "test": metrics["test"]["spearman_cosine"]}


def quantile_labels() -> dict[str, Any]:
    import numpy as np
    from datasets import load_dataset
    from scipy.stats import rankdata

    from siamese_text.encoder import SiameseEncoder

    data = load_dataset("sentence-transformers/stsb")
    train = data["train"]
    base = SiameseEncoder.load(MODEL)
    a = np.asarray(base.encode(list(train["sentence1"]), normalize=True))
    b = np.asarray(base.encode(list(train["sentence2"]), normalize=True))
    cosine = (a * b).sum(axis=1)
    ranks = (rankdata(train["score"]) - 0.5) / len(train)
    targets = np.clip(np.quantile(cosine, ranks), 0.0, 1.0)  # margin 1: label y asks for cosine y
    with tempfile.TemporaryDirectory() as tmp:
        train.remove_columns("score").add_column("score", targets.tolist()).to_csv(f"{tmp}/train.csv", index=False)
        for split in ("validation", "test"):
            data[split].to_csv(f"{tmp}/{split}.csv", index=False)
        _, result, _ = train_in_tmp(dataset=tmp, text_columns=("sentence1", "sentence2"), label_column="score",
                                    label_kind="score", log=lambda _line: None)
    return figures(result.metrics)


@contextlib.contextmanager
def layer_decay(decay: float) -> Iterator[None]:
    """Patch the trainer's optimiser: layer i of n gets lr * decay ** (n - i); embeddings decay ** n."""
    import torch
    from sentence_transformers import SentenceTransformerTrainer

    original = SentenceTransformerTrainer.create_optimizer

    def create_optimizer(self: Any, model: Any = None) -> Any:
        model = self.model if model is None else model
        if self.optimizer is None:
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            depth = {n: int(m.group(1)) for n, _ in named if (m := re.search(r"layer\.(\d+)\.", n))}
            top = max(depth.values()) + 1
            groups: dict[float, list[Any]] = {}
            for name, param in named:
                below = top - depth[name] - 1 if name in depth else (top if "embeddings" in name else 0)
                groups.setdefault(decay ** below, []).append(param)
            lr = self.args.learning_rate
            self.optimizer = torch.optim.AdamW([{"params": ps, "lr": lr * s} for s, ps in groups.items()], lr=lr)
        return self.optimizer

    SentenceTransformerTrainer.create_optimizer = create_optimizer
    try:
        yield
    finally:
        SentenceTransformerTrainer.create_optimizer = original


def with_layer_decay() -> dict[str, Any]:
    with layer_decay(0.8):
        _, result, _ = train_in_tmp(dataset="stsb", log=lambda _line: None)
    return figures(result.metrics)


def no_dropout() -> dict[str, Any]:
    import torch
    from transformers import TrainerCallback

    class NoDropout(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            for module in model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0  # BERT's attention reads .p too

    _, result, _ = train_in_tmp(dataset="stsb", callbacks=[NoDropout()], log=lambda _line: None)
    return figures(result.metrics)


def weight_interpolation() -> dict[str, Any]:
    from datasets import load_dataset

    from siamese_text.config import TrainConfig
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import evaluate_scored_pairs
    from siamese_text.training import train

    data = load_dataset("sentence-transformers/stsb")
    base = SiameseEncoder.load(MODEL).model.state_dict()
    with tempfile.TemporaryDirectory() as tmp:
        train(TrainConfig(dataset="stsb", output=f"{tmp}/model"), progress=False, log=lambda _line: None)
        encoder = SiameseEncoder.load(f"{tmp}/model")
    trained = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    by_alpha: dict[str, dict[str, float]] = {}
    for alpha in (1.0, 0.9, 0.8, 0.7):
        encoder.model.load_state_dict(
            {k: alpha * v + (1 - alpha) * base[k] if v.is_floating_point() else v for k, v in trained.items()})
        by_alpha[str(alpha)] = {
            split: evaluate_scored_pairs(encoder, list(data[split]["sentence1"]), list(data[split]["sentence2"]),
                                         list(data[split]["score"]))["spearman_cosine"]
            for split in ("validation", "test")}
    best = max(by_alpha, key=lambda a: by_alpha[a]["validation"])
    return {**by_alpha[best], "alpha": float(best), "by_alpha": by_alpha}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated parts of row names to run")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "stsb_probes.json"))
    args = parser.parse_args()
    runs = {
        "quantile-mapped labels": quantile_labels,
        "layer-wise lr decay 0.8": with_layer_decay,
        "no dropout": no_dropout,
        "weight interpolation (WiSE-FT)": weight_interpolation,
    }
    results = run_rows(runs, only=args.only, output=args.output,
                       header={"base": "siamtext train --dataset stsb defaults; default = 89.42 validation, 85.99 test"})
    print(f"\n{'probe':<34}{'validation':>12}{'test':>8}")
    for name, row in results.items():
        print(f"{name:<34}{row['validation']:>12.2f}{row['test']:>8.2f}")


if __name__ == "__main__":
    main()
