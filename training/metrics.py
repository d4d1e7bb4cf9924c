"""Retrieval metrics over tags (Won's protocol): for each tag, rank all songs by cosine
similarity to the tag embedding; macro-average over tags.

The random-ranking baseline has expected AP ≈ P@k ≈ the tag's prevalence.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["tag_retrieval_metrics", "precision_at_k", "NoRankableTags", "NonFiniteScores"]


class NoRankableTags(ValueError):
    """No tag has both a positive and a negative song: AP and ROC-AUC are undefined."""


class NonFiniteScores(FloatingPointError):
    """NaN or infinite similarity scores: the model has diverged. Never a metric of 0."""


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    top = np.argsort(-scores, kind="stable")[:k]
    return float(relevant[top].sum() / k)   # over k even when fewer songs exist (Won)


def tag_retrieval_metrics(scores: np.ndarray, relevance: np.ndarray, tags: list[str],
                          k: int = 10) -> dict:
    """scores, relevance: (n_songs, n_tags). Tags with no positive (or no negative) song
    are skipped, since AP and ROC-AUC are undefined for them.

    Returns macro MAP, P@k, ROC-AUC, the prevalence baseline, and per-tag values.
    Raises NonFiniteScores for NaN/inf scores and NoRankableTags if no tag can be scored.
    """
    if not np.isfinite(scores).all():
        raise NonFiniteScores(f"{int((~np.isfinite(scores)).sum())} of {scores.size} "
                              "similarity scores are NaN or infinite: the model has diverged")
    per_tag = {}
    for column, tag in enumerate(tags):
        relevant = relevance[:, column].astype(bool)
        if relevant.all() or not relevant.any():
            continue
        per_tag[tag] = {
            "ap": float(average_precision_score(relevant, scores[:, column])),
            f"p@{k}": precision_at_k(scores[:, column], relevant, k),
            "roc_auc": float(roc_auc_score(relevant, scores[:, column])),
            "prevalence": float(relevant.mean()),
            "positives": int(relevant.sum()),
        }
    if not per_tag:
        raise NoRankableTags("no tag has both positive and negative songs in this split")
    values = per_tag.values()
    return {
        "map": float(np.mean([v["ap"] for v in values])),
        f"p@{k}": float(np.mean([v[f"p@{k}"] for v in values])),
        "roc_auc": float(np.mean([v["roc_auc"] for v in values])),
        "random_map": float(np.mean([v["prevalence"] for v in values])),
        f"random_p@{k}": float(np.mean([v["prevalence"] for v in values])),
        "n_tags": len(per_tag),
        "n_songs": int(scores.shape[0]),
        "per_tag": per_tag,
    }
