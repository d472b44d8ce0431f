"""A streamed index build against ``SentenceTransformer.encode`` of the whole list: texts/s and peak memory.

    python benchmarks/stream_build.py --texts 1000000 --device cuda      # the issue's 1M texts (a GPU)
    python benchmarks/stream_build.py --texts 50000                      # this machine's CPU, in minutes

The corpus is real text repeated to size: Banking77 (train + test) and STS-B (both sentences of
every split) from the Hugging Face cache, or ``--sources`` parquet/CSV files with a ``text`` column,
each row given a unique id, written to one parquet file. Each side runs in its own process, so the
peak resident memory (VmHWM) it reports is its own, measured above the level after the model is
loaded and has embedded one batch:

* ``siamese_text``: ``siamese_text.search.streaming.build_index`` (exact backend: embeddings.npy +
  records.parquet), a chunk of ``--chunk-size`` texts read, embedded and written at a time;
* ``sentence_transformers``: the texts read into one list, ``model.encode(list)``, ``np.save`` of
  the result, as a user of sentence-transformers builds an embedding file.

Prints a table and writes benchmarks/results/stream_build.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from search import _reset_peak, _status_mb  # benchmarks/search.py: the same peak-RSS counters

RESULTS = Path(__file__).parent / "results"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def source_texts(sources: list[str]) -> list[str]:
    if sources:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        texts: list[str] = []
        for source in sources:
            table = pq.read_table(source) if source.endswith(".parquet") else pa_csv.read_csv(source)
            for name in ("text", "sentence1", "sentence2"):
                if name in table.column_names:
                    texts += [t for t in table.column(name).to_pylist() if t]
        return texts
    from datasets import load_dataset

    texts = []
    for split in ("train", "test"):
        texts += list(load_dataset("PolyAI/banking77", split=split)["text"])
    for split in ("train", "validation", "test"):
        part = load_dataset("sentence-transformers/stsb", split=split)
        texts += list(part["sentence1"]) + list(part["sentence2"])
    return texts


def write_corpus(path: Path, base: list[str], n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("text", pa.string())]))
    for start in range(0, n, 100_000):
        ids = list(range(start, min(n, start + 100_000)))
        writer.write_table(pa.table({"id": ids, "text": [base[i % len(base)] for i in ids]}))
    writer.close()


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    from siamese_text.encoder import SiameseEncoder
    from siamese_text.search.corpus import open_corpus
    from siamese_text.search.streaming import build_index

    encoder = SiameseEncoder.load(args.model, device=args.device)
    encoder.encode(["warm up"] * args.batch_size, batch_size=args.batch_size)
    base = _reset_peak()
    start = time.perf_counter()
    done = build_index(encoder, open_corpus(args.corpus, id_column="id"), args.output, chunk_size=args.chunk_size,
                       batch_size=args.batch_size, show_progress=False)
    seconds = time.perf_counter() - start
    return {"texts": done.count, "seconds": seconds, "texts_per_s": done.count / seconds,
            "peak_mb_above_model": _status_mb("VmHWM") - base, "rss_after_model_mb": base}


def run_st(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device=args.device)
    model.encode(["warm up"] * args.batch_size, batch_size=args.batch_size)
    base = _reset_peak()
    start = time.perf_counter()
    texts = pq.read_table(args.corpus, columns=["text"]).column(0).to_pylist()
    embeddings = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
    np.save(Path(args.output) / "embeddings.npy", embeddings)
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "seconds": seconds, "texts_per_s": len(texts) / seconds,
            "peak_mb_above_model": _status_mb("VmHWM") - base, "rss_after_model_mb": base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=8192)
    parser.add_argument("--sources", nargs="*", default=[], help="parquet/CSV files with a text column (default: the HF cache)")
    parser.add_argument("--out", default=str(RESULTS / "stream_build.json"))
    parser.add_argument("--side", choices=["ours", "st"], help=argparse.SUPPRESS)  # one side, in a child process
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_ours(args) if args.side == "ours" else run_st(args)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.parquet"
        base = source_texts(args.sources)
        write_corpus(corpus, base, args.texts)
        print(f"corpus: {args.texts:,} texts from {len(base):,} distinct ones ({corpus.stat().st_size / 1e6:.0f} MB parquet)",
              flush=True)
        sides = {}
        for side in ("ours", "st"):
            out = Path(tmp) / f"out-{side}"
            out.mkdir() if side == "st" else None
            cmd = [sys.executable, __file__, "--side", side, "--corpus", str(corpus), "--output", str(out),
                   "--model", args.model, "--device", args.device, "--batch-size", str(args.batch_size),
                   "--chunk-size", str(args.chunk_size)]
            print(f"{side} ...", flush=True)
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
            sides[side] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  {sides[side]}", flush=True)
    import torch

    result = {"texts": args.texts, "model": args.model, "device": args.device, "batch_size": args.batch_size,
              "chunk_size": args.chunk_size, "siamese_text": sides["ours"], "sentence_transformers": sides["st"],
              "speed_ratio": sides["ours"]["texts_per_s"] / sides["st"]["texts_per_s"],
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "torch": torch.__version__, "load_average": os.getloadavg(),
                          "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    ours, st = sides["ours"], sides["st"]
    print(f"\n{args.texts:,} texts, {args.model}, {args.device}, batch {args.batch_size}")
    print(f"{'':<26}{'siamese_text (streamed)':>26}{'ST encode(list)':>18}{'ratio':>8}")
    print(f"{'texts/s':<26}{ours['texts_per_s']:>26,.0f}{st['texts_per_s']:>18,.0f}{result['speed_ratio']:>7.2f}x")
    print(f"{'peak MB above the model':<26}{ours['peak_mb_above_model']:>26,.0f}{st['peak_mb_above_model']:>18,.0f}"
          f"{'(target <= 1500)':>8}")


if __name__ == "__main__":
    main()
