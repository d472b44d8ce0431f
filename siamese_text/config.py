"""Options, validated when they are made, with messages that name the CLI flag."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siamese_text.data.loading import check_validation_split, column_names
from siamese_text.data.presets import LABEL_KINDS
from siamese_text.encoder import DEFAULT_MODEL, POOLING_MODES, check_dropout
from siamese_text.errors import ConfigError
from siamese_text.scoring import DISTANCES

__all__ = [
    "TrainConfig",
    "DEFAULT_LOSS",
    "LOSSES",
    "DEFAULT_MARGINS",
    "IN_BATCH_LOSSES",
    "SCALED_LOSSES",
    "PAIR_LOSSES",
    "CLASS_LOSSES",
    "KIND_DEFAULTS",
    "FEW_SHOT_EPOCHS",
    "FEW_SHOT_DROPOUT",
    "FEW_SHOT_LOSS",
    "FEW_SHOT_BATCH_SIZE",
    "FEW_SHOT_LR",
    "LOSS_DEFAULTS",
    "SCORE_MARGIN",
    "check_margin",
    "PRECISIONS",
    "check_scaled_options",
    "check_validation_split",
]

# Margins that work on unit vectors; measured on STS-B / Banking77 (see README).
DEFAULT_MARGINS: dict[str, dict[str, float]] = {
    "contrastive": {"cosine": 1.0, "euclidean": 1.0, "manhattan": 16.0},
    "online-contrastive": {"cosine": 0.5, "euclidean": 1.0, "manhattan": 16.0},
    "triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-hard-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-semi-hard-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-all-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
    "batch-centroid-triplet": {"cosine": 0.2, "euclidean": 0.5, "manhattan": 8.0},
}
# Mixed precision is the trainer's (torch autocast); the saved weights stay float32 either way.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")  # auto: siamese_text.hardware.resolve_precision
# Softmax-style losses on cosine similarity have a scale instead of a margin: what each one compares,
# and the loss with a margin to pick instead.
SCALED_LOSSES: dict[str, tuple[str, str]] = {
    "batch-centroid-softmax": (
        "weighs each text's own class centroid against every other class centroid of the batch", "batch-centroid-triplet"),
    "cosent": ("ranks the pairs of a batch", "contrastive"),
}
LOSSES: tuple[str, ...] = (*DEFAULT_MARGINS, *SCALED_LOSSES)
# Losses on (text_a, text_b, label) pairs: scored pairs, 0/1 pairs, or pairs drawn from classes.
PAIR_LOSSES: frozenset[str] = frozenset({"contrastive", "online-contrastive", "cosent"})
# Losses on class-labelled texts that mine inside class-balanced batches.
CLASS_LOSSES: frozenset[str] = frozenset(
    {"batch-hard-triplet", "batch-semi-hard-triplet", "batch-all-triplet", "batch-centroid-triplet", "batch-centroid-softmax"}
)
IN_BATCH_LOSSES: frozenset[str] = frozenset({"online-contrastive", *CLASS_LOSSES})
TRIPLET_LOSSES: frozenset[str] = frozenset({"triplet", *(name for name in CLASS_LOSSES if name.endswith("triplet"))})

# Measured on STS-B validation with all-MiniLM-L6-v2 (benchmarks/stsb.py, README): contrastive
# with soft labels beats triplet built from scored pairs, so it is the default.
DEFAULT_LOSS = "contrastive"

# Defaults that depend on what the data holds; a flag the user gives always wins. Scored pairs:
# the STS-B defaults above. Class-labelled texts: measured on Banking77 (benchmarks/banking77.py).
# "margin" is a cosine-distance margin for the kind's own loss: on MRPC, 0/1 pairs, contrastive loss
# with margin 0.5 gave validation accuracy 78.0 at the train-best threshold against 76.4 with 1.0
# (MRPC negatives are near-paraphrases; pushing them to cosine <= 0 distorts the space), and 3 epochs
# at lr 5e-5 raised it to 80.8 (benchmarks/mrpc.py; a GPU sweep, results/sweep_h100.json, found it).
# Scored pairs: soft-label contrastive loss pulls each pair's cosine distance to (1 - s) * margin, so
# margin 0.9 asks cos(a, b) = 0.1 + 0.9 s instead of s: a score-0 pair (on STS-B still two texts on
# one topic) is not pushed to orthogonal. On STS-B it beat 1.0 on validation in every seed of a GPU
# sweep, and 0.8 and below lost (results/sweep_h100_session6.json); with random batches (below) it
# took the CPU default from 89.42 to 89.66 (test 85.99 to 86.42). --binary-labels keeps margin 1.0.
# Scored pairs train on length-grouped batches (data.samplers), in bf16 where the CPU or GPU has
# bfloat16 units (--precision auto). Random batches had been kept for their mix of sources on one
# single run (89.66 against 89.60), but over seeds 42, 1, 2 (benchmarks/results/seeds_stsb.json) random
# fp32 batches gave validation 89.62 ± 0.05 / test 86.27 ± 0.16 at 28.8 pairs/s and grouped bf16 ones
# 89.64 ± 0.16 / 86.10 ± 0.10 at 66.5 pairs/s: the same within one sd, 2.3x faster.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "score": {"loss": DEFAULT_LOSS, "epochs": 3, "lr": 5e-5, "batch_size": 16, "margin": 0.9, "group_by_length": True},
    "binary": {"loss": "contrastive", "epochs": 3, "lr": 5e-5, "batch_size": 16, "margin": 0.5, "group_by_length": True},
    "triplet": {"loss": "triplet", "epochs": 1, "lr": 2e-5, "batch_size": 16, "group_by_length": True},
    "class": {"loss": "batch-hard-triplet", "epochs": 1, "lr": 2e-5, "batch_size": 32, "group_by_length": True},
}
# Few-shot class data (--samples-per-class) is a few hundred texts: one epoch is a handful of steps.
# On Banking77 with 8 texts a class, batch-hard reached centroid accuracy 84.32 after 10 epochs and
# 84.74 after 20 (zero-shot 80.49; benchmarks/banking77.py).
FEW_SHOT_EPOCHS = 20
# A few hundred texts seen 20 times: more dropout regularises. On three seeded 8-shot samples of
# Banking77 (seeds 42, 1, 2), dropout 0.2 instead of MiniLM's 0.1 raised centroid accuracy on 3,000
# held-out train texts in each (82.93 -> 83.23, 82.27 -> 82.60, 81.53 -> 81.70); 0.3 lost (82.00 on
# seed 42). Test: 84.74 -> 84.87, 83.77 -> 83.73, 82.50 -> 82.60 (benchmarks/results/banking77.json).
FEW_SHOT_DROPOUT = 0.2
# Few-shot is judged by nearest-centroid accuracy, and with 8 texts a class batch-hard's triplet is
# one outlier pair; batch-centroid-triplet asks of each text what centroid classification asks. Over
# five seeded 8-shot samples of Banking77 (seeds 42, 1, 2, 3, 4; dropout 0.2, 20 epochs) it moved
# centroid accuracy on 3,000 held-out train texts by +0.44, +0.53, -0.40, +1.00, -0.07 (mean +0.30;
# 1-NN +0.16) and on test by +0.19, +0.72, -0.07, +0.26, -0.03 (seed 42: 84.87 -> 85.06). Margin 0.3
# and 0.1 lost on held-out texts (83.07, 83.50 against 83.67), and so did 8 texts a class per batch
# (83.57), 30 epochs (83.47) and lr 3e-5 (83.60). On the full training set it ties batch-hard (1-NN 92.82 against 92.86), which stays there.
# It was the few-shot loss from session 9 until batch-centroid-softmax (below).
# Batches of 64 (16 classes of 4 instead of 8) make the nearest other centroid in a batch a harder
# negative, closer to the 77-way choice centroid classification makes; half as many steps want twice
# the peak lr. Over the same five 8-shot samples of Banking77 (seeds 42, 1, 2, 3, 4), batch 64 at lr 4e-5
# against batch 32 at 2e-5 moved held-out centroid accuracy by +0.40, +0.14, +0.23, +0.57, +0.20
# (every sample; 1-NN mean +0.31) and test centroid accuracy by +0.56, +0.52, +0.46, +1.26, +0.91
# (seed 42: 85.06 -> 85.62). Batch 64 at 2e-5 lost (held-out 83.37 against 83.67); batch 128 at
# 8e-5 tied (84.03 against 84.07) with twice the memory (benchmarks/results/banking77.json). Other
# losses keep their kind's batch size and lr under --samples-per-class: measured with the centroid losses only.
FEW_SHOT_BATCH_SIZE = 64
FEW_SHOT_LR = 4e-5
FEW_SHOT_BATCH_LOSSES: frozenset[str] = frozenset({"batch-centroid-triplet", "batch-centroid-softmax"})
# In session 13 the softmax form of the same centroids (batch-centroid-softmax, prototypical networks)
# replaced batch-centroid-triplet: a hinge on the nearest other centroid stops at the margin, while the softmax keeps weighing
# every class of the batch, which suits a 77-way nearest-centroid choice. Over the same five samples
# (batch 64, lr 4e-5, dropout 0.2, 20 epochs) it moved held-out centroid accuracy by +0.33, +0.73,
# +0.34, +0.33, 0.00 (mean +0.35; never lower; 1-NN mean +0.16) and test centroid accuracy by +0.45,
# +0.39, +0.03, +0.43, +0.16 (seed 42: 85.62 -> 86.07); test 1-NN moved by -0.12 on average.
FEW_SHOT_LOSS = "batch-centroid-softmax"
# Settings for a loss the user picks that is not the kind's own, where they were measured better.
# Triplet loss on scored pairs trains on score-margin triplets (data.pairs.score_margin_triplets)
# unless --binary-labels or --hard-negatives ask for plain ones. Each pair's floor (beat a random text
# by m*s) and ceiling (lose to the text itself, encoded again under dropout, by m*(1 - s)) can both
# hold only if m <= cos(b, b') - cos(a, n): below 1, as random STS-B texts have cosine 0.02 on average
# (0.14 at the 90th percentile) under MiniLM. Margin 0.9, 1 epoch at lr 2e-5: STS-B validation
# 89.03 (test 84.77); margin 1.0 and 0.8: 89.02 (84.64, 84.81); 3 epochs at 5e-5 (an earlier
# one-sided form): 88.51; plain triplets peaked at 87.43 (README).
# They train on length-grouped batches too: random ones measured 89.01 / 84.70 and took 1385 s
# against 1038 s.
SCORE_MARGIN = 0.9
LOSS_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("score", "triplet"): {"epochs": 1, "lr": 2e-5, "group_by_length": True},
}


def check_scaled_options(loss: str, distance: str, margin: float | None) -> None:
    """A scaled loss (SCALED_LOSSES) compares cosine similarities and has no margin; refuse anything else."""
    what, other = SCALED_LOSSES[loss]
    if margin is not None:
        raise ConfigError(f"--loss {loss} {what} and has no margin; leave out --margin, or use --loss {other}")
    if distance != "cosine":
        raise ConfigError(f"--loss {loss} compares cosine similarities; use --distance cosine and no --margin, or --loss {other}")


def check_margin(loss: str, distance: str, margin: float, *, normalized: bool, dimension: int | None = None) -> None:
    """Refuse a margin that cannot work for the distance, saying why."""
    if not math.isfinite(margin):
        raise ConfigError(f"--margin must be a finite number, got {margin}; give a positive margin such as 0.5")
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


MAX_BATCH_SIZE = 2**20  # far beyond any memory; larger numbers overflow the samplers' index arithmetic


def run_name(dataset: str) -> str:
    """The data set's part of a default output folder: a local file's stem, a folder's name, a Hub id with '_' for '/'."""
    local = Path(dataset)
    if local.exists():
        local = local.absolute()
        return (local.stem if local.is_file() else local.name) or "data"
    return dataset.replace("/", "_")


@dataclass
class TrainConfig:
    """Everything ``siamtext train`` needs; each field is the CLI flag of the same name."""

    dataset: str = "stsb"
    model: str = DEFAULT_MODEL
    loss: str | None = None  # None: by the data's label kind (KIND_DEFAULTS; few-shot: FEW_SHOT_LOSS), set by resolve()
    distance: str = "cosine"
    margin: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    warmup_ratio: float = 0.1
    dropout: float | None = None  # None: the base model's own rates (0.1 for MiniLM); few-shot: FEW_SHOT_DROPOUT
    max_seq_length: int | None = None  # None: DEFAULT_MAX_SEQ_LENGTH, or the model's limit if lower (SiameseEncoder.from_pretrained)
    pooling: str = "mean"
    normalize: bool = True
    seed: int = 42
    output: str | None = None
    overwrite: bool = False
    binary_labels: bool = False
    label_threshold: float = 0.6
    group_by_length: bool | None = None  # None: by the data's label kind (KIND_DEFAULTS)
    length_strata: int = 1  # > 1: length-grouped batches keep the mix of this many label ranges (data.samplers)
    # data set options for non-preset data
    config: str | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    label_kind: str | None = None
    max_pairs: int | None = None
    validation_split: float | None = None  # data without a validation split: hold this share of train out as one
    samples_per_class: int | None = None  # few-shot: keep this many texts per class
    per_class_in_batch: int = 4  # K of the class-balanced "P classes x K texts" batches
    # contrastive/triplet: mine this many negatives per positive with the model; batch-* losses: fill
    # each batch with classes among the K nearest to its first class (0: off)
    hard_negatives: int = 0
    mining_margin: float = 0.05  # skip candidates within this (similarity) of the positive
    remine_every: int | None = None  # re-mine with the model being trained every N steps
    eval_every_epoch: bool = True  # evaluate the validation split at each epoch's end (results.json "history")
    precision: str = "auto"  # auto: bf16 where the hardware has bfloat16 units (siamese_text.hardware), else fp32
    checkpoint_every: int = 0  # keep a trainer checkpoint every N steps in OUTPUT.checkpoints/ until the run succeeds (0: off)
    resume: bool = False  # continue an interrupted run from the last checkpoint in OUTPUT.checkpoints/
    gather_across_devices: bool = True  # several processes: in-batch losses see every process's batch (siamese_text.losses)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.text_columns = column_names(self.text_columns)
        if self.length_strata < 1:
            raise ConfigError(f"--length-strata is a number of label ranges, 1 (off) or more; got {self.length_strata}")
        if self.label_kind is not None and self.label_kind not in LABEL_KINDS:
            raise ConfigError(f"--label-kind {self.label_kind!r} is not one of {', '.join(LABEL_KINDS)}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ConfigError(f"--loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.distance not in DISTANCES:
            raise ConfigError(f"--distance {self.distance!r} is not one of {', '.join(DISTANCES)}")
        if self.pooling not in POOLING_MODES:
            raise ConfigError(f"--pooling {self.pooling!r} is not one of {', '.join(POOLING_MODES)}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None:
            self._check_batch_size(self.batch_size)
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be in [0, 2**32), as torch and numpy take it; got {self.seed}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.dropout is not None:
            check_dropout(self.dropout)
        if self.checkpoint_every < 0:
            raise ConfigError(f"--checkpoint-every must be 0 (off) or a number of steps, got {self.checkpoint_every}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.max_seq_length is not None and self.max_seq_length < 2:
            raise ConfigError(f"--max-seq-length must be at least 2, got {self.max_seq_length}")
        if not 0 < self.label_threshold < 1:
            raise ConfigError(f"--label-threshold must be in (0, 1), got {self.label_threshold}")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ConfigError(f"--max-pairs must be at least 1, got {self.max_pairs}")
        check_validation_split(self.validation_split)
        self._check_mining()
        if self.loss in SCALED_LOSSES:
            check_scaled_options(self.loss, self.distance, self.margin)
        elif self.margin is not None and self.loss is not None:
            check_margin(self.loss, self.distance, self.margin, normalized=self.normalize)
        if self.output is None and self.loss is not None:
            self.output = f"runs/{run_name(self.dataset)}-{self.loss}"

    def _check_batch_size(self, batch_size: int) -> None:
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
        if batch_size > MAX_BATCH_SIZE:
            raise ConfigError(f"--batch-size {batch_size} is more than {MAX_BATCH_SIZE:,}; give a smaller batch")
        if batch_size < 2 and (self.loss in IN_BATCH_LOSSES or self.loss in SCALED_LOSSES):
            raise ConfigError(
                f"--loss {self.loss} compares examples within a batch, so --batch-size must be at least 2 (got {batch_size}); try 16"
            )
        if batch_size < 4 and self.loss in CLASS_LOSSES:
            raise ConfigError(
                f"--loss {self.loss} needs 2 classes x 2 texts in every batch, so --batch-size must be at least 4 (got {batch_size}); try 32"
            )

    def _check_mining(self) -> None:
        if self.samples_per_class is not None and self.samples_per_class < 2:
            raise ConfigError(f"--samples-per-class must be at least 2 (a text needs a positive), got {self.samples_per_class}")
        if self.per_class_in_batch < 2:
            raise ConfigError(f"--per-class-in-batch must be at least 2 (a positive per anchor), got {self.per_class_in_batch}")
        if self.hard_negatives < 0:
            raise ConfigError(f"--hard-negatives must be 0 (off) or more, got {self.hard_negatives}")
        if not 0 <= self.mining_margin < 2:
            raise ConfigError(f"--mining-margin must be in [0, 2) (a cosine-similarity gap), got {self.mining_margin}")
        if self.remine_every is not None:
            if self.remine_every < 1:
                raise ConfigError(f"--remine-every must be at least 1 step, got {self.remine_every}")
            if not self.hard_negatives:
                raise ConfigError("--remine-every re-mines the hard negatives, so it needs --hard-negatives K too")

    def resolve(self, label_kind: str, *, margin_scales: bool = False) -> TrainConfig:
        """Fill every unset option in place for data of ``label_kind`` (KIND_DEFAULTS), check, return self.

        ``margin_scales``: triplet data whose label column scales each margin (``PairData.margin_scales``),
        which takes the score-margin triplets' margin. In place, so a caller holding the config reads
        the values the run used.
        """
        defaults = KIND_DEFAULTS.get(label_kind, KIND_DEFAULTS["score"])
        grouping_given = self.group_by_length is not None
        layers: list[dict[str, Any]] = []  # most specific first; each fills only what is still unset
        if label_kind == "class" and self.samples_per_class is not None:
            few_shot = {"loss": FEW_SHOT_LOSS, "epochs": FEW_SHOT_EPOCHS, "dropout": FEW_SHOT_DROPOUT}
            if self.loss is None or self.loss in FEW_SHOT_BATCH_LOSSES:  # measured with those losses only
                few_shot.update(batch_size=FEW_SHOT_BATCH_SIZE, lr=FEW_SHOT_LR)
            layers.append(few_shot)
        layers.append(LOSS_DEFAULTS.get((label_kind, self.loss), {}) if self.loss is not None else {})
        layers.append({name: defaults[name] for name in ("loss", "epochs", "lr", "batch_size", "group_by_length")})
        for layer in layers:
            for name, value in layer.items():
                if getattr(self, name) is None:
                    setattr(self, name, value)
        if label_kind == "class" and self.loss in CLASS_LOSSES and not grouping_given:
            # Length-grouped class-balanced batches (data.samplers) cut Banking77's padding from 65% to
            # ~9%, but 1-NN on 1,003 held-out train texts fell: 91.53 / 90.83 against 91.72 / 91.23 for
            # plain class-balanced batches on seeds 1 / 2 (benchmarks/results/seeds_banking77.json; test
            # 92.50 / 92.56 against 92.50 / 92.60). Opt-in (--group-by-length) until more seeds say otherwise.
            self.group_by_length = False
        if self.margin is None and self.distance == "cosine":
            soft = not (label_kind == "score" and self.binary_labels)
            if self.loss == defaults["loss"] and "margin" in defaults and soft:
                self.margin = defaults["margin"]
            elif self.uses_score_margins(label_kind, margin_scales=margin_scales):
                self.margin = SCORE_MARGIN
        self.__post_init__()
        return self

    def uses_score_margins(self, label_kind: str, *, margin_scales: bool = False) -> bool:
        """Triplet loss on score-margin triplets: made from scored pairs (unless --binary-labels asks for plain
        ones), or given with their margin scales (``margin_scales``); --hard-negatives mines plain ones."""
        if self.loss != "triplet" or self.hard_negatives:
            return False
        return (label_kind == "score" and not self.binary_labels) or (label_kind == "triplet" and margin_scales)

    @property
    def effective_margin(self) -> float | None:
        """The margin the loss uses; None for a scaled loss (SCALED_LOSSES), which has none."""
        if self.loss is None:
            raise ConfigError("the loss is chosen from the data; call TrainConfig.resolve(label_kind) first")
        if self.loss in SCALED_LOSSES:
            return None
        return DEFAULT_MARGINS[self.loss][self.distance] if self.margin is None else self.margin

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["margin"] = self.effective_margin if self.loss is not None else self.margin
        return out
