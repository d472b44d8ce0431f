"""The model card (README.md) of a saved model, rendered from ``templates/model_card.md``.

sentence-transformers writes a generic card when it saves; it knows nothing of the margin, the
distance, the seed, the evaluation before and after, or the calibrated threshold. This card is
built from what the folder itself holds (``results.json`` written by training, the calibration
file, the module configs, the ONNX exports), so it can be regenerated at any time and never
invents a figure: a section whose data is missing is left out.

The YAML front matter is produced with ``yaml.safe_dump`` from a dict (never by string
formatting), so it always parses, and uses the keys the Hub reads: ``library_name``,
``pipeline_tag``, ``tags``, ``base_model``, ``datasets``, ``license`` and ``model-index``.
"""

from __future__ import annotations

import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from siamese_text.citations import CITATIONS
from siamese_text.config import CLASS_LOSSES, TRIPLET_LOSSES
from siamese_text.errors import ModelError
from siamese_text.storage import atomic_file

__all__ = ["render_model_card", "write_model_card", "read_results", "CITATIONS"]

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")

_LOSSES: dict[str, tuple[str, str]] = {
    "contrastive": (
        "Contrastive loss",
        "Similar pairs are pulled together (their squared distance is the loss); dissimilar pairs are pushed "
        "apart until they are at least the margin away.",
    ),
    "online-contrastive": (
        "Online contrastive loss",
        "Contrastive loss on the hard pairs of each batch only: positives farther apart than the closest "
        "negative, negatives closer than the farthest positive.",
    ),
    "triplet": (
        "Triplet loss",
        "For each (anchor, positive, negative) the anchor must be closer to the positive than to the negative "
        "by at least the margin.",
    ),
    "batch-hard-triplet": (
        "Batch-hard triplet loss",
        "For each anchor, the farthest same-class text and the closest other-class text in the batch form the triplet.",
    ),
    "batch-semi-hard-triplet": (
        "Batch-semi-hard triplet loss",
        "Negatives farther than the positive but within the margin are chosen from the batch.",
    ),
    "batch-all-triplet": (
        "Batch-all triplet loss",
        "Every valid triplet of the batch that violates the margin contributes to the loss.",
    ),
    "batch-centroid-triplet": (
        "Batch centroid triplet loss",
        "Each text must be closer to the centroid of the other texts of its class in the batch than to the nearest "
        "centroid of another class, by at least the margin.",
    ),
    "batch-centroid-softmax": (
        "Batch centroid softmax (prototypical) loss",
        "Each text is classified among the class centroids of its batch (its own without it) by a softmax over "
        "20 x cosine similarity; the loss is the cross-entropy of its own class.",
    ),
    "cosent": (
        "CoSENT loss",
        "A ranking loss: within each batch, every pair must have a higher cosine similarity than each pair "
        "scored below it.",
    ),
}
# What each loss's card cites (siamese_text.citations keys), before Sentence-BERT.
_LOSS_CITATIONS: dict[str, tuple[str, ...]] = {
    "contrastive": ("contrastive",),
    "online-contrastive": ("contrastive",),
    "triplet": ("triplet",),
    "batch-hard-triplet": ("triplet", "batch-triplet"),
    "batch-semi-hard-triplet": ("triplet", "batch-triplet"),
    "batch-all-triplet": ("triplet", "batch-triplet"),
    "batch-centroid-triplet": ("triplet", "centroid-triplet"),
    "batch-centroid-softmax": ("prototypical",),
    "cosent": ("cosent",),
}
_TASKS = {
    "score": ("semantic-similarity", "Semantic Similarity"),
    "binary": ("pair-classification", "Pair Classification"),
    "triplet": ("triplet", "Triplet"),
    "class": ("information-retrieval", "Retrieval"),
}
# TrainConfig fields shown elsewhere in the card, or that say where files went rather than how it trained.
_NOT_HYPERPARAMETERS = {"dataset", "model", "loss", "distance", "margin", "seed", "output", "overwrite", "config", "extra",
                        "text_columns", "label_column", "label_kind"}


def read_results(folder: str | os.PathLike) -> dict[str, Any] | None:
    """``results.json`` of a model folder, ``None`` if there is none; a broken file is a :class:`ModelError`."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({str(exc).splitlines()[0]}); retrain or delete it") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object; retrain or delete it")
    return data


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        return {}
    return data if isinstance(data, (dict, list)) else {}


def _is_hub_id(name: Any) -> bool:
    return isinstance(name, str) and bool(_HUB_ID.match(name)) and not Path(name).exists()


def _number(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _dataset_label(dataset: dict[str, Any]) -> str:
    """A Hub id as it is; a local file or folder by its name only (a full local path means nothing on the Hub)."""
    source = str(dataset.get("id") or dataset.get("name") or "data")
    return source if _is_hub_id(source) else Path(source).name or source


def _base_license(base_model: str | None) -> str | None:
    """The base model's licence, read from its card in a local folder or the local Hub cache (no network)."""
    if not base_model:
        return None
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.repocard import metadata_load

    local = Path(base_model) / "README.md"
    if local.is_file():
        path: Any = local
    elif _is_hub_id(base_model):
        path = try_to_load_from_cache(base_model, "README.md")
    else:
        return None
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        return None
    try:
        meta = metadata_load(Path(path)) or {}
    except Exception:  # a base card with broken YAML must not stop ours
        return None
    licence = meta.get("license")
    return licence if isinstance(licence, str) else None


def _structure(folder: Path) -> dict[str, Any]:
    """Pooling, normalisation, dimension, length and architecture, from the saved module configs."""
    modules = _json(folder / "modules.json")
    modules = modules if isinstance(modules, list) else []
    types = [m.get("type", "") for m in modules if isinstance(m, dict)]
    pooling_cfg: dict[str, Any] = {}
    for m in modules:
        if isinstance(m, dict) and m.get("type", "").endswith("Pooling"):
            pooling_cfg = _json(folder / m.get("path", "") / "config.json")
    mode = pooling_cfg.get("pooling_mode")
    if not isinstance(mode, str):
        mode = next((k[len("pooling_mode_"):].replace("_tokens", "") for k, v in pooling_cfg.items()
                     if k.startswith("pooling_mode_") and v is True), "mean")
    config = _json(folder / "config.json")
    st_config = _json(folder / "config_sentence_transformers.json")
    return {
        "pooling": {"mean": "masked mean", "cls": "CLS-token", "max": "max"}.get(mode, mode),
        "normalize": any(t.endswith("Normalize") for t in types),
        "dimension": pooling_cfg.get("word_embedding_dimension") or config.get("hidden_size") or "?",
        # sentence-transformers < 6 kept it in sentence_bert_config.json, 6 in the tokenizer config
        "max_seq_length": _json(folder / "sentence_bert_config.json").get("max_seq_length")
        or (length if isinstance(length := _json(folder / "tokenizer_config.json").get("model_max_length"), int)
            and length < 1_000_000 else "?"),
        "architecture": ", ".join(config.get("architectures") or []) or config.get("model_type") or "transformer",
        "similarity_fn": {"cosine": "cosine similarity", "dot": "dot product", "euclidean": "negative Euclidean distance",
                          "manhattan": "negative Manhattan distance"}.get(st_config.get("similarity_fn_name") or "cosine", "cosine similarity"),
    }


Rows = list[tuple[str, list[str]]]


def _metrics(results: dict[str, Any]) -> tuple[list[str], Rows, Rows, list[dict[str, Any]]]:
    """Table columns, the summary rows and the other rows (the card folds them away), and the
    model-index results (one per evaluated split, baselines left out)."""
    from siamese_text.evaluation import summary_metrics

    metrics = results.get("metrics") or {}
    metrics = {s: m for s, m in metrics.items() if isinstance(m, dict) and m}
    splits = list(metrics)
    dataset = results.get("dataset") or {}
    names = list(dict.fromkeys(n for s in splits for n in metrics[s]))
    first = list(dict.fromkeys(n for figures in summary_metrics(metrics, dataset.get("label_kind")).values() for n in figures))
    columns = [s[: -len("_before")] + " (before)" if s.endswith("_before") else s for s in splits]
    rows = {n: (n, [_number(metrics[s][n]) if n in metrics[s] else "-" for s in splits]) for n in names}
    task_type, task_name = _TASKS.get(dataset.get("label_kind"), ("sentence-similarity", "Sentence Similarity"))
    index = []
    for split in splits:
        if split.endswith("_before"):
            continue
        values = [{"type": n, "value": round(float(v), 4), "name": n.replace("_", " ")}
                  for n, v in metrics[split].items() if isinstance(v, (int, float))]
        if values:
            index.append({
                "task": {"type": task_type, "name": task_name},
                "dataset": {"name": f"{_dataset_label(dataset)} {split}", "type": _dataset_label(dataset), "split": split,
                            **({"config": dataset["config"]} if dataset.get("config") else {})},
                "metrics": values,
            })
    return columns, [rows[n] for n in first], [rows[n] for n in names if n not in first], index


def _curve(results: dict[str, Any]) -> dict[str, Any] | None:
    """The validation figure that sums up the data's kind of evaluation, at the end of each epoch."""
    from siamese_text.evaluation import HEADLINE_METRICS

    metric = HEADLINE_METRICS.get((results.get("dataset") or {}).get("label_kind") or "")
    for split, rows in (results.get("history") or {}).items():
        points = [(f"{row['epoch']:g}", f"{int(row['step'])}", _number(row[metric])) for row in rows if metric in row]
        if points:
            return {"split": split, "metric": metric, "points": points}
    return None


def _calibration(folder: Path) -> dict[str, Any] | None:
    from siamese_text.calibration import CALIBRATION_FILE, load_calibration

    calibration = load_calibration(folder)
    if calibration is None:
        return None
    where = " ".join(str(x) for x in (calibration.dataset, calibration.config, calibration.split) if x) or "given pairs"
    return {
        "metric": calibration.metric,
        "threshold": f"{calibration.threshold:.4f}",
        "objective": calibration.objective,
        "method": calibration.method,
        "where": where,
        "fit": [(k, _number(v)) for k, v in (calibration.fit or {}).items()],
        "file": CALIBRATION_FILE,
    }


def _versions(results: dict[str, Any]) -> dict[str, str]:
    versions = {k: str(v) for k, v in (results.get("versions") or {}).items()}
    if not versions:  # no training record: the versions this card was written with
        for name in ("siamese_text", "sentence_transformers", "transformers", "torch", "huggingface_hub"):
            try:
                versions[name] = metadata.version(name.replace("siamese_text", "siamese-text").replace("_", "-"))
            except metadata.PackageNotFoundError:
                continue
    return versions


def render_model_card(folder: str | os.PathLike, *, results: dict[str, Any] | None = None, repo_id: str | None = None) -> str:
    """The card text for a model folder (``results`` defaults to its ``results.json``)."""
    import jinja2
    import yaml

    folder = Path(folder)
    results = results if results is not None else (read_results(folder) or {})
    structure = _structure(folder)
    dataset = results.get("dataset") or {}
    loss = results.get("loss") or {}
    base_model = results.get("base_model")
    licence = results.get("license") or _base_license(base_model)
    columns, rows, more_rows, index = _metrics(results)
    # Training writes the card inside a temporary folder that is renamed afterwards: name the model after
    # the output path it was trained for, not the folder the card happens to be written in.
    model_id = repo_id or (results.get("arguments") or {}).get("output") or str(folder)
    name = repo_id or Path(model_id).name
    loss_name = loss.get("name")

    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "siamese", "siamese-text"]
    tags += [f"loss:{loss_name}", f"distance:{loss['distance']}"] if loss_name else []
    front: dict[str, Any] = {"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity", "tags": tags}
    if licence:
        front["license"] = licence
    if _is_hub_id(base_model):
        front["base_model"] = base_model
    if _is_hub_id(dataset.get("id")):
        front["datasets"] = [dataset["id"]]
    if index:
        front["model-index"] = [{"name": name, "results": index}]

    citations = [CITATIONS[key] for key in _LOSS_CITATIONS.get(loss_name or "", ())] + [CITATIONS["sbert"]]
    title, explanation = _LOSSES.get(loss_name or "", (str(loss_name), ""))
    arguments = results.get("arguments") or {}
    if loss.get("score_margins"):  # triplets built from scored pairs with margins scaled by the scores
        citations.insert(1, CITATIONS["adaptive-margin"])
        explanation += (" Each scored pair (a, b, s) gave triplets, from both sides, whose margin is scaled by the score: "
                        "b beats a random text by margin x s, and b, encoded a second time, beats a by margin x (1 - s).")
    if loss_name == "contrastive" and dataset.get("label_kind") == "score" and not arguments.get("binary_labels"):
        explanation += (" The labels are the similarity scores s in [0, 1] (soft labels), so a pair's loss is smallest at "
                        f"distance (1 - s) x {loss.get('margin'):g}: each pair is pulled to the distance its score asks for.")
    hyper = [(k, f"{v:g}" if isinstance(v, float) else str(v)) for k, v in arguments.items()
             if k not in _NOT_HYPERPARAMETERS and v is not None and v != {}]
    # In-batch class losses train on single class-labelled texts; the others on rows of 2 or 3 texts.
    train_unit = ("" if not loss_name else "texts" if loss_name in CLASS_LOSSES else
                  "triplets" if loss_name in TRIPLET_LOSSES else "pairs")
    versions = _versions(results)
    onnx = sorted(p.relative_to(folder).as_posix() for p in (folder / "onnx").glob("*.onnx")) if (folder / "onnx").is_dir() else []

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), autoescape=False,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    text = env.get_template(TEMPLATE.name).render(
        front_matter=yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000),
        title=name,
        model_id=model_id,
        **structure,
        base_model=base_model,
        base_model_is_hub=_is_hub_id(base_model),
        license=licence,
        dataset={
            "id": dataset.get("id") or dataset.get("name"),
            "is_hub": _is_hub_id(dataset.get("id")),
            "config": dataset.get("config"),
            "roles": ", ".join(f"{role} = `{col}`" for role, col in (dataset.get("roles") or {}).items()) or "-",
            "label_kind": dataset.get("label_kind") or "-",
            "rows": ", ".join(f"{split} {n:,}" for split, n in (dataset.get("rows") or {}).items()) or "-",
        } if dataset else None,
        train_examples=f"{results['train_examples']:,}" if isinstance(results.get("train_examples"), int) else "-",
        train_unit=train_unit,
        loss={"name": loss_name, "title": title, "distance": loss.get("distance", "?"), "margin": loss.get("margin"),
              "explanation": explanation} if loss_name else None,
        hyperparameters=hyper,
        seed=results.get("seed", arguments.get("seed", "-")),
        train_seconds=results.get("train_seconds"),
        examples_per_second=results.get("train_examples_per_second"),
        total_seconds=results.get("total_seconds"),
        metric_columns=columns,
        metric_rows=rows,
        more_metric_rows=more_rows,
        before_note="Columns marked *(before)* are the base model on the same split, before training."
        if any(c.endswith("(before)") for c in columns) else "",
        curve=_curve(results),
        calibration=_calibration(folder),
        metric=(loss.get("distance") if loss.get("distance") in ("cosine", "euclidean", "manhattan") else "cosine"),
        onnx_files=onnx,
        versions=versions,
        version_rows=list(versions.items()),
        citations=citations,
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def write_model_card(folder: str | os.PathLike, results: dict[str, Any] | None = None, *, repo_id: str | None = None) -> Path:
    """Write ``folder/README.md`` (replacing sentence-transformers' generic card) atomically; returns its path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder; save the model before writing its card")
    text = render_model_card(folder, results=results, repo_id=repo_id)
    with atomic_file(folder / "README.md") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return folder / "README.md"
