"""Acoustic vs cultural vs fused on the demo corpus's test split, while the amount of
(simulated) playlist data grows: Won's Table 5.3 question (cultural wins only where the
playlist data is rich) on our data. Results: docs/results/cultural-fusion.md.

For each seed and each number of sessions per listener (200 listeners):
  simulate sessions (training/playlists/sessions.py; by default across splits, as Won's
  user-item data spans train and test songs: only the tags are split) → Word2Vec track vectors (CBOW,
  whole-playlist window) → a playlist tower for the shipped model, trained on the train
  split against its frozen word tower, plus the cold-start predictor → the test split:
  tag MAP for acoustic / cultural / rrf / weighted, and similar-by-example triplet accuracy.

The acoustic side is the shipped model's song vectors of the catalog audio, embedded once
(the evaluation embedding cache). Cheap: the towers are MLPs on vectors.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/cultural_fusion.py \
        --sessions 1 5 25 100 --seeds 0 1 2 --out docs/results/cultural-fusion.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def song_vectors(model, records) -> np.ndarray:
    from retrieval.paths import data_home
    from training.evaluation.embeddings import EmbeddingCache
    cache = EmbeddingCache(data_home() / "eval-cache", model, data_home() / "features")
    found = cache.vectors([r.path for r in records])
    if found.failed:
        raise SystemExit(f"{len(found.failed)} tracks unreadable, e.g. {found.failed[0]}")
    return found.vectors


def _by_category(per_tag: dict) -> dict[str, float]:
    from training.evaluation.categories import tag_category
    groups: dict[str, list[float]] = {}
    for tag, values in per_tag.items():
        groups.setdefault(tag_category(tag), []).append(values["ap"])
    return {name: float(np.mean(aps)) for name, aps in sorted(groups.items())}


def test_audio_vectors(model, records, songs, test_catalog: Path | None) -> dict:
    """Condition → the test split's song vectors: the catalog's own audio ("same timbre"),
    and, given a rendering of the test split, that one ("unseen timbre")."""
    from retrieval.catalog import read_catalog
    test = [i for i, r in enumerate(records) if r.split == "test"]
    out = {"same timbre": songs[test]}
    if test_catalog is not None:
        other = {r.track_id: r for r in read_catalog(test_catalog)}
        rendered = [other[records[i].track_id] for i in test]
        out["unseen timbre"] = song_vectors(model, rendered)
    return out


def one_run(model, records, songs, test_audio: dict, sessions: int, seed: int,
            listeners: int, within_split: bool = False) -> dict:
    from training.cultural import CulturalConfig, add_playlist_tower, fit_playlist_tower
    from training.evaluation.cultural import (cultural_vectors, fused_tag_metrics,
                                              similarity_triplets, triplet_accuracy)
    from training.playlists.sessions import SessionConfig, simulate_sessions
    from training.playlists.word2vec import (PlaylistWord2VecConfig, save_track_vectors,
                                             train_track_vectors)
    started = time.perf_counter()
    playlists = simulate_sessions(records, SessionConfig(listeners=listeners, sessions=sessions,
                                                         within_split=within_split, seed=seed))
    vectors = train_track_vectors(playlists, PlaylistWord2VecConfig(seed=seed))
    by_id = dict(zip((r.track_id for r in records), songs))
    with tempfile.TemporaryDirectory() as folder:
        path = save_track_vectors(vectors, Path(folder) / "vectors.safetensors")
        tower, report = fit_playlist_tower(model, path, records, by_id,
                                           CulturalConfig(seed=seed))
    add_playlist_tower(model, tower)
    test = [i for i, r in enumerate(records) if r.split == "test"]
    test_records = [records[i] for i in test]
    triplets = similarity_triplets(test_records, 2000, seed=seed)
    row = {"sessions_per_listener": sessions, "sessions": len(playlists), "seed": seed,
           "within_split": within_split,
           "plays": sum(len(p.tracks) for p in playlists), "tower": report.to_dict(),
           "n_test": len(test), "triplets": len(triplets), "conditions": {}}
    for condition, audio in test_audio.items():
        cultural, known = cultural_vectors(model, [r.track_id for r in test_records], audio)
        metrics = fused_tag_metrics(model, test_records, audio, cultural)
        # the playlist-covered tracks only (Won: cultural vectors exist only for those)
        covered = fused_tag_metrics(model, [r for r, k in zip(test_records, known) if k],
                                    audio[known], cultural[known])
        # cold start for every test track: the cultural vector predicted from audio
        cold = fused_tag_metrics(model, test_records, audio, model.predict_cultural(audio))
        row["conditions"][condition] = {
            "test_coverage": float(known.mean()),
            "map": {name: m["map"] for name, m in metrics.items()},
            "p@10": {name: m["p@10"] for name, m in metrics.items()},
            "map_covered": {name: m["map"] for name, m in covered.items()},
            "random_map_covered": covered["acoustic"]["random_map"],
            "map_cold_start": {name: m["map"] for name, m in cold.items()},
            "map_by_category": {name: _by_category(m["per_tag"]) for name, m in metrics.items()},
            "random_map": metrics["acoustic"]["random_map"],
            "random_p@10": metrics["acoustic"]["random_p@10"],
            "n_tags": metrics["acoustic"]["n_tags"],
            "triplet_accuracy": {
                "acoustic": triplet_accuracy([audio], triplets),
                "cultural": triplet_accuracy([cultural], triplets),
                "fused": triplet_accuracy([audio, cultural], triplets)}}
    return {**row,
            "seconds": round(time.perf_counter() - started, 1)}


def _cell(values: list[float]) -> str:
    mean = float(np.mean(values))
    return f"{mean:.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{mean:.3f}"


METHODS = ("acoustic", "cultural", "rrf", "weighted")


def report(rows: list[dict], condition: str) -> str:
    """Markdown tables (mean ± sd over seeds) of one audio condition."""
    by_level: dict[int, list[dict]] = {}
    for row in rows:
        by_level.setdefault(row["sessions"], []).append(row["conditions"][condition])
    out = [f"Tag retrieval MAP, test split ({condition}):", "",
           "| sessions | seeds | coverage | acoustic | cultural | fused rrf | fused weighted "
           "(0.5) | random | covered only: acoustic / cultural |",
           "|---|---|---|---|---|---|---|---|---|"]
    for level, runs in sorted(by_level.items()):
        out.append(f"| {level:,} | {len(runs)} | {_cell([r['test_coverage'] for r in runs])} | "
                   + " | ".join(_cell([r["map"][m] for r in runs]) for m in METHODS)
                   + f" | {_cell([r['random_map'] for r in runs])} | "
                   + " / ".join(f"{np.mean([r['map_covered'][m] for r in runs]):.3f}"
                                for m in ("acoustic", "cultural")) + " |")
    out += ["", f"Cold start for every test track (cultural predicted from audio; {condition}):",
            "", "| sessions | acoustic | cultural (predicted) | fused rrf | fused weighted |",
            "|---|---|---|---|---|"]
    for level, runs in sorted(by_level.items()):
        out.append(f"| {level:,} | "
                   + " | ".join(_cell([r["map_cold_start"][m] for r in runs]) for m in METHODS)
                   + " |")
    out += ["", f"Similar-by-example triplet accuracy ({condition}; chance 0.5):", "",
            "| sessions | acoustic | cultural | fused (mean cosine) |", "|---|---|---|---|"]
    for level, runs in sorted(by_level.items()):
        out.append(f"| {level:,} | " + " | ".join(
            _cell([r["triplet_accuracy"][m] for r in runs])
            for m in ("acoustic", "cultural", "fused")) + " |")
    categories = sorted(next(iter(by_level.values()))[0]["map_by_category"]["acoustic"])
    out += ["", f"MAP by tag category, acoustic / cultural ({condition}):", "",
            "| sessions | " + " | ".join(categories) + " |",
            "|---|" + "---|" * len(categories)]
    for level, runs in sorted(by_level.items()):
        out.append(f"| {level:,} | " + " | ".join(
            f"{np.mean([r['map_by_category']['acoustic'][c] for r in runs]):.2f} / "
            f"{np.mean([r['map_by_category']['cultural'][c] for r in runs]):.2f}"
            for c in categories) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 25, 100],
                        help="sessions per listener")
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument("--report", action="store_true",
                        help="only print the tables of the runs in --out")
    parser.add_argument("--within-split", action="store_true",
                        help="sessions never mix splits (then the test tracks' Word2Vec "
                             "vectors form their own component, unaligned with training's)")
    parser.add_argument("--test-catalog", type=Path, default=None,
                        help="another rendering of the test split (same track ids)")
    args = parser.parse_args(argv)
    if args.report:
        rows = [json.loads(line) for line in args.out.read_text().splitlines() if line]
        for condition in rows[0]["conditions"]:
            print(report(rows, condition) + "\n")
        return 0
    import torch
    torch.set_num_threads(1)
    from retrieval.bundle import load_bundle
    from retrieval.catalog import read_catalog
    from retrieval.paths import default_corpus_dir
    model = load_bundle(None)
    records = read_catalog(default_corpus_dir(1600) / "catalog.jsonl")
    songs = song_vectors(model, records)
    test_audio = test_audio_vectors(model, records, songs, args.test_catalog)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for sessions in args.sessions:
            row = one_run(model, records, songs, test_audio, sessions, seed, args.listeners,
                          args.within_split)
            row["model"] = model.fingerprint     # the shipped model the tower was added to
            with open(args.out, "a") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps({"sessions": row["sessions"], "seed": seed,
                              "seconds": row["seconds"],
                              **{c: {k: v[k] for k in ("test_coverage", "map", "map_covered",
                                                       "map_cold_start", "triplet_accuracy")}
                                 for c, v in row["conditions"].items()}}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
