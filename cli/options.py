"""Options shared by several commands, defined once so that their flags and help read the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from siamese_text.data.presets import LABEL_KINDS

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
DATASET_HELP = "Preset name, Hub id user/name, or a local .csv/.tsv/.jsonl/.parquet file or folder."


def columns(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """``a,b`` -> ``("a", "b")``; the --text-columns parsing of every command."""
    if value is None:
        return None
    names = tuple(c.strip() for c in value.split(",") if c.strip())
    if not names:
        raise click.BadParameter("give column names separated by commas, e.g. --text-columns question1,question2")
    return names


def _apply(options: Sequence[Decorator]) -> Decorator:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def data_options(*, dataset_default: str | None = None) -> Decorator:
    """How to read a data set: --dataset (required unless it has a default), --config, the columns by name, --label-kind."""
    dataset = (click.option("--dataset", default=dataset_default, show_default=True, help=DATASET_HELP) if dataset_default
               else click.option("--dataset", required=True, help=DATASET_HELP))
    return _apply([
        dataset,
        click.option("--config", "dataset_config", default=None, help="Hub data set configuration (e.g. mrpc for nyu-mll/glue)."),
        click.option("--text-columns", callback=columns, default=None,
                     help="Text columns by name: a,b for pairs, a,p,n for triplets, one for class-labelled texts."),
        click.option("--label-column", default=None, help="The label column, by name."),
        click.option("--label-kind", type=click.Choice(LABEL_KINDS), default=None, help="What the label means (inferred when omitted)."),
    ])


# Which rows train and how they become pairs or triplets: shared by `train` and `pairs`, which writes what train would train on.
training_data_options: Decorator = _apply([
    click.option("--validation-split", type=float, default=None,
                 help="For data without a validation split: hold this share of the train rows out (seeded; per class for "
                      "class-labelled texts) to evaluate and calibrate on, e.g. 0.1."),
    click.option("--binary-labels", is_flag=True,
                 help="Threshold scores into 0/1 labels instead of using them as soft labels "
                      "(triplet loss: plain triplets instead of score-scaled margins)."),
    click.option("--label-threshold", type=float, default=0.6, show_default=True,
                 help="Scores at or above this count as positive (--binary-labels, for pairs or plain triplets, and mining from scored pairs)."),
    click.option("--max-pairs", type=int, default=None,
                 help="Train on at most this many rows (seeded sample); for class-labelled texts, how many pairs or triplets to make."),
    click.option("--samples-per-class", type=int, default=None, help="Few-shot: train on this many texts per class (seeded)."),
    click.option("--hard-negatives", type=int, default=0, show_default=True,
                 help="Mine hard negatives with the model: this many per positive pair (contrastive, triplet), "
                      "or batches of a class and classes among its K nearest (batch-* losses)."),
    click.option("--mining-margin", type=float, default=0.05, show_default=True,
                 help="Skip mined candidates whose cosine similarity is within this of the positive's (likely false negatives)."),
])
