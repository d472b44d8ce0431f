"""``siamtext train``: fine-tune a twin encoder on pair, triplet or class-labelled data."""

from __future__ import annotations

import sys

import click
from siamese_text_cli.options import data_options, training_data_options
from siamese_text_cli.progress import library_progress_bars

from siamese_text.config import LOSSES, PRECISIONS
from siamese_text.encoder import DEFAULT_MODEL, POOLING_MODES
from siamese_text.scoring import DISTANCES


@click.command()
@data_options(dataset_default="stsb")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Base encoder: Hub id or local folder.")
@click.option("--loss", type=click.Choice(LOSSES), default=None,
              help="Default: contrastive for scored or 0/1 pairs, triplet for triplets, batch-hard-triplet for class-labelled texts "
                   "(batch-centroid-softmax with --samples-per-class). "
                   "cosent: a ranking loss for scored pairs; batch-centroid-softmax: prototypical loss for class-labelled texts "
                   "(neither has a margin).")
@click.option("--distance", type=click.Choice(DISTANCES), default="cosine", show_default=True)
@click.option("--margin", type=float, default=None, help="Loss margin (default: the measured one for the loss, distance and kind of data; 0.9 on scored pairs, for contrastive loss with soft labels and for triplet loss, where it scales with each score).")
@click.option("--epochs", type=int, default=None, help="Default: measured per data kind and loss (3 for scored and 0/1 pairs, 1 for triplets, class-labelled texts and triplet loss on scored pairs, 20 with --samples-per-class).")
@click.option("--batch-size", type=int, default=None, help="Default: 16 for pairs and triplets, 32 for class-labelled texts, 64 with --samples-per-class and its default loss.")
@click.option("--lr", type=float, default=None, help="Peak learning rate (default: measured per data kind and loss; 5e-5 for scored and 0/1 pairs, 4e-5 with --samples-per-class and its default loss, 2e-5 otherwise and for triplet loss on scored pairs).")
@click.option("--warmup-ratio", type=float, default=0.1, show_default=True,
              help="Share of the steps over which the learning rate rises linearly to --lr (then it falls linearly to 0).")
@click.option("--max-seq-length", type=int, default=None,
              help="Tokens kept of each text (default: 256, or the model's limit if lower; more than the model's positions is refused).")
@click.option("--dropout", type=float, default=None, help="Dropout rate while training, for every hidden and attention dropout layer (default: the base model's own, 0.1 for MiniLM; 0.2 with --samples-per-class).")
@click.option("--pooling", type=click.Choice(POOLING_MODES), default="mean", show_default=True)
@click.option("--group-by-length/--no-group-by-length", default=None,
              help="Batch texts of similar length (less padding, faster on a CPU; losses on single pairs and triplets only). "
                   "Default: on (the same STS-B validation mean as random batches over 3 seeds, 2.3x faster).")
@click.option("--length-strata", type=click.IntRange(min=1), default=1, show_default=True,
              help="With length-grouped batches: keep in each batch the mix of N label ranges (score quantiles; 0/1 labels "
                   "make 2) that random batches have, by sorting lengths within each range. 1: off.")
@training_data_options
@click.option("--per-class-in-batch", type=int, default=4, show_default=True,
              help="Texts per class in each class-balanced batch (batch-* losses).")
@click.option("--remine-every", type=int, default=None, help="Re-mine the hard negatives with the model being trained every N steps.")
@click.option("--eval-every-epoch/--no-eval-every-epoch", default=True, show_default=True,
              help="Evaluate the validation split at the end of every epoch (a log line each; the curve goes in results.json).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Mixed precision while training (the trainer's autocast; weights are saved in float32). auto: bf16 on a GPU "
                   "or CPU with bfloat16 units (AVX512-BF16/AMX), else fp32; fp16 needs a CUDA GPU.")
@click.option("--checkpoint-every", type=int, default=0, show_default=True,
              help="Keep a trainer checkpoint every N steps in OUTPUT.checkpoints/ (deleted once the model is saved; 0: none).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint in OUTPUT.checkpoints/ (same command otherwise).")
@click.option("--gather-across-devices/--no-gather-across-devices", default=True, show_default=True,
              help="Under torchrun (several processes): in-batch losses (online-contrastive, cosent, batch-*) compare the texts "
                   "of every process's batch, as one process would with the whole --batch-size. No effect on one process.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--output", "-o", default=None, help="Model folder to write (default runs/DATASET-LOSS).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars (ours, transformers', datasets'); the log lines stay, for a log file.")
def train(
    dataset: str,
    dataset_config: str | None,
    text_columns: tuple[str, ...] | None,
    label_column: str | None,
    label_kind: str | None,
    model: str,
    loss: str | None,
    distance: str,
    margin: float | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    warmup_ratio: float,
    max_seq_length: int | None,
    dropout: float | None,
    pooling: str,
    binary_labels: bool,
    label_threshold: float,
    max_pairs: int | None,
    validation_split: float | None,
    group_by_length: bool | None,
    length_strata: int,
    samples_per_class: int | None,
    per_class_in_batch: int,
    hard_negatives: int,
    mining_margin: float,
    remine_every: int | None,
    eval_every_epoch: bool,
    precision: str,
    checkpoint_every: int,
    resume: bool,
    gather_across_devices: bool,
    seed: int,
    output: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Fine-tune a Siamese encoder and save it as a sentence-transformers folder with results.json."""
    from siamese_text.config import TrainConfig

    config = TrainConfig(
        dataset=dataset,
        config=dataset_config,
        text_columns=text_columns,
        label_column=label_column,
        label_kind=label_kind,
        model=model,
        loss=loss,
        distance=distance,
        margin=margin,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup_ratio=warmup_ratio,
        max_seq_length=max_seq_length,
        dropout=dropout,
        pooling=pooling,
        binary_labels=binary_labels,
        label_threshold=label_threshold,
        max_pairs=max_pairs,
        validation_split=validation_split,
        group_by_length=group_by_length,
        length_strata=length_strata,
        samples_per_class=samples_per_class,
        per_class_in_batch=per_class_in_batch,
        hard_negatives=hard_negatives,
        mining_margin=mining_margin,
        remine_every=remine_every,
        eval_every_epoch=eval_every_epoch,
        precision=precision,
        checkpoint_every=checkpoint_every,
        resume=resume,
        gather_across_devices=gather_across_devices,
        seed=seed,
        output=output,
        overwrite=overwrite,
    )
    from siamese_text.distributed import Ranks, launched_rank, launched_world_size, per_device_batch

    main_process = launched_rank() == 0  # under torchrun, rank 0 speaks for every process
    if config.loss is not None and config.batch_size is not None:  # given: refuse a batch that cannot split at once
        per_device_batch(config, Ranks(rank=launched_rank(), world_size=launched_world_size()))
    from siamese_text.training import train as run_training

    with library_progress_bars(on=not quiet and main_process):
        result = run_training(config, progress=not quiet, log=_log_line)
    if not main_process:
        return
    if result.metrics:
        from siamese_text.evaluation import summary_metrics

        short = summary_metrics(result.metrics, result.results["dataset"]["label_kind"])
        click.echo(format_metrics(short))
        left_out = sum(map(len, result.metrics.values())) - sum(map(len, short.values()))
        if left_out:
            click.echo(f"({left_out} more figures in results.json)")
    else:
        click.echo("nothing evaluated: the data has no validation or test split; "
                   "--validation-split 0.1 holds a tenth of the train rows out as one")
    click.echo(f"saved model and results.json to {result.output}")


def _log_line(line: str) -> None:
    """A log line on stderr that does not tear the trainer's progress bar (tqdm redraws it below)."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def format_metrics(metrics: dict[str, dict[str, float]]) -> str:
    """A short table: one row per metric, one column per evaluated split."""
    splits = list(metrics)
    names = list(dict.fromkeys(name for split in splits for name in metrics[split]))
    width = max([len("metric"), *map(len, names)])
    lines = ["metric".ljust(width) + "".join(f"{s:>20}" for s in splits)]
    for name in names:
        cells = "".join(f"{metrics[s][name]:>20.2f}" if name in metrics[s] else f"{'-':>20}" for s in splits)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)
