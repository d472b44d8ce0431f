"""``siamtext verify``: are these two texts the same? Score, probability and decision from the saved calibration."""

from __future__ import annotations

import json

import click

from siamese_text.scoring import METRICS


@click.command()
@click.argument("model")
@click.argument("text_a")
@click.argument("text_b")
@click.option("--metric", type=click.Choice(METRICS), default=None, help="Score with this metric (default: the calibrated one, else cosine).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def verify(model: str, text_a: str, text_b: str, metric: str | None, as_json: bool) -> None:
    """Score TEXT_A against TEXT_B with MODEL; with a calibration, say how likely they are the same."""

    from siamese_text.calibration import load_calibration, not_calibrated_message, score_pairs
    from siamese_text.errors import ConfigError

    if not text_a.strip() or not text_b.strip():
        raise ConfigError("TEXT_A and TEXT_B must both be non-empty texts")
    calibration = load_calibration(model)  # a folder or a Hub repo; a broken file fails here, before loading weights
    if calibration is not None and metric is not None and metric != calibration.metric:
        raise ConfigError(f"--metric {metric}: the calibration is for {calibration.metric}; drop --metric or recalibrate with --metric {metric}")

    from siamese_text.encoder import SiameseEncoder

    encoder = SiameseEncoder.load(model)
    result = score_pairs(encoder, [text_a], [text_b], calibration=calibration, metric=metric or "cosine")
    score = float(result["score"][0])
    record = {"score": score, "metric": calibration.metric if calibration else metric or "cosine"}
    if calibration is not None:
        record.update(probability=float(result["probability"][0]), same=bool(result["same"][0]), threshold=calibration.threshold)
    else:
        record.update(probability=None, same=None, note=not_calibrated_message(model))
    if as_json:
        click.echo(json.dumps(record))
        return
    click.echo(f"score      {score:.4f} ({record['metric']})")
    if calibration is None:
        click.echo(f"not calibrated: {not_calibrated_message(model)}", err=True)
        return
    click.echo(f"probability {record['probability']:.2f} that they are the same")
    click.echo(f"decision   {'same' if record['same'] else 'not the same'} (same if {calibration.describe()})")
