"""``siamtext calibrate``: pick a threshold and fit probabilities on labelled pairs, saved in the model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from siamese_text_cli.evaluate import load
from siamese_text_cli.options import data_options

from siamese_text.errors import ConfigError, DataError
from siamese_text.scoring import METRICS


@click.command()
@click.argument("model")
@data_options()
@click.option("--split", default="validation", show_default=True, help="Labelled split to calibrate on (never test).")
@click.option("--metric", type=click.Choice(METRICS), default="cosine", show_default=True)
@click.option("--objective", default="f1", show_default=True, help="f1, accuracy, precision:P (most recall at precision >= P) or recall:R.")
@click.option("--method", type=click.Choice(["platt", "isotonic"]), default="platt", show_default=True, help="Probability calibration.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a calibration the folder already has.")
def calibrate(
    model: str,
    dataset: str,
    dataset_config: str | None,
    text_columns: tuple[str, ...] | None,
    label_column: str | None,
    label_kind: str | None,
    split: str,
    metric: str,
    objective: str,
    method: str,
    batch_size: int,
    overwrite: bool,
) -> None:
    """Calibrate MODEL (a local folder) for same/not-same decisions on 0/1-labelled pairs."""
    from siamese_text.calibration import CALIBRATION_FILE
    from siamese_text.evaluation import parse_objective

    folder = Path(model)
    if not folder.is_dir():
        raise ConfigError(f"{model} is not a local model folder; calibrate writes {CALIBRATION_FILE} into one (save or train the model first)")
    if (folder / CALIBRATION_FILE).exists() and not overwrite:
        raise ConfigError(f"{folder / CALIBRATION_FILE} already exists; pass --overwrite to replace the calibration")
    if split.lower().startswith("test"):
        raise ConfigError(f"--split {split}: calibrating on test data would leak it; calibrate on validation (or train)")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    parse_objective(objective)
    data = load(dataset, dataset_config, text_columns, label_column, label_kind or None)
    if data.label_kind != "binary":
        raise DataError(f"{data.source} holds {data.label_kind} data; calibration needs pairs labelled 1 (same) / 0 (different)")
    ds = data.split(split)

    from siamese_text.calibration import calibrate_model_dir
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.plots import CachingEncoder

    encoder = CachingEncoder(SiameseEncoder.load(model))  # the reliability diagram reuses the embeddings
    calibration = calibrate_model_dir(
        encoder, folder, ds, metric=metric, objective=objective, method=method, dataset=dataset,
        config=data.config, split=split, overwrite=overwrite, batch_size=batch_size,
    )
    fit = calibration.fit
    click.echo(f"calibrated {model}: same if {calibration.describe()}")
    click.echo(
        f"on {split} ({fit['pairs']:,} pairs, {fit['positives']:,} same): accuracy {fit['accuracy']:.2f}  "
        f"F1 {fit['f1']:.2f}  precision {fit['precision']:.2f}  recall {fit['recall']:.2f}  "
        f"ECE {fit['ece']:.4f} (in-sample; judge it on other pairs)"
    )
    click.echo(f"saved {folder / CALIBRATION_FILE}")
    _reliability_diagram(encoder, ds, calibration, folder, batch_size=batch_size)
    from siamese_text.errors import ModelError
    from siamese_text.model_card import is_generated_card, write_model_card

    if is_generated_card(folder):  # the card shows the threshold: keep it in step (a card someone else wrote stays)
        try:
            click.echo(f"updated the model card {write_model_card(folder)}")
        except ModelError as exc:  # the calibration is saved and sound; only the card is left as it was
            click.echo(f"warning: the model card was not updated: {exc}", err=True)


def _reliability_diagram(encoder: Any, ds: Any, calibration: Any, folder: Path, *, batch_size: int) -> None:
    """Draw the calibration's reliability diagram into the model folder (the card shows it); without matplotlib, say how."""
    from siamese_text.plots import PLOT_INSTALL, RELIABILITY_FILE, plot_calibration, plots_available
    from siamese_text.plots.report import fitted_where

    if not plots_available():
        click.echo(f"no reliability diagram: it needs matplotlib; {PLOT_INSTALL}", err=True)
        return
    path = plot_calibration(encoder, ds, calibration, path=folder / RELIABILITY_FILE, batch_size=batch_size,
                            title=f"{folder.name}: {calibration.method} probabilities on {fitted_where(calibration)} (in-sample)")
    click.echo(f"saved {path}")
