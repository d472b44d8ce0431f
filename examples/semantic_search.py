"""Semantic search on Banking77: index the 10,003 training texts, search with the 3,080 test texts.

A test text is answered well when its nearest training texts share its intent, so this reports
1-NN accuracy (the top hit has the query's intent) and MRR@10 (1 / rank of the first hit with the
query's intent, 0 if none of the 10 has it), both in percent. The same query embeddings are also
searched with sentence-transformers' ``util.semantic_search`` as a cross-check.

    flock /tmp/siamese_bench.lock python examples/semantic_search.py
    python examples/semantic_search.py --model runs/banking77-batch-hard-triplet --backend binary
    python examples/semantic_search.py --limit 500          # a quick run on the first test texts
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def retrieval_metrics(hit_labels: list[list[Any]], query_labels: list[Any]) -> dict[str, float]:
    """1-NN accuracy and MRR@k (percent) from the labels of each query's ranked hits."""
    first = [next((rank for rank, label in enumerate(labels, 1) if label == want), None)
             for labels, want in zip(hit_labels, query_labels)]
    return {
        "1nn_accuracy": 100 * sum(rank == 1 for rank in first) / len(first),
        "mrr_at_10": 100 * sum(1 / rank for rank in first if rank is not None) / len(first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--backend", choices=["exact", "faiss", "binary"], default="exact")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="search with only the first N test texts")
    parser.add_argument("--save", default=None, help="also save the index to this folder")
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args()

    import torch
    from datasets import load_dataset
    from sentence_transformers import util

    from siamese_text.encoder import SiameseEncoder
    from siamese_text.search import SemanticIndex

    data = load_dataset("PolyAI/banking77")
    train, test = data["train"], data["test"]
    if args.limit:
        test = test.select(range(min(args.limit, len(test))))
    encoder = SiameseEncoder.load(args.model)

    start = time.perf_counter()
    index = SemanticIndex.build(encoder, list(train["text"]), metadata=[{"label": label} for label in train["label"]],
                                backend=args.backend, batch_size=args.batch_size, show_progress=True)
    build_s = time.perf_counter() - start
    if args.save:
        index.save(args.save, overwrite=True)

    start = time.perf_counter()
    queries = encoder.encode(list(test["text"]), batch_size=args.batch_size)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    scores, rows = index.search_embeddings(queries, top_k=10)
    search_s = time.perf_counter() - start
    hits = [index.hits(s, r) for s, r in zip(scores, rows)]
    ours = retrieval_metrics([[hit.metadata["label"] for hit in h] for h in hits], list(test["label"]))

    st_hits = util.semantic_search(torch.from_numpy(queries), torch.from_numpy(index.embeddings), top_k=10)
    train_labels = list(train["label"])
    st = retrieval_metrics([[train_labels[h["corpus_id"]] for h in hs] for hs in st_hits], list(test["label"]))

    result = {
        "model": args.model, "backend": args.backend, "corpus": len(index), "queries": len(test),
        "siamese_text": ours, "sentence_transformers_semantic_search": st,
        "build_s_including_encoding": build_s, "query_encoding_s": encode_s,
        "search_ms_per_query": 1e3 * search_s / len(test),
    }
    print(f"Banking77: {len(index):,} training texts indexed ({args.backend}), {len(test):,} test queries, {args.model}")
    print(f"{'':<34}{'1-NN accuracy':>15}{'MRR@10':>10}")
    for name, metrics in (("siamese_text SemanticIndex", ours), ("st util.semantic_search", st)):
        print(f"{name:<34}{metrics['1nn_accuracy']:>14.2f}%{metrics['mrr_at_10']:>10.2f}")
    print(f"build (with encoding) {build_s:.1f} s, search {result['search_ms_per_query']:.3f} ms per query")
    print(f"example hit: {test['text'][0]!r} -> {hits[0][0].text!r} (score {hits[0][0].score:.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
