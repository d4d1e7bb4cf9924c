"""Indexing throughput of the local engine against `--engine ray`, side by side in one run.

The same tracks of the demo corpus (25 s clips), the shipped model, a fresh embedded
collection and a fresh (cold) feature cache for every run, so each run decodes, computes
log-mels, embeds and writes everything. Rounds alternate local, ray, local, ray… so load
from other processes hits both alike. The local engine runs with one torch thread (the
CLI's default); Ray runs on a local instance of `--cpus` CPUs (200 MB object store) with
`--cpus // 2` model actors of one thread each and the other CPUs free for decoding tasks.

Reported per engine: tracks/s and × real time (seconds of audio per wall second) over
the whole `index_tracks` call, which for Ray includes starting the model actors (torch
import and model load: `first_result_s`); the time to start Ray itself (`ray_start_s`),
paid once per `musicsearch index` call, is measured apart and not in the runs. Then,
in this process with one thread, the seconds per track of decoding + log-mel and of the
model (`local_steps`): how a cluster's CPUs should be split between tasks and actors.
Run at two library sizes, the difference gives the marginal rate of a large library.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ray_engine.py --tracks 96 --rounds 2

Measured 2026-12-02 on the shared 2-core machine, load average 13-18 from other work
during both runs (docs/results/ray-engine.md); tracks/s per round, local | ray (2 CPUs,
1 actor):

    --tracks 192 --rounds 2: local 4.28, 4.38 (107-110× real time) | ray 3.08, 5.00
        (77-125×); ray/local 0.93; Ray start 19.0 s; first results after 8-10 s | 25-42 s
    --tracks 480 --rounds 2: local 5.10, 4.77 (119-128×) | ray 4.63, 4.85 (116-121×);
        ray/local 0.96; Ray start 16.7 s; first results after 7 s | 29-40 s
    steps, 1 thread, cold cache: decode + log-mel 0.060 s, model 0.104 s per 25-s clip
    marginal rate from 192 to 480 tracks: local 5.4 tracks/s, ray 5.7 tracks/s

On two cores that other work already oversubscribes, the second Ray CPU buys almost
nothing, and the actors' start (torch, model) costs 20-40 s per run: Ray pays off on
machines or clusters with idle cores, not here.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _library(tracks: int, into: Path) -> tuple[Path, float]:
    """A catalog of the corpus's first `tracks` records (absolute paths); its audio seconds."""
    from benchmarks.song_vectors import corpus_dir
    from retrieval.catalog import read_catalog, write_catalog
    records = read_catalog(corpus_dir() / "catalog.jsonl")[:tracks]
    catalog = into / "catalog.jsonl"
    write_catalog(records, catalog)
    return catalog, sum(r.duration for r in records)


def _run(model, catalog: Path, work: Path, encoder) -> dict:
    from index import index_tracks, open_store
    for name in ("q", "cache"):
        shutil.rmtree(work / name, ignore_errors=True)
    times: list[tuple[float, int]] = []
    started = time.perf_counter()
    with open_store(str(work / "q"), "music") as store:
        summary = index_tracks(model, catalog, store, cache_dir=work / "cache", progress=False,
                               encoder=encoder, build_index=False,
                               on_progress=lambda done, _: times.append(
                                   (time.perf_counter(), done)))
    ended = time.perf_counter()
    assert summary.indexed and not summary.skipped, summary.describe()
    return {"seconds": ended - started, "tracks": summary.indexed,
            "first_result_s": times[0][0] - started}


def _stages(model, catalog: Path, work: Path) -> dict:
    """Seconds per track of each step in this process (one thread, cold cache): decoding
    and log-mel (what Ray's tasks do) against the model (what its actors do)."""
    from index.ingest import make_point, read_features
    from retrieval.catalog import read_catalog
    from retrieval.feature_cache import FeatureCache
    shutil.rmtree(work / "cache", ignore_errors=True)
    cache = FeatureCache(work / "cache", model.config.frontend)
    decode = embed = 0.0
    records = read_catalog(catalog)
    for record in records:
        started = time.perf_counter()
        state, mel = read_features(record, cache)
        middle = time.perf_counter()
        make_point(model, record, state, mel, model.fingerprint)
        decode, embed = decode + middle - started, embed + time.perf_counter() - middle
    return {"decode_s_per_track": round(decode / len(records), 4),
            "embed_s_per_track": round(embed / len(records), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--actors", type=int, default=None, help="default: cpus // 2")
    args = parser.parse_args()
    import ray
    import torch

    from index.ray_engine import RayEncoder, RayEngineConfig
    from retrieval.bundle import load_bundle
    torch.set_num_threads(1)
    model = load_bundle(None)
    work = Path(tempfile.mkdtemp(prefix="ray-engine-bench-"))
    try:
        catalog, audio_s = _library(args.tracks, work)
        started = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, object_store_memory=200 << 20,
                 include_dashboard=False, logging_level=logging.WARNING)
        ray_start_s = time.perf_counter() - started
        actors = args.actors or max(1, args.cpus // 2)
        engines = {"local": None,
                   "ray": RayEncoder(RayEngineConfig(actors=actors))}
        runs: dict[str, list[dict]] = {name: [] for name in engines}
        for _ in range(args.rounds):
            for name, encoder in engines.items():
                runs[name].append(_run(model, catalog, work, encoder))
        ray.shutdown()
        stages = _stages(model, catalog, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"tracks": args.tracks, "audio_s": audio_s, "rounds": args.rounds,
              "ray_cpus": args.cpus, "ray_actors": actors, "ray_start_s": round(ray_start_s, 1),
              "local_steps": stages}
    for name, rows in runs.items():
        rates = [row["tracks"] / row["seconds"] for row in rows]
        entry = {"tracks_per_s": [round(r, 2) for r in rates],
                 "x_real_time": [round(r * audio_s / args.tracks, 1) for r in rates],
                 "median_tracks_per_s": round(statistics.median(rates), 2),
                 "first_result_s": [round(row["first_result_s"], 1) for row in rows]}
        report[name] = entry
    report["ray_over_local"] = round(report["ray"]["median_tracks_per_s"]
                                     / report["local"]["median_tracks_per_s"], 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
