import csv
import json

import pytest

from siamese_text.data import load_data
from siamese_text.data.loading import column
from siamese_text.data.pairs import score_margin_triplets, scored_pairs_to_triplets, scores_to_contrastive
from siamese_text.errors import DataError


def test_local_file_roles_are_taken_by_name_not_position(scored_csv):
    data = load_data(str(scored_csv), text_columns=("question", "answer"), label_column="similarity")
    train = data.split("train")
    assert train.column_names == ["text_a", "text_b", "label"]
    assert data.roles == {"text_a": "question", "text_b": "answer", "label": "similarity"}
    rows = list(csv.DictReader(scored_csv.open()))
    assert column(train, "text_a")[0] == rows[0]["question"]
    assert data.label_kind == "score"
    # 0-5 scores are scaled to [0, 1]
    assert column(train, "label")[0] == pytest.approx(float(rows[0]["similarity"]) / 5)
    assert "train 48" in data.summary() and "text_a=question" in data.summary()


def test_folder_gives_one_split_per_file(scored_folder):
    data = load_data(str(scored_folder), text_columns=("sentence1", "sentence2"), label_column="score")
    assert {k: len(v) for k, v in data.splits.items()} == {"test": 8, "train": 32, "validation": 8}


def test_misspelled_column_suggests_close_names(scored_csv):
    with pytest.raises(DataError, match="no column 'questoin'; did you mean 'question'"):
        load_data(str(scored_csv), text_columns=("questoin", "answer"), label_column="similarity")


def test_unknown_preset_lists_presets():
    with pytest.raises(DataError, match="unknown data set 'stsbb'.*stsb"):
        load_data("stsbb")


def test_text_columns_may_be_one_comma_separated_string_as_on_the_command_line(scored_csv):
    data = load_data(str(scored_csv), text_columns="question, answer", label_column="similarity")
    assert data.roles == {"text_a": "question", "text_b": "answer", "label": "similarity"}


@pytest.mark.parametrize("fraction", [0, 1.0, 1.5, -0.2])
def test_a_validation_share_outside_0_1_is_refused_before_loading(scored_csv, fraction):
    from siamese_text.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--validation-split is the share of train rows held out, in \(0, 1\)"):
        load_data(str(scored_csv), text_columns=("question", "answer"), label_column="similarity", validation_split=fraction)


def test_bad_rows_are_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,y\nhello there,hi,1\nx,,0\n")
    with pytest.raises(DataError, match="train row 1: column .b. is empty"):
        load_data(str(path), text_columns=("a", "b"), label_column="y")
    path.write_text("a,b,y\nhello there,hi,1\nx,z,\n")
    with pytest.raises(DataError, match="row 1: label column 'y' is None"):
        load_data(str(path), text_columns=("a", "b"), label_column="y")
    path.write_text("a,b,y\nhello there,hi,1\nx,z,7\n")
    with pytest.raises(DataError, match="row 1: label column 'y' is 7"):
        load_data(str(path), text_columns=("a", "b"), label_column="y", label_kind="binary")


def test_local_paths_that_cannot_be_read_are_named(tmp_path):
    with pytest.raises(DataError, match="--dataset data/nosuch.csv: no such file or folder"):
        load_data("data/nosuch.csv", text_columns=("a", "b"), label_column="y")
    with pytest.raises(DataError, match="nosuch.jsonl: no such file"):
        load_data("nosuch.jsonl", text_columns=("a", "b"), label_column="y")
    text = tmp_path / "texts.txt"
    text.write_text("a,b,y\nx,y,1\n")
    with pytest.raises(DataError, match=r"texts.txt: \.txt is not a data format read here; save it as \.csv"):
        load_data(str(text), text_columns=("a", "b"), label_column="y")
    header = tmp_path / "header.csv"
    header.write_text("a,b,y\n")
    with pytest.raises(DataError, match="header.csv holds no rows, only a header"):
        load_data(str(header), text_columns=("a", "b"), label_column="y")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty.csv is empty \(0 bytes\)"):
        load_data(str(empty), text_columns=("a", "b"), label_column="y")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "train.csv").write_text("a,b,y\nx,y,1\n")
    (mixed / "test.jsonl").write_text('{"a": "x", "b": "y", "y": 1}\n')
    with pytest.raises(DataError, match="mixes .csv, .jsonl files"):
        load_data(str(mixed), text_columns=("a", "b"), label_column="y")


def test_label_values_are_checked_by_row_and_kind(tmp_path):
    path = tmp_path / "pairs.csv"
    rows = [f"text {i},other {i},{i % 2}" for i in range(9)]
    rows[7] = "text 7,other 7,yes"
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="train row 7: label column 'y' is 'yes', not a number"):
        load_data(str(path), text_columns=("a", "b"), label_column="y")
    with pytest.raises(DataError, match="--label-kind triplet takes three text columns"):
        load_data(str(path), text_columns=("a", "b"), label_column="y", label_kind="triplet")
    path.write_text("a,b,y\n" + "\n".join(f"text {i},other {i},{i % 3}" for i in range(9)) + "\n")
    with pytest.raises(DataError, match="whole numbers 0-2, class ids or ratings; give --label-kind score"):
        load_data(str(path), text_columns=("a", "b"), label_column="y")
    assert max(column(load_data(str(path), text_columns=("a", "b"), label_column="y", label_kind="score").split("train"), "label")) == 0.4
    path.write_text("a,b,y\n" + "\n".join(f"text {i},other {i},{i + 0.5}" for i in range(9)) + "\n")
    with pytest.raises(DataError, match=r"train row 5: label column 'y' is 5.5; scores must lie in \[0, 1\], or all in \[0, 5\]"):
        load_data(str(path), text_columns=("a", "b"), label_column="y")


def test_triplets_with_a_label_column_carry_margin_scales(tmp_path):
    path = tmp_path / "triplets.jsonl"
    rows = [{"a": f"anchor {i}", "p": f"positive {i}", "n": f"negative {i}", "w": i / 10} for i in range(1, 6)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_data(str(path), text_columns=("a", "p", "n"), label_column="w")
    assert data.label_kind == "triplet" and data.margin_scales
    assert column(data.split("train"), "label") == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert not load_data(str(path), text_columns=("a", "p", "n")).margin_scales
    rows[3]["w"] = 1.5
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"train row 3: label column 'w' is 1.5, expected a margin scale in \[0, 1\]"):
        load_data(str(path), text_columns=("a", "p", "n"), label_column="w")


def test_scores_are_scaled_alike_in_every_split(tmp_path):
    """0-5 scores in train, a validation file whose scores all happen to lie below 1: both divided by 5."""
    (tmp_path / "train.csv").write_text("a,b,y\n" + "\n".join(f"t{i},u{i},{i * 0.6}" for i in range(9)) + "\n")
    (tmp_path / "validation.csv").write_text("a,b,y\nv1,w1,0.5\nv2,w2,0.9\n")
    data = load_data(str(tmp_path), text_columns=("a", "b"), label_column="y")
    assert column(data.split("validation"), "label") == pytest.approx([0.1, 0.18])
    assert max(column(data.split("train"), "label")) == pytest.approx(4.8 / 5)


def test_missing_role_flags_are_asked_for(scored_csv):
    with pytest.raises(DataError, match="--text-columns"):
        load_data(str(scored_csv))
    with pytest.raises(DataError, match="--label-column"):
        load_data(str(scored_csv), text_columns=("question", "answer"))


def test_scores_become_soft_or_binary_contrastive_labels(scored_csv):
    data = load_data(str(scored_csv), text_columns=("question", "answer"), label_column="similarity")
    soft = scores_to_contrastive(data.split("train"))
    assert column(soft, "label") == column(data.split("train"), "label")
    hard = scores_to_contrastive(data.split("train"), binary=True, threshold=0.6)
    assert set(column(hard, "label")) == {0.0, 1.0}
    assert sum(column(hard, "label")) == sum(s >= 0.6 for s in column(data.split("train"), "label"))


def test_triplets_from_scored_pairs(scored_csv):
    data = load_data(str(scored_csv), text_columns=("question", "answer"), label_column="similarity")
    train = data.split("train")
    triplets = scored_pairs_to_triplets(train, positive_threshold=0.6, seed=1)
    n_pos = sum(s >= 0.6 for s in column(train, "label"))
    assert len(triplets) == 2 * n_pos
    for a, p, n in zip(column(triplets, "anchor"), column(triplets, "positive"), column(triplets, "negative")):
        assert n not in (a, p)
    again = scored_pairs_to_triplets(train, positive_threshold=0.6, seed=1)
    assert column(again, "negative") == column(triplets, "negative")


def test_score_margin_triplets_carry_each_score_as_a_floor_and_a_ceiling():
    import datasets

    pairs = datasets.Dataset.from_dict({
        "text_a": ["a1", "a2", "a3", "a4"], "text_b": ["b1", "b2", "b3", "b4"], "label": [1.0, 0.0, 0.25, 0.6]})
    triplets = score_margin_triplets(pairs, seed=3)
    rows = list(zip(*(column(triplets, k) for k in ("anchor", "positive", "negative", "label")), strict=True))
    # from both sides; a score-1 pair has no ceiling, a score-0 pair no floor (zero margins are left out)
    assert len(rows) == 12
    floors = {(a, p): (n, w) for a, p, n, w in rows if a != p}
    ceilings = {(a, n): w for a, p, n, w in rows if a == p}
    want = {("a1", "b1"): 1.0, ("a3", "b3"): 0.25, ("a4", "b4"): 0.6}
    assert {k: w for k, (_, w) in floors.items()} == {**want, **{(b, a): w for (a, b), w in want.items()}}
    want = {("b2", "a2"): 1.0, ("b3", "a3"): 0.75, ("b4", "a4"): 0.4}
    assert ceilings == pytest.approx({**want, **{(b, a): w for (a, b), w in want.items()}})
    for (a, p), (n, _) in floors.items():
        assert n not in (a, p)  # the random negative is another text
    assert column(score_margin_triplets(pairs, seed=3), "negative") == column(triplets, "negative")


def test_score_margin_triplets_refuse_scores_outside_unit_range():
    import datasets

    pairs = datasets.Dataset.from_dict({"text_a": ["x", "y"], "text_b": ["z", "w"], "label": [0.5, 3.0]})
    with pytest.raises(DataError, match=r"row 1: score 3.0 is outside \[0, 1\]"):
        score_margin_triplets(pairs)


@pytest.mark.slow
def test_stsb_preset_from_the_cache():
    data = load_data("stsb")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 5749, "validation": 1500, "test": 1379}
    assert data.label_kind == "score"


@pytest.mark.parametrize("name", ["dev", "valid", "val"])
def test_a_folder_s_dev_file_is_its_validation_split(scored_folder, name):
    (scored_folder / "validation.csv").rename(scored_folder / f"{name}.csv")
    data = load_data(str(scored_folder), text_columns=("sentence1", "sentence2"), label_column="score")
    assert sorted(data.splits) == ["test", "train", "validation"] and len(data.split("validation")) == 8
    (scored_folder / "test.csv").rename(scored_folder / "validation.csv")
    with pytest.raises(DataError, match=rf"has more than one validation file \({name}, validation\); keep one of them"):
        load_data(str(scored_folder), text_columns=("sentence1", "sentence2"), label_column="score")


def test_a_file_the_parser_rejects_is_one_line_with_the_parser_s_reason(tmp_path, capfd):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,score\nx,y,1\nx,y,2,extra\n")
    with pytest.raises(DataError, match=r"cannot read .*ragged.csv \(.*Expected 3 fields in line 3, saw 4\); check the file is valid CSV"):
        load_data(str(ragged), text_columns=("a", "b"), label_column="score")
    assert "Failed to read" not in capfd.readouterr().err  # datasets' own report is not printed as a second line
