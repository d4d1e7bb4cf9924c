"""Decode + resample cost per source sample rate: the decoder before block-wise, bounded
ratio resampling (commit 637b093: whole file read, torchaudio.functional.resample on the
raw rate pair) against `retrieval.frontend.load_audio`, with 44.1 kHz as the reference.

Prints one JSON object: for each rate and path, wall time (s) and peak resident memory
above the imported baseline (MB), each case in a fresh process (peak RSS only grows), on
one thread: the first call (including building the filter) and the best of five warm
calls (the filter is cached per rate pair, as when indexing a folder). The old path is skipped where its kernel alone would exceed --max-kernel-gb;
the kernel it would have built is reported instead.

    python benchmarks/resample_cost.py [--seconds 5] [--rates 44100 1000 7919 22051 ...]
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 16000


def old_load(path: str, sample_rate: int = TARGET, max_seconds: float = 600.0):
    """The decoder as it was: the whole (capped) file at once, raw rates to torchaudio."""
    import numpy as np
    import soundfile
    import torch
    import torchaudio
    info = soundfile.info(path)
    data, rate = soundfile.read(path, frames=int(max_seconds * info.samplerate),
                                dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != sample_rate:
        mono = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(mono)),
                                              rate, sample_rate).numpy()
    return mono


def old_kernel_gb(rate: int) -> float:
    """Bytes of the kernel torchaudio builds for the raw pair: new' × (orig' + 2·width)."""
    gcd = math.gcd(rate, TARGET)
    orig, new = rate // gcd, TARGET // gcd
    width = math.ceil(6 * orig / (0.99 * min(orig, new)))
    return new * (orig + 2 * width) * 4 / 1e9


def _case(path: str, which: str, queue) -> None:
    sys.path.insert(0, str(ROOT))
    import torch
    torch.set_num_threads(1)
    from retrieval.frontend import load_audio
    load = old_load if which == "old" else (lambda p: load_audio(p, TARGET))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    audio = load(path)
    first = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline
    warm = []
    for _ in range(5 if first < 1.0 else 0):   # the old path rebuilds its kernel each call
        started = time.perf_counter()
        load(path)
        warm.append(time.perf_counter() - started)
    queue.put({"first_s": round(first, 4), "best_warm_s": round(min(warm), 4) if warm else None,
               "peak_mb": round(peak / 1024, 1), "samples": len(audio)})


def measure(path: str, which: str) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_case, args=(path, which, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--rates", type=int, nargs="+",
                        default=[44100, 1000, 7919, 22051, 44101, 96001, 383999])
    parser.add_argument("--max-kernel-gb", type=float, default=2.0)
    args = parser.parse_args()
    import numpy as np
    import soundfile
    folder = Path(tempfile.mkdtemp(prefix="resample-cost-"))
    rows = {}
    for rate in args.rates:
        path = folder / f"{rate}.wav"
        with soundfile.SoundFile(path, "w", rate, args.channels, "PCM_16") as out:
            for start in range(0, int(args.seconds * rate), 1 << 20):   # long files too
                t = np.arange(start, min(start + (1 << 20), int(args.seconds * rate))) / rate
                tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
                out.write(np.repeat(tone[:, None], args.channels, axis=1))
        row = {"new": measure(str(path), "new"), "old_kernel_gb": round(old_kernel_gb(rate), 3)}
        row["old"] = (measure(str(path), "old") if old_kernel_gb(rate) <= args.max_kernel_gb
                      else "skipped: kernel too large")
        rows[rate] = row
        path.unlink()
    reference = rows.get(44100, {}).get("new")
    if reference:
        for row in rows.values():
            row["new_vs_44100"] = {
                "first": round(row["new"]["first_s"] / reference["first_s"], 2),
                "warm": round(row["new"]["best_warm_s"] / reference["best_warm_s"], 2)}
    print(json.dumps({"seconds": args.seconds, "channels": args.channels, "target_hz": TARGET,
                      "threads": 1, "machine": platform.processor() or platform.machine(),
                      "rates": rows}, indent=1))


if __name__ == "__main__":
    main()
