"""Cost of log-mel augmentation next to a training step, measured side by side.

A step here is the audio side of a training step: a batch of crops through the config's
audio tower, forward and backward, and the optimiser step (the word tower's share is
small). The augmentation is training.augment.MelAugmenter with the config's `augment:`
section, or every part at probability --p. Steps with and without augmentation are
interleaved, so load on the machine hits both alike.

Prints one JSON object: median seconds of a step without and with augmentation, their
ratio, and the augmentation's own median time.

    python -m benchmarks.augment_cost [--config configs/timbre.yaml] [--p 1.0] [--steps 10]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from retrieval.model import MusicSearchModel
from training.augment import MelAugmenter
from training.config import load_train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/timbre.yaml")
    parser.add_argument("--p", type=float, default=None, help="set every part's probability")
    parser.add_argument("--batch", type=int, default=None, help="default: the config's")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_train_config(args.config)
    augment = config.augment
    if args.p is not None:
        augment = dataclasses.replace(augment, **{
            name: dataclasses.replace(getattr(augment, name), p=args.p)
            for name in ("gain", "noise", "eq", "pitch")})
    frontend = config.model.frontend
    tower = MusicSearchModel(config.model_config(["x"])).towers["audio"]
    optimizer = torch.optim.Adam(tower.parameters(), lr=1e-4)
    augmenter = MelAugmenter(augment, frontend)
    batch = args.batch or config.optim.batch_size
    rng = np.random.default_rng(0)
    # log-mel-like crops: band 0 at the −100 dB floor (it catches no FFT bin), music-like
    # levels elsewhere
    crops = torch.from_numpy(rng.uniform(-80, -10, (batch, frontend.n_mels,
                                                    frontend.chunk_frames)).astype(np.float32))
    crops[:, 0] = -100.0

    def step(inputs: torch.Tensor) -> None:
        out = F.normalize(tower(inputs), dim=-1)
        loss = (1 - (out * out.roll(1, 0)).sum(-1)).mean()
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
        inputs = augmenter(crops, rng)
        augment_only.append(time.perf_counter() - started)
        step(inputs)
        augmented.append(time.perf_counter() - started)
    med = {name: float(np.median(values)) for name, values in
           (("step_s", plain), ("augmented_step_s", augmented), ("augment_s", augment_only))}
    print(json.dumps({"config": args.config, "p": args.p, "batch": batch,
                      "threads": args.threads, "steps": args.steps,
                      **{k: round(v, 4) for k, v in med.items()},
                      "ratio": round(med["augmented_step_s"] / med["step_s"], 3),
                      "augment_share": round(med["augment_s"] / med["step_s"], 3)}))


if __name__ == "__main__":
    main()
