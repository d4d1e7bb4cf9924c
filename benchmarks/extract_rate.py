"""Per-core extraction rate of the shipped model: audio file → song vector, one torch thread.

What one indexing worker does per track (the work a cluster scales out): decode + log-mel
(`audio_to_mel`) and the model (`encode_mel`: at most `max_chunks` chunks per song), timed
apart, on real audio. Two track lengths: the demo corpus's files as they are (WAV), and the
same files tiled to `--long` seconds, as WAV and as MP3 (a catalogue's usual format; written
to a temp folder first, not timed), because decode grows with the length and the codec
while the model's work stops at `max_chunks` chunks.
Rounds alternate the two sets; the best round counts (least disturbed by other load).

    OMP_NUM_THREADS=1 python benchmarks/extract_rate.py [--files 20] [--long 240] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _time_set(model, paths: list[Path]) -> dict:
    from retrieval.frontend import audio_to_mel
    decode = embed = audio = 0.0
    for path in paths:
        started = time.perf_counter()
        mel = audio_to_mel(path, model.config.frontend)
        middle = time.perf_counter()
        model.encode_mel(mel)
        ended = time.perf_counter()
        decode += middle - started
        embed += ended - middle
        audio += mel.shape[1] * model.config.frontend.hop_length / model.config.frontend.sample_rate
    return {"tracks": len(paths), "audio_s": audio, "decode_s": decode, "embed_s": embed}


def _summary(row: dict) -> dict:
    total = row["decode_s"] + row["embed_s"]
    return {"tracks": row["tracks"], "mean_track_s": round(row["audio_s"] / row["tracks"], 1),
            "decode_ms_per_track": round(1000 * row["decode_s"] / row["tracks"], 1),
            "embed_ms_per_track": round(1000 * row["embed_s"] / row["tracks"], 1),
            "tracks_per_core_s": round(row["tracks"] / total, 2),
            "x_real_time": round(row["audio_s"] / total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--long", type=float, default=240.0, help="tiled length, seconds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import soundfile
    import torch
    torch.set_num_threads(1)
    from benchmarks.song_vectors import corpus_dir
    from retrieval.bundle import load_bundle
    model = load_bundle(None)
    lines = (corpus_dir() / "catalog.jsonl").read_text().splitlines()[: args.files]
    short = [corpus_dir() / json.loads(line)["path"] for line in lines]
    with tempfile.TemporaryDirectory() as folder:
        sets = {"as_is": short, "long_wav": [], "long_mp3": []}
        for path in short:
            data, rate = soundfile.read(path, always_2d=True)
            tiled = np.tile(data, (int(np.ceil(args.long * rate / len(data))), 1))
            tiled = tiled[: int(args.long * rate)]
            wav, mp3 = Path(folder) / f"{path.stem}.wav", Path(folder) / f"{path.stem}.mp3"
            soundfile.write(wav, tiled, rate, subtype="PCM_16")
            soundfile.write(mp3, tiled, rate, format="MP3")
            sets["long_wav"].append(wav)
            sets["long_mp3"].append(mp3)
        _time_set(model, short[:2])   # warm-up: lazy imports, allocator
        rounds: dict[str, list] = {name: [] for name in sets}
        for _ in range(args.rounds):
            for name, paths in sets.items():
                rounds[name].append(_time_set(model, paths))
    best = {name: _summary(min(rows, key=lambda r: r["decode_s"] + r["embed_s"]))
            for name, rows in rounds.items()}
    report = {"model": str(getattr(model, "fingerprint", ""))[:12], "threads": 1,
              "load_average": os.getloadavg(), "best_of_rounds": args.rounds, **best}
    text = json.dumps(report, indent=1) + "\n"
    sys.stdout.write(text)
    if args.out:   # the raw record docs/SCALING.md cites
        args.out.write_text(text)


if __name__ == "__main__":
    main()
