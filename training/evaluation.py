"""Tag-to-music evaluation on a split: macro MAP / P@10 / ROC-AUC next to the random
baseline, for tags seen in training and, separately, for unseen (zero-shot) tags."""
from __future__ import annotations

import numpy as np

from retrieval.model import MusicSearchModel

from .metrics import NoRankableTags, tag_retrieval_metrics

__all__ = ["evaluate_tags"]


def _relevance(records, tags: list[str]) -> np.ndarray:
    column = {t: i for i, t in enumerate(tags)}
    relevance = np.zeros((len(records), len(tags)), dtype=bool)
    for row, record in enumerate(records):
        for tag in record.tags:
            if tag in column:
                relevance[row, column[tag]] = True
    return relevance


def evaluate_tags(model: MusicSearchModel, records, mels, k: int = 10,
                  include_unseen: bool = True) -> dict:
    """Metrics for ranking `records` (with their log-mels) by each tag's embedding.

    A group whose tags cannot be scored in this split is left out; NaN or infinite
    output (a diverged model) raises NonFiniteOutput / NonFiniteScores, never a score.
    """
    songs = np.stack([model.encode_mel(mel.astype(np.float32))[0] for mel in mels])
    report = {}
    seen = list(model.config.tags)
    groups = {"seen": seen}
    if include_unseen:
        split_tags = sorted({t for r in records for t in r.tags} - set(seen))
        groups["unseen"] = [t for t in split_tags if model.phrase_vector(t) is not None]
    for name, tags in groups.items():
        if not tags:
            continue
        scores = songs @ model.encode_words(tags).T
        try:
            report[name] = tag_retrieval_metrics(scores, _relevance(records, tags), tags, k=k)
        except NoRankableTags:
            continue
    return report
