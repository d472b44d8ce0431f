"""The twin encoder: one transformer whose weights both texts of a pair share.

A :class:`SiameseEncoder` is a thin, typed face over a ``sentence_transformers.SentenceTransformer``
made of three modules: ``Transformer`` -> ``Pooling`` (masked mean by default) -> ``Normalize``
(optional). Keeping the sentence-transformers module stack means a saved model *is* a
sentence-transformers folder (``modules.json``, ``1_Pooling/``, ``config_sentence_transformers.json``):
``SentenceTransformer(path).encode(x)`` gives the same embeddings as ``SiameseEncoder.load(path).encode(x)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siamese_text.errors import ConfigError, ModelError
from siamese_text.model_files import check_model_path
from siamese_text.scoring import METRICS, pairwise_similarity

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["SiameseEncoder", "DEFAULT_MODEL", "DEFAULT_MAX_SEQ_LENGTH", "POOLING_MODES", "check_dropout"]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Tokens kept of each text unless --max-seq-length says otherwise (fewer where the model takes fewer).
DEFAULT_MAX_SEQ_LENGTH = 256
POOLING_MODES: tuple[str, ...] = ("mean", "cls", "max")


def model_normalizes(model: Any) -> bool:
    """Whether a sentence-transformers model ends in a Normalize module (its embeddings are unit vectors)."""
    return any(type(module).__name__ == "Normalize" for module in model.children())


def model_dimension(model: Any) -> int | None:
    """A sentence-transformers model's embedding dimension (the method's name changed in version 5)."""
    get = getattr(model, "get_embedding_dimension", None) or getattr(model, "get_sentence_embedding_dimension", None)
    return get() if get is not None else None


def _model_error(name: str, exc: Exception) -> ModelError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(
        f"cannot load model {name!r} ({first}); give a local model folder or a Hub id in the local cache "
        "(set HF_HUB_OFFLINE=1 when offline)"
    )


def _position_limit(transformer: Any) -> int | None:
    """The most tokens the model's table of position embeddings takes; None without one (rotary, relative positions).

    RoBERTa-style embeddings (an int ``padding_idx`` beside the table) number positions from
    ``padding_idx + 1``, so they take that many fewer: 514 - 2 = 512.
    """
    import torch

    for module in transformer.auto_model.modules():
        table = getattr(module, "position_embeddings", None)
        if isinstance(table, torch.nn.Embedding):
            padding_idx = getattr(module, "padding_idx", None)
            return table.num_embeddings - (padding_idx + 1 if isinstance(padding_idx, int) else 0)
    return None


def _sequence_length(asked: int | None, limit: int | None, name: str) -> int:
    """``asked``, refused above the model's ``limit``; None: DEFAULT_MAX_SEQ_LENGTH, or the limit if lower."""
    if asked is None:
        return min(DEFAULT_MAX_SEQ_LENGTH, limit or DEFAULT_MAX_SEQ_LENGTH)
    if limit is not None and asked > limit:
        raise ConfigError(f"--max-seq-length {asked} is longer than the {limit} positions of {name}; give at most {limit}")
    return asked


def check_dropout(p: float) -> None:
    """Refuse a drop probability outside [0, 1) (1 would drop everything)."""
    if not 0 <= p < 1:
        raise ConfigError(f"--dropout must be in [0, 1), got {p}")


class SiameseEncoder:
    """One shared transformer + pooling (+ L2 normalisation) that embeds texts for comparison.

    Build one from any Hugging Face encoder with :meth:`from_pretrained`, or read a saved
    sentence-transformers folder (or Hub id) with :meth:`load`.
    """

    def __init__(self, model: SentenceTransformer, *, name_or_path: str | None = None) -> None:
        self.model = model
        self.name_or_path = name_or_path or "model"

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str = DEFAULT_MODEL,
        *,
        pooling: str = "mean",
        normalize: bool = True,
        max_seq_length: int | None = None,
        device: str | None = None,
    ) -> SiameseEncoder:
        """A new twin encoder on the weights of any Hugging Face encoder (id or folder).

        Only the transformer weights are taken; the pooling and normalisation are the ones asked
        for here, so ``pooling="cls"`` on a mean-pooled sentence-transformers model means CLS.
        ``max_seq_length`` longer than the model's position embeddings is refused; None keeps
        DEFAULT_MAX_SEQ_LENGTH tokens, or as many as the model takes if that is fewer.
        """
        if pooling not in POOLING_MODES:
            raise ConfigError(f"--pooling {pooling!r} is not one of {', '.join(POOLING_MODES)}")
        if max_seq_length is not None and max_seq_length < 2:
            raise ConfigError(f"--max-seq-length must be at least 2, got {max_seq_length}")
        from safetensors import SafetensorError  # a truncated weights file
        from sentence_transformers import SentenceTransformer, models

        check_model_path(str(model_name_or_path))
        try:
            transformer = models.Transformer(str(model_name_or_path))
        except (OSError, ValueError, KeyError, SafetensorError) as exc:
            raise _model_error(str(model_name_or_path), exc) from exc
        transformer.max_seq_length = _sequence_length(max_seq_length, _position_limit(transformer), str(model_name_or_path))
        dim = transformer.get_embedding_dimension()
        modules: list[Any] = [transformer, models.Pooling(dim, pooling_mode=pooling)]
        if normalize:
            modules.append(models.Normalize())
        model = SentenceTransformer(modules=modules, device=device or "cpu")
        return cls(model, name_or_path=str(model_name_or_path))

    @classmethod
    def load(
        cls, model_name_or_path: str | os.PathLike, *, device: str | None = None, backend: str = "torch",
        model_kwargs: dict[str, Any] | None = None,
    ) -> SiameseEncoder:
        """Load any sentence-transformers folder or Hub id as it was saved (its own pooling).

        ``backend="onnx"`` runs an exported ``onnx/*.onnx`` (pick one with ``model_kwargs={"file_name": ...}``).
        """
        from safetensors import SafetensorError  # a truncated weights file
        from sentence_transformers import SentenceTransformer

        name = str(model_name_or_path)
        check_model_path(name)
        if backend == "onnx":  # ours, not sentence-transformers': theirs needs optimum, which pins transformers<4.58
            from siamese_text.onnx_runtime import load_onnx

            return cls(load_onnx(name, file_name=(model_kwargs or {}).get("file_name"), device=device), name_or_path=name)
        try:
            model = SentenceTransformer(name, device=device or "cpu", backend=backend, model_kwargs=model_kwargs)
        except (OSError, ValueError, KeyError, SafetensorError) as exc:
            raise _model_error(name, exc) from exc
        return cls(model, name_or_path=name)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write a sentence-transformers folder at ``path``, atomically (built beside it, then renamed).

        An existing non-empty folder is refused unless ``overwrite``, which replaces it whole, so no
        file of an earlier model (a calibration, a Normalize module) is left behind.
        """
        from siamese_text.storage import atomic_dir

        with atomic_dir(path, overwrite=overwrite, flag="folder", overwrite_hint="overwrite=True") as tmp:
            self.write_files(tmp)
        return Path(path)

    def write_files(self, folder: str | os.PathLike) -> None:
        """Write the model's files into ``folder`` as it is, for callers that build their own atomic folder."""
        self.model.save(str(folder))

    def set_dropout(self, p: float) -> int:
        """Set the drop probability of every dropout layer (hidden and attention) to ``p``; returns how many.

        Dropout is only active while training, so ``encode`` is unchanged. transformers reads the
        rates from the model config when the model is built; setting them on the built modules is
        the only way to change them for an already-loaded model.
        """
        check_dropout(p)
        import torch

        layers = [m for m in self.model.modules() if isinstance(m, torch.nn.Dropout)]
        for layer in layers:
            layer.p = p
        return len(layers)

    # ---- properties -----------------------------------------------------------------------

    @property
    def pooling(self) -> str:
        for module in self.model:
            mode = getattr(module, "pooling_mode", None)
            if mode is not None:
                return mode if isinstance(mode, str) else "+".join(mode)
        return "unknown"

    @property
    def normalize(self) -> bool:
        return model_normalizes(self.model)

    @property
    def dimension(self) -> int:
        return int(model_dimension(self.model))

    @property
    def max_seq_length(self) -> int | None:
        return self.model.max_seq_length

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def __repr__(self) -> str:
        return (
            f"SiameseEncoder({self.name_or_path!r}, pooling={self.pooling!r}, normalize={self.normalize}, "
            f"dimension={self.dimension}, max_seq_length={self.max_seq_length})"
        )

    # ---- inference ------------------------------------------------------------------------

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        batch_size: int = 64,
        normalize: bool = False,
        show_progress: bool = False,
        convert_to_tensor: bool = False,
    ) -> Any:
        """Embed texts: a float32 ``n x dimension`` numpy array (or torch tensor).

        ``normalize=True`` L2-normalises the output even if the model does not; a model saved
        with ``normalize=True`` always returns unit vectors.
        """
        single = isinstance(texts, str)
        if single:
            texts = [texts]
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
        texts = list(texts)  # also a numpy array or a generator
        if not texts:  # sentence-transformers returns a 1-D (0,) array here; keep the n x dimension shape
            empty = np.zeros((0, self.dimension), dtype=np.float32)
            if convert_to_tensor:
                import torch

                return torch.from_numpy(empty)
            return empty
        embeddings = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            normalize_embeddings=normalize,
            convert_to_tensor=convert_to_tensor,
            convert_to_numpy=not convert_to_tensor,
        )
        if not convert_to_tensor:
            embeddings = np.asarray(embeddings, dtype=np.float32)
        return embeddings[0] if single else embeddings

    def similarity(
        self, a: Sequence[str], b: Sequence[str], *, metric: str = "cosine", batch_size: int = 64
    ) -> np.ndarray:
        """Similarity of ``a[i]`` with ``b[i]`` (higher = more similar), both sides through the one encoder."""
        if isinstance(a, str):
            a = [a]
        if isinstance(b, str):
            b = [b]
        if len(a) != len(b):
            raise ConfigError(f"{len(a)} texts in a do not match {len(b)} texts in b; give one b for each a")
        if metric not in METRICS:
            raise ConfigError(f"--metric {metric!r} is not one of {', '.join(METRICS)}")
        emb = self.encode(list(a) + list(b), batch_size=batch_size)
        return pairwise_similarity(emb[: len(a)], emb[len(a) :], metric=metric)
