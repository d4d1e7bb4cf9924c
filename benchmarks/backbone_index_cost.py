"""What `index --backbone` costs: the same files indexed without and with a backbone,
side by side in alternating rounds, into fresh embedded collections: "cold" with an empty
log-mel cache (a new library: decoding and the shipped model's front end included),
"warm" with the shipped model's log-mels cached (a re-index into a new collection). The
backbone always decodes again at 16 kHz: that is part of its cost.

    python benchmarks/backbone_index_cost.py [--files 6] [--rounds 2] [FOLDER]

Default files: the first real recordings (benchmarks/real_recordings.py collect).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=None)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import soundfile
    import torch
    torch.set_num_threads(1)
    from index import index_tracks, open_store
    from retrieval.bundle import load_bundle
    from retrieval.paths import data_home
    folder = Path(args.folder) if args.folder else data_home() / "real-recordings/audio/wesnoth"
    files = sorted(folder.glob("*.ogg"))[:args.files]
    seconds = sum(soundfile.info(str(f)).duration for f in files)
    work = Path(tempfile.mkdtemp(prefix="backbone-cost-"))
    try:
        for f in files:
            (work / "audio").mkdir(exist_ok=True)
            (work / "audio" / f.name).symlink_to(f.resolve())
        model = load_bundle(None)
        runs = [(cache, label, backbone) for cache in ("cold", "warm")
                for label, backbone in (("no backbone", None), ("--backbone msd", "msd"))]
        timings: dict[tuple[str, str], list[float]] = {(c, l): [] for c, l, _ in runs}
        warm_cache = work / "warm-cache"
        warm = open_store(str(work / "warm"), "warm")     # fills the warm log-mel cache once
        index_tracks(model, work / "audio", warm, progress=False, cache_dir=warm_cache)
        warm.close()
        for round_ in range(args.rounds):
            for n, (cache, label, backbone) in enumerate(runs):
                cache_dir = warm_cache if cache == "warm" else work / f"cold-{round_}-{n}"
                store = open_store(str(work / f"q{round_}-{n}"), "c")
                started = time.perf_counter()
                index_tracks(model, work / "audio", store, progress=False, backbone=backbone,
                             cache_dir=cache_dir)
                timings[(cache, label)].append(time.perf_counter() - started)
                store.close()
        print(f"{len(files)} files, {seconds:.0f} s of audio, best of {args.rounds} rounds")
        print("| log-mel cache | run | seconds | real time | vs no backbone |")
        print("|---|---|---:|---:|---:|")
        for (cache, label), values in timings.items():
            best, base = min(values), min(timings[(cache, "no backbone")])
            print(f"| {cache} | {label} | {best:.1f} | {seconds / best:.0f}× | "
                  f"{best / base:.2f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
