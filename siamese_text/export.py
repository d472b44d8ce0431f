"""ONNX export and dynamic int8 quantisation of a saved model folder, without optimum.

sentence-transformers exports and loads ONNX through optimum, but optimum-onnx 0.1 pins
``transformers<4.58`` and would downgrade transformers 5, so here the graph is exported with
``torch.onnx`` (the dynamo exporter: transformers 5's attention masks trace wrongly with the old
TorchScript exporter, which we measured giving errors of ~4 in the hidden states) and quantised
with ``onnxruntime.quantization``. The files go where sentence-transformers/optimum put them, with
the same input and output names, so the folder stays a standard one:

* ``onnx/model.onnx``: float32, inputs ``input_ids``/``attention_mask``(/``token_type_ids``),
  output ``last_hidden_state``;
* ``onnx/model_qint8_quantized.onnx``: int8 weights (per channel), activations quantised on the fly.

Loading an exported folder is :mod:`siamese_text.onnx_runtime` (``SiameseEncoder.load(path, backend="onnx")``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError, ModelError
from siamese_text.model_files import FP32_FILE, INT8_FILE, check_model_folder, onnx_files
from siamese_text.onnx_runtime import load_onnx, need_onnxruntime

__all__ = ["FP32_FILE", "INT8_FILE", "QUANTIZE_CHOICES", "export_onnx", "load_onnx", "onnx_files"]

QUANTIZE_CHOICES: tuple[str, ...] = ("int8",)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Mute the exporter's and quantiser's advice (torchvision ops, "consider pre-processing") for one call."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx"), logging.getLogger("torch.onnx._internal.exporter._registration")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# ---- export -------------------------------------------------------------------------------------


class _LastHiddenState:
    """Builds the torch module that is exported: named inputs in, ``last_hidden_state`` out."""

    @staticmethod
    def build(model: Any, names: tuple[str, ...]) -> Any:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
                return self.model(**dict(zip(names, inputs)), return_dict=True).last_hidden_state

        return Wrapped().eval()


def _export_fp32(transformer: Any, target: Path, *, opset: int) -> tuple[str, ...]:
    """Export the transformer of a sentence-transformers Transformer module; returns its input names."""
    import torch

    tokenizer = transformer.tokenizer
    sample = tokenizer(["a b c", "a b c d e f g h"], padding=True, return_tensors="pt")
    names = tuple(n for n in _INPUTS if n in sample)
    args = tuple(sample[n] for n in names)
    wrapped = _LastHiddenState.build(transformer.auto_model.eval(), names)
    limit = getattr(transformer.auto_model.config, "max_position_embeddings", None) or 512
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=int(limit))
    big = sum(p.numel() * p.element_size() for p in wrapped.parameters()) > 1_800_000_000  # protobuf's 2 GB cap
    target.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            wrapped, args, str(target), input_names=list(names), output_names=["last_hidden_state"],
            dynamic_shapes=(tuple({0: batch, 1: seq} for _ in names),), opset_version=opset, dynamo=True,
            external_data=big, verbose=False,
        )
    _check_export(wrapped, tokenizer, names, target)
    return names


def _check_export(wrapped: Any, tokenizer: Any, names: tuple[str, ...], path: Path) -> None:
    """Compare ONNX Runtime with torch on other shapes than the export sample: a bad graph fails here, not later."""
    import torch

    ort = need_onnxruntime()
    sample = tokenizer(["one", "two three four five six seven eight nine ten", "x y z"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = wrapped(*(sample[n] for n in names)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["last_hidden_state"], {n: sample[n].numpy().astype(np.int64) for n in names})[0]
    error = float(np.abs(got - expected).max())
    if not error < 1e-3 * max(1.0, float(np.abs(expected).max())):
        raise ModelError(f"the ONNX export of {path.parent.parent} differs from torch by {error:.3g}; report it with the model")


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8: weights quantised per channel once, activations per batch at run time (no calibration data).

    On STS-B test with all-MiniLM-L6-v2 this costs 0.28 Spearman points (82.03 -> 81.75, benchmarks/inference.py).
    """
    need_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


def export_onnx(
    model_dir: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    quantize: str | None = None,
    overwrite: bool = False,
    opset: int = 18,
) -> list[Path]:
    """Write ``onnx/model.onnx`` (and with ``quantize="int8"`` ``onnx/model_qint8_quantized.onnx``).

    Into ``model_dir`` itself when ``out`` is None (as sentence-transformers does), else into a new
    folder ``out`` that also holds a copy of the model's other files, so it loads on its own with either
    backend. Existing ONNX files are only replaced with ``overwrite``. Returns the written files.
    """
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ConfigError(f"--quantize {quantize!r} is not one of {', '.join(QUANTIZE_CHOICES)}")
    source = check_model_folder(model_dir)
    if not any((source / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")):
        raise ModelError(f"{source} has no torch weights to export (model.safetensors); export from the trained folder")
    need_onnxruntime()
    wanted = [FP32_FILE] + ([INT8_FILE] if quantize == "int8" else [])
    from siamese_text.storage import atomic_dir, check_output_dir

    in_place = out is None or Path(out).resolve() == source.resolve()
    if in_place:
        existing = [name for name in wanted if (source / name).exists()]
        if existing and not overwrite:
            raise ConfigError(f"{source / existing[0]} already exists; pass --overwrite to replace it or choose --output")
    else:
        check_output_dir(out, overwrite=overwrite, keep=(source,))

    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(source), device="cpu")
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load {source} to export it ({str(exc).splitlines()[0]})") from exc
    transformer = model[0]
    if not hasattr(transformer, "auto_model"):
        raise ModelError(f"{source} does not start with a transformer module; only transformer encoders export to ONNX")

    def build(folder: Path) -> None:
        with _quiet():
            _export_fp32(transformer, folder / FP32_FILE, opset=opset)
            if quantize == "int8":
                _quantize_int8(folder / FP32_FILE, folder / INT8_FILE)

    if in_place:
        # Build beside the model, then move the finished files in: a failed export leaves the folder as it was.
        tmp = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=source))
        try:
            build(tmp)
            (source / "onnx").mkdir(exist_ok=True)
            for name in wanted:
                os.replace(tmp / name, source / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return [source / name for name in wanted]
    with atomic_dir(out, overwrite=overwrite, keep=(source,)) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True,
                        ignore=lambda _d, names: [n for n in names if n.startswith(".") or n == "checkpoints"])
        build(tmp)
    return [Path(out) / name for name in wanted]
