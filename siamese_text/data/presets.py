"""Named data sets: Hub id, config, splits, which column plays which role, and what the label means."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DatasetPreset", "PRESETS", "LABEL_KINDS"]

# score: a similarity score (scaled to [0, 1]); binary: 1 same / 0 different;
# class: one text per row with a class id; triplet: (anchor, positive, negative), no label.
LABEL_KINDS: tuple[str, ...] = ("score", "binary", "class", "triplet")


@dataclass(frozen=True)
class DatasetPreset:
    """How to read one named data set. Columns are given roles by NAME, never by position."""

    name: str
    hub_id: str
    config: str | None
    text_columns: tuple[str, ...]
    label_column: str | None
    label_kind: str
    description: str
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"})
    score_range: tuple[float, float] | None = None
    label_map: dict[int, int] | None = None  # e.g. NLI classes -> 1 same / 0 different


PRESETS: dict[str, DatasetPreset] = {
    preset.name: preset
    for preset in (
        DatasetPreset(
            name="stsb",
            hub_id="sentence-transformers/stsb",
            config=None,
            text_columns=("sentence1", "sentence2"),
            label_column="score",
            label_kind="score",
            score_range=(0.0, 1.0),
            description="STS Benchmark: 8.6k sentence pairs scored 0-5 (stored as 0-1) for similarity",
        ),
        DatasetPreset(
            name="mrpc",
            hub_id="nyu-mll/glue",
            config="mrpc",
            text_columns=("sentence1", "sentence2"),
            label_column="label",
            label_kind="binary",
            splits={"train": "train", "validation": "validation", "test": "test"},
            description="Microsoft Research Paraphrase Corpus: 5.8k news sentence pairs, 1 paraphrase / 0 not",
        ),
        DatasetPreset(
            name="banking77",
            hub_id="PolyAI/banking77",
            config=None,
            text_columns=("text",),
            label_column="label",
            label_kind="class",
            splits={"train": "train", "test": "test"},
            description="Banking77: 13k online-banking queries in 77 intents (one text per row, class label)",
        ),
    )
}
