"""``siamtext evaluate``: the evaluation the data's label kind asks for, as a table and a JSON file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
from siamese_text_cli.options import data_options

from siamese_text.errors import ConfigError
from siamese_text.scoring import METRICS
from siamese_text.storage import atomic_file, check_output_file


def load(
    dataset: str, dataset_config: str | None, text_columns: Any, label_column: str | None, label_kind: str | None,
    *, validation_split: float | None = None, seed: int = 42,
) -> Any:
    from siamese_text.data.loading import load_data

    return load_data(dataset, config=dataset_config, text_columns=text_columns, label_column=label_column, label_kind=label_kind,
                     validation_split=validation_split, seed=seed)


def pick_split(data: Any, split: str | None) -> str:
    """The asked split, or test, or validation, or else the first there is (a single file's train split)."""
    if split is not None:
        data.split(split)  # raises DataError naming the splits there are
        return split
    for name in ("test", "validation"):
        if name in data.splits:
            return name
    return next(iter(data.splits))


def _train_is_the_corpus(data: Any) -> ConfigError:
    """Class-labelled texts are searched against train, so train cannot be the evaluated split: the way out the data has."""
    others = [name for name in data.splits if name != "train"]
    fix = (f"choose another --split ({', '.join(others)})" if others
           else "--validation-split 0.2 holds a share of it out to evaluate against the rest")
    return ConfigError(f"class-labelled texts are searched against the train split, so it cannot be the one evaluated; {fix}")


def metric_list(metric: tuple[str, ...]) -> tuple[str, ...]:
    if not metric or "all" in metric:
        return METRICS
    return tuple(dict.fromkeys(metric))


def format_table(figures: dict[str, float], metrics: tuple[str, ...]) -> str:
    """One row per figure, one column per metric (keys are ``{metric}_{figure}`` or ``{figure}_{metric}``)."""
    rows: dict[str, dict[str, float]] = {}
    other: dict[str, float] = {}
    pattern = re.compile(rf"^(?:({'|'.join(METRICS)})_(.+)|(.+)_({'|'.join(METRICS)}))$")
    for key, value in figures.items():
        match = pattern.match(key)
        if match is None:
            other[key] = value
            continue
        metric, figure = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        rows.setdefault(figure, {})[metric] = value
    width = max([len("figure"), *map(len, rows)])
    lines = ["figure".ljust(width) + "".join(f"{m:>12}" for m in metrics)]
    for figure, values in rows.items():
        digits = 4 if "threshold" in figure else 2
        lines.append(figure.ljust(width) + "".join(f"{values[m]:>12.{digits}f}" if m in values else f"{'-':>12}" for m in metrics))
    for key, value in other.items():
        lines.append(f"{key}: {value:g}")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).name if Path(text).exists() else text).strip("-") or "data"


@click.command()
@click.argument("model")
@data_options()
@click.option("--split", default=None, help="Split to evaluate (default: test, else validation, else train: a single file is a train split).")
@click.option("--validation-split", type=float, default=None,
              help="For data without a validation split: hold this share of the train rows out (seeded as train does; per class "
                   "for class-labelled texts, which are searched against the rest) as the validation split, e.g. 0.2.")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Seed of a held-out validation split: the training run's --seed holds out the rows it did.")
@click.option("--metric", "metric", multiple=True, type=click.Choice([*METRICS, "all"]), help="Similarity metric(s); repeat, or all (default).")
@click.option("--threshold-split", default=None, help="Binary pairs: also report the split at thresholds picked on this split (e.g. train).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--output", "-o", default=None, help="JSON file to write (default eval-DATASET-SPLIT.json).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (and its --plot pictures).")
@click.option("--plot", is_flag=True, help="Also draw the split's pictures as PNGs next to the JSON (OUTPUT-KIND.png; needs "
              "matplotlib: pip install 'siamese-text[plot]').")
def evaluate(
    model: str,
    dataset: str,
    dataset_config: str | None,
    text_columns: tuple[str, ...] | None,
    label_column: str | None,
    label_kind: str | None,
    split: str | None,
    validation_split: float | None,
    seed: int,
    metric: tuple[str, ...],
    threshold_split: str | None,
    batch_size: int,
    output: str | None,
    overwrite: bool,
    plot: bool,
) -> None:
    """Evaluate MODEL on a data set: correlations, best-threshold classification, triplet accuracy or retrieval."""
    # A given --output is checked before any work; the default name waits for the split it names.
    out_path = check_output_file(output, suffixes=(".json",), overwrite=overwrite) if output is not None else None
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    metrics = metric_list(metric)
    if plot:
        from siamese_text.plots.figures import pyplot

        pyplot()  # without matplotlib: the pip command, before any work
    data = load(dataset, dataset_config, text_columns, label_column, label_kind, validation_split=validation_split, seed=seed)
    split = pick_split(data, split)
    if out_path is None:
        out_path = check_output_file(f"eval-{_slug(dataset)}-{split}.json", suffixes=(".json",), overwrite=overwrite)
    corpus = threshold_data = None
    if data.label_kind == "class":
        if split == "train":
            raise _train_is_the_corpus(data)
        corpus = data.split("train")
    if threshold_split is not None:
        if data.label_kind != "binary":
            raise ConfigError(f"--threshold-split is for binary pairs, but {data.source} holds {data.label_kind} data")
        threshold_data = data.split(threshold_split)
    pictures = _check_plot_files(out_path, data.label_kind, overwrite=overwrite) if plot else {}

    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import evaluate_data

    encoder = SiameseEncoder.load(model)
    click.echo(data.summary(), err=True)
    if pictures:
        from siamese_text.plots import evaluate_with_plots

        figures, _ = evaluate_with_plots(
            encoder, data.split(split), data.label_kind, plot_dir=out_path.parent, plot_prefix=f"{out_path.stem}-",
            metrics=metrics, corpus=corpus, threshold_data=threshold_data, class_names=data.label_names,
            title=f"{Path(model).name} on {data.source}{f' {data.config}' if data.config else ''} {split}", batch_size=batch_size,
        )
    else:
        figures = evaluate_data(encoder, data.split(split), data.label_kind, metrics=metrics, corpus=corpus,
                                threshold_data=threshold_data, batch_size=batch_size)
    click.echo(f"{data.label_kind} evaluation of {model} on {data.source} {split} ({len(data.split(split)):,} rows)")
    click.echo(format_table(figures, metrics))
    record = {"model": model, "dataset": dataset, "source": data.source, "config": data.config, "split": split,
              "label_kind": data.label_kind, "metrics": list(metrics), "threshold_split": threshold_split,
              **({"held_out": data.held_out, "seed": seed} if data.held_out else {}), "figures": figures}
    with atomic_file(out_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"wrote {out_path}")
    for path in pictures.values():
        click.echo(f"wrote {path}")


def _check_plot_files(out_path: Path, label_kind: str, *, overwrite: bool) -> dict[str, Path]:
    """The PNGs --plot writes beside ``out_path``; refused now if one exists (without --overwrite) or none suits the data."""
    from siamese_text.plots import PLOT_KINDS, plot_files

    if label_kind not in PLOT_KINDS:
        raise ConfigError(f"--plot draws scored pairs, 0/1 pairs and class-labelled texts, not {label_kind} data; leave out --plot")
    files = plot_files(out_path.parent / f"{out_path.stem}-", label_kind)
    for path in files.values():
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} (a --plot picture) already exists; pass --overwrite to replace it or choose another --output")
    return files
