"""MusiCNN speed as times real time: decode → front end → backbone, next to decode → front end
alone, on 1 and 2 torch threads, measured in the same run.

Generated audio: --files WAV files of --seconds each, 44.1 kHz stereo 16-bit (so decoding
downmixes and resamples to 16 kHz as for real music), harmonic tones with vibrato plus noise.
Each thread count runs in its own process (torch fixes its pool on first use). Within it the
cases alternate in rounds (A/B/C/A/B/C…) so load from other processes hits all alike, and the
best round counts. Backbone cases: the eval fast path of retrieval/towers/musicnn.py and, as
the baseline, the same weights through the plain TensorFlow-order layers (`fast_eval = False`:
conv → ReLU → BN → max over frequency per block), with their largest embedding difference.
Load average is printed before and after: the machine has 2 cores shared with other work.

    python benchmarks/backbone_speed.py [--files 4] [--seconds 30] [--rounds 3] [--weights msd]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_audio(folder: Path, files: int, seconds: float, rate: int = 44100) -> list[Path]:
    import soundfile
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    paths = []
    for i in range(files):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        vibrato = 1 + 0.01 * np.sin(2 * np.pi * 5 * t)
        tone = sum(np.sin(2 * np.pi * f0 * h * np.cumsum(vibrato) / rate) / h for h in range(1, 8))
        beat = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.normal(0, 0.3, t.size)
        mono = 0.2 * tone + beat + rng.normal(0, 0.02, t.size)
        stereo = np.stack([mono, 0.8 * mono], axis=1) / np.abs(mono).max() * 0.9
        paths.append(folder / f"track{i}.wav")
        soundfile.write(paths[-1], stereo, rate, subtype="PCM_16")
    return paths


def _measure(threads: int, paths: list[str], seconds: float, rounds: int, weights: str,
             queue) -> None:
    sys.path.insert(0, str(ROOT))
    import torch
    torch.set_num_threads(threads)
    from retrieval.musicnn_frontend import audio_to_musicnn_patches
    from retrieval.towers.musicnn import load_musicnn
    model = load_musicnn(weights)

    def frontend():
        return [torch.from_numpy(audio_to_musicnn_patches(p)) for p in paths]

    def pipeline(fast: bool):
        model.fast_eval = fast
        with torch.inference_mode():   # one batch of patches per file
            return [model(patches)[1] for patches in frontend()]

    cases = {"decode+frontend": frontend,
             "decode+frontend+backbone (baseline layers)": lambda: pipeline(False),
             "decode+frontend+backbone": lambda: pipeline(True)}
    walls = {name: [] for name in cases}
    pipeline(True)   # warm-up: filters, oneDNN kernels
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            walls[name].append(time.perf_counter() - start)
    difference = max(float((a - b).abs().max()) for a, b in
                     zip(pipeline(False), pipeline(True)))
    audio = seconds * len(paths)
    queue.put({"threads": threads,
               "times_real_time": {n: round(audio / min(w), 1) for n, w in walls.items()},
               "best_wall_s": {n: round(min(w), 3) for n, w in walls.items()},
               "embedding_max_abs_difference": difference})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--weights", default="msd")
    args = parser.parse_args()
    report = {"audio": f"{args.files} generated files × {args.seconds:g} s, 44.1 kHz stereo WAV",
              "load_average_before": os.getloadavg(), "results": []}
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(p) for p in write_audio(Path(folder), args.files, args.seconds)]
        for threads in (int(n) for n in args.threads.split(",")):
            queue = context.Queue()
            process = context.Process(target=_measure, args=(
                threads, paths, args.seconds, args.rounds, args.weights, queue))
            process.start()
            report["results"].append(queue.get())
            process.join()
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
