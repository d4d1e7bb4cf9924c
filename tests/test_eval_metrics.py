"""Ranking metrics against values worked out by hand on tiny rankings (ties, a tag with no
positive, a single positive), and the random baselines against enumeration."""
from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from training.metrics import (NoRankableTags, expected_random_pr_auc, pr_auc, precision_at_k,
                              tag_retrieval_metrics)

# 4 songs; the two positives are song 1 (tied with song 2 at 0.5) and song 3 (last).
TIED = np.array([0.9, 0.5, 0.5, 0.1])
TIED_REL = np.array([0, 1, 0, 1], dtype=bool)


@pytest.mark.parametrize("k, expected", [
    (1, 0.0),          # song 0 only: a negative
    (2, 0.5 / 2),      # song 0, then one place for the tied pair, which holds 1 positive of 2
    (3, 1 / 3),        # the whole tied pair is in: one positive among three songs
    (4, 2 / 4),
    (10, 2 / 4),       # a ranking of 4 songs has no rank beyond 4
])
def test_precision_at_k_breaks_ties_by_expectation(k, expected):
    assert precision_at_k(TIED, TIED_REL, k) == pytest.approx(expected)
    # the order of tied songs in the input does not matter
    assert precision_at_k(TIED[[0, 2, 1, 3]], TIED_REL[[0, 2, 1, 3]], k) == pytest.approx(expected)


def test_pr_auc_by_hand():
    # ranks 1..5 hold positive, negative, negative, positive, negative: the curve runs
    # (0,1) (.5,1) (.5,.5) (.5,1/3) (1,.5) (1,.4); trapezoids 0.5 + 0 + 0 + 0.5·(1/3+1/2)/2
    relevant = np.array([1, 0, 0, 1, 0], dtype=bool)
    assert pr_auc(relevant, np.array([5.0, 4, 3, 2, 1])) == pytest.approx(0.5 + 5 / 24)


def test_expected_random_pr_auc_matches_every_ordering():
    # all 24 orderings of 4 songs with 2 positives, each scored by sklearn
    relevant = np.array([1, 1, 0, 0], dtype=bool)
    values = [pr_auc(relevant[list(order)], np.array([4.0, 3, 2, 1]))
              for order in permutations(range(4))]
    assert expected_random_pr_auc(4, 2) == pytest.approx(np.mean(values))


def test_random_pr_auc_by_permutations_is_close_to_exact():
    # 30 songs, 3 positives: 4,060 placements (exact) against 1,000 seeded permutations
    exact = expected_random_pr_auc(30, 3)
    sampled = expected_random_pr_auc(30, 3, exact_limit=0)
    assert sampled != exact and abs(sampled - exact) < 0.015


def test_tag_metrics_by_hand_with_ties_empty_and_single_positive_tags():
    scores = np.stack([TIED, TIED, TIED], axis=1)
    relevance = np.stack([TIED_REL, np.zeros(4, bool), np.array([0, 0, 1, 0], bool)], axis=1)
    result = tag_retrieval_metrics(scores, relevance, ["a", "none", "single"], k=2)
    # a: thresholds 0.9 (P 0, R 0), 0.5 (P 1/3, R 1/2), 0.1 (P 2/4, R 1) → AP 1/2·1/3 + 1/2·1/2
    assert result["map"] == pytest.approx(5 / 12)
    # the 6 placements of 2 positives among 4 have AP 1, 5/6, 3/4, 7/12, 1/2, 5/12
    assert result["random_map"] == pytest.approx(49 / 72)
    assert result["p@2"] == pytest.approx(0.25) and result["random_p@2"] == pytest.approx(0.5)
    # positive/negative pairs: (0.5 vs 0.9) 0, (0.5 vs 0.5) ½, (0.1 vs 0.9) 0, (0.1 vs 0.5) 0
    assert result["roc_auc"] == pytest.approx(0.5 / 4) and result["random_roc_auc"] == 0.5
    assert result["n_tags"] == 1 and result["min_positives"] == 2
    assert result["excluded"] == {"none": 0, "single": 1}


def test_single_positive_tag_when_allowed_scores_its_reciprocal_rank():
    relevance = np.array([[0], [0], [1], [0]], dtype=bool)
    result = tag_retrieval_metrics(TIED[:, None], relevance, ["single"], k=2, min_positives=1)
    # song 2 is tied with song 1 at rank 2-3: sklearn's AP counts the tied group as one
    # threshold (precision 1/3); a random ranking's expected 1/rank is H_4/4 = 25/48
    assert result["map"] == pytest.approx(1 / 3)
    assert result["random_map"] == pytest.approx(25 / 48)


def test_a_tag_on_every_song_or_none_cannot_be_ranked():
    with pytest.raises(NoRankableTags):
        tag_retrieval_metrics(TIED[:, None], np.ones((4, 1), bool), ["all"])
    with pytest.raises(NoRankableTags):
        tag_retrieval_metrics(TIED[:, None], np.zeros((4, 1), bool), ["none"])
