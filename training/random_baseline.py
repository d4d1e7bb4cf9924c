"""Exact scores of a random ranking: the baselines that every retrieval figure stands beside.

A tag's prevalence R/N is the expected *precision* of a random ranking, not its expected
average precision: AP rewards the first positive's rank, and a rare tag's first positive
lands, on average, far higher than R/N suggests (2 positives among 167 clips: E[AP] ≈ 0.040,
prevalence 0.012).

For N items with R relevant, ranked uniformly at random, write rel_k for "the item at rank
k is relevant". AP = (1/R) Σ_k rel_k · (Σ_{j≤k} rel_j) / k, and E[rel_k] = R/N,
E[rel_j rel_k] = R(R−1)/(N(N−1)) for j ≠ k, so

    E[AP] = H_N / N + (R − 1)(N − H_N) / (N (N − 1)),     H_N = Σ_{k=1..N} 1/k.

(R = 1 gives E[1/rank] = H_N/N; R = N gives 1.) `permutation_ap` estimates the same number
by shuffling, which the tests use to check the formula.
"""
from __future__ import annotations

from math import comb

import numpy as np

__all__ = ["harmonic", "expected_random_ap", "expected_random_hit_at_k",
           "expected_random_precision_at_k",
           "expected_random_reciprocal_rank", "expected_random_recall_at_k", "permutation_ap"]


def harmonic(n: int) -> float:
    """H_n = 1 + 1/2 + … + 1/n (summed smallest first, for accuracy)."""
    return float(np.sum(1.0 / np.arange(n, 0, -1, dtype=np.float64))) if n > 0 else 0.0


def _check(n_items: int, n_relevant: int) -> None:
    if n_items < 1 or not 0 <= n_relevant <= n_items:
        raise ValueError(f"need 1 ≤ N and 0 ≤ R ≤ N, got N={n_items}, R={n_relevant}")


def expected_random_ap(n_items: int, n_relevant: int) -> float:
    """Expected average precision of a uniformly random ranking (formula above)."""
    _check(n_items, n_relevant)
    if n_relevant == 0:
        return float("nan")          # AP is undefined without a relevant item
    if n_items == 1:
        return 1.0
    h = harmonic(n_items)
    return h / n_items + (n_relevant - 1) * (n_items - h) / (n_items * (n_items - 1))


def expected_random_precision_at_k(n_items: int, n_relevant: int, k: int) -> float:
    """E[P@k] of a random ranking: each rank holds a relevant item with probability R/N
    (k is capped at N, as a ranking of N items has no rank beyond it)."""
    _check(n_items, n_relevant)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return n_relevant / n_items


def expected_random_recall_at_k(n_items: int, n_relevant: int, k: int) -> float:
    """E[R@k] of a random ranking: the share of relevant items in the top k, min(k, N)/N."""
    _check(n_items, n_relevant)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return min(k, n_items) / n_items if n_relevant else float("nan")


def expected_random_hit_at_k(n_items: int, n_relevant: int, k: int) -> float:
    """P(at least one relevant item in the top k) of a random ranking: the top k miss all R
    relevant items in C(N − R, k) of the C(N, k) equally likely top-k sets."""
    _check(n_items, n_relevant)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, n_items)
    return 1.0 - comb(n_items - n_relevant, k) / comb(n_items, k)


def expected_random_reciprocal_rank(n_items: int, n_relevant: int = 1) -> float:
    """E[1 / rank of the first relevant item] of a random ranking (the MRR baseline).

    P(first relevant at rank n) = C(N − n, R − 1) / C(N, R); successive terms differ by the
    factor (N − n − R + 1) / (N − n), so the sum runs in floats without huge binomials.
    """
    _check(n_items, n_relevant)
    if n_relevant == 0:
        return float("nan")
    if n_relevant == 1:
        return harmonic(n_items) / n_items
    ranks = np.arange(1, n_items - n_relevant + 2, dtype=np.float64)
    ratios = (n_items - ranks[:-1] - n_relevant + 1) / (n_items - ranks[:-1])
    probabilities = (n_relevant / n_items) * np.concatenate([[1.0], np.cumprod(ratios)])
    return float(np.sum(probabilities / ranks))


def permutation_ap(relevance: np.ndarray, n_permutations: int = 1000,
                   seed: int = 0) -> float:
    """Mean AP over `n_permutations` random rankings of a relevance vector."""
    relevance = np.asarray(relevance, dtype=bool)
    n_relevant = int(relevance.sum())
    if n_relevant == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, relevance.size + 1)
    total = 0.0
    for _ in range(n_permutations):
        ordered = relevance[rng.permutation(relevance.size)]
        hits = np.cumsum(ordered)
        total += float(np.sum(hits[ordered] / ranks[ordered])) / n_relevant
    return total / n_permutations
