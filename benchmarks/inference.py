"""Inference speed, memory and accuracy: sentence-transformers fp32 vs siamese_text fp32 vs ONNX fp32 vs ONNX int8.

    flock /tmp/siamese_bench.lock python benchmarks/inference.py > benchmarks/results/inference.log 2>&1
    python benchmarks/inference.py --limit 300 --rounds 1     # a quick smoke run

All four encode the unique STS-B test sentences with sentence-transformers/all-MiniLM-L6-v2, batch 32,
on the CPU. Each backend runs in its own process (so its peak memory is its own): load, one warm-up
batch, then ``--rounds`` timed passes over all sentences. The four processes run in the order
A B C D, then again D C B A, so load from other jobs on the machine hits every backend alike; the
speed is the median pass. Accuracy is STS-B test Spearman (cosine, x100) from the embeddings.

Prints a table and writes benchmarks/results/inference.json, with each speed as a ratio of
sentence-transformers' fp32 encode.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("st-fp32", "siamese-fp32", "onnx-fp32", "onnx-int8")
LABELS = {
    "st-fp32": "sentence-transformers fp32 (torch)",
    "siamese-fp32": "siamese_text fp32 (torch)",
    "onnx-fp32": "siamese_text ONNX fp32",
    "onnx-int8": "siamese_text ONNX int8",
}
BATCH = 32


def sts_test(limit: int | None) -> tuple[list[str], list[str], list[float]]:
    from datasets import load_dataset

    data = load_dataset("sentence-transformers/stsb", split="test")
    a, b, s = list(data["sentence1"]), list(data["sentence2"]), [float(x) for x in data["score"]]
    return (a[:limit], b[:limit], s[:limit]) if limit else (a, b, s)


def memory_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process. Not ``ru_maxrss``: Linux carries that over
    fork + exec, so every worker would report the parent's peak (the export)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def worker(backend: str, onnx_dir: str, rounds: int, limit: int | None, out: str) -> None:
    """One backend in this process: load, warm up, time ``rounds`` passes, score STS-B; JSON to ``out``."""
    import numpy as np
    from scipy.stats import spearmanr

    a, b, gold = sts_test(limit)
    sentences = list(dict.fromkeys(a + b))
    import torch  # noqa: F401  (every backend imports it: sentence-transformers needs it)

    baseline = memory_mb("VmRSS")
    t0 = time.perf_counter()
    if backend == "st-fp32":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(MODEL, device="cpu")

        def encode(texts: list[str]) -> np.ndarray:
            return model.encode(texts, batch_size=BATCH, convert_to_numpy=True)
    else:
        from siamese_text.encoder import SiameseEncoder

        if backend == "siamese-fp32":
            encoder = SiameseEncoder.load(MODEL)
        else:
            file_name = "onnx/model.onnx" if backend == "onnx-fp32" else "onnx/model_qint8_quantized.onnx"
            encoder = SiameseEncoder.load(onnx_dir, backend="onnx", model_kwargs={"file_name": file_name})

        def encode(texts: list[str]) -> np.ndarray:
            return encoder.encode(texts, batch_size=BATCH)
    load_seconds = time.perf_counter() - t0
    encode(sentences[:BATCH])
    speeds = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        emb = encode(sentences)
        speeds.append(len(sentences) / (time.perf_counter() - t0))
    index = {s: i for i, s in enumerate(sentences)}
    ea, eb = emb[[index[x] for x in a]], emb[[index[x] for x in b]]
    cosine = (ea * eb).sum(1) / (np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1))
    peak = memory_mb("VmHWM")
    Path(out).write_text(json.dumps({
        "backend": backend, "speeds": speeds, "sentences": len(sentences), "load_seconds": load_seconds,
        "spearman": float(spearmanr(cosine, gold)[0] * 100), "peak_rss_mb": peak, "baseline_rss_mb": baseline,
    }))


def export(tmp: Path) -> tuple[Path, float]:
    """siamtext export on the cached model: fp32 + int8 into ``tmp/onnx-model``."""
    from huggingface_hub import snapshot_download

    from siamese_text.export import export_onnx

    source = Path(snapshot_download(MODEL))
    t0 = time.perf_counter()
    export_onnx(source, out=tmp / "onnx-model", quantize="int8")
    return tmp / "onnx-model", time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="Timed passes per process.")
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N STS-B test pairs (smoke run).")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.onnx_dir, args.rounds, args.limit, args.out)
        return

    import onnxruntime
    import sentence_transformers
    import torch

    tmp = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    try:
        onnx_dir, export_seconds = export(tmp)
        sizes = {name: (onnx_dir / name).stat().st_size / 2**20 for name in ("onnx/model.onnx", "onnx/model_qint8_quantized.onnx")}
        runs: dict[str, list[dict]] = {b: [] for b in BACKENDS}
        for backend in BACKENDS + tuple(reversed(BACKENDS)):
            out = tmp / f"{backend}-{len(runs[backend])}.json"
            cmd = [sys.executable, __file__, "--worker", backend, "--onnx-dir", str(onnx_dir), "--rounds", str(args.rounds),
                   "--out", str(out)] + (["--limit", str(args.limit)] if args.limit else [])
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            runs[backend].append(json.loads(out.read_text()))
            print(f"  {backend}: {statistics.median(runs[backend][-1]['speeds']):.1f} sentences/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = {}
    for backend, results in runs.items():
        speeds = [s for r in results for s in r["speeds"]]
        rows[backend] = {
            "label": LABELS[backend],
            "sentences_per_second": round(statistics.median(speeds), 1),
            "sentences_per_second_all": [round(s, 1) for s in speeds],
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results)),
            "peak_above_imports_mb": round(max(r["peak_rss_mb"] - r["baseline_rss_mb"] for r in results)),
            "load_seconds": round(statistics.median(r["load_seconds"] for r in results), 2),
            "stsb_test_spearman": round(results[0]["spearman"], 2),
        }
    ref = rows["st-fp32"]["sentences_per_second"]
    for row in rows.values():
        row["speed_vs_st_fp32"] = round(row["sentences_per_second"] / ref, 2)
        row["spearman_vs_st_fp32"] = round(row["stsb_test_spearman"] - rows["st-fp32"]["stsb_test_spearman"], 2)

    report = {
        "model": MODEL, "data": "sentence-transformers/stsb test, unique sentences", "sentences": runs["st-fp32"][0]["sentences"],
        "batch_size": BATCH, "rounds_per_process": args.rounds, "processes_per_backend": 2, "cpu_threads": torch.get_num_threads(),
        "export_seconds": round(export_seconds, 1), "onnx_file_mb": {k: round(v, 1) for k, v in sizes.items()},
        "versions": {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
                     "onnxruntime": onnxruntime.__version__},
        "load_average_after": os.getloadavg()[0],
        "rows": rows,
        "targets": {
            "siamese_fp32_vs_st >= 1.0": rows["siamese-fp32"]["speed_vs_st_fp32"] >= 1.0,
            "onnx_int8_vs_st >= 2.5": rows["onnx-int8"]["speed_vs_st_fp32"] >= 2.5,
            "onnx_int8_spearman_within_0.5": abs(rows["onnx-int8"]["stsb_test_spearman"] - rows["st-fp32"]["stsb_test_spearman"]) <= 0.5,
        },
    }
    header = f"{'backend':38} {'sent/s':>8} {'x ST':>6} {'peak MB':>8} {'+MB':>6} {'Spearman':>9} {'delta':>6}"
    print(header)
    for row in rows.values():
        print(f"{row['label']:38} {row['sentences_per_second']:8.1f} {row['speed_vs_st_fp32']:6.2f} {row['peak_rss_mb']:8d} "
              f"{row['peak_above_imports_mb']:6d} {row['stsb_test_spearman']:9.2f} {row['spearman_vs_st_fp32']:+6.2f}")
    print(f"{report['sentences']} sentences, batch {BATCH}, {torch.get_num_threads()} threads; export {export_seconds:.0f} s; "
          f"ONNX files {sizes['onnx/model.onnx']:.0f} MB fp32, {sizes['onnx/model_qint8_quantized.onnx']:.0f} MB int8")
    print("targets:", json.dumps(report["targets"]))
    results_dir = Path(__file__).parent / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "inference.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
