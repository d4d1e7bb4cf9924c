"""`musicsearch`: one subcommand per stage; each parses arguments, calls one library
function and prints the result. `main(argv)` is callable from tests."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .playlist_commands import add_playlist_commands, cmd_playlists  # noqa: E402
from .word_commands import add_word_commands, cmd_words  # noqa: E402
from .query_args import add_query_options  # noqa: E402  (no heavy imports)
from .search_commands import (EXIT_FAILED_LINES, cmd_duplicates, cmd_search,  # noqa: E402
                              open_searcher)
from .arg_types import (cosine, port_number, positive_count, process_count,  # noqa: E402
                        search_beam, upload_megabytes)
from .engine_args import add_engine_options, encoder_from_args  # noqa: E402
from .threads import add_threads, apply_threads  # noqa: E402
from index.schema import describe_auto_ef  # noqa: E402  (dataclasses only)

__all__ = ["main", "build_parser"]

EXAMPLES = """examples:
  musicsearch demo                                   # corpus → model → index → UI
  musicsearch search "lively irish fiddle reel" --k 5
  musicsearch search --audio my_song.wav --json
  musicsearch index ~/Music --collection mine
  musicsearch train --config configs/demo.yaml --out runs/demo
  musicsearch evaluate --config configs/eval/demo.yaml
"""


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("musicsearch")
    except metadata.PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, with the version looked up only when asked for: importlib.metadata
    costs ~0.1 s that every other command would pay at parser build time."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"musicsearch {_version()}")
        parser.exit()


def _add_index_location(parser: argparse.ArgumentParser, *, reads: bool = False) -> None:
    if reads:   # search, ui: find what is there, so the commands after `demo` need no flag
        parser.add_argument("--collection", default=None,
                            help="collection name (default: 'music' if it exists, else the only "
                                 "collection there, e.g. the demo's 'demo')")
    else:
        parser.add_argument("--collection", default="music",
                            help="collection name (default: %(default)s; the demo uses 'demo')")
    parser.add_argument("--qdrant", default=None, metavar="URL|DIR",
                        help="Qdrant server or cluster URL (http://… or https://… for TLS) or a "
                             "folder for the embedded store (default: ~/.cache/musicsearch/qdrant)")
    parser.add_argument("--api-key", metavar="KEY", help="Qdrant server's API key (default: "
                        "$QDRANT_API_KEY, better: a flag shows in the process list)")
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="model bundle folder (default: the shipped model)")
    add_threads(parser)


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=7860)
    parser.add_argument("--max-upload-mb", type=upload_megabytes, default=50.0, metavar="MB",
                        help="largest audio clip a visitor may upload (default: %(default)g)")


SEARCH_EPILOG = f"""examples:
  musicsearch search "lively reel -vocals" --min-duration 60
  musicsearch search --track ID --exclude-artist --diverse 0.5
  musicsearch search sadder --track ID --text-weight 0.3     # like this track, but sadder
  musicsearch search --audio clip.wav --sections             # which section sounds like it
  musicsearch search --like song.ogg --vector backbone       # on MusiCNN's embedding
  musicsearch search "piano" --mode backbone-tags            # by MusiCNN's own tags
  musicsearch search --batch queries.txt --k 5 > results.jsonl

exit status: 0 answered; 2 a bad query or index (one line on stderr); with --batch,
{EXIT_FAILED_LINES} when some lines gave an error (each in its own output line)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicsearch", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Search music by text, tags, audio examples or track ids; build the demo "
                    "corpus, train and evaluate alignment models, index audio into Qdrant.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="build the demo corpus, index it, serve the UI")
    demo.add_argument("--tracks", type=int, default=600,
                      help="demo corpus size to render and index (default: %(default)s)")
    demo.add_argument("--no-ui", action="store_true", help="do everything but serve the UI")
    _add_serve_options(demo)
    demo.add_argument("--model", default=None, metavar="DIR",
                      help="model bundle folder (default: the shipped model)")
    add_threads(demo)

    corpus = commands.add_parser("corpus", help="demo corpus tools")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    build = corpus_commands.add_parser("build", help="render the demo corpus from music21 scores")
    build.add_argument("--out", required=True, help="output folder")
    build.add_argument("--tracks", type=int, default=1600, help="clips to render (default: %(default)s)")
    build.add_argument("--soundfont", default=None, help="SF2 file (default: TimGM6mb from pretty_midi)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=2, help="render processes (default: %(default)s)")
    render = corpus_commands.add_parser(
        "render", help="render splits of the demo corpus again with another SoundFont "
                       "(training renderings; FluidR3 is refused for train/valid)")
    render.add_argument("--soundfont", required=True, metavar="NAME|PATH",
                        help="timgm6mb, merlin, csound, opl3, or an .sf2 file")
    render.add_argument("--splits", default="train,valid",
                        help="comma-separated splits (default: %(default)s)")
    render.add_argument("--corpus", default=None, metavar="DIR",
                        help="built demo corpus (default: the 1600-track demo corpus)")
    render.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: <corpus>-timbre-<sha>-<splits> beside it)")
    render.add_argument("--workers", type=int, default=2, help="render processes (default: %(default)s)")

    train = commands.add_parser("train", help="train an alignment model from a YAML config")
    train.add_argument("--config", required=True, help="e.g. configs/demo.yaml")
    train.add_argument("--out", default=None, help="run folder (default: the config's `out`)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the run's checkpoint (refused if the model config or "
                            "tag vocabulary changed since)")
    train.add_argument("--nproc", type=process_count, default=1, metavar="N",
                       help="train with N processes on this machine under torchrun "
                            "(DistributedDataParallel, the batch split into N shards)")

    index = commands.add_parser(
        "index", help="index a folder of audio or a catalog (resumable)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INDEX_EPILOG,
        description="Index a folder of audio (recursively), one audio file, or a catalog JSONL.\n"
                    "Re-runs encode only new or changed audio, and remove the tracks of\n"
                    "files gone from an indexed folder.\n\n"
                    "Audio: wav, flac, ogg, mp3 or aiff at 1–768 kHz, at least one FFT frame\n"
                    "long (32 ms for the shipped model); only the first 10 minutes (the model's\n"
                    "max_seconds) of a longer file are decoded; float audio above full scale\n"
                    "is scaled to a peak of 1.")
    index.add_argument("path", help="a folder of audio files, an audio file, or a catalog .jsonl")
    index.add_argument("--catalog", default=None, help="catalog JSONL describing the folder's tracks")
    _add_index_location(index)
    settings = index.add_argument_group(
        "collection settings (used when the collection is created; docs/SCALE.md)")
    settings.add_argument("--chunks", action="store_true",
                          help="also store per-chunk vectors (partial-match re-ranking; about "
                               "2× the disk and 1.6× the ingest time)")
    settings.add_argument("--int8", action="store_true",
                          help="int8-quantize the song vectors (searched with rescoring)")
    settings.add_argument("--on-disk", action="store_true",
                          help="keep the original song vectors (embedded store: the int8 codes "
                               "too) memory-mapped on disk, not in memory: a cold search of "
                               "1M songs in 0.8 s instead of 3 s, same warm search time")
    settings.add_argument("--ef", type=search_beam, default=None, metavar="N",
                          help="search beam of the song-vector graph, fixed (default: by the "
                               f"collection's size, {describe_auto_ef()}, which kept "
                               "recall@10 ≥ 0.99 there, docs/SCALE.md; larger finds more of "
                               "the exact top 10, slower)")
    settings.add_argument("--backbone", choices=("msd", "mtt"), default=None,
                          help="also store MusiCNN's 200-d song embedding (trained on Million "
                               "Song Dataset or MagnaTagATune tags) as the `backbone` vector "
                               "(search --vector backbone) and its top tags in the payload "
                               "(search --mode backbone-tags). Cost: every file is decoded "
                               "again at 16 kHz and run through MusiCNN; measured on the "
                               "shared 2-core machine, a new library indexed 4.1x slower "
                               "than without (18x vs 76x real time; "
                               "benchmarks/backbone_index_cost.py). A collection keeps the "
                               "backbone it was made with; later runs use it without the "
                               "flag")
    for flag, what in (("--shards", "shards to spread the songs over"), ("--replicas", "copies "
                       "of each shard"), ("--write-consistency", "replicas a write must reach")):
        settings.add_argument(flag, type=positive_count, metavar="N", help=f"Qdrant server or "
                              f"cluster only: {what} (default: the server's); docs/SCALING.md")
    add_engine_options(index)

    search = commands.add_parser(
        "search", help="query the index", epilog=SEARCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("text", nargs="?", default=None,
                        help='free text or tags, e.g. "calm choir"; "-TERM" leaves out tracks '
                             'like TERM ("piano -vocals", -"male voice")')
    search.add_argument("--audio", default=None, metavar="FILE",
                        help="find tracks that sound like FILE (wav, flac, ogg, mp3, aiff at "
                             "1–768 kHz, at least one FFT frame long: 32 ms for the shipped "
                             "model; only the first 10 minutes of a longer file are used)")
    search.add_argument("--track", default=None, metavar="ID", help="find tracks like an indexed track")
    search.add_argument("--like", default=None, metavar="ID|FILE",
                        help="find tracks like an indexed track (its id, or the file a folder "
                             "scan indexed) or, if FILE is not indexed, like that audio file; "
                             "with --vector backbone, on the backbone vector")
    search.add_argument("--k", type=int, default=10, help="number of results (default: %(default)s)")
    search.add_argument("--json", action="store_true", help="print one JSON object")
    search.add_argument("--batch", default=None, metavar="FILE",
                        help="run every query in FILE ('-': stdin), one per line: text, or a "
                             "JSON object with text/audio/track/k/id and the options below; "
                             "prints one JSON line per query (JSONL)")
    add_query_options(search)
    _add_index_location(search, reads=True)

    duplicates = commands.add_parser(
        "duplicates", help="list near-duplicate tracks (the same recording indexed twice)",
        description="Pairs of indexed tracks whose song vectors have a cosine of at least "
                    "--threshold: the same recording in two formats, masters or folders. "
                    "Exact (compares every pair); needs no model. While `musicsearch ui` "
                    "serves the collection, the app answers (its api/duplicates).")
    duplicates.add_argument("--threshold", type=cosine, default=0.99, metavar="COSINE",
                            help="report pairs at or above this cosine, from -1 to 1 "
                                 "(default: %(default)s)")
    duplicates.add_argument("--json", action="store_true",
                            help='print one JSON object: {"threshold", "pairs": [{"score", '
                                 '"first", "second"}]}')
    duplicates.add_argument("--collection", default=None,
                            help="collection name (default: as for search)")
    duplicates.add_argument("--qdrant", default=None, metavar="URL|DIR",
                            help="Qdrant server URL or embedded store folder (default: "
                                 "~/.cache/musicsearch/qdrant)")

    evaluate = commands.add_parser(
        "evaluate", help="run an evaluation experiment (models × data × deformations × tasks) "
                         "from a YAML file; results in runs/eval/<id>/")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="e.g. configs/eval/demo.yaml")
    source.add_argument("--compare", nargs=2, metavar="RUN",
                        help="compare two runs query by query (a run folder, or FOLDER:MODEL)")
    evaluate.add_argument("--json", action="store_true",
                          help="print the summary metrics as one JSON object")

    add_playlist_commands(commands)
    add_word_commands(commands)
    ui = commands.add_parser("ui", help="serve the Gradio app over an existing index")
    _add_serve_options(ui)
    _add_index_location(ui, reads=True)
    return parser


def _cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(tracks=args.tracks, serve_ui=not args.no_ui, host=args.host, port=args.port,
                    model_dir=args.model, max_upload_mb=args.max_upload_mb)


def _cmd_corpus(args) -> int:
    if args.corpus_command == "render":
        return _cmd_corpus_render(args)
    from training.corpus import build_corpus
    summary = build_corpus(args.out, n_tracks=args.tracks, soundfont=args.soundfont,
                           seed=args.seed, workers=args.workers)
    print(f"corpus: {summary.n_tracks} clips in {summary.out_dir} "
          f"({summary.n_skipped} scores skipped, {summary.elapsed_s:.0f} s)")
    return 0


def _cmd_corpus_render(args) -> int:
    from retrieval.paths import default_corpus_dir
    from training.corpus.renderings import render_rendering
    corpus = Path(args.corpus) if args.corpus else default_corpus_dir(1600)
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    result = render_rendering(corpus / "catalog.jsonl", args.soundfont, splits,
                              out_dir=args.out, workers=args.workers)
    print(f"rendering: {result.tracks} clips of {'+'.join(splits)} with {result.soundfont.name} "
          f"in {result.catalog.parent} ({result.missing} failed, {result.elapsed_s:.0f} s)")
    return 0


def _cmd_train(args) -> int:
    from training.config import load_train_config
    from training.trainer import train
    config = load_train_config(args.config)   # checked once, before any process starts
    command = "musicsearch train --config " + args.config + (f" --out {args.out}" if args.out else "")
    if args.nproc > 1:   # this command again, in N processes under torchrun
        from training.distributed import launch
        launch(args.nproc, args.config, args.out, args.resume)
        return 0
    result = train(config, args.out, resume=args.resume, command=command)
    if not result.fingerprint:   # a torchrun process other than rank 0: rank 0 reports
        return 0
    seen = result.test_metrics.get("seen", {})
    print(f"model saved to {result.bundle} (fingerprint {result.fingerprint}, best epoch "
          f"{result.best_epoch}, valid MAP {result.valid_map:.4f}"
          + (f", test MAP {seen['map']:.4f} vs random {seen['random_map']:.4f}" if seen else "")
          + f", {result.elapsed_s / 60:.1f} min)")
    return 0


EXIT_SKIPPED = 3   # `index`: finished, but some entries could not be indexed (listed)
INDEX_EPILOG = f"""exit status:
  0  every track was indexed (or already was)
  1  an internal error (a bug), with a traceback: the batches written before it are kept
  2  nothing was done: bad arguments, a missing path, a catalog that is not JSON lines,
     an index location that cannot be used, or another model's collection
  {EXIT_SKIPPED}  the run finished but some entries were skipped: unreadable or undecodable
     audio, invalid catalog records, duplicate track ids, dangling symlinks, symlink
     loops, FIFOs/sockets, non-finite model output; each is listed on stderr with its
     reason, and everything else was indexed
"""


def _cmd_index(args) -> int:
    from index import index_tracks, open_store
    from retrieval.bundle import load_bundle
    from index.schema import CollectionSchema, Distribution, HnswSettings, Quantization
    distribution = Distribution(args.shards, args.replicas, args.write_consistency).check()
    if not distribution.is_default() and not str(args.qdrant).startswith(("http://", "https://")):
        print("note: --shards, --replicas and --write-consistency apply to a Qdrant server; "
              "this store is one shard on this machine and ignores them", file=sys.stderr)
    encoder = encoder_from_args(args)   # a missing Ray is one line, before any long work
    model = load_bundle(args.model)
    schema = None
    if (args.chunks or args.int8 or args.on_disk or args.ef is not None
            or not distribution.is_default()):
        schema = CollectionSchema(dim=model.config.joint_dim, chunks=args.chunks,
                                  hnsw=HnswSettings(ef=args.ef),
                                  quantization=Quantization() if args.int8 else None,
                                  on_disk=args.on_disk, distribution=distribution).check()
    store = open_store(args.qdrant, args.collection, api_key=args.api_key)
    try:
        summary = index_tracks(model, args.path, store, catalog=args.catalog, schema=schema,
                               encoder=encoder, backbone=args.backbone)
    finally:
        store.close()
    print(summary.describe())
    for skipped in summary.skipped:
        print(f"  skipped {skipped.where}: {skipped.reason}", file=sys.stderr)
    if summary.complete:
        return 0
    count = len(summary.skipped)
    print(f"musicsearch index: {count} entr{'y' if count == 1 else 'ies'} skipped (listed "
          f"above), exit status {EXIT_SKIPPED}", file=sys.stderr)
    return EXIT_SKIPPED


def _cmd_evaluate(args) -> int:
    if args.compare:
        from training.evaluation.compare import compare_runs
        print(compare_runs(*args.compare), end="")
        return 0
    from training.evaluation.experiment import load_experiment
    from training.evaluation.runner import run_experiment
    config = load_experiment(args.config)     # every field checked before any work
    info = run_experiment(config, progress=not args.json,
                          command=f"musicsearch evaluate --config {args.config}")
    if args.json:
        from retrieval.strict_json import dumps
        print(dumps(info))
    else:
        print(f"evaluation {config.id}: {len(info['rows'])} results in {info['elapsed_s']:.0f} s "
              f"({info['computed']} embeddings computed); report: {info['report']}")
    return 0


def _cmd_ui(args) -> int:
    from .app import ServeError, serve
    searcher = open_searcher(args)
    try:
        serve(searcher, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb)
    except ServeError as error:   # not in USER_ERRORS (ui/errors.py): reported here
        print(f"musicsearch ui: error: {error}", file=sys.stderr)
        return 2
    finally:
        searcher.store.close()
    return 0


HANDLERS = {"demo": _cmd_demo, "corpus": _cmd_corpus, "train": _cmd_train, "index": _cmd_index,
            "search": cmd_search, "duplicates": cmd_duplicates, "evaluate": _cmd_evaluate,
            "ui": _cmd_ui, "playlists": cmd_playlists,
            "words": cmd_words}


class _OneLineHandler(logging.Handler):
    """`musicsearch: warning: …` on stderr, one line, written through tqdm so that it
    never lands in the middle of a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm
        message = " ".join(record.getMessage().split())
        tqdm.write(f"musicsearch: {record.levelname.lower()}: {message}", file=sys.stderr)


def _configure_logging() -> None:
    """Library warnings (e.g. audio scaled down to full scale) reach the user."""
    root = logging.getLogger()
    if not root.handlers:   # leave a host application's (or pytest's) logging alone
        root.addHandler(_OneLineHandler())
        root.setLevel(logging.WARNING)


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `timeout`, `kill`) stops a command as Ctrl+C does, so
    its clean-up runs (the UI's private upload folder) and it says what was kept."""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_threads(args)
    _configure_logging()
    _stop_on_sigterm()
    from retrieval.messages import first_line
    try:
        return HANDLERS[args.command](args)
    except Exception as error:
        # only the error classes of modules already imported (ui/errors.py): importing
        # them all loads torch (~3 s), which a text search never needs
        from .errors import user_errors
        if not isinstance(error, user_errors()):
            raise
        print(f"musicsearch {args.command}: error: {first_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"musicsearch {args.command}: interrupted (work done so far is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
