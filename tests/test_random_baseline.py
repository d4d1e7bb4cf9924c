"""The random-ranking baselines against brute force: every permutation of small cases,
and 1,000 shuffles with sklearn's AP for a realistic one."""
from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from training.random_baseline import (expected_random_ap, expected_random_precision_at_k,
                                      expected_random_recall_at_k,
                                      expected_random_reciprocal_rank, harmonic,
                                      permutation_ap)


def _ap(ordered: tuple[bool, ...]) -> float:
    hits, total = 0, 0.0
    for rank, relevant in enumerate(ordered, start=1):
        if relevant:
            hits += 1
            total += hits / rank
    return total / hits


@pytest.mark.parametrize("n, r", [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (6, 6),
                                  (7, 1), (7, 4)])
def test_formula_equals_the_mean_over_every_ranking(n, r):
    orders = set(permutations([True] * r + [False] * (n - r)))
    exact_ap = float(np.mean([_ap(o) for o in orders]))
    exact_rr = float(np.mean([1 / (o.index(True) + 1) for o in orders]))
    assert expected_random_ap(n, r) == pytest.approx(exact_ap, rel=1e-12)
    assert expected_random_reciprocal_rank(n, r) == pytest.approx(exact_rr, rel=1e-12)
    for k in range(1, n + 1):
        assert expected_random_precision_at_k(n, r, k) == pytest.approx(
            np.mean([sum(o[:k]) / k for o in orders]))


def test_rare_tag_baseline_is_not_its_prevalence():
    """The issue's example: 2 positives among 167 clips."""
    assert expected_random_ap(167, 2) == pytest.approx(0.040, abs=0.0005)
    assert 2 / 167 == pytest.approx(0.012, abs=0.0005)


def test_formula_against_sklearn_on_shuffled_scores():
    relevance = np.zeros(167, dtype=bool)
    relevance[:9] = True
    rng = np.random.default_rng(1)
    sklearn_mean = np.mean([average_precision_score(relevance, rng.random(167))
                            for _ in range(1000)])
    assert sklearn_mean == pytest.approx(expected_random_ap(167, 9), rel=0.03)
    assert permutation_ap(relevance, 1000) == pytest.approx(expected_random_ap(167, 9),
                                                            rel=0.03)


def test_edge_cases():
    assert np.isnan(expected_random_ap(10, 0)) and np.isnan(permutation_ap(np.zeros(5)))
    assert expected_random_recall_at_k(100, 1, 10) == pytest.approx(0.1)
    assert expected_random_recall_at_k(5, 1, 10) == 1.0
    assert harmonic(3) == pytest.approx(1 + 1 / 2 + 1 / 3)
    assert expected_random_reciprocal_rank(10**6) == pytest.approx(harmonic(10**6) / 10**6)
    for bad in [(0, 0), (5, 6), (5, -1)]:
        with pytest.raises(ValueError):
            expected_random_ap(*bad)
    with pytest.raises(ValueError):
        expected_random_precision_at_k(5, 1, 0)
