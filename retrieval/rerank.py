"""Re-ranking a candidate list: maximal marginal relevance (diversity) and chunk MaxSim
(partial matches). Pure NumPy on unit vectors; the searcher fetches the vectors."""
from __future__ import annotations

import numpy as np

__all__ = ["mmr", "best_chunks"]


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lambda_: float) -> list[int]:
    """Greedy MMR (Carbonell & Goldstein 1998): the next pick maximises
    `lambda_ · relevance − (1 − lambda_) · max cosine to the picks so far`.

    `relevance`: (n,) scores against the query; `vectors`: (n, d) unit vectors. Returns up
    to `k` indices in pick order. `lambda_` 1 keeps the relevance order; lower trades
    relevance for variety.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    n = len(relevance)
    if n == 0 or k < 1:
        return []
    similarity = vectors @ vectors.T
    redundancy = np.full(n, -np.inf)      # max similarity to any pick; none yet
    free = np.ones(n, dtype=bool)
    picks: list[int] = []
    while len(picks) < min(k, n):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        score = np.where(free, lambda_ * relevance - (1 - lambda_) * penalty, -np.inf)
        best = int(np.argmax(score))
        picks.append(best)
        free[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return picks


def best_chunks(query: np.ndarray, chunk_sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """For each track's (m, d) chunk vectors, the best cosine with the (d,) query and which
    chunk gave it: (scores (n,), chunk indices (n,)). MaxSim with a one-vector query."""
    query = np.asarray(query, dtype=np.float32)
    scores = np.empty(len(chunk_sets), dtype=np.float32)
    index = np.empty(len(chunk_sets), dtype=np.int64)
    for i, chunks in enumerate(chunk_sets):
        similarities = np.asarray(chunks, dtype=np.float32).reshape(-1, query.shape[0]) @ query
        index[i] = int(np.argmax(similarities))
        scores[i] = similarities[index[i]]
    return scores, index
