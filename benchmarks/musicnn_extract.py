"""Fill the feature cache with MusiCNN backbone outputs for the demo corpus, and write the
training-subset catalogs the musicnn-heads results used (docs/results/musicnn-heads.md).

Extraction order: the test split, its FluidR3 rendering, the valid split, then the training
tracks in a seeded random order (numpy default_rng(0).permutation), 100 at a time, so the
tracks done by any moment are a random subset of the training split. `musicsearch train`
extracts whatever is missing by itself; this only lets the slow part run ahead, in order.

    python benchmarks/musicnn_extract.py msd                 # then mtt, in another process
    python benchmarks/musicnn_extract.py msd --subset 600 --catalog runs/musicnn-600.jsonl
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.catalog import read_catalog, write_catalog  # noqa: E402
from retrieval.paths import default_corpus_dir, data_home  # noqa: E402
from retrieval.towers.musicnn_tower import BackboneFeatures  # noqa: E402
from training.data import load_split  # noqa: E402

FLUIDR3_TEST = "demo-corpus-1600-timbre-74594e8f4250-test"


def training_order(corpus: list) -> list:
    train = [r for r in corpus if r.split == "train"]
    return [train[i] for i in np.random.default_rng(0).permutation(len(train))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backbone", choices=["msd", "mtt"])
    parser.add_argument("--subset", type=int, default=None,
                        help="write a catalog of test + valid + the first N training tracks")
    parser.add_argument("--catalog", default=None, help="where --subset writes its catalog")
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = read_catalog(default_corpus_dir(1600) / "catalog.jsonl")
    train = training_order(corpus)
    if args.subset is not None:
        # absolute paths: the catalog lives outside the corpus folder
        kept = [r for r in corpus if r.split != "train"] + train[:args.subset]
        write_catalog([dataclasses.replace(r, path=str(Path(r.path).resolve())) for r in kept],
                      args.catalog)
        print(f"{args.catalog}: {len(kept)} tracks ({args.subset} of {len(train)} train)")
        return 0
    steps = [("test", [r for r in corpus if r.split == "test"]),
             ("fluidr3-test", read_catalog(data_home() / FLUIDR3_TEST / "catalog.jsonl")),
             ("valid", [r for r in corpus if r.split == "valid"])]
    steps += [(f"train {i}-{i + 100}", train[i:i + 100]) for i in range(0, len(train), 100)]
    for label, records in steps:
        started = time.perf_counter()
        data = load_split(records, BackboneFeatures(args.backbone), None,
                          f"{args.backbone} {label}", True, workers=1)
        print(f"\n{args.backbone} {label}: {len(data.records)} ok, {len(data.failed)} failed, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
