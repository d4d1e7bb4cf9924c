"""`musicsearch playlists tower`: add a playlist (cultural) tower to a trained model.

Library work is in training/cultural.py; this module parses, checks inputs before any
long work, and saves the new bundle (the Word2Vec vectors become its side file).
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_tower_command", "cmd_playlist_tower"]


def add_tower_command(actions, positive) -> None:
    tower = actions.add_parser(
        "tower", help="add a playlist tower to a model: Word2Vec track vectors → the joint "
                      "space (trained against the model's frozen word tower), plus a "
                      "cold-start predictor from audio; the index then fills `cultural`")
    tower.add_argument("--vectors", required=True, metavar="FILE",
                       help="playlist vectors (`musicsearch playlists train` output)")
    tower.add_argument("--catalog", required=True, metavar="FILE",
                       help="catalog JSONL: the training split's tags and audio")
    tower.add_argument("--out", required=True, metavar="DIR", help="the new model bundle")
    tower.add_argument("--model", default=None, metavar="DIR",
                       help="the model to extend (default: the shipped one)")
    tower.add_argument("--steps", type=positive, default=600,
                       help="tag-balanced training batches (default: %(default)s)")
    tower.add_argument("--seed", type=int, default=0)


def _song_vectors(model, records) -> dict:
    """The model's audio song vectors of `records`, through the evaluation cache."""
    from retrieval.paths import data_home, default_cache_dir
    from training.evaluation.embeddings import EmbeddingCache
    cache = EmbeddingCache(data_home() / "eval-cache", model, default_cache_dir())
    found = cache.vectors([r.path for r in records])
    for path, reason in found.failed[:3]:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    return {records[i].track_id: found.vectors[row] for row, i in enumerate(found.kept)}


def cmd_playlist_tower(args) -> int:
    from retrieval.bundle import load_bundle, save_bundle
    from retrieval.catalog import read_catalog
    from retrieval.track_vectors import read_track_vectors
    from training.cultural import CulturalConfig, add_playlist_tower, fit_playlist_tower
    from training.playlists.readers import PlaylistError
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise PlaylistError(f"--out {out} is a file; give a folder")
    try:
        read_track_vectors(args.vectors)       # checked before the model loads
    except ValueError as error:
        raise PlaylistError(str(error)) from None
    config = CulturalConfig(steps=args.steps, predictor_steps=args.steps, seed=args.seed)
    problems = config.problems()
    if problems:
        raise PlaylistError("; ".join(problems))
    records = read_catalog(args.catalog)
    model = load_bundle(args.model)
    base = model.fingerprint
    train = [r for r in records if r.split == config.split]
    tower, report = fit_playlist_tower(model, args.vectors, records,
                                       _song_vectors(model, train), config)
    add_playlist_tower(model, tower)
    info = getattr(model, "bundle_info", None) or {}
    training = {**(info.get("training") or {}),
                "playlist_tower": {"base_model": base, "vectors": str(args.vectors),
                                   "catalog": str(args.catalog), "config": config.to_dict(),
                                   "report": report.to_dict()}}
    fingerprint = save_bundle(model, out, training=training, metrics=info.get("metrics"))
    print(f"playlist tower: {report.tracks} training tracks, {report.tags} tags, final loss "
          f"{report.final_loss:.3f}; cold start on {report.predictor_tracks} tracks (cosine "
          f"{report.predictor_cosine:.3f})")
    print(f"model {fingerprint} saved to {out}")
    return 0
