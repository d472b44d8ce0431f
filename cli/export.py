"""``siamtext export``: ONNX (optionally int8) copies of a model for fast CPU inference."""

from __future__ import annotations

import click


@click.command()
@click.argument("model_dir")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True, help="Export format.")
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="Also write a dynamically quantised int8 model.")
@click.option("--output", "-o", "--out", "out", default=None,
              help="New folder for the exported model (default: an onnx/ folder inside MODEL_DIR).")
@click.option("--overwrite", is_flag=True, help="Replace existing ONNX files or a non-empty --output folder.")
def export(model_dir: str, fmt: str, quantize: str | None, out: str | None, overwrite: bool) -> None:
    """Export MODEL_DIR to ONNX; load it with SiameseEncoder.load(DIR, backend="onnx") or --backend onnx."""
    from siamese_text.export import export_onnx

    written = export_onnx(model_dir, out=out, quantize=quantize, overwrite=overwrite)
    folder = written[0].parent.parent
    for path in written:
        click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    last = written[-1].relative_to(folder).as_posix()
    click.echo(f"use it: siamtext encode {folder} --backend onnx --onnx-file {last} --input texts.txt --output emb.npy")
