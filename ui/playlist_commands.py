"""`musicsearch playlists simulate|train|tower`: the playlist modality's CLI (its parser and
handlers, kept out of cli.py). Library work is in training/playlists/."""
from __future__ import annotations

from pathlib import Path

from .arg_types import at_least_one

__all__ = ["add_playlist_commands", "cmd_playlists"]


def add_playlist_commands(commands) -> None:
    playlists = commands.add_parser("playlists", help="playlist data and Word2Vec track vectors")
    actions = playlists.add_subparsers(dest="playlists_command", required=True, metavar="ACTION")
    simulate = actions.add_parser(
        "simulate", help="write SIMULATED listening sessions over a catalog as playlist JSONL "
                         "(rules: training/playlists/sessions.py)")
    simulate.add_argument("--catalog", required=True, metavar="FILE", help="catalog JSONL")
    simulate.add_argument("--out", required=True, metavar="FILE", help="playlist JSONL to write")
    simulate.add_argument("--listeners", type=at_least_one, default=200,
                          help="simulated listeners (default: %(default)s)")
    simulate.add_argument("--sessions", type=at_least_one, default=10,
                          help="sessions per listener (default: %(default)s)")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--across-splits", action="store_true",
                          help="sessions may mix splits (as real listening does; what a "
                               "cultural vector for new tracks needs); default: one split "
                               "per session, for pre-training without leakage")
    train = actions.add_parser(
        "train", help="train Word2Vec track vectors on playlists (CBOW, whole-playlist window)")
    train.add_argument("--playlists", required=True, metavar="FILE|DIR",
                       help="playlist JSONL, an mpd.slice.*.json file or a folder of them")
    train.add_argument("--out", required=True, metavar="DIR", help="output folder")
    train.add_argument("--catalog", default=None, metavar="FILE",
                       help="map tracks to this catalog's ids (by id, else artist + title)")
    train.add_argument("--vector-size", type=at_least_one, default=64)
    train.add_argument("--min-count", type=at_least_one, default=1,
                       help="playlists a track must be in to get a vector (default: %(default)s)")
    train.add_argument("--seed", type=int, default=0)
    from .cultural_commands import add_tower_command
    add_tower_command(actions, at_least_one)


def cmd_playlists(args) -> int:
    if args.playlists_command == "tower":
        from .cultural_commands import cmd_playlist_tower
        return cmd_playlist_tower(args)
    return _simulate(args) if args.playlists_command == "simulate" else _train(args)


def _simulate(args) -> int:
    from retrieval.catalog import read_catalog, write_playlists
    from training.playlists.readers import PlaylistError
    from training.playlists.sessions import SessionConfig, simulate_sessions
    config = SessionConfig(listeners=args.listeners, sessions=args.sessions, seed=args.seed,
                           within_split=not args.across_splits)
    out = Path(args.out)
    if out.is_dir():
        raise PlaylistError(f"--out {out} is a folder; give a file name")
    playlists = simulate_sessions(read_catalog(args.catalog), config)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_playlists(playlists, out)
    tracks = sum(len(p.tracks) for p in playlists)
    print(f"simulated {len(playlists)} sessions ({tracks} plays, "
          f"{len({t for p in playlists for t in p.tracks})} distinct tracks) to {out}")
    return 0


def _train(args) -> int:
    from retrieval.catalog import read_catalog
    from training.playlists.readers import PlaylistError, read_mpd, read_playlist_jsonl
    from training.playlists.word2vec import (VECTORS_FILE, PlaylistWord2VecConfig,
                                             save_track_vectors, train_track_vectors)
    config = PlaylistWord2VecConfig(vector_size=args.vector_size, min_count=args.min_count,
                                    seed=args.seed)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise PlaylistError(f"--out {out} is a file; give a folder")
    source = Path(args.playlists)
    catalog = read_catalog(args.catalog) if args.catalog else None
    mpd = source.is_dir() or source.suffix == ".json"
    playlists, report = (read_mpd if mpd else read_playlist_jsonl)(source, catalog)
    print(f"playlists: {report.summary()}")
    vectors = train_track_vectors(playlists, config)
    path = save_track_vectors(vectors, out / VECTORS_FILE)
    print(f"track vectors: {len(vectors.track_ids)} tracks × {vectors.vectors.shape[1]} to {path}")
    return 0
