"""Every preset's mapping, run on a small local file with exactly the Hub data set's schema.

Only stsb, mrpc and banking77 are in the offline cache; the others are pointed at local files with
``data_files=`` so their column names, split names and label maps are still checked.
"""

import json

import pytest

from siamese_text.data import load_data
from siamese_text.data.loading import column
from siamese_text.data.presets import PRESETS, find_preset
from siamese_text.errors import DataError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_quora_pair_class_schema_and_holdout(tmp_path):
    rows = [{"sentence1": f"how do i learn python {i}", "sentence2": f"best way to learn python {i}", "label": i % 2} for i in range(200)]
    data = load_data("quora", data_files=write_jsonl(tmp_path / "train.jsonl", rows))
    assert data.roles == {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}
    assert data.label_kind == "binary" and data.config == "pair-class"
    # the Hub has only a train split: 1% is held out, seeded, as validation
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 198, "validation": 2}
    again = load_data("quora", data_files=tmp_path / "train.jsonl")
    assert column(again.split("validation"), "text_a") == column(data.split("validation"), "text_a")


def test_all_nli_triplet_schema_with_dev_split(tmp_path):
    folder = tmp_path / "all-nli"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        # the Hub's column order is anchor, positive, negative; give them shuffled to prove roles are by name
        write_jsonl(folder / f"{split}.jsonl", [{"negative": f"n{i}", "anchor": f"a{i}", "positive": f"p{i}"} for i in range(4)])
    data = load_data("all-nli", data_files=folder)
    assert set(data.splits) == {"train", "validation", "test"}
    assert data.label_kind == "triplet"
    assert data.split("train").column_names == ["anchor", "positive", "negative"]
    assert column(data.split("validation"), "negative") == [f"n{i}" for i in range(4)]


def test_all_nli_pair_class_drops_neutral(tmp_path):
    rows = [{"premise": f"p {i}", "hypothesis": f"h {i}", "label": i % 3} for i in range(9)]
    data = load_data("all-nli-pair-class", data_files=write_jsonl(tmp_path / "train.jsonl", rows))
    train = data.split("train")
    # 0 entailment -> 1, 1 neutral dropped, 2 contradiction -> 0
    assert column(train, "label") == [1, 0, 1, 0, 1, 0]
    assert column(train, "text_a") == ["p 0", "p 2", "p 3", "p 5", "p 6", "p 8"]


def test_all_nli_with_config_reads_the_pair_class_schema(tmp_path):
    assert find_preset("all-nli", "pair-class").name == "all-nli-pair-class"
    assert find_preset("all-nli", None).name == "all-nli"


def test_paws_labeled_final_schema(tmp_path):
    folder = tmp_path / "paws"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        write_jsonl(folder / f"{split}.jsonl", [{"id": i, "sentence1": f"s1 {i}", "sentence2": f"s2 {i}", "label": i % 2} for i in range(4)])
    data = load_data("paws", data_files=folder)
    assert data.label_kind == "binary" and set(data.splits) == {"train", "validation", "test"}
    assert data.split("test").column_names == ["text_a", "text_b", "label"]


def test_sick_relatedness_is_scaled_from_1_5(tmp_path):
    rows = [
        {"id": str(i), "sentence_A": f"a {i}", "sentence_B": f"b {i}", "label": i % 3, "relatedness_score": score,
         "entailment_AB": "A_neutral_B", "entailment_BA": "B_neutral_A", "sentence_A_original": "x", "sentence_B_original": "y",
         "sentence_A_dataset": "FLICKR", "sentence_B_dataset": "FLICKR"}
        for i, score in enumerate([1.0, 3.0, 5.0, 4.5])
    ]
    data = load_data("sick", data_files=write_jsonl(tmp_path / "train.jsonl", rows))
    assert data.label_kind == "score"
    assert column(data.split("train"), "label") == pytest.approx([0.0, 0.5, 1.0, 0.875])
    assert data.roles["label"] == "relatedness_score"


def test_snli_drops_neutral_and_no_gold(tmp_path):
    rows = [{"premise": f"p {i}", "hypothesis": f"h {i}", "label": label} for i, label in enumerate([0, 1, 2, -1, 0])]
    data = load_data("snli", data_files=write_jsonl(tmp_path / "train.jsonl", rows))
    assert column(data.split("train"), "label") == [1, 0, 1]
    assert column(data.split("train"), "text_b") == ["h 0", "h 2", "h 4"]


def test_mrpc_schema_from_a_local_copy_drops_hidden_test_labels(tmp_path):
    folder = tmp_path / "mrpc"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [{"sentence1": "a b", "sentence2": "b a", "label": 1, "idx": 0}, {"sentence1": "c", "sentence2": "d", "label": 0, "idx": 1}])
    write_jsonl(folder / "test.jsonl", [{"sentence1": "e", "sentence2": "f", "label": -1, "idx": 0}, {"sentence1": "g", "sentence2": "h", "label": 1, "idx": 1}])
    data = load_data("mrpc", data_files=folder)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 2, "test": 1}


def test_every_preset_names_its_hub_id_splits_and_label_meaning():
    for preset in PRESETS.values():
        assert "/" in preset.hub_id and preset.labels and preset.description
        assert "train" in preset.splits
        assert (preset.label_column is None) == (preset.label_kind == "triplet")


def test_data_files_needs_a_preset(tmp_path):
    with pytest.raises(DataError, match="not a preset"):
        load_data("my/data", data_files=tmp_path)


def test_banking77_from_the_cache_has_class_names():
    data = load_data("banking77")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 10003, "test": 3080}
    assert data.label_kind == "class" and len(data.label_names) == 77
    assert "77 classes" in data.summary()


def test_mrpc_from_the_cache():
    data = load_data("mrpc")
    assert set(data.splits) == {"train", "validation"} and data.label_kind == "binary"
    assert "positive" in data.summary()
