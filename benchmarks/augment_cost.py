"""Cost of log-mel augmentation next to a training step, measured side by side.

A training step here is what the trainer does per batch on the audio side: crops of the
default front end through the default audio tower, forward and backward (twice for the
in-batch triplet: positives, no separate negatives), plus the optimiser step. The
augmentation is training.augment.MelAugmenter on the same crops with every part on.

Prints one JSON object: median seconds of a step without and with augmentation (steps
interleaved, so load on the machine hits both alike), the ratio, and the augmentation's
own median time.

    python -m benchmarks.augment_cost [--batch 64] [--steps 10] [--threads 1] [--p 1.0]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from retrieval.frontend import FrontendConfig
from retrieval.towers import AudioTowerConfig, ShortChunkCNN
from training.augment import (AugmentConfig, EqAugment, GainAugment, MelAugmenter, NoiseAugment,
                              PitchAugment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--p", type=float, default=1.0, help="probability of every part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frontend = FrontendConfig()
    tower = ShortChunkCNN(AudioTowerConfig())
    optimizer = torch.optim.Adam(tower.parameters(), lr=1e-4)
    p = args.p
    augmenter = MelAugmenter(AugmentConfig(GainAugment(p), NoiseAugment(p), EqAugment(p),
                                           PitchAugment(p)), frontend)
    rng = np.random.default_rng(0)
    # log-mel-like crops: −100 dB floor in band 0, music-like levels elsewhere
    crops = torch.from_numpy(rng.uniform(-80, -10, (args.batch, frontend.n_mels,
                                                    frontend.chunk_frames)).astype(np.float32))
    crops[:, 0] = -100.0

    def step(batch: torch.Tensor) -> None:
        out = F.normalize(tower(batch), dim=-1)
        loss = (1 - (out @ out.roll(1, 0).T).diagonal()).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    plain, augmented, augment_only = [], [], []
    step(crops)                                    # warm-up
    for _ in range(args.steps):
        started = time.perf_counter()
        step(crops)
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        batch = augmenter(crops, rng)
        augment_only.append(time.perf_counter() - started)
        step(batch)
        augmented.append(time.perf_counter() - started)
    med = {k: float(np.median(v)) for k, v in
           (("step_s", plain), ("augmented_step_s", augmented), ("augment_s", augment_only))}
    print(json.dumps({**vars(args), **{k: round(v, 4) for k, v in med.items()},
                      "ratio": round(med["augmented_step_s"] / med["step_s"], 3)}))


if __name__ == "__main__":
    main()
