"""Ranking metrics with exact random baselines (Won's tag → music protocol): for each query,
rank all songs by similarity; macro-average over queries.

Tied scores are resolved by expectation over random tie-breaking wherever a metric would
otherwise depend on the order of tied items (P@k, reciprocal rank); AP, ROC-AUC and PR-AUC
are sklearn's, which treat a tied group as one threshold. Every figure comes with the same
figure for a uniformly random ranking (`random_baseline`), never the tag's prevalence.
"""
from __future__ import annotations

from functools import lru_cache
from math import comb

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from .random_baseline import expected_random_ap

__all__ = ["tag_retrieval_metrics", "precision_at_k", "pr_auc", "expected_random_pr_auc",
           "NoRankableTags", "NonFiniteScores", "MIN_POSITIVES", "check_finite"]

# A tag needs this many positive songs in the split to enter a mean: with one positive AP is
# the reciprocal rank of a single song, and such tags dominate a macro average by noise.
MIN_POSITIVES = 2


class NoRankableTags(ValueError):
    """No tag has enough positive songs and a negative one: there is nothing to average."""


class NonFiniteScores(FloatingPointError):
    """NaN or infinite similarity scores: the model has diverged. Never a metric of 0."""


def check_finite(scores: np.ndarray) -> None:
    if not np.isfinite(scores).all():
        raise NonFiniteScores(f"{int((~np.isfinite(scores)).sum())} of {scores.size} "
                              "similarity scores are NaN or infinite: the model has diverged")


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Expected precision of the top min(k, N) songs when ties are broken at random.

    Songs scoring above the k-th score are all in; the tied group at the k-th score fills
    the remaining places, each place holding a positive with the group's positive share."""
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    scores, relevant = np.asarray(scores, dtype=np.float64), np.asarray(relevant, dtype=bool)
    k = min(k, scores.size)   # a ranking of N songs has no rank beyond N
    kth = np.sort(scores)[::-1][k - 1]
    above, tied = scores > kth, scores == kth
    places = k - int(above.sum())
    hits = relevant[above].sum() + places * relevant[tied].sum() / tied.sum()
    return float(hits / k)


def pr_auc(relevant: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve by the trapezoid rule (sklearn)."""
    precision, recall, _ = precision_recall_curve(relevant, scores)
    return float(auc(recall, precision))


def _pr_auc_of_orders(orders: np.ndarray, n_relevant: int) -> np.ndarray:
    """PR-AUC of rankings without ties, one per row of 0/1 `orders` (rank 1 first): the
    curve sklearn draws, (recall 0, precision 1) then one point per rank."""
    hits = np.cumsum(orders, axis=1)
    ranks = np.arange(1, orders.shape[1] + 1)
    recall = np.hstack([np.zeros((len(orders), 1)), hits / n_relevant])
    precision = np.hstack([np.ones((len(orders), 1)), hits / ranks])
    return np.sum(np.diff(recall, axis=1) * (precision[:, 1:] + precision[:, :-1]) / 2, axis=1)


@lru_cache(maxsize=4096)
def expected_random_pr_auc(n_items: int, n_relevant: int, n_permutations: int = 1000,
                           seed: int = 0, exact_limit: int = 20_000) -> float:
    """E[PR-AUC] of a uniformly random ranking: exact (every placement of the positives)
    when there are at most `exact_limit` placements, else the mean over `n_permutations`."""
    if not 0 < n_relevant <= n_items:
        return float("nan")
    if comb(n_items, n_relevant) <= exact_limit:
        from itertools import combinations
        orders = np.zeros((comb(n_items, n_relevant), n_items))
        for row, places in enumerate(combinations(range(n_items), n_relevant)):
            orders[row, list(places)] = 1
    else:
        rng = np.random.default_rng(seed)
        base = np.zeros(n_items)
        base[:n_relevant] = 1
        orders = np.stack([rng.permutation(base) for _ in range(n_permutations)])
    return float(_pr_auc_of_orders(orders, n_relevant).mean())


def _one_tag(scores: np.ndarray, relevant: np.ndarray, k: int) -> dict:
    n, r = relevant.size, int(relevant.sum())
    return {"ap": float(average_precision_score(relevant, scores)),
            "random_ap": expected_random_ap(n, r),
            f"p@{k}": precision_at_k(scores, relevant, k),
            f"random_p@{k}": r / n,
            "roc_auc": float(roc_auc_score(relevant, scores)), "random_roc_auc": 0.5,
            "pr_auc": pr_auc(relevant, scores), "random_pr_auc": expected_random_pr_auc(n, r),
            "positives": r, "prevalence": r / n}


# (name in the summary, name per tag): every macro mean comes with its random twin.
def _summary_names(k: int) -> list[str]:
    return ["ap", "random_ap", f"p@{k}", f"random_p@{k}", "roc_auc", "random_roc_auc",
            "pr_auc", "random_pr_auc"]


def macro(per_tag: dict[str, dict], k: int) -> dict:
    """Macro means over tags; AP's mean is called MAP (and random_map)."""
    out = {}
    for name in _summary_names(k):
        key = {"ap": "map", "random_ap": "random_map"}.get(name, name)
        out[key] = float(np.mean([v[name] for v in per_tag.values()]))
    out["n_tags"] = len(per_tag)
    return out


def tag_retrieval_metrics(scores: np.ndarray, relevance: np.ndarray, tags: list[str],
                          k: int = 10, min_positives: int = MIN_POSITIVES) -> dict:
    """scores, relevance: (n_songs, n_tags). A tag enters only with at least `min_positives`
    positive songs and one negative; the others are listed under `excluded` with their
    number of positives.

    Returns macro MAP, P@k, ROC-AUC and PR-AUC, each with its exact random baseline, and
    the same per tag. Raises NonFiniteScores for NaN/inf scores and NoRankableTags if no
    tag can be scored."""
    check_finite(scores)
    if min_positives < 1:
        raise ValueError(f"min_positives must be ≥ 1, got {min_positives}")
    per_tag, excluded = {}, {}
    for column, tag in enumerate(tags):
        relevant = relevance[:, column].astype(bool)
        if relevant.sum() < min_positives or relevant.all():
            excluded[tag] = int(relevant.sum())
            continue
        per_tag[tag] = _one_tag(scores[:, column], relevant, k)
    if not per_tag:
        raise NoRankableTags(f"no tag has {min_positives}+ positive songs and a negative one "
                             "in this split")
    return {**macro(per_tag, k), "n_songs": int(scores.shape[0]),
            "min_positives": min_positives, "excluded": excluded, "per_tag": per_tag}
