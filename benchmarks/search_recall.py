"""Exact brute-force NumPy search vs the embedded store (qdrant-edge), same process.

Prints one JSON object: per-query latency (p50/p99 ms) of NumPy exact search and of the
store before `optimize()` (its plain segment: exact) and after (HNSW), their ratio to
NumPy, and recall@10 against NumPy's exact top-10.

Vectors: real project embeddings if `--vectors FILE.npy` is given ((n, dim) float array);
otherwise synthetic clustered unit vectors with uneven cluster sizes (a stand-in for
genres), since random isotropic vectors make ANN look harder than music embeddings are.

    python benchmarks/search_recall.py --n 10000 [--dim 256] [--queries 200] [--k 10]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.edge_store import EdgeStore  # noqa: E402
from index.points import IndexPoint  # noqa: E402


def clustered(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray,
              weights: np.ndarray) -> np.ndarray:
    vectors = centres[rng.choice(len(centres), n, p=weights)] + 0.075 * rng.standard_normal((n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def latencies(search, queries: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    results, times = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(search(query))
        times.append((time.perf_counter() - started) * 1000)
    return results, np.array(times)


def summary(times: np.ndarray) -> dict:
    return {"p50_ms": round(float(np.percentile(times, 50)), 3),
            "p99_ms": round(float(np.percentile(times, 99)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of stored vectors")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--vectors", type=Path, help=".npy of real embeddings (n, dim)")
    parser.add_argument("--no-optimize", action="store_true", help="skip the HNSW build")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    if args.vectors:
        data = np.load(args.vectors).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        picks = rng.choice(len(data), min(args.queries, len(data)), replace=False)
        queries = data[picks] + 0.05 * rng.standard_normal((len(picks), data.shape[1])).astype(np.float32)
        vectors, source = data[: args.n], str(args.vectors)
    else:
        centres = rng.standard_normal((500, args.dim))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        weights = rng.pareto(1.5, 500) + 1
        weights /= weights.sum()
        vectors = clustered(args.n, args.dim, rng, centres, weights)
        queries = clustered(args.queries, args.dim, rng, centres, weights)
        source = "synthetic clustered (500 centres, pareto sizes, noise 0.075)"
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    n, dim, k = len(vectors), vectors.shape[1], args.k

    def numpy_search(query: np.ndarray) -> list[int]:
        scores = vectors @ query
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])].tolist()

    exact, numpy_times = latencies(numpy_search, queries)
    report: dict = {"benchmark": "search_recall", "n": n, "dim": dim, "k": k,
                    "queries": len(queries), "vectors": source,
                    "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                    "numpy_exact": summary(numpy_times)}
    with tempfile.TemporaryDirectory() as folder:
        store = EdgeStore(folder, "bench")
        store.create(dim, "benchmark", chunks=False)
        started = time.perf_counter()
        for start in range(0, n, 1000):
            store.upsert([IndexPoint(str(i), vectors[i], None, {"track_id": str(i)})
                          for i in range(start, min(start + 1000, n))])
        report["upsert_s"] = round(time.perf_counter() - started, 3)

        def store_search(query: np.ndarray) -> list[int]:
            return [int(h.track_id) for h in store.search(query, k)]

        stages = [("edge_plain", None)]
        if not args.no_optimize:
            stages.append(("edge_hnsw", store.optimize))
        for name, prepare in stages:
            if prepare is not None:
                started = time.perf_counter()
                prepare()
                report["optimize_s"] = round(time.perf_counter() - started, 3)
            found, times = latencies(store_search, queries)
            recall = np.mean([len(set(f) & set(e)) / k for f, e in zip(found, exact)])
            report[name] = {**summary(times), f"recall@{k}": round(float(recall), 4),
                            "latency_ratio_vs_numpy": round(float(np.median(times) /
                                                                  np.median(numpy_times)), 3)}
        store.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
