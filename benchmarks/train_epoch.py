"""Seconds per 10,000 training triplets (demo configuration), cached vs uncached features.

Builds what `training.trainer.train` builds for configs/demo.yaml (model, tag vocabulary,
sampler, `tag_pair`, Adam) on the real demo corpus, with the training split's log-mels read
from the feature cache (`--tracks N` keeps the first N training tracks; 0 = all), then times
`--steps` steps of batch 64 per variant (after 2 warm-up steps) and scales to 10,000
triplets (one anchor = one triplet). Variants run in rounds (A/B/A/B…) so load from other
processes hits them alike, for each of `--threads`; all use channels-last weights:

- main: what main trained with (glibc's default malloc; ReLU before the pool);
- heap: `training.heap.retained_heap()` around the run, as `train` now does;
- now: heap and the audio tower's pool before its ReLU (what training now does);
- bf16: now plus bf16 autocast of the forward (a measurement only; not offered).

Each step is split into crops (random crops of cached log-mels), forward (towers and
loss), backward and the optimiser step. Wall seconds and this process's CPU seconds are
both reported (CPU seconds are what load from other processes disturbs least), with the
best round's speed-up over the first variant; the loss sequence of a fixed-seed run is
compared across variants (main, heap and now are bit-identical).

The uncached epoch adds what the first epoch of a fresh run pays: log-mels computed from
audio for every training track, measured on `--decode` tracks into an empty cache and
scaled to the split.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/train_epoch.py --steps 6 --rounds 3 \
        --threads 1 --variants main,heap,now

Measured 2026-12-02 12:25–12:34 UTC, all 1,269 training tracks, on a machine shared with
seven other jobs (load average 16.1 at the start, 12.3 at the end), seconds per 10,000
triplets, rounds in order:

| variant | wall s (rounds) | CPU s (rounds) | speed-up, best round (wall / CPU) |
|---|---|---|---|
| main | 574 / 355 / 421 | 131 / 108 / 115 | 1 / 1 |
| heap | 186 / 198 / 172 | 54 / 56 / 56 | 2.07 / 1.99 |
| now | 182 / 197 / 203 | 53 / 54 / 62 | 1.95 / 2.04 |

The losses of all six steps are identical (difference 0.0). Uncached first epoch: +0.055 s
of log-mel per track, +70 s (main 426 s, now 252 s wall under this load). The retained
heap is nearly all of the gain. The audio tower's step alone (forward, backward, Adam)
page-faults ~170,000 times with glibc's defaults (each activation over 32 MB, the first
block's are 120 MB, is a fresh `mmap`) and not at all with the retained heap once warm,
0.69 → 0.29 CPU s; its peak resident memory goes from 0.9 to 1.6 GB.

`--variants now,bf16 --rounds 2 --decode 3` (load 14.7 → 13.9): now 203 / 182 wall,
51 / 52 CPU; bf16 132 / 148 wall, 37 / 40 CPU: 1.38× more, but the first step's loss
differs by 4e-4 and the sixth by 8e-3, and its effect on a trained model is unmeasured.

2 threads (`OMP_NUM_THREADS=2 … --threads 2 --variants main,now --rounds 2 --decode 3`,
load 10.5 → 16.6): main 744 / 970 wall, 287 / 301 CPU; now 529 / 901 wall, 181 / 241 CPU
(1.41× wall, 1.59× CPU, losses identical); under such load 2 threads are far slower than 1.

Tried and dropped (audio tower alone, forward + backward of batch 64, CPU s per step):
`torch.compile` (inductor) 0.35–0.36 vs 0.30–0.34 with the retained heap, after 30 s of
compiling; PyTorch's `THP_MEM_ALLOC_ENABLE=1` (huge pages) 0.37–0.43 vs 0.60–0.76 without
and 0.28–0.30 with the retained heap, and it must be set before torch's first allocation.
Earlier (load 3.1–3.8): channels-last weights took 1 thread from 215 s to 95 s wall.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRIPLETS = 10_000


def _setup(config, tracks: int):
    import torch

    from retrieval.model import MusicSearchModel
    from training.alignment import tag_pair
    from training.crops import TrainingCrops
    from training.data import load_catalog_splits, load_split, resolve_catalog, tag_vocabulary
    from training.samplers import TagTrackIndex, make_sampler
    catalog = resolve_catalog(config.data, progress=False)
    splits = load_catalog_splits(catalog)
    records = splits["train"][:tracks] if tracks else splits["train"]
    model = MusicSearchModel(config.model_config())
    tags = tag_vocabulary(records, config.data.min_tag_tracks,
                          lambda t: model.phrase_vector(t) is not None)
    started = time.perf_counter()
    data = load_split(records, config.model.frontend, config.data.cache_dir, progress=False)
    load_s = time.perf_counter() - started
    index = TagTrackIndex.from_track_tags([r.tags for r in data.records], tags)
    crops = TrainingCrops.load(data, [], config.model.frontend, config.augment,
                               config.data.cache_dir, progress=False)
    tag_inputs = torch.from_numpy(np.stack([model.phrase_vector(t) for t in tags]))
    parts = dict(model=model, tags=tags, index=index, crops=crops, tag_inputs=tag_inputs,
                 sampler=make_sampler(config.objective.sampler, index),
                 make_pair=tag_pair)
    return parts, data, splits["train"], load_s


# variant → (retained heap, ReLU before the pool as on main, bf16 autocast of the forward);
# channels-last weights in all. bf16 is a measurement only: the trainer does not offer it.
VARIANTS = {"main": (False, True, False), "heap": (True, True, False),
            "now": (True, False, False), "bf16": (True, False, True)}


def _run(config, setup, threads: int, variant: str, steps: int) -> dict:
    """Time `steps` steps from a fresh model (same seed, so the losses are comparable)."""
    import torch
    from torch import nn

    from retrieval.model import MusicSearchModel
    from training.alignment import step_loss
    _, relu_first, bf16 = VARIANTS[variant]
    torch.set_num_threads(threads)
    torch.manual_seed(config.optim.seed)
    rng = np.random.default_rng(config.optim.seed)
    model = MusicSearchModel(config.model_config(setup["tags"]))
    if relu_first:   # main's block order: conv, BN, ReLU, pool (same values, more work)
        for block in model.towers["audio"].blocks:
            block[2], block[3] = nn.ReLU(inplace=True), nn.MaxPool2d(2)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    timing = {"crops": 0.0}

    def timed_crops(tracks, rng):
        started = time.perf_counter()
        out = setup["crops"](tracks, rng)
        timing["crops"] += time.perf_counter() - started
        return out

    pair = setup["make_pair"](model, setup["sampler"], setup["index"], setup["tag_inputs"],
                              timed_crops, config.optim.batch_size,
                              config.objective.terms(setup["sampler"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.lr,
                                 weight_decay=config.optim.weight_decay)
    draw = backward = update = 0.0
    losses = []
    cpu = time.process_time()
    for _ in range(steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = step_loss([pair], rng)
        t1 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        draw, backward, update = draw + t1 - t0, backward + t2 - t1, update + t3 - t2
        losses.append(loss.item())
    cpu = time.process_time() - cpu
    total = draw + backward + update
    forward = draw - timing["crops"]
    return {"s": total, "cpu_s": cpu, "crops": timing["crops"], "forward": forward,
            "backward": backward, "step": update, "losses": losses}


def _decode_seconds(config, records, count: int) -> float:
    """Seconds to compute the log-mels of `count` tracks from audio into an empty cache."""
    from retrieval.feature_cache import FeatureCache
    with tempfile.TemporaryDirectory() as folder:
        cache = FeatureCache(folder, config.model.frontend)
        started = time.perf_counter()
        for record in records[:count]:
            cache.mel(record.path)
        return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tracks", type=int, default=0, help="training tracks (0 = all)")
    parser.add_argument("--decode", type=int, default=6, help="tracks decoded for the uncached epoch")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--variants", default="main,now",
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    import torch

    from training.config import load_train_config
    from training.heap import retained_heap
    config = load_train_config(args.config)
    load_start = os.getloadavg()
    setup, data, train_records, load_s = _setup(config, args.tracks)
    batch = config.optim.batch_size
    variants = [(int(t), name) for t in args.threads.split(",") for name in names]
    runs: dict = {}
    for _ in range(args.rounds):
        for threads, name in variants:
            # as in training.trainer.train, the heap is kept over the whole run
            with retained_heap() if VARIANTS[name][0] else nullcontext():
                _run(config, setup, threads, name, 2)   # warm-up (allocator, kernels)
                runs.setdefault((threads, name), []).append(
                    _run(config, setup, threads, name, args.steps))
    decode = {}
    for threads in sorted({t for t, _ in variants}):
        torch.set_num_threads(threads)
        decode[threads] = _decode_seconds(config, train_records, args.decode)
    scale = TRIPLETS / (args.steps * batch)
    reference = runs[variants[0]][0]["losses"]
    report = {"load_average_start": load_start, "config": args.config,
              "train_tracks": len(data.records),
              "cached_load_s": round(load_s, 1), "steps_per_variant": args.steps,
              "batch": batch, "variants": {}}
    first_wall = min(r["s"] for r in runs[variants[0]])
    first_cpu = min(r["cpu_s"] for r in runs[variants[0]])
    for (threads, name), rows in runs.items():
        best = min(rows, key=lambda r: r["s"])   # least disturbed round
        per = best["s"] * scale
        uncached = per + decode[threads] * len(train_records)
        report["variants"][f"{name} threads={threads}"] = {
            "s_per_10k_cached_rounds": [round(r["s"] * scale, 1) for r in rows],
            "s_per_10k_cached": round(per, 1),
            # CPU seconds of this process: what load from other processes disturbs least
            "cpu_s_per_10k_cached_rounds": [round(r["cpu_s"] * scale, 1) for r in rows],
            "speedup_vs_first_variant": {  # best rounds
                "wall": round(first_wall / best["s"], 2),
                "cpu": round(first_cpu / min(r["cpu_s"] for r in rows), 2)},
            "s_per_10k_uncached_first_epoch": round(uncached, 1),
            "share": {k: round(best[k] / best["s"], 3)
                      for k in ("crops", "forward", "backward", "step")},
            "first_loss_diff_vs_first_variant": abs(rows[0]["losses"][0] - reference[0]),
            "max_loss_diff_vs_first_variant": float(np.max(np.abs(
                np.array(rows[0]["losses"]) - np.array(reference)))),
            "decode_s_per_track": round(decode[threads], 3)}
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
