"""Calibrated decisions on MRPC and evaluation on STS-B, zero-shot all-MiniLM-L6-v2, side by side
with sentence-transformers' evaluators in the same run.

    flock /tmp/siamese_bench.lock python benchmarks/calibration.py > benchmarks/results/calibration.log 2>&1

1. ``siamtext calibrate`` (the real command, in-process) on MRPC validation, objective accuracy
   and f1: threshold, validation accuracy/F1 at it (in-sample), and for comparison
   ``BinaryClassificationEvaluator``'s best accuracy/F1 on validation (same thing, their code).
2. Honest figures: validation split in two stratified halves (seeded); calibrate on one half,
   measure ECE (10 equal-width bins) and accuracy on the other, both ways round, Platt and
   isotonic; and thresholds/probabilities from MRPC train applied to all of validation.
3. ``siamtext evaluate`` on STS-B test against ``EmbeddingSimilarityEvaluator`` (the four metrics it
   knows; Hamming on the embeddings' sign bits beside them).
4. 1-bit codes: a Hamming threshold fitted on MRPC train, measured on validation, against the cosine
   one; our codes are checked byte for byte against sentence-transformers' ``ubinary`` quantisation.

Prints a table and writes benchmarks/results/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
METRICS = ("cosine", "dot", "euclidean", "manhattan")
REPEATS = 100  # random stratified halves of validation, each used both ways round


def _cli(*args: str) -> str:
    from click.testing import CliRunner
    from siamese_text_cli.main import cli

    result = CliRunner().invoke(cli, list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"siamtext {' '.join(args)} failed: {result.output}")
    return result.stdout


def _halves(labels: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two stratified halves of the row numbers."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    first, second = [], []
    for cls in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == cls))
        first.extend(rows[: len(rows) // 2])
        second.extend(rows[len(rows) // 2 :])
    return np.sort(first), np.sort(second)


def main(model: str = MODEL) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import (
        BinaryClassificationEvaluator,
        EmbeddingSimilarityEvaluator,
    )

    from siamese_text.calibration import expected_calibration_error, fit_calibration, load_calibration
    from siamese_text.data.loading import column, load_data
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.evaluation import binary_metrics_at, embed_pairs
    from siamese_text.scoring import pack_bits, pairwise_similarity

    t0 = time.perf_counter()
    out: dict[str, Any] = {"model": model, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    tmp = Path(tempfile.mkdtemp(prefix="calib-bench-"))
    folder = tmp / "minilm"
    SiameseEncoder.load(model).save(folder)
    st_model = SentenceTransformer(str(folder), device="cpu")
    encoder = SiameseEncoder.load(folder)

    # ---- 1. siamtext calibrate on MRPC validation --------------------------------------------
    mrpc = load_data("mrpc")
    val = mrpc.split("validation")
    va, vb, vy = column(val, "text_a"), column(val, "text_b"), column(val, "label")
    calib: dict[str, Any] = {}
    for objective in ("accuracy", "f1"):
        _cli("calibrate", str(folder), "--dataset", "mrpc", "--split", "validation", "--objective", objective, "--overwrite")
        c = load_calibration(folder)
        calib[objective] = {"threshold": c.threshold, **{k: c.fit[k] for k in ("accuracy", "f1", "precision", "recall", "ece")}}
    theirs = BinaryClassificationEvaluator(va, vb, vy, similarity_fn_names=["cosine"], write_csv=False)(st_model)
    calib["sentence_transformers_best"] = {
        "accuracy": theirs["cosine_accuracy"] * 100, "accuracy_threshold": theirs["cosine_accuracy_threshold"],
        "f1": theirs["cosine_f1"] * 100, "f1_threshold": theirs["cosine_f1_threshold"],
    }
    calib["pairs"] = len(vy)
    out["mrpc_calibrate_validation"] = calib

    # ---- 2. held-out figures ------------------------------------------------------------------
    ea, eb = embed_pairs(encoder, va, vb)
    val_scores = np.asarray(pairwise_similarity(ea, eb, metric="cosine"), dtype=np.float64)
    y = np.asarray(vy)
    half_a, half_b = _halves(vy)
    held: dict[str, Any] = {}
    for method in ("platt", "isotonic"):
        runs = []
        for fit_rows, test_rows in ((half_a, half_b), (half_b, half_a)):
            c = fit_calibration(val_scores[fit_rows], y[fit_rows], objective="accuracy", method=method, split="validation-half")
            p = c.probability(val_scores[test_rows])
            at = binary_metrics_at(val_scores[test_rows], y[test_rows], c.threshold)
            runs.append({"threshold": c.threshold, "ece": expected_calibration_error(p, y[test_rows]),
                         "accuracy": at["accuracy"], "f1": at["f1"], "pairs_fit": len(fit_rows), "pairs_held_out": len(test_rows)})
        held[method] = {"runs": runs, "ece_mean": float(np.mean([r["ece"] for r in runs])),
                        "accuracy_mean": float(np.mean([r["accuracy"] for r in runs]))}
    # one split of 250 pairs is a noisy ECE estimate; repeat over many random halves, and measure the
    # floor: the ECE of probabilities that ARE calibrated (labels drawn from them) on as many pairs
    rng = np.random.default_rng(123)
    for method in ("platt", "isotonic"):
        eces, accs, floor = [], [], []
        for seed in range(1, REPEATS + 1):
            first, second = _halves(vy, seed=seed)
            for fit_rows, test_rows in ((first, second), (second, first)):
                c = fit_calibration(val_scores[fit_rows], y[fit_rows], objective="accuracy", method=method)
                p = c.probability(val_scores[test_rows])
                eces.append(expected_calibration_error(p, y[test_rows]))
                accs.append(binary_metrics_at(val_scores[test_rows], y[test_rows], c.threshold)["accuracy"])
                floor.append(expected_calibration_error(p, (rng.uniform(size=p.size) < p).astype(int)))
        held[f"{method}_repeated"] = {
            "splits": len(eces), "ece_mean": float(np.mean(eces)), "ece_median": float(np.median(eces)),
            "ece_p90": float(np.percentile(eces, 90)), "fraction_ece_at_most_0.05": float(np.mean(np.asarray(eces) <= 0.05)),
            "accuracy_mean": float(np.mean(accs)), "ece_of_calibrated_probabilities_mean": float(np.mean(floor)),
        }
    train = mrpc.split("train")
    ta, tb = embed_pairs(encoder, column(train, "text_a"), column(train, "text_b"))
    train_scores = np.asarray(pairwise_similarity(ta, tb, metric="cosine"), dtype=np.float64)
    ty = np.asarray(column(train, "label"))
    for method in ("platt", "isotonic"):
        c = fit_calibration(train_scores, ty, objective="accuracy", method=method, split="train")
        at = binary_metrics_at(val_scores, y, c.threshold)
        held[f"train_to_validation_{method}"] = {"threshold": c.threshold, "ece": expected_calibration_error(c.probability(val_scores), y),
                                                 "accuracy": at["accuracy"], "f1": at["f1"]}
    out["mrpc_held_out"] = held

    # ---- 3. siamtext evaluate on STS-B test vs EmbeddingSimilarityEvaluator --------------------
    json_path = tmp / "stsb.json"
    _cli("evaluate", str(folder), "--dataset", "stsb", "--split", "test", "--metric", "all", "--output", str(json_path))
    ours = json.loads(json_path.read_text())["figures"]
    test = load_data("stsb").split("test")
    sa, sb, ss = column(test, "text_a"), column(test, "text_b"), column(test, "label")
    theirs = EmbeddingSimilarityEvaluator(sa, sb, ss, similarity_fn_names=list(METRICS), write_csv=False)(st_model)
    out["stsb_test"] = {
        key: {"siamese_text": ours[key], "sentence_transformers": float(theirs[key]) * 100, "difference": ours[key] - float(theirs[key]) * 100}
        for key in sorted(ours) if key in theirs
    }

    # ---- 4. 1-bit codes: Hamming distance of the sign bits ----------------------------------------
    from sentence_transformers.util.quantization import quantize_embeddings

    both = np.concatenate([ea, eb])
    binary: dict[str, Any] = {
        "bytes_per_text": {"float32": int(both.shape[1] * 4), "codes": int(pack_bits(both[:1]).shape[1])},
        "codes_equal_sentence_transformers_ubinary": bool((pack_bits(both) == quantize_embeddings(both, precision="ubinary")).all()),
        "stsb_test_spearman": {m: ours[f"spearman_{m}"] for m in ("cosine", "hamming")},
    }
    binary["mrpc_train_to_validation_cosine"] = held["train_to_validation_platt"]  # section 2's cosine fit
    train_hamming = np.asarray(pairwise_similarity(ta, tb, metric="hamming"), dtype=np.float64)
    val_hamming = np.asarray(pairwise_similarity(ea, eb, metric="hamming"), dtype=np.float64)
    c = fit_calibration(train_hamming, ty, metric="hamming", objective="accuracy", split="train")
    at = binary_metrics_at(val_hamming, y, c.threshold)
    binary["mrpc_train_to_validation_hamming"] = {"threshold": c.threshold, "accuracy": at["accuracy"], "f1": at["f1"],
                                                  "ece": expected_calibration_error(c.probability(val_hamming), y)}
    out["binary_codes"] = binary
    out["seconds"] = round(time.perf_counter() - t0, 1)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def report(out: dict[str, Any]) -> str:
    n_val = out["mrpc_calibrate_validation"]["pairs"]
    lines = [f"zero-shot {out['model']}", "", f"siamtext calibrate on MRPC validation ({n_val} pairs; figures in-sample)"]
    lines.append(f"{'objective':<10}{'threshold':>10}{'accuracy':>10}{'F1':>8}{'ECE':>8}")
    for objective in ("accuracy", "f1"):
        r = out["mrpc_calibrate_validation"][objective]
        lines.append(f"{objective:<10}{r['threshold']:>10.4f}{r['accuracy']:>10.2f}{r['f1']:>8.2f}{r['ece']:>8.4f}")
    st = out["mrpc_calibrate_validation"]["sentence_transformers_best"]
    lines.append(f"sentence-transformers BinaryClassificationEvaluator: accuracy {st['accuracy']:.2f} at {st['accuracy_threshold']:.4f}, "
                 f"F1 {st['f1']:.2f} at {st['f1_threshold']:.4f}")
    lines += ["", "held out (threshold by accuracy; ECE on pairs the calibration did not see)"]
    lines.append(f"{'fit -> measured':<34}{'method':<10}{'threshold':>10}{'accuracy':>10}{'ECE':>8}")
    for method in ("platt", "isotonic"):
        for i, r in enumerate(out["mrpc_held_out"][method]["runs"]):
            lines.append(f"{f'validation half {i + 1} -> other half':<34}{method:<10}{r['threshold']:>10.4f}{r['accuracy']:>10.2f}{r['ece']:>8.4f}")
        lines.append(f"{'  mean of both':<34}{method:<10}{'':>10}{out['mrpc_held_out'][method]['accuracy_mean']:>10.2f}{out['mrpc_held_out'][method]['ece_mean']:>8.4f}")
    for method in ("platt", "isotonic"):
        r = out["mrpc_held_out"][f"{method}_repeated"]
        label = f"{r['splits']} random halves -> other half"
        lines.append(f"{label:<34}{method:<10}{'':>10}{r['accuracy_mean']:>10.2f}{r['ece_mean']:>8.4f}"
                     f"  (median {r['ece_median']:.4f}, p90 {r['ece_p90']:.4f}, <= 0.05 in {r['fraction_ece_at_most_0.05']:.0%};"
                     f" calibrated probabilities on as many pairs: {r['ece_of_calibrated_probabilities_mean']:.4f})")
    for method in ("platt", "isotonic"):
        r = out["mrpc_held_out"][f"train_to_validation_{method}"]
        lines.append(f"{'train -> validation':<34}{method:<10}{r['threshold']:>10.4f}{r['accuracy']:>10.2f}{r['ece']:>8.4f}")
    lines += ["", "siamtext evaluate on STS-B test vs EmbeddingSimilarityEvaluator"]
    lines.append(f"{'figure':<20}{'siamese_text':>14}{'sentence-tr.':>14}{'difference':>12}")
    for key, r in out["stsb_test"].items():
        lines.append(f"{key:<20}{r['siamese_text']:>14.4f}{r['sentence_transformers']:>14.4f}{r['difference']:>12.2e}")
    b = out["binary_codes"]
    lines += ["", f"1-bit codes ({b['bytes_per_text']['codes']} bytes a text against {b['bytes_per_text']['float32']}; "
                  f"same bytes as sentence-transformers' ubinary: {b['codes_equal_sentence_transformers_ubinary']})"]
    lines.append(f"{'metric':<10}{'STS-B test Spearman':>21}{'MRPC val acc @ train thr.':>27}{'F1':>8}{'ECE':>8}")
    for metric in ("cosine", "hamming"):
        r = b[f"mrpc_train_to_validation_{metric}"]
        lines.append(f"{metric:<10}{b['stsb_test_spearman'][metric]:>21.2f}{r['accuracy']:>27.2f}{r['f1']:>8.2f}{r['ece']:>8.4f}")
    lines.append(f"\n{out['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL, help="Hub id or folder (a tiny model makes a quick smoke run)")
    parser.add_argument("--out", default=str(RESULTS / "calibration.json"))
    args = parser.parse_args()
    result = main(args.model)
    print(report(result))
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
