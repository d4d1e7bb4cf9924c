"""Near-duplicate pairs among song vectors: every pair whose cosine reaches a threshold,
found exactly, block by block, so memory stays at `block` × n similarities."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DuplicatePair", "near_duplicate_pairs"]


@dataclass(frozen=True)
class DuplicatePair:
    first: int          # row indices into the vectors, first < second
    second: int
    score: float        # cosine


def near_duplicate_pairs(vectors: np.ndarray, threshold: float,
                         block: int = 2048) -> list[DuplicatePair]:
    """Pairs (i < j) of rows of `vectors` (normalised here) with cosine ≥ `threshold`,
    best first. Exact: n² dot products (measured: 5 s for 20,000 × 128, one thread, shared machine)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) < 2:
        return []
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    pairs: list[DuplicatePair] = []
    for start in range(0, len(unit), block):
        similarity = unit[start:start + block] @ unit.T
        rows, columns = np.nonzero(similarity >= threshold)
        rows += start
        upper = columns > rows
        for i, j in zip(rows[upper], columns[upper]):
            pairs.append(DuplicatePair(int(i), int(j), float(similarity[i - start, j])))
    pairs.sort(key=lambda p: (-p.score, p.first, p.second))
    return pairs
