"""Torch thread count for indexing and text queries, measured side by side.

Alternates 1 and N threads in rounds (A/B/A/B…) so load from other processes hits both
alike. Indexing: the shipped model on cached log-mels of the demo corpus, as times real
time (seconds of audio per second of compute). Text queries: `model.encode_text`, p50/p99.

    python benchmarks/threads.py [--threads 1,2] [--rounds 3] [--tracks 40]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=40)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    import torch

    from benchmarks.scale import text_queries
    from benchmarks.song_vectors import corpus_dir
    from retrieval.bundle import load_bundle
    from retrieval.feature_cache import FeatureCache
    from retrieval.paths import default_cache_dir
    model = load_bundle(None)
    features = FeatureCache(default_cache_dir(), model.config.frontend)
    lines = (corpus_dir() / "catalog.jsonl").read_text().splitlines()[: args.tracks]
    records = [json.loads(line) for line in lines]
    mels = [features.mel(corpus_dir() / r["path"]) for r in records]
    audio_s = sum(float(r["duration"]) for r in records)
    queries = text_queries(model.config.tags, args.queries, 0)
    results: dict = {}
    for _ in range(args.rounds):
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            row = results.setdefault(threads, {"x_real_time": [], "query_ms": []})
            started = time.perf_counter()
            for mel in mels:
                model.encode_mel(mel)
            row["x_real_time"].append(audio_s / (time.perf_counter() - started))
            for text in queries:
                started = time.perf_counter()
                model.encode_text(text)
                row["query_ms"].append((time.perf_counter() - started) * 1000)
    report = {str(t): {"index_x_real_time_per_round": [round(x) for x in row["x_real_time"]],
                       "text_query_p50_ms": round(float(np.percentile(row["query_ms"], 50)), 3),
                       "text_query_p99_ms": round(float(np.percentile(row["query_ms"], 99)), 3)}
              for t, row in results.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
