"""Preset, Hub id or local file -> a :class:`PairData` whose columns have roles, by column NAME.

sentence-transformers feeds a data set's columns to the loss by position, so a data set whose
columns come in another order silently trains another task. Here every column is picked by its
name and renamed to its role before anything else sees it:

* two texts: ``text_a``, ``text_b`` (+ ``label``: score in [0, 1] or binary 0/1);
* one text with a class: ``text``, ``label``;
* triplets: ``anchor``, ``positive``, ``negative``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siamese_text.data.presets import LABEL_KINDS, PRESETS, DatasetPreset
from siamese_text.errors import DataError

__all__ = ["PairData", "load_data", "column", "ROLE_COLUMNS"]

ROLE_COLUMNS: dict[int, tuple[str, ...]] = {1: ("text",), 2: ("text_a", "text_b"), 3: ("anchor", "positive", "negative")}
LOCAL_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def column(ds: Any, name: str) -> list[Any]:
    """One column of a ``datasets.Dataset`` as a list, honouring select/shuffle (unlike ``ds.data``)."""
    return list(ds[name])


@dataclass
class PairData:
    """Splits with role-named columns, and what they hold."""

    splits: dict[str, Any]  # split name -> datasets.Dataset
    label_kind: str
    source: str
    config: str | None = None
    roles: dict[str, str] = field(default_factory=dict)  # role -> original column name
    preset: str | None = None

    @property
    def text_roles(self) -> tuple[str, ...]:
        return tuple(role for role in self.roles if role != "label")

    def split(self, name: str) -> Any:
        if name not in self.splits:
            raise DataError(f"{self.source} has no {name!r} split (it has {', '.join(self.splits)}); choose one of those")
        return self.splits[name]

    def summary(self) -> str:
        rows = ", ".join(f"{name} {len(ds):,}" for name, ds in self.splits.items())
        roles = ", ".join(f"{role}={column}" for role, column in self.roles.items())
        text = f"{self.source}{f' ({self.config})' if self.config else ''}: {rows} rows; {roles}; labels: {self.label_kind}"
        if "label" in self.roles:
            train = next(iter(self.splits.values()))
            labels = column(train, "label")
            if self.label_kind == "class":
                text += f", {len(set(labels))} classes"
            elif labels:
                text += f" in [{min(labels):.2f}, {max(labels):.2f}]"
        return text


def _suggest(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{hint}the columns are: {', '.join(columns)}"


def _load_raw(dataset: str, config: str | None) -> tuple[dict[str, Any], str]:
    """The raw splits of a local file/folder or Hub data set, and a name for messages."""
    import datasets

    path = Path(dataset)
    if path.exists():
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix.lower() in LOCAL_FORMATS)
        if not files:
            raise DataError(f"{dataset} holds no .csv, .tsv, .jsonl or .parquet file; put one file per split there")
        kinds = {LOCAL_FORMATS.get(p.suffix.lower()) for p in files}
        if None in kinds or len(kinds) > 1:
            raise DataError(f"{dataset}: use files of one format, .csv, .tsv, .jsonl or .parquet")
        data_files = {"train": str(path)} if path.is_file() else {p.stem: str(p) for p in files}
        kind = kinds.pop()
        kwargs = {"delimiter": "\t"} if files[0].suffix.lower() == ".tsv" else {}
        try:
            loaded = datasets.load_dataset(kind, data_files=data_files, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any parser error becomes one line naming the file
            raise DataError(f"cannot read {dataset}: {str(exc).splitlines()[0]}; check the file is valid {kind}") from exc
        return dict(loaded), str(dataset)
    if "/" not in dataset:
        raise DataError(f"unknown data set {dataset!r}; use a preset ({', '.join(PRESETS)}), a Hub id user/name or a local file")
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
            what = "missing" if value is None else "empty" if isinstance(value, str) else f"not text ({value!r})"
            raise DataError(f"{source} {split} row {row}: column {original!r} is {what}; remove or fill that row")


def _check_labels(labels: list[Any], kind: str, column: str, split: str, source: str) -> None:
    for row, value in enumerate(labels):
        bad = value is None or (isinstance(value, float) and math.isnan(value))
        if not bad and kind == "binary":
            bad = value not in (0, 1)
        elif not bad and kind == "score":
            bad = not 0.0 <= float(value) <= 1.0
        if bad:
            expected = {"binary": "0 or 1", "score": "a score in [0, 1] (after scaling)", "class": "a class"}[kind]
            raise DataError(f"{source} {split} row {row}: label column {column!r} is {value!r}, expected {expected}; fix or drop that row")


def _infer_kind(labels: list[Any], n_texts: int) -> str:
    if n_texts == 3:
        return "triplet"
    if n_texts == 1:
        return "class"
    values = {v for v in labels if v is not None}
    return "binary" if values <= {0, 1} else "score"


def load_data(
    dataset: str,
    *,
    config: str | None = None,
    text_columns: tuple[str, ...] | list[str] | None = None,
    label_column: str | None = None,
    label_kind: str | None = None,
) -> PairData:
    """Load a preset name, Hub id or local file/folder and give its columns their roles by name."""
    preset: DatasetPreset | None = PRESETS.get(dataset)
    if preset is not None:
        raw, source = _load_raw(preset.hub_id, config or preset.config)
        raw = {role: raw[split] for role, split in preset.splits.items() if split in raw}
        text_columns = tuple(text_columns or preset.text_columns)
        label_column = label_column or preset.label_column
        label_kind = label_kind or preset.label_kind
        config = config or preset.config
    else:
        raw, source = _load_raw(dataset, config)
    if not raw:
        raise DataError(f"{source} has no splits")
    first = next(iter(raw.values()))
    columns = list(first.column_names)
    if not text_columns:
        raise DataError(f"{source}: say which columns hold the texts with --text-columns a,b (columns: {', '.join(columns)})")
    text_columns = tuple(text_columns)
    if len(text_columns) not in ROLE_COLUMNS:
        raise DataError(f"--text-columns names {len(text_columns)} columns; give 1 (text + class), 2 (pairs) or 3 (triplets)")
    if label_kind is not None and label_kind not in LABEL_KINDS:
        raise DataError(f"--label-kind {label_kind!r} is not one of {', '.join(LABEL_KINDS)}")
    if len(text_columns) == 3 and label_column:
        raise DataError("--text-columns names 3 columns (anchor, positive, negative), which take no --label-column; drop it")
    if len(text_columns) < 3 and not label_column:
        raise DataError(f"{source}: say which column holds the label with --label-column (columns: {', '.join(columns)})")
    wanted = [*text_columns, *([label_column] if label_column else [])]
    for split, ds in raw.items():
        for name in wanted:
            if name not in ds.column_names:
                raise DataError(f"{source} {split} split has no column {name!r}; {_suggest(name, ds.column_names)}")

    roles = dict(zip(ROLE_COLUMNS[len(text_columns)], text_columns, strict=True))
    if label_column:
        roles["label"] = label_column
    splits: dict[str, Any] = {}
    for split, ds in raw.items():
        ds = ds.select_columns(wanted).rename_columns({name: role for role, name in roles.items() if name != role})
        for role, original in roles.items():
            if role != "label":
                _check_texts(ds, role, split, source, original)
        if label_column:
            labels = column(ds, "label")
            kind = label_kind or _infer_kind(labels, len(text_columns))
            if preset is not None and preset.label_map:
                labels = [preset.label_map.get(v, v) for v in labels]
            if kind == "score":
                labels = _scale_scores(labels, preset.score_range if preset else None)
            _check_labels(labels, kind, label_column, split, source)
            label_kind = kind
            ds = ds.remove_columns("label").add_column("label", [float(v) if kind == "score" else int(v) for v in labels])
        splits[split] = ds
    return PairData(
        splits=splits,
        label_kind=label_kind or "triplet",
        source=source,
        config=config,
        roles=roles,
        preset=preset.name if preset else None,
    )


def _scale_scores(labels: list[Any], score_range: tuple[float, float] | None) -> list[Any]:
    """Scores to [0, 1]: a stated range, or 0-5 (STS convention) when values exceed 1."""
    values = [v for v in labels if isinstance(v, (int, float)) and not math.isnan(v)]
    if score_range is None and values and max(values) > 1.0 and max(values) <= 5.0 and min(values) >= 0.0:
        score_range = (0.0, 5.0)
    if score_range is None or score_range == (0.0, 1.0):
        return labels
    low, high = score_range
    return [None if v is None else (v - low) / (high - low) for v in labels]
