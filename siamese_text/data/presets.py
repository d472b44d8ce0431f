"""Named data sets: Hub id, config, splits, which column plays which role, and what the label means.

A preset is only a mapping; the loading itself is :func:`siamese_text.data.loading.load_data`. Each
preset names its columns exactly as the Hub data set does (checked by the tests on local files with
the same schema), so a preset never depends on the order of the columns.

Label maps turn a data set's own labels into ours. ``None`` as a target drops the row: NLI's
"neutral" is neither a paraphrase nor its opposite, and SNLI's ``-1`` means "no gold label".
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DatasetPreset", "PRESETS", "LABEL_KINDS", "find_preset"]

# score: a similarity score (scaled to [0, 1]); binary: 1 same / 0 different;
# class: one text per row with a class id; triplet: (anchor, positive, negative), no label.
LABEL_KINDS: tuple[str, ...] = ("score", "binary", "class", "triplet")

_NLI_TO_BINARY: dict[int, int | None] = {0: 1, 1: None, 2: 0, -1: None}  # entailment / neutral / contradiction


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
    labels: str  # what the label means, in words, for `siamtext datasets`
    # our split name -> the Hub's split name
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"})
    score_range: tuple[float, float] | None = None
    label_map: dict[int, int | None] | None = None  # the data set's label -> ours (None drops the row)
    holdout: float | None = None  # carve a seeded validation split off train when the Hub has none


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
            description="STS Benchmark: 8.6k sentence pairs scored for similarity",
            labels="score 0-1 (0-5 scaled), higher = more similar",
        ),
        DatasetPreset(
            name="mrpc",
            hub_id="nyu-mll/glue",
            config="mrpc",
            text_columns=("sentence1", "sentence2"),
            label_column="label",
            label_kind="binary",
            description="Microsoft Research Paraphrase Corpus: 5.8k news sentence pairs",
            labels="1 paraphrase / 0 not (GLUE's test labels are hidden, -1)",
            label_map={0: 0, 1: 1, -1: None},
        ),
        DatasetPreset(
            name="banking77",
            hub_id="PolyAI/banking77",
            config=None,
            text_columns=("text",),
            label_column="label",
            label_kind="class",
            splits={"train": "train", "test": "test"},
            description="Banking77: 13k online-banking queries, one text per row",
            labels="77 intent classes",
        ),
        DatasetPreset(
            name="quora",
            hub_id="sentence-transformers/quora-duplicates",
            config="pair-class",
            text_columns=("sentence1", "sentence2"),
            label_column="label",
            label_kind="binary",
            splits={"train": "train"},
            holdout=0.01,
            description="Quora question pairs: 404k pairs (train only; 1% held out, seeded, for validation)",
            labels="1 duplicate / 0 different",
        ),
        DatasetPreset(
            name="all-nli",
            hub_id="sentence-transformers/all-nli",
            config="triplet",
            text_columns=("anchor", "positive", "negative"),
            label_column=None,
            label_kind="triplet",
            splits={"train": "train", "validation": "dev", "test": "test"},
            description="SNLI + MultiNLI as 557k (anchor, entailed, contradicted) triplets",
            labels="no label: positive is entailed, negative contradicted",
        ),
        DatasetPreset(
            name="all-nli-pair-class",
            hub_id="sentence-transformers/all-nli",
            config="pair-class",
            text_columns=("premise", "hypothesis"),
            label_column="label",
            label_kind="binary",
            splits={"train": "train", "validation": "dev", "test": "test"},
            label_map=_NLI_TO_BINARY,
            description="SNLI + MultiNLI premise/hypothesis pairs (942k)",
            labels="entailment -> 1, contradiction -> 0, neutral dropped",
        ),
        DatasetPreset(
            name="paws",
            hub_id="google-research-datasets/paws",
            config="labeled_final",
            text_columns=("sentence1", "sentence2"),
            label_column="label",
            label_kind="binary",
            description="PAWS (labeled_final): 65k Wikipedia pairs with high word overlap",
            labels="1 paraphrase / 0 not (word-scrambled)",
        ),
        DatasetPreset(
            name="sick",
            hub_id="RobZamp/sick",
            config=None,
            text_columns=("sentence_A", "sentence_B"),
            label_column="relatedness_score",
            label_kind="score",
            score_range=(1.0, 5.0),
            description="SICK relatedness: 10k sentence pairs rated for relatedness",
            labels="relatedness 1-5, scaled to 0-1",
        ),
        DatasetPreset(
            name="snli",
            hub_id="stanfordnlp/snli",
            config=None,
            text_columns=("premise", "hypothesis"),
            label_column="label",
            label_kind="binary",
            label_map=_NLI_TO_BINARY,
            description="Stanford NLI: 570k premise/hypothesis pairs",
            labels="entailment -> 1, contradiction -> 0, neutral and no-gold (-1) dropped",
        ),
    )
}


def find_preset(name: str, config: str | None = None) -> DatasetPreset | None:
    """The preset called ``name``; with ``config``, the preset of the same Hub data set with that config.

    ``--dataset all-nli --config pair-class`` thus reads the pair-class schema, not the triplet one.
    """
    preset = PRESETS.get(name)
    if preset is None or config is None or config == preset.config:
        return preset
    for other in PRESETS.values():
        if other.hub_id == preset.hub_id and other.config == config:
            return other
    return preset
