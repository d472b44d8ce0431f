"""Wire data + twin encoder + loss into the sentence-transformers trainer, and save atomically.

The trainer, optimiser, schedule, fp16/DDP and checkpointing are sentence-transformers' and
transformers'. What is ours: turning role-named data into what the chosen loss needs, the
length-grouped batches (less padding on CPUs), the margin checks, the evaluation before and after,
and the atomic, refuse-to-overwrite output folder with ``results.json``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siamese_text.config import IN_BATCH_LOSSES, TRIPLET_LOSSES, TrainConfig, check_margin
from siamese_text.data.loading import PairData, load_data
from siamese_text.data.pairs import scored_pairs_to_triplets, scores_to_contrastive
from siamese_text.encoder import SiameseEncoder
from siamese_text.errors import DataError
from siamese_text.evaluation import evaluate_data
from siamese_text.losses import build_loss
from siamese_text.storage import atomic_dir, check_output_dir

__all__ = ["train", "TrainResult", "prepare_train_dataset", "library_versions"]

Log = Callable[[str], None]


@dataclass
class TrainResult:
    output: Path
    metrics: dict[str, dict[str, float]]
    results: dict[str, Any]


def library_versions() -> dict[str, str]:
    import datasets
    import sentence_transformers
    import torch
    import transformers

    import siamese_text

    return {
        "siamese_text": siamese_text.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "datasets": datasets.__version__,
        "python": platform.python_version(),
    }


def prepare_train_dataset(data: PairData, config: TrainConfig) -> Any:
    """The train split in the columns the loss takes, in the order it takes them."""
    train = data.split("train")
    if config.max_pairs is not None and len(train) > config.max_pairs:
        train = train.shuffle(seed=config.seed).select(range(config.max_pairs))
    kind = data.label_kind
    if config.loss in ("contrastive", "online-contrastive"):
        if kind not in ("score", "binary"):
            raise DataError(f"--loss {config.loss} needs scored or 0/1-labelled pairs, but {data.source} holds {kind} data")
        binary = config.binary_labels or config.loss == "online-contrastive" or kind == "binary"
        return scores_to_contrastive(train, binary=binary, threshold=config.label_threshold if kind == "score" else 0.5)
    if config.loss == "triplet":
        if kind == "triplet":
            return train
        if kind in ("score", "binary"):
            return scored_pairs_to_triplets(
                train, positive_threshold=config.label_threshold if kind == "score" else 0.5, seed=config.seed
            )
        raise DataError(f"--loss triplet needs pairs or triplets, but {data.source} holds {kind} data")
    raise DataError(f"--loss {config.loss} needs class-labelled texts, but {data.source} holds {kind} data")


def _evaluate(encoder: SiameseEncoder, data: PairData, split: str) -> dict[str, float]:
    return evaluate_data(encoder, data.split(split), data.label_kind)


def train(config: TrainConfig, *, progress: bool = True, log: Log = print) -> TrainResult:
    """Train a twin encoder as ``config`` says and write it, with ``results.json``, to ``config.output``."""
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from siamese_text.data.samplers import LengthGroupedBatchSampler

    check_output_dir(config.output, overwrite=config.overwrite)  # fail before any work
    data = load_data(
        config.dataset,
        config=config.config,
        text_columns=config.text_columns,
        label_column=config.label_column,
        label_kind=config.label_kind,
    )
    log(data.summary())
    train_ds = prepare_train_dataset(data, config)
    log(f"training on {len(train_ds):,} {'triplets' if config.loss in TRIPLET_LOSSES else 'pairs'} ({config.loss} loss)")

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    encoder = SiameseEncoder.from_pretrained(
        config.model, pooling=config.pooling, normalize=config.normalize, max_seq_length=config.max_seq_length
    )
    check_margin(config.loss, config.distance, config.effective_margin, normalized=config.normalize, dimension=encoder.dimension)
    loss = build_loss(config.loss, encoder.model, distance=config.distance, margin=config.margin)
    eval_split = "validation" if "validation" in data.splits else None
    test_split = "test" if "test" in data.splits else eval_split

    metrics: dict[str, dict[str, float]] = {}
    t_start = time.perf_counter()
    with atomic_dir(config.output, overwrite=config.overwrite) as tmp:
        if eval_split:
            metrics[f"{eval_split}_before"] = _evaluate(encoder, data, eval_split)
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp / "checkpoints"),
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr,
            **_warmup(config.warmup_ratio),
            seed=config.seed,
            data_seed=config.seed,
            save_strategy="no",
            eval_strategy="no",
            logging_steps=max(1, len(train_ds) // config.batch_size // 10),
            report_to="none",
            disable_tqdm=not progress,
            dataloader_drop_last=False,
            use_cpu=not torch.cuda.is_available(),
            **({"batch_sampler": LengthGroupedBatchSampler} if config.group_by_length and config.loss not in IN_BATCH_LOSSES else {}),
        )
        trainer = SentenceTransformerTrainer(model=encoder.model, args=args, train_dataset=train_ds, loss=loss)
        _quiet_transformers()
        t0 = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - t0
        if eval_split:
            metrics[eval_split] = _evaluate(encoder, data, eval_split)
        if test_split and test_split != eval_split:
            metrics[test_split] = _evaluate(encoder, data, test_split)
        import shutil

        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        encoder.save(tmp)
        results = {
            "dataset": {"name": config.dataset, "id": data.source, "config": data.config, "roles": data.roles,
                        "label_kind": data.label_kind, "rows": {k: len(v) for k, v in data.splits.items()}},
            "base_model": config.model,
            "loss": {"name": config.loss, "distance": config.distance, "margin": config.effective_margin},
            "arguments": config.to_dict(),
            "seed": config.seed,
            "train_examples": len(train_ds),
            "train_seconds": round(train_seconds, 2),
            "train_examples_per_second": round(len(train_ds) * config.epochs / train_seconds, 2),
            "total_seconds": round(time.perf_counter() - t_start, 2),
            "metrics": metrics,
            "versions": library_versions(),
        }
        (tmp / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return TrainResult(output=Path(config.output), metrics=metrics, results=results)



def _warmup(ratio: float) -> dict[str, float]:
    """transformers 5 takes the warmup ratio as a float ``warmup_steps``; 4 needs ``warmup_ratio``."""
    import transformers

    return {"warmup_steps": ratio} if int(transformers.__version__.split(".")[0]) >= 5 else {"warmup_ratio": ratio}


def _quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("sentence_transformers", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
