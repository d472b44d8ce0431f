"""siamese_text: Siamese (twin) sentence encoders for text similarity.

One transformer with shared weights embeds both texts of a pair; masked mean pooling turns tokens
into one vector; a distance says how similar two texts are. Train with contrastive or triplet
loss, score and calibrate decisions, search a corpus, and publish to the Hugging Face Hub.

Names are imported on first use, so ``import siamese_text`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SiameseEncoder": "siamese_text.encoder",
    "TrainConfig": "siamese_text.config",
    "train": "siamese_text.training",
    "training_rows": "siamese_text.training",
    "load_data": "siamese_text.data.loading",
    "SiameseTextError": "siamese_text.errors",
    "SemanticIndex": "siamese_text.search",
    "Hit": "siamese_text.search",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from siamese_text.config import TrainConfig
    from siamese_text.data.loading import load_data
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.errors import SiameseTextError
    from siamese_text.search import Hit, SemanticIndex
    from siamese_text.training import train, training_rows


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'siamese_text' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
