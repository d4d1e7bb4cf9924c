"""The HNSW index build of an embedded collection, under a progress bar.

qdrant-edge's `optimize()` holds the GIL for the whole build (minutes at 100K+ songs), so
no thread of ours can draw progress meanwhile. The build runs instead in a child process
that opens the shard (the parent has closed it), while the parent shows elapsed time
against an estimate from the measured build rate (docs/SCALE.md).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .schema import CollectionSchema
from .store import StoreError

__all__ = ["build_index", "estimate_build_seconds", "IndexBuildError"]

_CHILD = ("import sys\n"
          "from qdrant_edge import EdgeShard\n"
          "shard = EdgeShard.load(sys.argv[1])\n"
          "print('built' if shard.optimize() else 'nothing')\n"
          "shard.close()\n")

# Seconds per point per unit of ef_construct·m/16 at dim 256, measured on the shared
# 2-core machine (docs/SCALE.md: 288 s float32, 276 s int8 for 100K at ef_construct 256).
_RATE = 1.1e-5


class IndexBuildError(StoreError):
    """The index build failed; the points are intact and searched exactly until a rebuild."""


def estimate_build_seconds(points: int, schema: CollectionSchema) -> float:
    scale = schema.hnsw.ef_construct * schema.hnsw.m / 16
    return max(1.0, points * scale * _RATE * schema.dim / 256)


def build_index(shard_dir: Path, points: int, schema: CollectionSchema,
                progress: bool = True) -> bool:
    """Run `optimize()` on the (closed) shard at `shard_dir` in a child process; True if a
    graph was built. Interrupting kills the child: the shard keeps its last state."""
    estimate = estimate_build_seconds(points, schema)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(shard_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    bar = tqdm(total=round(estimate), unit="s", disable=not progress, dynamic_ncols=True,
               desc=f"building the search index of {points:,} songs (estimate)",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} of ~{total}s")
    try:
        while child.poll() is None:
            time.sleep(0.5)
            elapsed = time.monotonic() - started
            if elapsed > 0.95 * bar.total:   # slower than estimated (a busy machine): extend
                bar.total = round(elapsed * 1.25)
            bar.n = min(round(elapsed), max(0, bar.total - 1))
            bar.refresh()
        out, err = child.communicate()
        if child.returncode != 0:
            lines = err.strip().splitlines() or [f"exit status {child.returncode}"]
            raise IndexBuildError(f"the index build failed (the songs are kept and searched "
                                  f"exactly): {lines[-1]}")
        bar.n = bar.total
        bar.refresh()
        return out.strip() == "built"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        bar.close()
