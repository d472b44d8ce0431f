"""Semantic search: siamese_text's exact, faiss HNSW and binary backends against sentence-transformers'
``util.semantic_search``, on the same arrays, in the same run.

    flock /tmp/siamese_bench.lock python benchmarks/search.py > benchmarks/results/search.log 2>&1
    python benchmarks/search.py --n 100000 --queries 200 --single 10   # a quick smoke run
    python benchmarks/search.py --no-milvus   # without Milvus Lite, whose 1M-row build takes longest

Data: synthetic unit float32 embeddings, ``--n`` x ``--dim`` (default 1,000,000 x 384, 1.5 GB), and
``--queries`` queries. Isotropic Gaussian vectors have no neighbours worth the name (every cosine is
about 0 +- 0.05), which no approximate index can rank and real sentence embeddings do not look like,
so the main data set is clustered in two levels (subjects > topics > texts, see ``make_data``),
each query a fresh text on a random topic. Exact search does the same work
on any data; the recall of HNSW and binary codes depends on it, so binary recall is also reported
on isotropic data (``--no-isotropic`` skips it).

Rows:
* exact, single queries: median ms against the memory-bandwidth floor of a bare ``E @ q`` on the
  same array and against ``util.semantic_search`` (``dot_score``, and its default ``cos_sim``,
  which re-normalises the corpus on every call), interleaved query by query;
* exact, batches of ``--batch`` queries: GFLOP/s against this machine's float32 GEMM rate (a
  2048^3 ``A @ A``, measured between batches) and against ``util.semantic_search``;
* faiss HNSW at several ``efSearch``: recall@10 against exact, ms per single query (median, p99), batched QPS;
* Milvus Lite (the milvus backend's embedded engine, HNSW with the same M/efConstruction) at several ``ef``: the same;
* binary + rescoring at several multipliers: recall@10, ms per single query, code memory;
* build time and peak resident memory (VmHWM above the level before the build) of each.

Prints a table and writes benchmarks/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).parent / "results"
K = 10


# ---- memory and timing helpers ----------------------------------------------------------------


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> float:
    """Reset the kernel's peak-RSS counter (VmHWM) and return the current RSS in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _gemm_gflops(a: np.ndarray, repeats: int = 3) -> float:
    """This machine's float32 matrix-product rate now: best of ``repeats`` square ``a @ a``."""
    best = min(_timed(lambda: a @ a)[0] for _ in range(repeats))
    return 2 * a.shape[0] ** 3 / best / 1e9


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_data(n: int, dim: int, n_queries: int, *, clustered: bool, seed: int,
              chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Unit float32 corpus and queries, generated in chunks (no float64 copy of the corpus).

    Clustered: ``n / 1000`` subjects, ``n / 100`` topics (subject + noise, cosine ~0.6 to it), each
    text = topic + noise of a per-text strength (cosine 0.3-0.8 to a text of the same topic, 0.2-0.5
    to one of a sibling topic, ~0 otherwise), so neighbours form a continuum, not separated blobs.
    """
    rng = np.random.default_rng(seed)
    topics = None
    if clustered:
        subjects = _unit(rng.standard_normal((max(1, n // 1000), dim), dtype=np.float32))
        n_topics = max(1, n // 100)
        topics = _unit(subjects[rng.integers(0, len(subjects), n_topics)]
                       + 0.8 / np.sqrt(dim) * rng.standard_normal((n_topics, dim), dtype=np.float32))

    def draw(m: int) -> np.ndarray:
        x = rng.standard_normal((m, dim), dtype=np.float32)
        if topics is not None:
            strength = rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)
            x = topics[rng.integers(0, len(topics), m)] + strength / np.sqrt(dim) * x
        return _unit(x).astype(np.float32)

    corpus = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        corpus[start : start + chunk] = draw(min(chunk, n - start))
    return corpus, draw(n_queries)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


# ---- the runs ---------------------------------------------------------------------------------


def bench_exact_single(index: Any, queries: np.ndarray, n_single: int, n_cos: int) -> dict[str, Any]:
    import torch
    from sentence_transformers import util

    emb = index.embeddings
    corpus_t = torch.from_numpy(emb)
    out = np.empty(emb.shape[0], dtype=np.float32)
    times: dict[str, list[float]] = {"bare_matvec": [], "siamese_text": [], "st_dot": [], "st_cos": []}
    same = 0
    index.search_embeddings(queries[:1], top_k=K)  # warm up
    for i, q in enumerate(queries[:n_single]):
        runs = [
            ("bare_matvec", lambda q=q: np.matmul(emb, q, out=out)),
            ("siamese_text", lambda q=q: index.search_embeddings(q[None], top_k=K)),
            ("st_dot", lambda q=q: util.semantic_search(torch.from_numpy(q[None]), corpus_t, top_k=K,
                                                      score_function=util.dot_score)),
        ]
        if i < n_cos:
            runs.append(("st_cos", lambda q=q: util.semantic_search(torch.from_numpy(q[None]), corpus_t, top_k=K)))
        results = {}
        for name, fn in runs[i % 3 :] + runs[: i % 3]:  # rotate the order so contention hits all alike
            seconds, results[name] = _timed(fn)
            times[name].append(seconds)
        ours = results["siamese_text"][1][0].tolist()
        same += ours == [hit["corpus_id"] for hit in results["st_dot"][0]]
    median = {name: float(np.median(t)) * 1e3 for name, t in times.items() if t}
    gb = emb.nbytes / 1e9
    return {
        "queries": n_single, "st_cos_queries": min(n_cos, n_single), "median_ms": median,
        "floor_gb_per_s": gb / (median["bare_matvec"] / 1e3),
        "ratio_to_floor": median["siamese_text"] / median["bare_matvec"],
        "ratio_to_st_dot": median["siamese_text"] / median["st_dot"],
        "ratio_to_st_cos": median["siamese_text"] / median["st_cos"] if "st_cos" in median else None,
        "same_top10_as_st": same / n_single,
    }


def bench_exact_batched(index: Any, queries: np.ndarray, batch: int) -> tuple[dict[str, Any], np.ndarray]:
    import torch
    from sentence_transformers import util

    emb = index.embeddings
    corpus_t = torch.from_numpy(emb)
    a = np.random.default_rng(1).standard_normal((2048, 2048), dtype=np.float32)
    gemm = [_gemm_gflops(a)]
    truth, ours_t, st_t, same = [], [], [], 0
    for start in range(0, len(queries), batch):
        qb = queries[start : start + batch]
        seconds, (_, rows) = _timed(lambda qb=qb: index.search_embeddings(qb, top_k=K))
        ours_t.append(seconds)
        truth.append(rows)
        seconds, hits = _timed(lambda qb=qb: util.semantic_search(
            torch.from_numpy(qb), corpus_t, top_k=K, query_chunk_size=batch, score_function=util.dot_score))
        st_t.append(seconds)
        same += sum(r.tolist() == [h["corpus_id"] for h in hs] for r, hs in zip(rows, hits))
        gemm.append(_gemm_gflops(a))
    flop = 2 * batch * emb.shape[0] * emb.shape[1]
    ours_rate, st_rate, gemm_rate = flop / np.median(ours_t) / 1e9, flop / np.median(st_t) / 1e9, float(np.median(gemm))
    return {
        "batch": batch, "batches": len(ours_t), "median_ms_per_batch": float(np.median(ours_t)) * 1e3,
        "ms_per_query": float(np.median(ours_t)) * 1e3 / batch, "st_dot_ms_per_query": float(np.median(st_t)) * 1e3 / batch,
        "gflops": ours_rate, "st_dot_gflops": st_rate, "machine_gemm_gflops": gemm_rate,
        "fraction_of_gemm": ours_rate / gemm_rate, "ratio_to_st_dot": float(np.median(ours_t) / np.median(st_t)),
        "same_top10_as_st": same / len(queries),
    }, np.concatenate(truth)


def bench_backend(base: Any, queries: np.ndarray, truth: np.ndarray, backend: str, sweep: str,
                  values: list[int], n_timed: int, batch: int = 100, **options: Any) -> dict[str, Any]:
    """Build ``backend`` on the base index's embeddings; for each value of ``sweep``: recall@10 against
    exact, single-query latency (median, p99) and batched queries per second (through ``search_vectors``,
    which every backend answers, Milvus included)."""
    from siamese_text.search import SemanticIndex

    before = _reset_peak()
    build_s, index = _timed(lambda: SemanticIndex.from_embeddings(
        base.embeddings, texts=base.texts, ids=base.ids, backend=backend, **options))
    peak = _status_mb("VmHWM") - before
    rows_out = []
    for value in values:
        index.options[sweep] = value
        found, times = [], []
        for i, q in enumerate(queries):
            seconds, hits = _timed(lambda q=q: index.search_vectors(q[None], top_k=K)[0])
            found.append([h.id for h in hits] + [-1] * (K - len(hits)))
            if i < n_timed:
                times.append(seconds)
        batch_s = [_timed(lambda s=s: index.search_vectors(queries[s : s + batch], top_k=K))[0]
                   for s in range(0, min(len(queries), 5 * batch), batch)]
        rows_out.append({sweep: value, "recall_at_10": recall_at_k(np.array(found), truth),
                         "median_ms_per_query": float(np.median(times)) * 1e3,
                         "p99_ms_per_query": float(np.percentile(times, 99)) * 1e3,
                         "mean_ms_per_query": float(np.mean(times)) * 1e3,
                         "batch_qps": batch / float(np.median(batch_s))})
        print(f"  {backend} {sweep}={value}: {rows_out[-1]}", flush=True)
    extra = {}
    if backend == "binary":
        codes = index.store.codes
        extra = {"code_mb": codes.nbytes / 1e6, "float32_mb": base.embeddings.nbytes / 1e6,
                 "code_fraction_of_float32": codes.nbytes / base.embeddings.nbytes}
    index.close()
    return {"build_s": build_s, "build_peak_mb": peak, "options": {**index.options}, "sweep": rows_out, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=50, help="queries timed one at a time for exact search")
    parser.add_argument("--st-cos", type=int, default=5, help="of those, how many also through util.semantic_search's cos_sim")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--timed", type=int, default=300, help="queries timed one at a time for HNSW and binary")
    parser.add_argument("--no-faiss", action="store_true")
    parser.add_argument("--hnsw-m", type=int, default=None, help="HNSW neighbours a node (default: the library's)")
    parser.add_argument("--ef-construction", type=int, default=None, help="HNSW efConstruction (default: the library's)")
    parser.add_argument("--ef-search", default="16,32,64,128,256,512", help="HNSW efSearch values to sweep")
    parser.add_argument("--no-isotropic", action="store_true")
    parser.add_argument("--no-milvus", action="store_true", help="skip Milvus Lite (the slowest to build)")
    parser.add_argument("--milvus-ef", default="64,128,256", help="Milvus HNSW ef values to sweep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "search.json"))
    args = parser.parse_args()

    import faiss
    import sentence_transformers
    import torch

    from siamese_text.search import SemanticIndex

    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average_start": os.getloadavg(), "numpy": np.__version__, "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "faiss": faiss.__version__,
                    "sentence_transformers": sentence_transformers.__version__},
        "n": args.n, "dim": args.dim, "queries": args.queries, "k": K,
    }
    print(f"generating {args.n:,} x {args.dim} clustered unit float32 embeddings ...", flush=True)
    corpus, queries = make_data(args.n, args.dim, args.queries, clustered=True, seed=args.seed)
    texts = [f"t{i}" for i in range(args.n)]  # records are not what is measured
    before = _reset_peak()
    build_s, exact = _timed(lambda: SemanticIndex.from_embeddings(corpus, texts=texts, backend="exact"))
    result["exact_build"] = {"build_s": build_s, "build_peak_mb": _status_mb("VmHWM") - before,
                             "copied_corpus": exact.embeddings is not corpus}
    del corpus

    print("exact, single queries ...", flush=True)
    result["exact_single"] = bench_exact_single(exact, queries, args.single, args.st_cos)
    print(f"  {result['exact_single']}", flush=True)
    print("exact, batched ...", flush=True)
    result["exact_batched"], truth = bench_exact_batched(exact, queries, args.batch)
    print(f"  {result['exact_batched']}", flush=True)
    top = np.einsum("qd,qkd->qk", queries[:100], exact.embeddings[truth[:100]])
    result["data"] = {"kind": "clustered", "subjects": args.n // 1000, "topics": args.n // 100, "mean_top1_cosine": float(top[:, 0].mean()),
                      "mean_top10th_cosine": float(top[:, -1].mean())}

    print("binary + rescoring ...", flush=True)
    result["binary"] = bench_backend(exact, queries, truth, "binary", "rescore_multiplier", [1, 2, 5, 10, 20],
                                     args.timed)
    if not args.no_faiss:
        print("faiss HNSW (building) ...", flush=True)
        hnsw = {key: value for key, value in (("hnsw_m", args.hnsw_m), ("ef_construction", args.ef_construction))
                if value is not None}
        result["faiss_hnsw"] = bench_backend(exact, queries, truth, "faiss", "ef_search",
                                             [int(v) for v in args.ef_search.split(",")], args.timed, **hnsw)
    if not args.no_milvus:
        import tempfile

        print("Milvus Lite (inserting and building its HNSW) ...", flush=True)
        with tempfile.TemporaryDirectory(dir=RESULTS.parent) as tmp:
            result["milvus_lite"] = bench_backend(exact, queries, truth, "milvus", "ef_search",
                                                  [int(v) for v in args.milvus_ef.split(",")], args.timed,
                                                  uri=str(Path(tmp) / "bench.db"))
    if not args.no_isotropic:
        print("binary on isotropic data ...", flush=True)
        del exact
        corpus, queries = make_data(args.n, args.dim, args.queries, clustered=False, seed=args.seed + 1)
        iso = SemanticIndex.from_embeddings(corpus, texts=texts, backend="exact")
        truth = np.concatenate([iso.search_embeddings(queries[s : s + args.batch], top_k=K)[1]
                                for s in range(0, len(queries), args.batch)])
        result["binary_isotropic"] = bench_backend(iso, queries, truth, "binary", "rescore_multiplier",
                                                   [10, 100, 1000], min(args.timed, 100))
    result["machine"]["load_average_end"] = os.getloadavg()
    result["machine"]["peak_virtual_mb"] = _status_mb("VmPeak")  # address space; per-phase RSS peaks are above
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print_table(result)


def print_table(r: dict[str, Any]) -> None:
    s, b = r["exact_single"], r["exact_batched"]
    ms = s["median_ms"]
    print(f"\n{r['n']:,} x {r['dim']} float32, top-{K}; load average {r['machine']['load_average_start']}")
    print(f"{'row':<44}{'value':>14}{'target':>14}")
    rows = [
        ("bare E @ q (ms, floor)", f"{ms['bare_matvec']:.1f}", ""),
        ("  = GB/s", f"{s['floor_gb_per_s']:.1f}", ""),
        ("exact single query (ms)", f"{ms['siamese_text']:.1f}", ""),
        ("  / bare E @ q", f"{s['ratio_to_floor']:.2f}x", "<= 1.30x"),
        ("st util.semantic_search dot_score (ms)", f"{ms['st_dot']:.1f}", ""),
        ("  exact / st dot_score", f"{s['ratio_to_st_dot']:.2f}x", "<= 1.00x"),
        ("st util.semantic_search cos_sim (ms)", f"{ms.get('st_cos', float('nan')):.1f}", ""),
        (f"exact batch of {b['batch']} (ms per query)", f"{b['ms_per_query']:.2f}", ""),
        ("  GFLOP/s", f"{b['gflops']:.1f}", ""),
        ("  machine float32 GEMM GFLOP/s", f"{b['machine_gemm_gflops']:.1f}", ""),
        ("  fraction of GEMM rate", f"{b['fraction_of_gemm']:.0%}", ">= 60%"),
        ("  st dot_score batched (ms per query)", f"{b['st_dot_ms_per_query']:.2f}", ""),
        ("  exact / st, batched", f"{b['ratio_to_st_dot']:.2f}x", ""),
        ("exact build (s)", f"{r['exact_build']['build_s']:.1f}", ""),
    ]
    targets = {"faiss_hnsw": ">=0.95, <=2ms", "milvus_lite": ">=0.95"}
    for name in ("faiss_hnsw", "milvus_lite", "binary", "binary_isotropic"):
        if name in r:
            rows.append((f"{name} build (s) / peak MB", f"{r[name]['build_s']:.1f} / {r[name]['build_peak_mb']:.0f}", ""))
            for row in r[name]["sweep"]:
                key = next(iter(row))
                rows.append((f"  {key}={row[key]}: recall@10, p50/p99 ms",
                             f"{row['recall_at_10']:.3f}, {row['median_ms_per_query']:.2f}/{row.get('p99_ms_per_query', float('nan')):.1f}",
                             targets.get(name, ">= 0.90")))
                if "batch_qps" in row:
                    rows.append(("    batched queries/s", f"{row['batch_qps']:.0f}", ""))
    if "binary" in r:
        rows.append(("binary codes MB / float32 MB", f"{r['binary']['code_mb']:.0f} / {r['binary']['float32_mb']:.0f}", ""))
    for row in rows:
        print(f"{row[0]:<44}{row[1]:>14}{row[2]:>14}")


if __name__ == "__main__":
    main()
