"""What a model folder must hold, checked before anything is loaded (a leaf module: imports only errors).

The encoder, the ONNX runtime, export and the Hub upload all ask the same questions of a folder
(is it one, are the tokenizer and weights there, which ONNX files does it have), so the answers
live here, below all of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from siamese_text.errors import ModelError

__all__ = ["TOKENIZER_FILES", "WEIGHT_FILES", "FP32_FILE", "INT8_FILE", "check_model_path", "check_model_folder",
           "onnx_files", "local_folder"]

# A folder is a model when sentence-transformers can read its module list and find weights in it.
WEIGHT_FILES: tuple[str, ...] = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "onnx/model.onnx")
FP32_FILE = "onnx/model.onnx"
INT8_FILE = "onnx/model_qint8_quantized.onnx"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def check_model_path(name: str) -> None:
    """A local path that is a file, missing, not a model folder, or one without tokenizer files: one line, before loading.

    Without tokenizer files transformers quietly builds a 5-word tokenizer that turns every text
    into [UNK], so every embedding is the same: refused here rather than trained or searched with.
    """
    path = Path(name).expanduser()
    if not path.exists():
        if name.startswith((".", "/", "~")) or name.count("/") > 1:
            raise ModelError(f"{name}: no such model folder; check the path (or give a Hub id user/name)")
        return
    if not path.is_dir():
        raise ModelError(f"{name} is a file, not a model folder; give the folder that holds it")
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelError(f"{name} is not a model folder (no modules.json or config.json); train or save a model there first")
    folder = path
    if (path / "modules.json").is_file():
        try:
            first = json.loads((path / "modules.json").read_text())[0].get("path", "")
        except (ValueError, IndexError, AttributeError, TypeError):
            first = ""
        folder = path / first
    if (folder / "config.json").is_file() and not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"{name} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); "
                         "copy them from the base model into the folder")


def check_model_folder(folder: str | os.PathLike) -> Path:
    """Refuse what is not a saved sentence-transformers folder: no folder, no ``modules.json``, or no weights."""
    path = Path(folder)
    if not path.is_dir():
        raise ModelError(f"{path} is not a folder; give the folder a model was saved to (e.g. by 'siamtext train')")
    if not (path / "modules.json").is_file():
        raise ModelError(f"{path} is not a model folder (no modules.json); give the folder a model was saved to")
    if not any((path / name).is_file() for name in WEIGHT_FILES) and not any(path.glob("onnx/*.onnx")):
        raise ModelError(
            f"{path} has no weights ({', '.join(WEIGHT_FILES)}); save or export the model there first"
        )
    return path


def onnx_files(folder: str | os.PathLike) -> list[str]:
    """The ``.onnx`` files of a model folder, relative to it (``onnx/model.onnx``, ...)."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*.onnx"))


def local_folder(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:  # a Hub id: the cached snapshot (HF_HUB_OFFLINE=1) or a download
        return Path(snapshot_download(name_or_path, repo_type="model"))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {name_or_path!r} ({first}); give a local folder or a cached Hub id") from None
