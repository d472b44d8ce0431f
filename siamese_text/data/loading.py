"""Preset, Hub id or local file -> a :class:`PairData` whose columns have roles, by column NAME.

sentence-transformers feeds a data set's columns to the loss by position, so a data set whose
columns come in another order silently trains another task. Here every column is picked by its
name and renamed to its role before anything else sees it:

* two texts: ``text_a``, ``text_b`` (+ ``label``: score in [0, 1] or binary 0/1);
* one text with a class: ``text``, ``label`` (class ids 0..C-1; the names are kept in ``label_names``);
* triplets: ``anchor``, ``positive``, ``negative``.

A preset can be pointed at local files with the Hub data set's schema (``data_files=``): the same
mapping then runs on them, which is how the tests check presets that are not in the local cache.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.data.presets import LABEL_KINDS, PRESETS, DatasetPreset, find_preset
from siamese_text.errors import ConfigError, DataError

__all__ = ["PairData", "load_data", "column", "ROLE_COLUMNS"]

ROLE_COLUMNS: dict[int, tuple[str, ...]] = {1: ("text",), 2: ("text_a", "text_b"), 3: ("anchor", "positive", "negative")}
LOCAL_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def column(ds: Any, name: str) -> list[Any]:
    """One column of a ``datasets.Dataset`` as a list, honouring select/shuffle (unlike ``ds.data``).

    Read as one slice of the raw stored column: ``list(ds[name])`` walks the rows one by one in
    datasets 5 (10x slower), and would run any on-the-fly transform set on the data set.
    """
    return ds.select_columns([name]).with_format(None)[:][name]


@dataclass
class PairData:
    """Splits with role-named columns, and what they hold."""

    splits: dict[str, Any]  # split name -> datasets.Dataset
    label_kind: str
    source: str
    config: str | None = None
    roles: dict[str, str] = field(default_factory=dict)  # role -> original column name
    preset: str | None = None
    label_names: list[str] | None = None  # class id -> name, for class-labelled data
    held_out: float | None = None  # the validation split is this share of the source's train split

    @property
    def margin_scales(self) -> bool:
        """Triplets with a label column: each label scales its triplet's margin (score-margin triplets)."""
        return self.label_kind == "triplet" and "label" in self.roles

    @property
    def text_roles(self) -> tuple[str, ...]:
        return tuple(role for role in self.roles if role != "label")

    def split(self, name: str) -> Any:
        if name not in self.splits:
            raise DataError(f"{self.source} has no {name!r} split (it has {', '.join(self.splits)}); choose one of those")
        return self.splits[name]

    def summary(self) -> str:
        """One line: rows per split, roles, label kind and range (or number of classes)."""
        rows = ", ".join(f"{name} {len(ds):,}" + (f" ({self.held_out:.0%} of train, held out)" if name == "validation" and self.held_out else "")
                         for name, ds in self.splits.items())
        roles = ", ".join(f"{role}={column}" for role, column in self.roles.items())
        text = f"{self.source}{f' ({self.config})' if self.config else ''}: {rows} rows; {roles}; labels: {self.label_kind}"
        if "label" in self.roles:
            train = self.splits.get("train", next(iter(self.splits.values())))
            labels = column(train, "label")
            if self.label_kind == "class":
                text += f", {len(set(labels))} classes"
            elif self.label_kind == "binary" and labels:
                text += f", {sum(labels) / len(labels):.0%} positive"
            elif labels:
                text += f" in [{min(labels):.2f}, {max(labels):.2f}]"
        return text


def _suggest(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{hint}the columns are: {', '.join(columns)}"


def _load_local(path: Path, shown: str) -> dict[str, Any]:
    """One file (the train split) or a folder with one file per split, named after the split."""
    import datasets

    if path.is_file() and path.suffix.lower() not in LOCAL_FORMATS:
        raise DataError(f"{shown}: {path.suffix or 'a file without an extension'} is not a data format read here; "
                        "save it as .csv, .tsv, .jsonl or .parquet")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix.lower() in LOCAL_FORMATS)
    if not files:
        raise DataError(f"{shown} holds no .csv, .tsv, .jsonl or .parquet file; put one file per split there")
    kinds = {LOCAL_FORMATS[p.suffix.lower()] for p in files}
    if len(kinds) > 1:
        raise DataError(f"{shown} mixes {', '.join(sorted(p.suffix for p in files))} files; give every split the same format")
    empty = next((p for p in files if p.stat().st_size == 0), None)
    if empty is not None:
        raise DataError(f"{empty} is empty (0 bytes); fill it or remove it")
    data_files = {"train": str(path)} if path.is_file() else {p.stem: str(p) for p in files}
    kind = kinds.pop()
    kwargs = {"delimiter": "\t"} if files[0].suffix.lower() == ".tsv" else {}
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its "Failed to read file ..." would be a second line above ours
    try:
        loaded = datasets.load_dataset(kind, data_files=data_files, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any parser error becomes one line naming the file
        if "corresponds to no data" in str(exc):  # datasets' words for a file with a header and no rows
            raise DataError(f"{shown} holds no rows, only a header; add data rows") from exc
        raise DataError(f"cannot read {shown} ({_parser_reason(exc)}); check the file is valid "
                        f"{files[0].suffix[1:].upper()}") from exc
    finally:
        datasets.logging.set_verbosity(verbosity)
    no_rows = next((split for split, ds in loaded.items() if len(ds) == 0), None)
    if no_rows is not None:
        raise DataError(f"{data_files[no_rows]} holds no rows; add data rows or remove the file")
    return dict(loaded)


VALIDATION_NAMES = ("dev", "valid", "val")  # files a folder may name its validation split by


def _split_names(splits: dict[str, Any], shown: str) -> dict[str, Any]:
    """A folder's ``dev``/``valid``/``val`` file is its validation split (one of them; not beside a ``validation`` file)."""
    found = [name for name in VALIDATION_NAMES if name in splits]
    if not found:
        return splits
    if len(found) > 1 or "validation" in splits:
        names = ", ".join(sorted({*found, *(["validation"] if "validation" in splits else [])}))
        raise DataError(f"{shown} has more than one validation file ({names}); keep one of them")
    return {("validation" if name == found[0] else name): ds for name, ds in splits.items()}


def _parser_reason(exc: BaseException) -> str:
    """The parser's own words under datasets' "An error occurred while generating the dataset"."""
    cause: BaseException | None = exc
    while cause is not None and type(cause).__name__ == "DatasetGenerationError":
        cause = cause.__cause__ or cause.__context__
    text = str(cause or exc).strip()
    return (text.splitlines()[0] if text else type(cause or exc).__name__)[:200]


def _looks_like_path(dataset: str) -> bool:
    """A local path rather than a Hub id (``user/name``): a file extension, ./ ../ / ~ in front, or deeper folders."""
    return (Path(dataset).suffix.lower() in {*LOCAL_FORMATS, ".txt", ".xlsx", ".xls"}
            or dataset.startswith((".", "/", "~")) or dataset.count("/") > 1)


def _load_raw(dataset: str, config: str | None) -> tuple[dict[str, Any], str]:
    """The raw splits of a local file/folder or Hub data set, and a name for messages."""
    import datasets

    path = Path(dataset).expanduser()
    if path.exists():
        return _split_names(_load_local(path, str(dataset)), str(dataset)), str(dataset)
    if _looks_like_path(dataset):
        raise DataError(f"--dataset {dataset}: no such file or folder; check the path (or give a preset or a Hub id user/name)")
    if "/" not in dataset:
        close = difflib.get_close_matches(dataset, list(PRESETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(
            f"unknown data set {dataset!r}; {hint}use a preset ({', '.join(PRESETS)}), a Hub id user/name or a local file"
        )
    try:
        loaded = datasets.load_dataset(dataset, config) if config else datasets.load_dataset(dataset)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot load data set {dataset!r}{f' config {config!r}' if config else ''} ({first[:200]}); "
            "check the id, or that it is in the local cache when offline"
        ) from exc
    return dict(loaded), dataset


def _check_texts(ds: Any, name: str, split: str, source: str, original: str) -> None:
    for row, value in enumerate(column(ds, name)):
        if not isinstance(value, str) or not value.strip():
            what = "empty" if value is None or isinstance(value, str) else f"not text ({value!r})"
            raise DataError(f"{source} {split} row {row}: column {original!r} is {what}; remove or fill that row")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_labels(labels: list[Any], kind: str, column: str, split: str, source: str) -> None:
    for row, value in enumerate(labels):
        bad = _is_missing(value)
        if not bad and kind == "binary":
            bad = value not in (0, 1)
        elif not bad and kind in ("score", "triplet"):
            bad = not 0.0 <= float(value) <= 1.0
        if bad:
            expected = {"binary": "0 or 1", "score": "a score in [0, 1]", "triplet": "a margin scale in [0, 1]", "class": "a class"}[kind]
            raise DataError(f"{source} {split} row {row}: label column {column!r} is {value!r}, expected {expected}; fix or drop that row")


def _check_numeric(raw_labels: dict[str, list[Any]], column: str, source: str) -> None:
    """Pair and triplet labels are numbers: name the first row holding anything else.

    One word such as 'yes' in a CSV column makes the whole column text ('0', '1', 'yes'), so the row
    named is the first whose value cannot be read as a number, else the first holding text at all.
    """
    texts = [(split, row, value) for split, labels in raw_labels.items() for row, value in enumerate(labels)
             if not _is_missing(value) and not isinstance(value, (int, float))]
    if texts:
        split, row, value = next((t for t in texts if not _reads_as_number(t[2])), texts[0])
        raise DataError(f"{source} {split} row {row}: label column {column!r} is {value!r}, not a number; "
                        "pairs need 0/1 or a score, triplets a margin scale, so map the values to numbers")


def _reads_as_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _infer_kind(raw_labels: dict[str, list[Any]], n_texts: int, column: str, source: str) -> str:
    """1 text: class; 3: triplet; pairs: binary for 0/1, score for fractions; whole numbers beyond 0/1 are ambiguous."""
    if n_texts == 3:
        return "triplet"
    if n_texts == 1:
        return "class"
    values = {v for labels in raw_labels.values() for v in labels if not _is_missing(v)}
    if values <= {0, 1}:
        return "binary"
    if all(float(v).is_integer() for v in values):
        low, high = min(values), max(values)
        raise DataError(f"{source}: label column {column!r} holds whole numbers {low:g}-{high:g}, class ids or ratings; "
                        "give --label-kind score to read them as scores, or map them to 0/1 for pairs")
    return "score"


def _class_ids(raw_labels: dict[str, list[Any]], names: list[str] | None, column: str, source: str) -> tuple[dict[str, list[int]], list[str]]:
    """Class labels of every split -> ids 0..C-1, one numbering for all splits.

    A ``ClassLabel`` column keeps its own names (and ``-1``, its "no label", is a bad row); any other
    column's distinct values are numbered in sorted order, so strings such as intent names work.
    """
    for split, labels in raw_labels.items():
        for row, value in enumerate(labels):
            if _is_missing(value) or (names is not None and value == -1):
                raise DataError(f"{source} {split} row {row}: label column {column!r} has no class ({value!r}); fix or drop that row")
    if names is not None:
        return {split: [int(v) for v in labels] for split, labels in raw_labels.items()}, names
    values = sorted({v for labels in raw_labels.values() for v in labels}, key=lambda v: (str(type(v)), v))
    ids = {v: i for i, v in enumerate(values)}
    return {split: [ids[v] for v in labels] for split, labels in raw_labels.items()}, [str(v) for v in values]


def column_names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Text column names as a tuple: ``"q,d"`` (as the CLI's --text-columns takes them) or ``("q", "d")``."""
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    return tuple(value)


def check_validation_split(fraction: float | None) -> None:
    """Refuse a held-out share of the train rows outside (0, 1)."""
    if fraction is not None and not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise ConfigError(f"--validation-split is the share of train rows held out, in (0, 1), e.g. 0.1; got {fraction}")


def load_data(
    dataset: str,
    *,
    config: str | None = None,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
    label_kind: str | None = None,
    data_files: str | Path | None = None,
    validation_split: float | None = None,
    seed: int = 42,
) -> PairData:
    """Load a preset name, Hub id or local file/folder and give its columns their roles by name.

    ``data_files`` reads a preset's mapping from local files with the Hub data set's schema (a file
    is the train split; a folder holds one file per split, named as on the Hub, e.g. ``dev.jsonl``).
    ``validation_split`` holds that share of the train rows out, seeded, as the validation split of
    data that has none (class-labelled texts: that share of each class).
    """
    check_validation_split(validation_split)
    text_columns = column_names(text_columns)
    preset: DatasetPreset | None = find_preset(dataset, config)
    if data_files is not None and preset is None:
        raise DataError(f"data_files points a preset at local files, but {dataset!r} is not a preset ({', '.join(PRESETS)})")
    if preset is not None:
        if data_files is not None:
            raw, source = _load_local(Path(data_files), str(data_files)), f"{preset.name} ({data_files})"
        else:
            raw, source = _load_raw(preset.hub_id, preset.config)
        raw = {ours: raw[theirs] for ours, theirs in preset.splits.items() if theirs in raw}
        text_columns = tuple(text_columns or preset.text_columns)
        label_column = label_column or preset.label_column
        label_kind = label_kind or preset.label_kind
        config = preset.config
    else:
        raw, source = _load_raw(dataset, config)
    if not raw:
        raise DataError(f"{source} has none of the splits the preset expects; check the file names")
    columns = list(next(iter(raw.values())).column_names)
    if not text_columns:
        raise DataError(f"{source}: say which columns hold the texts with --text-columns a,b (columns: {', '.join(columns)})")
    text_columns = tuple(text_columns)
    if len(text_columns) not in ROLE_COLUMNS:
        raise DataError(
            f"--text-columns names {len(text_columns)} columns ({', '.join(text_columns)}); "
            "give 1 (text + class), 2 (pairs) or 3 (triplets)"
        )
    if label_kind is not None and label_kind not in LABEL_KINDS:
        raise DataError(f"--label-kind {label_kind!r} is not one of {', '.join(LABEL_KINDS)}")
    if len(text_columns) < 3 and not label_column:
        raise DataError(f"{source}: say which column holds the label with --label-column (columns: {', '.join(columns)})")
    if len(set(text_columns)) < len(text_columns) or label_column in text_columns:
        raise DataError(f"--text-columns {','.join(text_columns)} and --label-column {label_column} name a column twice")
    kind = label_kind or ("triplet" if len(text_columns) == 3 else "class" if len(text_columns) == 1 else None)
    if kind == "class" and len(text_columns) != 1:
        raise DataError(f"--label-kind class takes one text column, got {len(text_columns)}; use binary or score for pairs")
    if kind in ("score", "binary") and len(text_columns) != 2:
        raise DataError(f"--label-kind {kind} takes two text columns (a pair), got {len(text_columns)}")
    if kind == "triplet" and len(text_columns) != 3:
        raise DataError(f"--label-kind triplet takes three text columns (anchor, positive, negative), got {len(text_columns)}")
    wanted = [*text_columns, *([label_column] if label_column else [])]
    for split, ds in raw.items():
        for name in wanted:
            if name not in ds.column_names:
                raise DataError(f"{source} {split} split has no column {name!r}; {_suggest(name, ds.column_names)}")

    roles = dict(zip(ROLE_COLUMNS[len(text_columns)], text_columns, strict=True))
    if label_column:
        roles["label"] = label_column
    splits = {
        split: ds.select_columns(wanted).rename_columns({name: role for role, name in roles.items() if name != role})
        for split, ds in raw.items()
    }
    label_names = None
    if label_column:
        splits, kind, label_names = _map_labels(splits, raw, kind, preset, label_column, source, len(text_columns))
    for split, ds in splits.items():
        for role, original in roles.items():
            if role != "label":
                _check_texts(ds, role, split, source, original)
    if validation_split is not None and "validation" in splits:
        raise DataError(f"--validation-split {validation_split:g}: {source} has a validation split already; drop the option")
    holdout = validation_split or (preset.holdout if preset is not None else None)
    if holdout and "validation" not in splits and "train" in splits:
        splits = _hold_out(splits, holdout, seed=seed, by_class=kind == "class", source=source)
    else:
        holdout = None
    return PairData(
        splits=splits,
        label_kind=kind or "triplet",
        source=source,
        config=config,
        roles=roles,
        preset=preset.name if preset else None,
        label_names=label_names,
        held_out=holdout,
    )


def _hold_out(splits: dict[str, Any], fraction: float, *, seed: int, by_class: bool, source: str) -> dict[str, Any]:
    """A seeded validation split carved off train; for class-labelled texts, that share of every class."""
    train = splits["train"]
    if by_class:
        labels = np.asarray(column(train, "label"))
        rng = np.random.default_rng(seed)
        held = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[: round(fraction * np.sum(labels == c))]
                               for c in np.unique(labels)])
        keep = np.setdiff1d(np.arange(len(train)), held)
        parts = {"train": train.select(keep), "test": train.select(np.sort(held))}
    else:
        parts = train.train_test_split(test_size=fraction, seed=seed)
    if len(parts["test"]) == 0:
        raise DataError(f"--validation-split {fraction:g} of {source}'s {len(train):,} train rows holds none out; give a larger share")
    return {"train": parts["train"], "validation": parts["test"], **{k: v for k, v in splits.items() if k != "train"}}


def _map_labels(
    splits: dict[str, Any],
    raw: dict[str, Any],
    kind: str | None,
    preset: DatasetPreset | None,
    label_column: str,
    source: str,
    n_texts: int,
) -> tuple[dict[str, Any], str, list[str] | None]:
    """Apply the preset's label map (dropping rows mapped to None), then scale and check the labels."""
    raw_labels: dict[str, list[Any]] = {}
    for split, ds in list(splits.items()):
        labels = column(ds, "label")
        if preset is not None and preset.label_map:
            keep = [i for i, v in enumerate(labels) if preset.label_map.get(v, v) is not None]
            if len(keep) < len(labels):
                ds = ds.select(keep)
                labels = [labels[i] for i in keep]
            labels = [preset.label_map.get(v, v) for v in labels]
        if len(ds) == 0:
            del splits[split]
            continue
        splits[split] = ds
        raw_labels[split] = labels
    if not splits:
        raise DataError(f"{source}: every row was dropped by the preset's label map; check the label column")
    if n_texts > 1:  # pairs and triplets: class labels may be text
        _check_numeric(raw_labels, label_column, source)
    kind = kind or _infer_kind(raw_labels, n_texts, label_column, source)
    label_names = None
    if kind == "class":
        feature = raw[next(iter(raw))].features.get(label_column)
        names = list(feature.names) if hasattr(feature, "names") and not (preset and preset.label_map) else None
        ids, label_names = _class_ids(raw_labels, names, label_column, source)
        return {s: ds.remove_columns("label").add_column("label", ids[s]) for s, ds in splits.items()}, kind, label_names
    out = {}
    score_range = _score_range(raw_labels, preset.score_range if preset else None, label_column, source) if kind == "score" else None
    for split, ds in splits.items():
        labels = raw_labels[split]
        if score_range is not None:
            labels = _scaled(labels, score_range)
        _check_labels(labels, kind, label_column, split, source)
        out[split] = ds.remove_columns("label").add_column("label", [int(v) if kind == "binary" else float(v) for v in labels])
    return out, kind, label_names


def _score_range(
    raw_labels: dict[str, list[Any]], stated: tuple[float, float] | None, column: str, source: str
) -> tuple[float, float] | None:
    """The range to scale every split's scores from: a stated one, or 0-5 (STS) when some exceed 1 and none exceeds 5.

    Decided once over all splits, so that a split whose scores happen to stay below 1 is scaled
    like the others.
    """
    if stated is not None:
        return None if stated == (0.0, 1.0) else stated
    values = [v for labels in raw_labels.values() for v in labels if not _is_missing(v)]
    if not values or max(values) <= 1.0:
        return None
    if min(values) >= 0.0 and max(values) <= 5.0:
        return (0.0, 5.0)
    split, row, value = next((split, row, v) for split, labels in raw_labels.items() for row, v in enumerate(labels)
                             if not _is_missing(v) and not 0.0 <= v <= 5.0)
    raise DataError(f"{source} {split} row {row}: label column {column!r} is {value!r}; scores must lie in [0, 1], "
                    "or all in [0, 5] (STS-style, divided by 5): rescale the column to [0, 1]")


def _scaled(labels: list[Any], score_range: tuple[float, float]) -> list[Any]:
    low, high = score_range
    return [v if _is_missing(v) else (v - low) / (high - low) for v in labels]
