"""Frozen-embedding probes (as the papers do): a linear classifier and a one-hidden-layer
MLP trained on the song vectors of the training split to predict each tag, scored on the
evaluated split with the tag metrics and their exact random baselines.

Only tags with `min_positives` songs in both splits are probed. The MLP's initialisation
and the order it sees the data depend on the seed; its mean ± std over seeds is reported.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..metrics import NoRankableTags, tag_retrieval_metrics
from .tag_task import relevance

__all__ = ["probe_tags", "HIDDEN_UNITS"]

HIDDEN_UNITS = 256


def _probe_tags(train_records, test_records, min_positives: int) -> list[str]:
    tags = sorted({t for r in test_records for t in r.tags})
    train = relevance(train_records, tags).sum(0)
    test = relevance(test_records, tags).sum(0)
    return [t for t, a, b in zip(tags, train, test)
            if a >= min_positives and b >= min_positives and a < len(train_records)]


def probe_tags(train_records, train_vectors, test_records, test_vectors, *, seeds=(0,),
               k: int = 10, min_positives: int = 5) -> dict:
    """{"linear/map": …, "mlp/map": …, "…/random_map": …, "mlp/map_std": …}."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neural_network import MLPClassifier

    tags = _probe_tags(train_records, test_records, min_positives)
    if not tags:
        return {}
    y_train = relevance(train_records, tags).astype(int)
    y_test = relevance(test_records, tags)
    summary = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # convergence chatter; the scores say what matters
        linear = OneVsRestClassifier(LogisticRegression(max_iter=500, C=1.0))
        linear.fit(train_vectors, y_train)
        runs = {"linear": [linear.predict_proba(test_vectors)], "mlp": []}
        for seed in seeds:
            mlp = MLPClassifier(hidden_layer_sizes=(HIDDEN_UNITS,), max_iter=200,
                                early_stopping=True, random_state=seed)
            mlp.fit(train_vectors, y_train)
            runs["mlp"].append(mlp.predict_proba(test_vectors))
    for name, predictions in runs.items():
        results = []
        for scores in predictions:
            try:
                results.append(tag_retrieval_metrics(scores, y_test, tags, k=k,
                                                     min_positives=min_positives))
            except NoRankableTags:
                return {}
        for key in ("map", "random_map", f"p@{k}", f"random_p@{k}", "roc_auc",
                    "random_roc_auc", "n_tags"):
            values = [r[key] for r in results]
            summary[f"{name}/{key}"] = float(np.mean(values))
            if len(values) > 1 and not key.startswith("random") and key != "n_tags":
                summary[f"{name}/{key}_std"] = float(np.std(values, ddof=1))
    return summary
