"""Scale benchmark: the project's embedded store and `Searcher` at 10K–1M songs, next to
exact brute-force search in NumPy measured in the same run.

Songs: convex mixes of 2–3 real demo-corpus song vectors plus noise (benchmarks/
song_vectors.py). Queries: text (tags and tag pairs from the model's vocabulary), through
`Searcher.search` end to end in a separate process, so its RSS is the search process's
alone; the parent holds the vectors for the NumPy ground truth.

    nice -n 19 python benchmarks/scale.py --n 100000 [--int8 --on-disk] [--m 16
        --ef-construct 128 --ef auto,256,1024 --oversampling 2,4] [--chunks]
        [--filters] [--out result.json]

`--ef auto` searches with the beam the schema picks for the collection's size
(index/schema.py `auto_search_ef`). `--filters` also measures filtered search: payload
filters picked from the data by the share of songs they pass (a tag on ~50 %, ~10 %, ~1 %,
the most common artist, a duration range, an excluded tag, a tag and a range together),
each against NumPy's exact top-10 among the songs that pass.

Prints one JSON object (and writes it to --out).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.song_vectors import real_songs, synthetic_chunks, synthetic_songs  # noqa: E402

K = 10


def percentiles(times: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(times, 50)), 3),
            "p99_ms": round(float(np.percentile(times, 99)), 3)}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def text_queries(tags: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = list(tags[: n // 2])
    while len(out) < n:
        a, b = rng.choice(len(tags), 2, replace=False)
        out.append(f"{tags[a]} {tags[b]}")
    return out


def rss_mb() -> tuple[float, float]:
    """(VmRSS, RssAnon) of this process in MB."""
    status = Path("/proc/self/status").read_text()
    field = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
             if line.startswith(("VmRSS", "RssAnon"))}
    return round(field["VmRSS"] / 1024, 1), round(field["RssAnon"] / 1024, 1)


def recall(found: list[list[str]], truth: list[set[str]]) -> float:
    """Mean share of each exact top-K found (of the exact set's size, if under K)."""
    return round(float(np.mean([len(set(f) & t) / max(1, min(K, len(t)))
                                for f, t in zip(found, truth)])), 4)


def emit(report: dict, out: Path | None) -> None:
    """Print the report as JSON, and write it to `out` if given."""
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        out.write_text(text + "\n")


def run_queries(searcher, store, queries: list[str], vectors: list[list[float]]) -> dict:
    """Each query end to end (text → hits) and its vector through the store alone, after
    20 warm-up queries: both latencies and the hits found."""
    for text in queries[:20]:
        searcher.search(text, k=K)
    times, store_times, found = [], [], []
    for text, vector in zip(queries, vectors):
        started = time.perf_counter()
        result = searcher.search(text, k=K)
        times.append((time.perf_counter() - started) * 1000)
        found.append([h.track_id for h in result.hits])
        started = time.perf_counter()
        store.search(np.asarray(vector, np.float32), K)
        store_times.append((time.perf_counter() - started) * 1000)
    return {"text_query": percentiles(times), "store_search": percentiles(store_times),
            "found": found}


def search_settings(efs: str, oversamplings: str) -> list[tuple[str, int | None, float | None]]:
    """(label, ef or None for the schema's choice by size, oversampling or None) to sweep."""
    ef_values = [None if e == "auto" else int(e) for e in efs.split(",")]
    over = [float(o) for o in oversamplings.split(",")] if oversamplings else [None]
    return [(f"ef={'auto' if ef is None else ef}" + ("" if o is None or len(over) == 1
                                                      else f",os={o:g}"), ef, o)
            for ef in ef_values for o in over]


def pick_filters(payloads: dict[str, np.ndarray]) -> list[tuple[str, dict, np.ndarray]]:
    """(name, SearchFilter keywords, mask of the songs passing) for filters of several
    breadths, picked from the synthetic songs' own payloads."""
    tags = payloads["tags"]                       # per song: "a|b|c"
    vocabulary = sorted({t for row in set(tags) for t in row.split("|") if t})
    share = {t: np.fromiter((t in row.split("|") for row in tags), bool, len(tags))
             for t in vocabulary}
    out = []
    for target in (0.5, 0.1, 0.01):
        tag = min(vocabulary, key=lambda t: abs(share[t].mean() - target))
        out.append((f"tag ~{target:.0%}", {"tags": [tag]}, share[tag]))
    artists, counts = np.unique(payloads["artist"], return_counts=True)
    top = str(artists[counts.argmax()])
    out.append((f"artist ~{counts.max() / len(tags):.0%}", {"artists": [top]},
                payloads["artist"] == top))
    some = str(artists[np.abs(counts / len(tags) - 0.01).argmin()])
    out.append(("artist ~1%", {"artists": [some]}, payloads["artist"] == some))
    durations = payloads["duration"]
    low, high = (float(x) for x in np.percentile(durations, [25, 75]))
    in_range = (durations >= low) & (durations <= high)
    out.append(("duration 25-75th pct", {"min_duration": low, "max_duration": high}, in_range))
    broad = out[0][1]["tags"][0]
    out.append((f"not tag ~50%", {"exclude_tags": [broad]}, ~share[broad]))
    mid = out[1][1]["tags"][0]
    out.append(("tag ~10% + duration", {"tags": [mid], "min_duration": low,
                                         "max_duration": high}, share[mid] & in_range))
    return out


def run_filtered(store, filters: list[tuple[str, dict]], vectors: list[list[float]]) -> dict:
    """Each filter's searches through the store, after 10 untimed: latency and hits."""
    from retrieval.filters import SearchFilter
    out = {}
    for name, keywords in filters:
        where = SearchFilter(**keywords)
        for vector in vectors[:10]:     # warm-up: the first filtered searches page in payloads
            store.search(np.asarray(vector, np.float32), K, where=where)
        times, found = [], []
        for vector in vectors:
            started = time.perf_counter()
            hits = store.search(np.asarray(vector, np.float32), K, where=where)
            times.append((time.perf_counter() - started) * 1000)
            found.append([h.track_id for h in hits])
        out[name] = {**percentiles(times), "found": found}
    return out


@contextmanager
def acorn(store, mode: str):
    """The store's searches with ACORN as `mode` says: "schema" (as the store searches:
    index/schema.py `acorn`), "off", "on" (the engine decides by the filter's selectivity,
    at most 0.4) or "always" (ACORN: a filtered graph walk that also looks at neighbours'
    neighbours)."""
    from qdrant_edge import AcornSearchParams, SearchParams
    plain = store._search_params
    if mode == "schema":
        yield
        return
    setting = None if mode == "off" else AcornSearchParams(
        enable=True, max_selectivity=1.0 if mode == "always" else None)

    def with_acorn(using):
        params = plain(using)
        if params is None:
            return None
        return SearchParams(hnsw_ef=params.hnsw_ef, quantization=params.quantization,
                            acorn=setting)
    store._search_params = with_acorn
    try:
        yield
    finally:
        del store._search_params


def set_search(store, schema, ef: int | None, oversampling: float | None) -> None:
    """Search `store` with this ef (None: by size) and rescoring oversampling (None: the
    schema's) from now on."""
    from dataclasses import replace
    quantization = schema.quantization
    if quantization is not None and oversampling is not None:
        quantization = replace(quantization, oversampling=oversampling)
    store._schema = replace(schema, hnsw=replace(schema.hnsw, ef=ef), quantization=quantization)
    store._ef_counted = None


def child(args: argparse.Namespace) -> None:
    """Search process: open the store, run every query through Searcher; report latency,
    hits and RSS. The model is opened as `musicsearch search` opens it for text: torch-free
    (retrieval/light_model.py; runs before 2026-12-02 loaded the full torch model)."""
    from index.edge_store import EdgeStore
    from retrieval.light_model import open_light_model
    from retrieval.search import Searcher
    job = json.loads(Path(args.child).read_text())
    model = open_light_model(None)
    model.encode_text(job["queries"][0])
    out = {"rss_model_only_mb": rss_mb()[0], "by_ef": {}}
    store = EdgeStore(job["root"], "bench")
    searcher = Searcher(model, store)
    schema = store.schema()
    for label, ef, oversampling in job["settings"]:     # search-time settings
        set_search(store, schema, ef, oversampling)
        started = time.perf_counter()
        ef_used = store.search_ef()           # counts the points where ef follows the size
        choose_ms = round((time.perf_counter() - started) * 1000, 2)
        out["by_ef"][label] = run_queries(searcher, store, job["queries"], job["vectors"])
        out["by_ef"][label].update(ef_used=ef_used, choose_ef_ms=choose_ms)
    # the search process after text queries (the RSS goal), then after the filtered
    # searches, which page in payload storage and more of the on-disk vectors
    out["rss_mb"], out["rss_anon_mb"] = rss_mb()
    for label, ef, oversampling in job["settings"] if job["filters"] else ():
        set_search(store, schema, ef, oversampling)
        vectors = job["vectors"][: job["filtered_queries"]]
        for mode in job["acorn"]:
            key = "filtered" if mode == "schema" else f"filtered_acorn_{mode}"
            with acorn(store, mode):
                out["by_ef"][label][key] = run_filtered(store, job["filters"], vectors)
    out["rss_after_filtered_mb"], out["rss_anon_after_filtered_mb"] = rss_mb()
    store.close()
    print(json.dumps(out))


def build_store(args, folder: Path, songs, parents, durations, vectors, data, model,
                report: dict) -> None:
    """Create the collection, ingest the songs in batches, build the index; times into
    `report`."""
    import index.edge_store as edge_store
    from index.edge_store import EdgeStore
    from index.points import IndexPoint
    from index.schema import CollectionSchema, HnswSettings, Quantization
    if args.codes_memory:             # an engine lever the schema does not expose
        from qdrant_edge import Memory
        plain = edge_store.edge_config
        edge_store.edge_config = lambda schema, **levers: plain(
            schema, codes_memory=getattr(Memory, args.codes_memory), **levers)
    schema = CollectionSchema(dim=songs.shape[1], chunks=args.chunks,
                              hnsw=HnswSettings(m=args.m, ef_construct=args.ef_construct),
                              quantization=Quantization() if args.int8 else None,
                              on_disk=args.on_disk)
    store = EdgeStore(folder, "bench")
    store.create(songs.shape[1], model.fingerprint, schema=schema)
    started = time.perf_counter()
    tags, artist = data["tags"], data["artist"]
    for start in range(0, args.n, args.batch):
        rows = range(start, min(start + args.batch, args.n))
        chunks = (synthetic_chunks(data, parents[rows.start:rows.stop], songs[rows.start:rows.stop])
                  if args.chunks else [None] * len(rows))
        store.upsert([IndexPoint(str(i), songs[i], c, {
            "track_id": str(i), "title": f"song {i}", "artist": str(artist[parents[i]]),
            "tags": str(tags[parents[i]]).split("|"), "duration": float(durations[i]),
            "meta": {"collection": str(data["collection"][parents[i]])},
            "model_fingerprint": model.fingerprint}) for i, c in zip(rows, chunks)])
    report["ingest_s"] = round(time.perf_counter() - started, 1)
    plain = []
    for v in vectors[:50]:                      # before the build: exact scan of the segment
        t = time.perf_counter()
        store.search(v, K)
        plain.append((time.perf_counter() - t) * 1000)
    report["store_before_build"] = percentiles(plain)
    started = time.perf_counter()
    report["built"] = store.optimize()
    report["build_s"] = round(time.perf_counter() - started, 1)
    store.close()
    report["disk_mb"] = round(du(folder) / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construct", type=int, default=128)
    parser.add_argument("--ef", default="auto", help="search ef values to sweep ('auto': the "
                        "schema's choice for the collection's size)")
    parser.add_argument("--oversampling", default="", help="int8 rescoring oversampling "
                        "values to sweep (default: the schema's)")
    parser.add_argument("--filters", action="store_true", help="also measure filtered search")
    parser.add_argument("--acorn", default="schema", help="filtered searches with ACORN as "
                        "the schema says / off / on (the engine's default max selectivity "
                        "0.4) / always")
    parser.add_argument("--search-only", action="store_true", help="search the store a run "
                        "with the same --n, --seed and --root kept, without building it")
    parser.add_argument("--filtered-queries", type=int, default=100)
    parser.add_argument("--codes-memory", choices=("Pinned", "Cached", "Cold"), default=None,
                        help="where the int8 codes live (default: the store's, Pinned)")
    parser.add_argument("--int8", action="store_true", help="int8 scalar quantization + rescoring")
    parser.add_argument("--on-disk", action="store_true", help="original vectors on disk (Cold)")
    parser.add_argument("--chunks", action="store_true", help="also store the chunks multivector")
    parser.add_argument("--batch", type=int, default=1024, help="points per upsert")
    parser.add_argument("--root", type=Path, default=None, help="store folder (default: temp)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from retrieval.bundle import load_bundle
    data = real_songs()
    model = load_bundle(None)
    started = time.perf_counter()
    songs, parents = synthetic_songs(data["music"], args.n, args.seed)
    report: dict = {"benchmark": "scale", "n": args.n, "dim": int(songs.shape[1]),
                    "m": args.m, "ef_construct": args.ef_construct, "int8": args.int8,
                    "on_disk": args.on_disk, "chunks": args.chunks, "batch": args.batch,
                    "generate_s": round(time.perf_counter() - started, 1),
                    "nearest_real_cosine_median": round(float(np.median(
                        (songs[:2000] @ data["music"].T).max(1))), 3)}
    queries = text_queries(model.config.tags, args.queries, args.seed)
    vectors = np.stack([model.encode_text(q)[0] for q in queries]).astype(np.float32)

    brute, truth = [], []                       # exact top-10 in NumPy, one thread
    for v in vectors:
        t = time.perf_counter()
        scores = songs @ v
        top = np.argpartition(-scores, K)[:K]
        truth.append({str(i) for i in top})
        brute.append((time.perf_counter() - t) * 1000)
    report["numpy_exact"] = percentiles(brute)
    # The demo's clips are all 25 s, so songs get durations of their own (log-normal around
    # 3.5 minutes) for the duration filters to select something.
    durations = np.round(np.random.default_rng(args.seed + 7).lognormal(np.log(210), 0.35,
                                                                         args.n), 1)
    payloads = {"tags": data["tags"][parents], "artist": data["artist"][parents],
                "duration": durations}
    filters, filter_truth = [], {}
    if args.filters:
        for name, keywords, mask in pick_filters(payloads):
            rows = np.flatnonzero(mask)
            sub = songs[rows]
            filter_truth[name] = [
                {str(rows[i]) for i in np.argsort(-(sub @ v))[:K]}
                for v in vectors[: args.filtered_queries]]
            filters.append((name, keywords))
            report.setdefault("filters", {})[name] = {"keywords": keywords,
                                                      "share": round(float(mask.mean()), 4)}

    folder = Path(args.root or tempfile.mkdtemp(prefix="scale-"))
    if args.search_only:              # searches again a store an earlier run kept (--root)
        report["search_only"] = str(folder)
    else:
        build_store(args, folder, songs, parents, durations, vectors, data, model, report)

    job = folder / "job.json"
    job.write_text(json.dumps({"root": str(folder), "queries": queries,
                               "settings": search_settings(args.ef, args.oversampling),
                               "filters": filters, "filtered_queries": args.filtered_queries,
                               "acorn": args.acorn.split(","),
                               "vectors": vectors.tolist()}))
    del songs
    run = subprocess.run([sys.executable, __file__, "--child", str(job)], capture_output=True,
                         text=True, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    report["search_process_rss_mb"] = result["rss_mb"]
    report["search_process_rss_anon_mb"] = result["rss_anon_mb"]
    report["rss_after_filtered_mb"] = result["rss_after_filtered_mb"]
    report["rss_anon_after_filtered_mb"] = result["rss_anon_after_filtered_mb"]
    report["rss_model_only_mb"] = result["rss_model_only_mb"]
    report["rss_store_mb"] = round(result["rss_mb"] - result["rss_model_only_mb"], 1)
    brute_p50 = report["numpy_exact"]["p50_ms"]
    for label, row in result["by_ef"].items():
        row["recall@10"] = recall(row.pop("found"), truth)
        row["speedup_vs_numpy"] = round(brute_p50 / row["store_search"]["p50_ms"], 1)
        for key in [key for key in row if key.startswith("filtered")]:
            for name, filtered in row[key].items():
                filtered["recall@10"] = recall(filtered.pop("found"), filter_truth[name])
        report[label] = row
    if args.root is None:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
