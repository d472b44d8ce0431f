"""Wire data + twin encoder + loss into the sentence-transformers trainer, and save atomically.

The trainer, optimiser, schedule, fp16/DDP and checkpointing are sentence-transformers' and
transformers'. What is ours: turning role-named data into what the chosen loss needs (class-labelled
texts into balanced pairs or triplets, or class-balanced batches for in-batch mining), hard negatives
mined by the model (and re-mined while it trains), the length-grouped batches (less padding on
CPUs), the margin checks, the evaluation before and after, and the atomic, refuse-to-overwrite
output folder with ``results.json``.

Under ``torchrun`` (several processes, DDP) the trainer and accelerate share the gradients; what is ours
(:mod:`siamese_text.distributed`): ``--batch-size`` is the global batch, split evenly over the processes;
the samplers deal each rank a disjoint batch per step; in-batch losses see the global batch; rank 0
mines and every rank takes its negatives; only rank 0 logs, evaluates and writes the output.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import platform
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siamese_text.config import (
    CLASS_LOSSES,
    IN_BATCH_LOSSES,
    PAIR_LOSSES,
    TRIPLET_LOSSES,
    TrainConfig,
    check_margin,
)
from siamese_text.data.loading import PairData, column, load_data
from siamese_text.data.mining import ClassNeighbours, HardNegatives, remine_callback
from siamese_text.data.pairs import (
    check_class_sizes,
    class_pairs_dataset,
    class_triplets_dataset,
    few_shot,
    score_margin_triplets,
    scored_pairs_to_triplets,
    scores_to_contrastive,
)
from siamese_text.data.tokens import TEXT_COLUMNS, TokenCache, pad_fraction
from siamese_text.distributed import (
    ONE_PROCESS,
    Ranks,
    launched_rank,
    launched_world_size,
    mine_on_rank0,
    output_folder,
    per_device_batch,
    sum_over_ranks,
)
from siamese_text.distributed import leave as leave_processes
from siamese_text.distributed import start as join_processes
from siamese_text.encoder import SiameseEncoder
from siamese_text.errors import ConfigError, DataError, SiameseTextError
from siamese_text.evaluation import HEADLINE_METRICS, evaluate_data
from siamese_text.hardware import resolve_precision
from siamese_text.losses import build_loss
from siamese_text.plots import CachingEncoder, plots_available, training_plots
from siamese_text.storage import check_output_dir

__all__ = [
    "train",
    "TrainResult",
    "load_train_data",
    "training_rows",
    "prepare_train_dataset",
    "train_split",
    "hard_negative_set",
    "library_versions",
]

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


def train_split(data: PairData, config: TrainConfig) -> Any:
    """The train rows the run learns from: a few per class (``samples_per_class``), or a row sample.

    For class-labelled data this split is also the corpus the evaluation searches.
    """
    train = data.split("train")
    if config.samples_per_class is not None:
        if data.label_kind != "class":
            raise DataError(f"--samples-per-class picks texts per class, but {data.source} holds {data.label_kind} data")
        train = few_shot(train, config.samples_per_class, seed=config.seed)
    generated = data.label_kind == "class" and config.loss not in CLASS_LOSSES
    if config.max_pairs is not None and len(train) > config.max_pairs and not generated:
        train = train.shuffle(seed=config.seed).select(range(config.max_pairs))
    return train


def prepare_train_dataset(data: PairData, config: TrainConfig, *, train: Any = None) -> Any:
    """The train split in the columns the loss takes, in the order it takes them.

    Class-labelled texts become balanced pairs (pair losses; ``max_pairs`` of them, by
    default 4 per text) or triplets (``max_pairs``, by default 2 per text); in-batch losses take
    the texts and labels as they are, after checking every class has the 2 texts they need.
    """
    train = train_split(data, config) if train is None else train
    kind = data.label_kind
    if kind == "class":
        if config.loss in CLASS_LOSSES:
            check_class_sizes(column(train, "label"), minimum=2, names=data.label_names, why=f"--loss {config.loss}")
            return train
        if config.loss in PAIR_LOSSES:
            return class_pairs_dataset(train, config.max_pairs or 4 * len(train), seed=config.seed)
        return class_triplets_dataset(train, config.max_pairs or 2 * len(train), seed=config.seed)
    if config.loss in PAIR_LOSSES:
        if kind not in ("score", "binary"):
            raise DataError(f"--loss {config.loss} needs scored or 0/1-labelled pairs or classes, but {data.source} holds {kind} data")
        binary = config.binary_labels or config.loss == "online-contrastive" or kind == "binary"
        pairs = scores_to_contrastive(train, binary=binary, threshold=config.label_threshold if kind == "score" else 0.5)
        if binary and not config.hard_negatives:  # mined negatives would add the 0s
            _check_both_labels(column(pairs, "label"), config, data.source)
        return pairs
    if config.loss == "triplet":
        if kind == "triplet":
            return train
        if config.uses_score_margins(kind):
            return score_margin_triplets(train, seed=config.seed)
        return scored_pairs_to_triplets(train, positive_threshold=_positive_threshold(config, kind), seed=config.seed)
    raise DataError(f"--loss {config.loss} needs class-labelled texts, but {data.source} holds {kind} data")


def _check_both_labels(labels: list[float], config: TrainConfig, source: str) -> None:
    """0/1 pairs of one label only: contrastive loss would pull every text together (or push all apart)."""
    if labels and len(set(labels)) == 1:
        which = "similar (1)" if labels[0] == 1 else "not similar (0)"
        raise DataError(f"every train pair of {source} is {which}; --loss {config.loss} needs pairs of both kinds: "
                        "add the other kind, or use --loss triplet, which draws random negatives")


def _positive_threshold(config: TrainConfig, kind: str) -> float:
    return config.label_threshold if kind == "score" else 0.5


def hard_negative_set(data: PairData, config: TrainConfig, train: Any) -> HardNegatives | ClassNeighbours:
    """What the model mines for ``--hard-negatives K``: negatives per (anchor, positive) pair, or,
    for in-batch losses, the nearest classes each batch is filled with."""
    k, margin, seed = config.hard_negatives, config.mining_margin, config.seed
    if config.loss in CLASS_LOSSES:
        return ClassNeighbours.from_classes(train, k=k)
    if data.label_kind == "class":
        return HardNegatives.from_classes(train, k=k, margin=margin, seed=seed)
    if data.label_kind == "triplet":
        return HardNegatives.from_triplets(train, k=k, margin=margin, seed=seed)
    return HardNegatives.from_pairs(train, k=k, threshold=_positive_threshold(config, data.label_kind), margin=margin, seed=seed)


def mined_dataset(hard: HardNegatives, data: PairData, config: TrainConfig, train: Any) -> Any:
    """Triplet loss: one triplet per mined negative. Contrastive: the usual pairs plus (anchor, negative, 0)."""
    if config.loss == "triplet":
        return hard.triplet_dataset()
    if data.label_kind == "class":
        import datasets

        base = datasets.Dataset.from_dict({
            "text_a": [hard.texts[i] for i in hard.anchors], "text_b": [hard.texts[i] for i in hard.positives],
            "label": [1.0] * len(hard.anchors),
        })
    elif data.label_kind == "triplet":
        raise DataError(f"--loss {config.loss} with --hard-negatives needs pairs or classes; use --loss triplet for triplets")
    else:
        base = prepare_train_dataset(data, config, train=train)
    return hard.contrastive_dataset(base)


def _base_encoder(config: TrainConfig) -> SiameseEncoder:
    return SiameseEncoder.from_pretrained(config.model, pooling=config.pooling, normalize=config.normalize,
                                          max_seq_length=config.max_seq_length)


def _mine(hard: HardNegatives, encoder: SiameseEncoder, data: PairData, config: TrainConfig, train: Any, *, log: Log,
          ranks: Ranks = ONE_PROCESS) -> Any:
    stats = mine_on_rank0(hard, encoder, ranks)
    k = config.hard_negatives
    log(f"mined {k} hard negative{'s' if k != 1 else ''} per pair for {len(hard.anchors):,} pairs "
        f"({stats['mined_fraction']:.0%} passed the filters)")
    return mined_dataset(hard, data, config, train)


def load_train_data(config: TrainConfig, *, log: Log = print) -> PairData:
    """Load ``config``'s data set, log its one-line summary, and fill ``config``'s unset options for it."""
    data = load_data(
        config.dataset,
        config=config.config,
        text_columns=config.text_columns,
        label_column=config.label_column,
        label_kind=config.label_kind,
        validation_split=config.validation_split,
        seed=config.seed,
    )
    log(data.summary())
    config.resolve(data.label_kind, margin_scales=data.margin_scales)
    return data


def training_rows(config: TrainConfig, *, log: Log = print) -> Any:
    """The pairs or triplets ``train(config)`` would learn from, built the same way, without training.

    In the columns and order the loss takes them (``text_a, text_b, label``; ``anchor, positive,
    negative`` and, for score-margin triplets, the margin scale ``label``). Hard negatives
    (``config.hard_negatives``) are mined with ``config.model`` as training would mine them first.
    The in-batch losses (``CLASS_LOSSES``) learn from the texts themselves, so they have no rows to make.
    """
    data = load_train_data(config, log=log)
    if config.loss in CLASS_LOSSES:
        raise ConfigError(f"--loss {config.loss} learns from the texts themselves in class-balanced batches, "
                          "so there are no pairs or triplets to make; use loss contrastive (pairs) or triplet")
    train_rows = train_split(data, config)
    if not config.hard_negatives:
        return prepare_train_dataset(data, config, train=train_rows)
    hard = hard_negative_set(data, config, train_rows)
    import datasets

    mined = _mine(hard, _base_encoder(config), data, config, train_rows, log=log)
    return datasets.Dataset.from_dict(mined[:])  # training reads the negatives lazily (re-mining swaps them); here, as mined now


def epoch_eval_callback(
    evaluate: Callable[[], dict[str, float]], *, split: str, headline: str | None, log: Log = print
) -> Any:
    """A transformers ``TrainerCallback`` that evaluates ``split`` at the end of every epoch.

    The sentence-transformers trainer evaluates through its own evaluator classes; ours
    (:func:`siamese_text.evaluation.evaluate_data`) picks the evaluation by label kind, so the
    learning curve in ``results.json`` has exactly the figures of the final table. Encoding puts the
    model in eval mode; it goes back to training mode afterwards.
    """
    from transformers import TrainerCallback

    class EpochEvalCallback(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[dict[str, float]] = []
            self.seconds = 0.0  # spent evaluating, inside the trainer's time: not training

        def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            was_training = model.training if model is not None else True
            t0 = time.perf_counter()
            figures = evaluate()
            self.seconds += time.perf_counter() - t0
            if model is not None:
                model.train(was_training)
            epoch = round(float(state.epoch or len(self.history) + 1), 2)
            self.history.append({"epoch": epoch, "step": float(state.global_step), **figures})
            shown = f"{headline} {figures[headline]:.2f}" if headline in figures else f"{len(figures)} figures"
            log(f"epoch {epoch:g}/{args.num_train_epochs:g}: {split} {shown}")

    return EpochEvalCallback()


def token_cache(encoder: SiameseEncoder, train_ds: Any, *, cuda: bool) -> TokenCache:
    """Every text of ``train_ds`` tokenised once (the trainer's collator would do it every batch of every
    epoch); rows padded to a multiple of 8 on a GPU (tensor cores), to the batch's longest on a CPU."""
    model = encoder.model
    cache = TokenCache(model.preprocess, pad_token_id=model.tokenizer.pad_token_id or 0,
                       pad_to_multiple_of=8 if cuda else None)
    for name in train_ds.column_names:
        if name in TEXT_COLUMNS:
            cache.fill(column(train_ds, name))
    return cache


def first_step_callback(t_called: float, *, log: Log) -> Any:
    """A trainer callback that logs, once, the seconds from ``train()`` being called to the first
    optimiser step (loading data and model, tokenising, the evaluation before training); ``.seconds``."""
    from transformers import TrainerCallback

    class FirstStep(TrainerCallback):
        seconds: float | None = None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.seconds is None:
                self.seconds = round(time.perf_counter() - t_called, 2)
                log(f"first training step after {self.seconds:.1f} s")

    return FirstStep()


def _log_lines_not_dicts(trainer: Any, *, progress: bool, log: Log) -> None:
    """The trainer's loss records as one short line each through ``log``, instead of the dicts
    transformers prints on stdout, where they would mix with the results table a caller may pipe.

    The progress bar (``progress``) stays transformers' own, without its printing of the records.
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

    class Bar(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            pass

    class LossLines(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                log(f"step {state.global_step}/{state.max_steps}: loss {float(logs['loss']):.4f}, "
                    f"lr {float(logs.get('learning_rate', 0.0)):.2e}")
                if not math.isfinite(float(logs["loss"])):  # the weights are lost: stop, and save nothing
                    raise ConfigError(f"training diverged: the loss is {float(logs['loss'])} at step {state.global_step}; "
                                      f"lower --lr (it is {args.learning_rate:g}) or check the labels; nothing was saved")

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(Bar)
    trainer.add_callback(LossLines())


def _evaluate(encoder: SiameseEncoder, data: PairData, split: str, corpus: Any) -> dict[str, float]:
    """Metrics suited to the data; class data searches ``corpus`` (the texts trained on), binary pairs
    add accuracy/F1 at the threshold best on the train split."""
    return evaluate_data(
        encoder, data.split(split), data.label_kind,
        corpus=corpus if data.label_kind == "class" else None,
        threshold_data=corpus if data.label_kind == "binary" else None,
    )


def train(
    config: TrainConfig, *, progress: bool = True, log: Log = print, callbacks: list[Any] | None = None
) -> TrainResult:
    """Train a twin encoder as ``config`` says and write it, with ``results.json``, to ``config.output``.

    Options left unset in ``config`` are filled in (in place) for the kind of data loaded. Under a
    launcher (``torchrun``), every process calls this; rank 0 writes, and the process group is closed
    before it returns (see :func:`siamese_text.distributed.leave`).
    """
    try:
        result = _train(config, progress=progress, log=log, callbacks=callbacks)
    except SiameseTextError:
        leave_processes()  # every rank met the same error (rank 0's is shared): no collective is in flight
        raise
    leave_processes()
    return result


def _train(config: TrainConfig, *, progress: bool, log: Log, callbacks: list[Any] | None) -> TrainResult:
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

    from siamese_text.data.samplers import (
        ClassBalancedBatchSampler,
        LengthGroupedBatchSampler,
        RandomBatchSampler,
    )

    ranks = Ranks(rank=launched_rank(), world_size=launched_world_size())  # as the launcher set them (torchrun)
    if not ranks.main:  # rank 0 speaks for all
        log, progress = _silent, False
        warnings.simplefilter("ignore")
    output_known = config.output is not None  # else resolve() names it after the loss
    if output_known:
        resume_from = _check_output(config)  # fail before any work
    t_called = time.perf_counter()
    cuda = torch.cuda.is_available()
    _check_precision(config.precision, cuda=cuda)
    precision = resolve_precision(config.precision, cuda=cuda)
    data = load_train_data(config, log=log)
    if not output_known:
        resume_from = _check_output(config)
    per_device = per_device_batch(config, ranks)  # refused on every rank alike, before the processes wait on each other
    ranks = join_processes()  # one process: at once, nothing started
    checkpoints = checkpoint_dir(config.output)
    train_rows = train_split(data, config)
    hard = hard_negative_set(data, config, train_rows) if config.hard_negatives else None
    in_batch = isinstance(hard, ClassNeighbours)
    train_ds = prepare_train_dataset(data, config, train=train_rows) if hard is None or in_batch else None

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    encoder = _base_encoder(config)
    config.max_seq_length = encoder.max_seq_length  # the default resolved for this model, as results.json records it
    if config.dropout is not None:
        log(f"dropout {config.dropout} on {encoder.set_dropout(config.dropout)} layers")
    if config.effective_margin is not None:
        check_margin(config.loss, config.distance, config.effective_margin, normalized=config.normalize,
                     dimension=encoder.dimension)
    loss = build_loss(config.loss, encoder.model, distance=config.distance, margin=config.margin,
                      gather_across_devices=config.gather_across_devices)
    if isinstance(hard, HardNegatives):
        train_ds = _mine(hard, encoder, data, config, train_rows, log=log, ranks=ranks)
    elif in_batch:
        mine_on_rank0(hard, encoder, ranks)
        log(f"batches: each class with classes among its {config.hard_negatives} nearest (mined with the model)")
    what = "texts" if config.loss in CLASS_LOSSES else "triplets" if config.loss in TRIPLET_LOSSES else "pairs"
    tokens = token_cache(encoder, train_ds, cuda=cuda)
    if config.loss in CLASS_LOSSES:
        sampler: Any = functools.partial(
            ClassBalancedBatchSampler, per_class=config.per_class_in_batch, neighbours=hard if in_batch else None,
            group_by_length=bool(config.group_by_length), text_length=tokens.length,
        )
        batches = "length-grouped class-balanced batches" if config.group_by_length and not in_batch else "class-balanced batches"
    elif config.group_by_length and config.loss not in IN_BATCH_LOSSES:
        # by characters, as the 3-seed STS-B figures were measured; tokens sort tighter (see data.samplers)
        sampler, batches = LengthGroupedBatchSampler, "length-grouped batches"
        if config.length_strata > 1:
            if "label" not in train_ds.column_names:
                raise ConfigError(f"--length-strata {config.length_strata} mixes label ranges, and {config.loss} rows have no "
                                  "label column; drop --length-strata")
            sampler = functools.partial(sampler, strata=config.length_strata)
            batches += f" mixing {config.length_strata} label ranges"
    else:
        sampler, batches = (RandomBatchSampler if ranks.distributed else None), "random batches"
    if config.length_strata > 1 and "mixing" not in batches:
        raise ConfigError(f"--length-strata mixes label ranges within length-grouped batches of pairs, and this run draws "
                          f"{batches} ({config.loss} loss); drop --length-strata")
    if ranks.distributed:  # the trainer's own random batches would leave the ranks unequal steps
        sampler = functools.partial(sampler, world_size=ranks.world_size)
        batches += f", {ranks.world_size} processes x {per_device}"
    log(f"training on {len(train_ds):,} {what} ({config.loss} loss, {config.epochs} epoch(s), lr {config.lr}, {batches}, {precision})")
    first_step = first_step_callback(t_called, log=log)
    eval_split = "validation" if "validation" in data.splits else None
    test_split = "test" if "test" in data.splits else eval_split
    before_split = eval_split or test_split
    all_callbacks = [first_step, *(callbacks or [])]
    remine = None
    if hard is not None and config.remine_every:
        remine = remine_callback(hard, encoder, every=config.remine_every, log=log,
                                 mine=functools.partial(mine_on_rank0, hard, encoder, ranks))
        all_callbacks.append(remine)
    epoch_eval = None
    if eval_split and config.eval_every_epoch and ranks.main:
        epoch_eval = epoch_eval_callback(
            functools.partial(_evaluate, encoder, data, eval_split, train_rows),
            split=eval_split, headline=HEADLINE_METRICS.get(data.label_kind), log=log,
        )
        all_callbacks.append(epoch_eval)

    metrics: dict[str, dict[str, float]] = {}
    t_start = time.perf_counter()
    with output_folder(config, ranks) as tmp, _quiet_transformers():
        if before_split and ranks.main:
            # one embedding of the split for the figures and the pictures (this is time before the first step)
            before = CachingEncoder(encoder) if plots_available() else encoder
            metrics[f"{before_split}_before"] = _evaluate(before, data, before_split, train_rows)
            training_plots(before, data, before_split, corpus=train_rows, folder=tmp, stage="before", log=log)
            del before
        if config.checkpoint_every and not config.resume:
            shutil.rmtree(checkpoints, ignore_errors=True)  # --overwrite: an old run's checkpoints are not resumed
        args = SentenceTransformerTrainingArguments(
            output_dir=str(checkpoints if config.checkpoint_every or tmp is None else tmp / "checkpoints"),
            num_train_epochs=config.epochs,
            per_device_train_batch_size=per_device,
            learning_rate=config.lr,
            **_warmup(config.warmup_ratio),
            seed=config.seed,
            data_seed=config.seed,
            save_strategy="steps" if config.checkpoint_every else "no",
            **({"save_steps": config.checkpoint_every, "save_total_limit": 2} if config.checkpoint_every else {}),
            eval_strategy="no",
            logging_steps=max(1, len(train_ds) // config.batch_size // 10),
            report_to="none",
            logging_nan_inf_filter=False,  # a NaN loss must show (and stop the run), not be averaged away
            disable_tqdm=not progress,
            dataloader_drop_last=False,
            use_cpu=not torch.cuda.is_available(),
            fp16=precision == "fp16",
            bf16=precision == "bf16",
            **({"batch_sampler": sampler} if sampler is not None else {}),
        )
        trainer = SentenceTransformerTrainer(
            model=encoder.model, args=args, train_dataset=train_ds, loss=loss, callbacks=all_callbacks,
            data_collator=SentenceTransformerDataCollator(preprocess_fn=tokens),
        )
        _log_lines_not_dicts(trainer, progress=progress, log=log)
        t0 = time.perf_counter()
        if resume_from is not None:
            log(f"resuming from {resume_from}")
        try:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
        except BaseException:
            kept = _last_checkpoint(checkpoints)
            if kept is not None:
                log(f"training stopped; checkpoints kept in {checkpoints}: run the same command with --resume to continue from {kept.name}")
            elif config.checkpoint_every and ranks.main:
                with contextlib.suppress(OSError):  # stopped before the first checkpoint: leave no empty folder
                    checkpoints.rmdir()
            raise
        # Training time alone: the per-epoch evaluations run inside trainer.train() (pairs/s stay comparable).
        train_seconds = time.perf_counter() - t0 - (epoch_eval.seconds if epoch_eval is not None else 0.0)
        real_tokens, padded_tokens = sum_over_ranks([tokens.real_tokens, tokens.padded_tokens], ranks)
        if tmp is None:  # not rank 0: it evaluates and writes; this rank has nothing more to do
            return TrainResult(output=Path(config.output), metrics={}, results={})
        if eval_split:
            # The last epoch's evaluation saw the final weights: reuse it rather than encode again.
            last = epoch_eval.history[-1] if epoch_eval is not None and epoch_eval.history else None
            if last is not None and last["step"] == trainer.state.global_step:
                metrics[eval_split] = {k: v for k, v in last.items() if k not in ("epoch", "step")}
            else:
                metrics[eval_split] = _evaluate(encoder, data, eval_split, train_rows)
        if test_split and test_split != eval_split:
            metrics[test_split] = _evaluate(encoder, data, test_split, train_rows)
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        encoder.write_files(tmp)  # into train()'s own atomic folder, beside results.json and the card
        results = {
            "dataset": {"name": config.dataset, "id": data.source, "config": data.config, "roles": data.roles,
                        "label_kind": data.label_kind, "rows": {k: len(v) for k, v in data.splits.items()}},
            "base_model": config.model,
            "loss": {"name": config.loss, "distance": config.distance, "margin": config.effective_margin,
                     **({"score_margins": True} if config.uses_score_margins(data.label_kind, margin_scales=data.margin_scales) else {})},
            "arguments": config.to_dict(),
            "seed": config.seed,
            "train_rows": len(train_rows),
            "train_examples": len(train_ds),
            **({"resumed_from": resume_from.name} if resume_from is not None else {}),
            "train_seconds": round(train_seconds, 2),
            "train_examples_per_second": round(len(train_ds) * config.epochs / train_seconds, 2),
            "precision": precision,
            "seconds_to_first_step": first_step.seconds,
            "pad_fraction": round(pad_fraction(real_tokens, padded_tokens), 4),
            "useful_tokens_per_second": round(real_tokens / train_seconds, 1),
            **({"processes": ranks.world_size, "batch_size_per_process": per_device} if ranks.distributed else {}),
            "total_seconds": round(time.perf_counter() - t_start, 2),
            "metrics": metrics,
            **({"history": {eval_split: epoch_eval.history}} if epoch_eval is not None else {}),
            "versions": library_versions(),
        }
        if hard is not None:
            results["hard_negatives"] = {
                "k": hard.k, "mining_rounds": hard.rounds, "remine_history": remine.history if remine is not None else [],
                **({"what": "nearest classes per batch"} if in_batch else {"margin": hard.margin, "pairs": len(hard.anchors)}),
            }
        if data.label_kind == "binary" and eval_split:
            # A 0/1 pair model is used to decide "same / not same": fit the threshold and the
            # probabilities on validation (never test) and save them beside the model.
            from siamese_text.calibration import calibrate_model_dir

            try:
                calibration = calibrate_model_dir(
                    encoder, tmp, data.split(eval_split), metric=config.distance,
                    dataset=config.dataset, config=data.config, split=eval_split,
                )
            except SiameseTextError as exc:  # e.g. a validation split with one class: keep the model
                log(f"not calibrated: {exc}")
            else:
                results["calibration"] = calibration.to_dict()
                log(f"calibrated on {eval_split}: {calibration.describe()}")
        training_plots(encoder, data, before_split, corpus=train_rows, folder=tmp, stage="after", log=log)
        (tmp / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        from siamese_text.model_card import write_model_card

        write_model_card(tmp, results)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the model is in place: the checkpoints have served
    return TrainResult(output=Path(config.output), metrics=metrics, results=results)


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def checkpoint_dir(output: str | os.PathLike) -> Path:
    """Where ``--checkpoint-every`` keeps trainer checkpoints: beside the output, never inside it."""
    output = Path(output)
    return output.with_name(output.name + ".checkpoints")


def _last_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* checkpoint: the trainer writes ``trainer_state.json`` last, so a run stopped while
    saving (Ctrl-C, SIGTERM) leaves a newer folder without it, which ``--resume`` must pass over."""
    if not folder.is_dir():
        return None
    steps = [(int(p.name.split("-")[1]), p) for p in folder.glob("checkpoint-*") if p.name.split("-")[1].isdigit()]
    complete = [(step, p) for step, p in steps if (p / "trainer_state.json").is_file()]
    return max(complete)[1] if complete else None


def _check_output(config: TrainConfig) -> Path | None:
    """Refuse an output folder that cannot be written, or silently starting over an interrupted run;
    return the checkpoint ``--resume`` continues from.

    The transformers trainer saves and restores model, optimiser, schedule and random states; what
    is ours is where they live (beside the atomic output folder, which only appears once training
    succeeded) and the refusals.
    """
    check_output_dir(config.output, overwrite=config.overwrite)
    folder = checkpoint_dir(config.output)
    last = _last_checkpoint(folder)
    if config.resume:
        if last is None:
            raise ConfigError(f"--resume found no checkpoint in {folder}; train without --resume (with --checkpoint-every N to keep some)")
        return last
    if last is not None and not config.overwrite:
        raise ConfigError(f"{folder} holds checkpoints of an interrupted run; add --resume to continue it, or --overwrite to start again")
    return None


def _check_precision(precision: str, *, cuda: bool) -> None:
    """fp16 autocast needs a CUDA GPU (the trainer's GradScaler); bf16 runs on CPUs too."""
    if precision == "fp16" and not cuda:
        raise ConfigError("--precision fp16 needs a CUDA GPU and none is visible; use --precision bf16 on a CPU, or fp32")


def _warmup(ratio: float) -> dict[str, float]:
    """transformers 5 takes the warmup ratio as a float ``warmup_steps``; 4 needs ``warmup_ratio``."""
    import transformers

    return {"warmup_steps": ratio} if int(transformers.__version__.split(".")[0]) >= 5 else {"warmup_ratio": ratio}


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Only errors from transformers and sentence-transformers while training; their levels are set back after."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    loggers = [logging.getLogger(name) for name in ("sentence_transformers", "transformers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
