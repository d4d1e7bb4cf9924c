"""Hybrid search over the acoustic (`music`) and cultural (`cultural`) named vectors.

Modes (`--fusion`):
- `acoustic`: the `music` vector only (the default, and all a collection without
  `cultural` can do);
- `cultural`: the `cultural` vector only (playlist Word2Vec → joint space, or predicted
  from audio for tracks outside the playlists);
- `rrf`: reciprocal rank fusion of the two lists, Σ 1/(k + rank), rank from 0 (Qdrant's
  `Fusion.Rrf`, k = RRF_K);
- `weighted`: w·cultural + (1 − w)·acoustic cosine (a Qdrant formula query over the two
  prefetches; a point missing from one list counts 0 there), w = the fusion weight.

The store runs the fusion itself (prefetch + fusion query, index/fused_search.py); the pure
functions here are the reference the tests and the offline evaluation use.
"""
from __future__ import annotations

import math

import numpy as np

from .query import QueryError

__all__ = ["FUSIONS", "ACOUSTIC", "CULTURAL", "RRF", "WEIGHTED", "RRF_K",
           "DEFAULT_FUSION_WEIGHT", "check_fusion", "rrf_scores", "weighted_scores",
           "fusion_limit", "contribution"]

ACOUSTIC, CULTURAL, RRF, WEIGHTED = "acoustic", "cultural", "rrf", "weighted"
FUSIONS = (ACOUSTIC, CULTURAL, RRF, WEIGHTED)
RRF_K = 60                     # Qdrant's default and Cormack et al.'s
DEFAULT_FUSION_WEIGHT = 0.5    # `weighted`: the cultural share
MIN_PREFETCH = 50              # candidates per vector before fusing


def check_fusion(fusion: str | None, weight: float | None) -> tuple[str, float | None]:
    """(mode, weight) after checking; QueryError (one line) for a bad pair."""
    fusion = fusion or ACOUSTIC
    if fusion not in FUSIONS:
        raise QueryError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
    if weight is not None:
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and 0 <= weight <= 1):
            raise QueryError(f"fusion weight must be a number from 0 to 1, got {weight!r}")
        if fusion != WEIGHTED:
            raise QueryError("a fusion weight needs --fusion weighted")
    elif fusion == WEIGHTED:
        weight = DEFAULT_FUSION_WEIGHT
    return fusion, weight


def fusion_limit(k: int) -> int:
    """Candidates each vector contributes to a fused list of k."""
    return max(MIN_PREFETCH, 4 * k)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each row for each column of (n, m) scores."""
    order = np.argsort(-scores, axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(len(scores))[:, None], axis=0)
    return ranks


def rrf_scores(*score_lists: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """RRF over full rankings: each argument is (n,) or (n, m) scores of the same n items
    (columns: independent queries); returns Σ 1/(k + rank) per item."""
    lists = [np.asarray(s, dtype=np.float64) for s in score_lists]
    squeeze = lists[0].ndim == 1
    lists = [s[:, None] if s.ndim == 1 else s for s in lists]
    fused = sum(1.0 / (k + _ranks(s)) for s in lists)
    return fused[:, 0] if squeeze else fused


def weighted_scores(acoustic: np.ndarray, cultural: np.ndarray,
                    weight: float = DEFAULT_FUSION_WEIGHT) -> np.ndarray:
    return (1 - weight) * np.asarray(acoustic) + weight * np.asarray(cultural)


def contribution(ranks: dict[str, int | None]) -> str:
    """The "why" line's part for a fused hit: "acoustic #3, cultural #1" (1-based ranks in
    each vector's own list; "not in top N" where it was not fetched there)."""
    return ", ".join(f"{name} #{rank + 1}" if rank is not None else f"{name}: not in its top list"
                     for name, rank in ranks.items())
