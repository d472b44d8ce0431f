"""Running a saved model's ONNX export: sentence-transformers' modules around an ONNX Runtime session.

sentence-transformers loads ONNX through optimum, which pins ``transformers<4.58`` (it would
downgrade transformers 5), so the loading is ours: the folder's own Transformer module (tokenising,
truncation, config) and pooling/normalisation modules, with only the torch network swapped for an
ONNX Runtime session. It sits beside the encoder (``SiameseEncoder.load(path, backend="onnx")``),
below export, which writes the files it reads.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ModelError
from siamese_text.model_files import FP32_FILE, check_model_folder, local_folder, onnx_files

__all__ = ["load_onnx", "need_onnxruntime", "ONNX_HINT"]

ONNX_HINT = "install the ONNX extra: pip install 'siamese-text[onnx]'"


def need_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(f"the ONNX backend needs onnxruntime; {ONNX_HINT}") from exc
    return onnxruntime


def _ort_model_class() -> Any:
    """An ``nn.Module`` with a Hugging Face-like ``forward`` that runs an ONNX Runtime session."""
    import torch

    class OrtFeatureExtractor(torch.nn.Module):
        def __init__(self, session: Any, config: Any) -> None:
            super().__init__()
            self.session = session
            self.config = config
            self.input_names = tuple(i.name for i in session.get_inputs())

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                    token_type_ids: torch.Tensor | None = None, **_: Any) -> dict[str, torch.Tensor]:
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            feeds = {}
            for name in self.input_names:
                value = given.get(name)
                if value is None:  # a tokenizer without token types: all zeros, as the torch model assumes
                    value = torch.ones_like(input_ids) if name == "attention_mask" else torch.zeros_like(input_ids)
                feeds[name] = value.detach().cpu().numpy().astype(np.int64, copy=False)
            (hidden,) = self.session.run(["last_hidden_state"], feeds)
            return {"last_hidden_state": torch.from_numpy(hidden)}

    return OrtFeatureExtractor


def _onnx_transformer_class() -> Any:
    """sentence-transformers' Transformer module, with the network loaded from an ONNX file by us."""
    from sentence_transformers.models import Transformer

    class OnnxTransformer(Transformer):
        def _load_model(self, model_name_or_path: str, transformer_task: Any, config: Any, backend: str,
                        is_peft_model: bool, **model_kwargs: Any) -> Any:
            ort = need_onnxruntime()
            path = Path(model_name_or_path) / model_kwargs.get("subfolder", "") / model_kwargs["file_name"]
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), options, providers=model_kwargs.get("providers") or ["CPUExecutionProvider"])
            return _ort_model_class()(session, config)

        def save(self, output_path: str, *args: Any, **kwargs: Any) -> None:
            raise ModelError("a model loaded with backend='onnx' cannot be saved; save the torch model and export it again")

    return OnnxTransformer


def _pick_file(folder: Path, file_name: str | None) -> str:
    """Like sentence-transformers: ``file_name`` relative to the folder (or to ``onnx/``); default ``onnx/model.onnx``."""
    found = onnx_files(folder)
    if not found:
        raise ModelError(f"{folder} has no ONNX file; run 'siamtext export {folder} --format onnx' first")
    name = file_name or FP32_FILE
    for candidate in (name, f"onnx/{name}"):
        if (folder / candidate).is_file():
            return candidate
    raise ModelError(f"{folder} has no {name}; it has {', '.join(found)}: pass one as file_name (--onnx-file)")


def load_onnx(name_or_path: str | os.PathLike, *, file_name: str | None = None, device: str | None = None) -> Any:
    """A ``SentenceTransformer`` whose transformer runs in ONNX Runtime; the other modules are the saved ones."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import import_from_string

    ort = need_onnxruntime()
    folder = local_folder(str(name_or_path))
    check_model_folder(folder)
    chosen = _pick_file(folder, file_name)
    providers = ["CUDAExecutionProvider"] if (device or "").startswith("cuda") and \
        "CUDAExecutionProvider" in ort.get_available_providers() else ["CPUExecutionProvider"]
    onnx_transformer = _onnx_transformer_class()
    modules = []
    try:
        for entry in json.loads((folder / "modules.json").read_text()):
            cls = import_from_string(entry["type"])
            if isinstance(cls, type) and issubclass(cls, import_from_string("sentence_transformers.models.Transformer")):
                modules.append(onnx_transformer.load(str(folder), subfolder=entry.get("path", ""), backend="onnx",
                                                     local_files_only=True,
                                                     model_kwargs={"file_name": chosen, "providers": providers}))
            elif len(inspect.signature(cls.load).parameters) == 1:  # old-style modules take their own folder
                modules.append(cls.load(str(folder / entry.get("path", ""))))
            else:
                modules.append(cls.load(str(folder), subfolder=entry.get("path", ""), local_files_only=True))
        settings = json.loads((folder / "config_sentence_transformers.json").read_text()) \
            if (folder / "config_sentence_transformers.json").is_file() else {}
    except (OSError, ValueError, KeyError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {folder} with backend='onnx' ({first})") from exc
    return SentenceTransformer(modules=modules, device="cpu", similarity_fn_name=settings.get("similarity_fn_name"),
                               prompts=settings.get("prompts"), default_prompt_name=settings.get("default_prompt_name"))
