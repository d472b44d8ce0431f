"""``siamtext pairs``: write the labelled pairs or the triplets that ``siamtext train`` would train on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from siamese_text_cli.options import data_options, training_data_options
from siamese_text_cli.score import FORMATS as READABLE

from siamese_text.encoder import DEFAULT_MODEL
from siamese_text.storage import atomic_file, check_output_file

FORMATS: tuple[str, ...] = tuple(READABLE)  # what `siamtext score --pairs` and `train --dataset` read back


def write_rows(rows: Any, output: Path) -> None:
    """A ``datasets.Dataset`` as csv/tsv/jsonl/parquet, by the file's suffix, atomically."""
    suffix = output.suffix.lower()
    with atomic_file(output) as tmp:
        if suffix == ".parquet":
            rows.to_parquet(str(tmp))
        elif suffix == ".jsonl":
            rows.to_json(str(tmp), lines=True, force_ascii=False)
        else:
            rows.to_csv(str(tmp), index=False, sep="\t" if suffix == ".tsv" else ",")


def describe(rows: Any) -> str:
    """``12,000 pairs (text_a, text_b, label; 6,000 with label 1)``: what was written, in a few words."""
    columns = list(rows.column_names)
    what = "triplets" if "anchor" in columns else "pairs"
    extra = ""
    if what == "pairs":
        import numpy as np

        from siamese_text.data.loading import column

        labels = np.asarray(column(rows, "label"), dtype=np.float64)
        if np.isin(labels, (0, 1)).all():
            extra = f"; {int((labels == 1).sum()):,} with label 1"
        else:
            extra = f"; labels from {labels.min():.2f} to {labels.max():.2f}"
    elif "label" in columns:
        extra = "; label: each triplet's share of the margin"
    return f"{len(rows):,} {what} ({', '.join(columns)}{extra})"


@click.command()
@data_options()
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), help="The .csv, .tsv, .jsonl or .parquet file to write.")
@click.option("--triplets", is_flag=True, help="Make (anchor, positive, negative) triplets, as --loss triplet trains on, instead of labelled pairs.")
@training_data_options
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="The encoder that mines --hard-negatives.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
def pairs(
    dataset: str,
    dataset_config: str | None,
    text_columns: tuple[str, ...] | None,
    label_column: str | None,
    label_kind: str | None,
    output: Path,
    triplets: bool,
    binary_labels: bool,
    label_threshold: float,
    max_pairs: int | None,
    validation_split: float | None,
    samples_per_class: int | None,
    hard_negatives: int,
    mining_margin: float,
    model: str,
    seed: int,
    overwrite: bool,
) -> None:
    """Write the pairs (or triplets) that `siamtext train --loss contrastive` (or `--loss triplet`) trains on with the same options."""
    check_output_file(output, suffixes=FORMATS, overwrite=overwrite)
    from siamese_text.config import TrainConfig
    from siamese_text.training import training_rows

    config = TrainConfig(
        dataset=dataset, config=dataset_config, text_columns=text_columns, label_column=label_column, label_kind=label_kind,
        model=model, loss="triplet" if triplets else "contrastive", binary_labels=binary_labels, label_threshold=label_threshold,
        max_pairs=max_pairs, validation_split=validation_split, samples_per_class=samples_per_class, hard_negatives=hard_negatives, mining_margin=mining_margin,
        seed=seed,
    )
    rows = training_rows(config, log=lambda line: click.echo(line, err=True))
    write_rows(rows, output)
    click.echo(f"wrote {describe(rows)} -> {output}")
