"""Options, validated when they are made, with messages that name the CLI flag."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from siamese_text.encoder import DEFAULT_MODEL, POOLING_MODES
from siamese_text.errors import ConfigError
from siamese_text.scoring import DISTANCES

__all__ = ["TrainConfig", "DEFAULT_LOSS", "LOSSES", "DEFAULT_MARGINS", "IN_BATCH_LOSSES", "check_margin"]

# Margins that work on unit vectors; measured on STS-B / Banking77 (see README).
DEFAULT_MARGINS: dict[str, dict[str, float]] = {
    "contrastive": {"cosine": 1.0, "euclidean": 1.0, "manhattan": 16.0},
    "online-contrastive": {"cosine": 0.5, "euclidean": 1.0, "manhattan": 16.0},
    "triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-hard-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-semi-hard-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-all-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
}
LOSSES: tuple[str, ...] = tuple(DEFAULT_MARGINS)
IN_BATCH_LOSSES: frozenset[str] = frozenset(
    {"online-contrastive", "batch-hard-triplet", "batch-semi-hard-triplet", "batch-all-triplet"}
)
TRIPLET_LOSSES: frozenset[str] = frozenset({"triplet", "batch-hard-triplet", "batch-semi-hard-triplet", "batch-all-triplet"})

# Measured on STS-B validation with all-MiniLM-L6-v2 (benchmarks/stsb.py, README): contrastive
# with soft labels beats triplet built from scored pairs, so it is the default.
DEFAULT_LOSS = "contrastive"


def check_margin(loss: str, distance: str, margin: float, *, normalized: bool, dimension: int | None = None) -> None:
    """Refuse a margin that cannot work for the distance, saying why."""
    if margin <= 0:
        what = "negatives are never pushed apart" if "contrastive" in loss else "every triplet already satisfies it"
        raise ConfigError(f"--margin must be positive, got {margin}: with it {what}")
    if distance == "cosine" and margin > 2:
        raise ConfigError(f"--margin {margin} is impossible for cosine distance, which lies in [0, 2]; use at most 2 (try 0.5)")
    if distance == "euclidean" and normalized and margin > 2:
        raise ConfigError(
            f"--margin {margin} is impossible for Euclidean distance on normalised embeddings, which lies in [0, 2]; "
            "use at most 2 (try 1.0), or train without normalisation"
        )
    if distance == "manhattan" and normalized and dimension and margin > 2 * math.sqrt(dimension):
        limit = 2 * math.sqrt(dimension)
        raise ConfigError(
            f"--margin {margin} is impossible for Manhattan distance on {dimension}-d unit vectors, "
            f"which is at most {limit:.1f}; use a smaller margin"
        )


@dataclass
class TrainConfig:
    """Everything ``siamtext train`` needs; each field is the CLI flag of the same name."""

    dataset: str = "stsb"
    model: str = DEFAULT_MODEL
    loss: str = DEFAULT_LOSS
    distance: str = "cosine"
    margin: float | None = None
    epochs: int = 1
    batch_size: int = 16
    lr: float = 2e-5
    warmup_ratio: float = 0.1
    max_seq_length: int = 256
    pooling: str = "mean"
    normalize: bool = True
    seed: int = 42
    output: str | None = None
    overwrite: bool = False
    binary_labels: bool = False
    label_threshold: float = 0.6
    group_by_length: bool = True
    # data set options for non-preset data
    config: str | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    label_kind: str | None = None
    max_pairs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"--loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.distance not in DISTANCES:
            raise ConfigError(f"--distance {self.distance!r} is not one of {', '.join(DISTANCES)}")
        if self.pooling not in POOLING_MODES:
            raise ConfigError(f"--pooling {self.pooling!r} is not one of {', '.join(POOLING_MODES)}")
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.batch_size < 2 and self.loss in IN_BATCH_LOSSES:
            raise ConfigError(
                f"--loss {self.loss} compares examples within a batch, so --batch-size must be at least 2 (got {self.batch_size}); try 16"
            )
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_seq_length < 2:
            raise ConfigError(f"--max-seq-length must be at least 2, got {self.max_seq_length}")
        if not 0 < self.label_threshold < 1:
            raise ConfigError(f"--label-threshold must be in (0, 1), got {self.label_threshold}")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ConfigError(f"--max-pairs must be at least 1, got {self.max_pairs}")
        if self.margin is not None:
            check_margin(self.loss, self.distance, self.margin, normalized=self.normalize)
        if self.output is None:
            self.output = f"runs/{self.dataset.replace('/', '_').split('.')[0]}-{self.loss}"

    @property
    def effective_margin(self) -> float:
        return DEFAULT_MARGINS[self.loss][self.distance] if self.margin is None else self.margin

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["margin"] = self.effective_margin
        return out
