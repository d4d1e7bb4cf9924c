"""Scale levers, side by side in one run: index-build settings (ef_construct, payload
indexes created before or after the build, indexing threads, payload_m) and the memory
placement of the HNSW graph and the int8 codes, each against the search process's RSS,
recall@10 and latency.

The songs are ingested once (int8 + originals on disk, no payload indexes, no graph) and
the shard folder is copied for each build variant, so every build starts from the same
segments. Each build is searched from a fresh process that holds the torch-free text
model (retrieval/light_model.py), as `musicsearch search` does; its RSS is split into the
model part (after the model answered one query) and the store part, and by mapped file
(/proc/self/smaps). The "after" build is also searched before its payload indexes exist.

    nice -n 10 python benchmarks/scale_levers.py --n 100000 [--builds efc128,after,efc64]
        [--out result.json]

Songs, queries and ground truth as in benchmarks/scale.py. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.scale import (K, du, emit, percentiles, rss_mb, run_queries,  # noqa: E402
                              text_queries)
from benchmarks.song_vectors import real_songs, synthetic_songs  # noqa: E402

COLLECTION = "bench"
# name → (ef_construct, payload indexes "before" | "after" the build, edge_config keywords:
# indexing threads, payload_m, memory placements by Memory name). Placements apply to the
# segments a build writes: reopening a built shard with other placements changes nothing.
BUILDS = {"efc128": (128, "before", {}), "after": (128, "after", {}),
          "efc64": (64, "before", {}), "efc96": (96, "before", {}),
          "threads1": (128, "before", {"indexing_threads": 1}),
          "payload_m0": (128, "before", {"payload_m": 0}),
          "graph_cold": (128, "before", {"graph_memory": "Cold"}),
          "codes_cached": (128, "before", {"codes_memory": "Cached"}),
          "codes_cold": (128, "before", {"codes_memory": "Cold"}),
          # payload index parameters (keys index_*): memory placement, per-value graph links
          "idx_cold": (128, "before", {"index_memory": "Cold"}),
          "idx_cold_nolinks": (128, "before", {"index_memory": "Cold", "index_hnsw": False}),
          "nolinks_efc256": (256, "before", {"index_hnsw": False}),
          "nolinks_m24": (128, "before", {"index_hnsw": False, "m": 24})}


def smaps_by_file(under: str) -> dict[str, float]:
    """RSS (MB) of this process by mapped file under `under` (digits folded, so segment
    files group by kind), plus anonymous memory."""
    sizes: Counter = Counter()
    name = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        parts = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            path = parts[5] if len(parts) > 5 else ""
            name = (re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "#", path[len(under):])
                    if path.startswith(under) else ("anon" if not path or path.startswith("[")
                                                    else "other files"))
        elif parts and parts[0] == "Rss:" and name is not None:
            sizes[name] += int(parts[1]) / 1024
    return {key: round(value, 1) for key, value in sizes.most_common() if value >= 0.5}


def child(job_path: str) -> None:
    """Search process: torch-free text model, then the store; latency, hits, RSS."""
    from index.edge_store import EdgeStore
    from retrieval.light_model import open_light_model
    from retrieval.search import Searcher
    job = json.loads(Path(job_path).read_text())
    model = open_light_model(None)
    model.encode_text(job["queries"][0])
    out = {"rss_model_only_mb": rss_mb()[0], "torch_loaded": "torch" in sys.modules}
    store = EdgeStore(job["root"], COLLECTION)
    searcher = Searcher(model, store)
    out.update(run_queries(searcher, store, job["queries"], job["vectors"]),
               by_file=smaps_by_file(str(Path(job["root"]) / COLLECTION)))
    out["rss_mb"], out["rss_anon_mb"] = rss_mb()
    out["torch_loaded_after"] = "torch" in sys.modules
    store.close()
    print(json.dumps(out))


def recall(found: list[list[str]], truth: list[set[str]]) -> float:
    return round(float(np.mean([len(set(f) & t) / K for f, t in zip(found, truth)])), 4)


def store_recall(folder: Path, vectors: np.ndarray, truth, ef: int) -> dict:
    """recall@10 and store p50 at search ef `ef`, in this process."""
    from index.edge_store import EdgeStore
    store = EdgeStore(folder, COLLECTION)
    schema = store.schema()
    store._schema = replace(schema, hnsw=replace(schema.hnsw, ef=ef))
    found, times = [], []
    for v in vectors:
        started = time.perf_counter()
        hits = store.search(v, K)
        times.append((time.perf_counter() - started) * 1000)
        found.append([h.track_id for h in hits])
    store.close()
    return {"recall@10": recall(found, truth), "store_p50_ms": percentiles(times)["p50_ms"]}


def build(base: Path, folder: Path, schema, spec: tuple, queries, vectors, truth) -> dict:
    from qdrant_edge import EdgeShard, UpdateOperation

    from index.edge_store import edge_config
    import qdrant_edge as engine

    from index.schema import DEFAULT_PAYLOAD_INDEXES
    ef_construct, indexes, levers = spec
    shutil.copytree(base, folder)
    levers = {key: getattr(engine.Memory, value) if key.endswith("memory") else value
              for key, value in levers.items()}
    index_levers = {"memory": levers.pop("index_memory", None),
                    "enable_hnsw": levers.pop("index_hnsw", None)}
    hnsw = replace(schema.hnsw, ef_construct=ef_construct, m=levers.pop("m", schema.hnsw.m))
    config = edge_config(replace(schema, hnsw=hnsw), **levers)
    params = {"keyword": engine.KeywordIndexParams, "float": engine.FloatIndexParams,
              "integer": engine.IntegerIndexParams, "bool": engine.BoolIndexParams}
    shard = EdgeShard.load(str(folder / COLLECTION), config)

    def create_indexes() -> float:
        started = time.perf_counter()
        for key, kind in DEFAULT_PAYLOAD_INDEXES.items():
            index = (params[kind](**index_levers)
                     if any(value is not None for value in index_levers.values())
                     else getattr(engine.PayloadSchemaType, kind.capitalize()))
            shard.update(UpdateOperation.create_field_index(key, index))
        return round(time.perf_counter() - started, 1)

    row: dict = {"ef_construct": ef_construct, "payload_indexes": indexes, **spec[2]}
    if indexes == "before":
        row["create_indexes_s"] = create_indexes()
    started, cpu = time.perf_counter(), time.process_time()   # CPU: all the engine's threads
    row["built"] = bool(shard.optimize())
    row["build_s"] = round(time.perf_counter() - started, 1)
    row["build_cpu_s"] = round(time.process_time() - cpu, 1)   # steadier than wall under load
    shard.close()
    if indexes == "after":   # measured without payload indexes first (recall, RSS below)
        row["search_without_indexes"] = search_process(folder, queries, vectors, truth)
        shard = EdgeShard.load(str(folder / COLLECTION))
        row["create_indexes_s"] = create_indexes()
        shard.close()
    row["total_s"] = round(row["build_s"] + row["create_indexes_s"], 1)
    for ef in (64, 128, 256):
        row[f"ef={ef}"] = store_recall(folder, vectors, truth, ef)
    row["disk_mb"] = round(du(folder) / 1e6, 1)
    row["wal_disk_mb"] = round(du(folder / COLLECTION / "wal") / 1e6, 1)
    row["search"] = search_process(folder, queries, vectors, truth)
    return row


def search_process(folder: Path, queries, vectors, truth) -> dict:
    job = folder / "job.json"
    job.write_text(json.dumps({"root": str(folder), "queries": queries,
                               "vectors": vectors.tolist()}))
    run = subprocess.run([sys.executable, __file__, "--child", str(job)], capture_output=True,
                         text=True, check=True)
    row = json.loads(run.stdout.strip().splitlines()[-1])
    row["recall@10"] = recall(row.pop("found"), truth)
    row["rss_store_mb"] = round(row["rss_mb"] - row["rss_model_only_mb"], 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--builds", default="efc128,after,efc64,graph_cold,codes_cached",
                        help=f"build variants ({', '.join(BUILDS)})")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    from index.edge_store import EdgeStore
    from index.points import IndexPoint
    from index.schema import CollectionSchema, Quantization
    from retrieval.bundle import load_bundle
    data = real_songs()
    model = load_bundle(None)
    songs, parents = synthetic_songs(data["music"], args.n, args.seed)
    queries = text_queries(model.config.tags, args.queries, args.seed)
    vectors = np.stack([model.encode_text(q)[0] for q in queries]).astype(np.float32)
    truth = [{str(i) for i in np.argpartition(-(songs @ v), K)[:K]} for v in vectors]
    report: dict = {"benchmark": "scale_levers", "n": args.n, "load_before": os.getloadavg()}

    work = Path(tempfile.mkdtemp(prefix="levers-"))
    base = work / "base"
    schema = CollectionSchema(dim=songs.shape[1], quantization=Quantization(), on_disk=True,
                              payload_indexes={})   # indexes: per build variant
    store = EdgeStore(base, COLLECTION)
    store.create(songs.shape[1], model.fingerprint, schema=schema)
    started = time.perf_counter()
    tags, artist = data["tags"], data["artist"]
    for start in range(0, args.n, args.batch):
        store.upsert([IndexPoint(str(i), songs[i], None, {
            "track_id": str(i), "title": f"song {i}", "artist": str(artist[parents[i]]),
            "tags": str(tags[parents[i]]).split("|"),
            "duration": float(data["duration"][parents[i]]),
            "meta": {"collection": str(data["collection"][parents[i]])},
            "model_fingerprint": model.fingerprint})
            for i in range(start, min(start + args.batch, args.n))])
    store.close()
    report["ingest_s"] = round(time.perf_counter() - started, 1)
    del songs, model

    report["builds"] = {}
    for name in args.builds.split(","):
        row = build(base, work / name, schema, BUILDS[name], queries, vectors, truth)
        report["builds"][name] = row
        print(name, json.dumps(row), file=sys.stderr, flush=True)
        shutil.rmtree(work / name)
    shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    emit(report, args.out)


if __name__ == "__main__":
    main()
