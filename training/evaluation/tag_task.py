"""Tag → music retrieval on a split: every song ranked by each tag's embedding, macro
metrics with exact random baselines, per tag group and per tag category.

Tag groups, defined exactly:
- seen: tags in the model's vocabulary (it was trained to place them);
- zero_shot: tags that label no track of the model's training data at all (exact string),
  are not in its vocabulary, and whose words the word vectors know;
- below_min_tracks: tags that do label training tracks, but fewer than the training's
  `min_tag_tracks`, so they were left out of the vocabulary. They were heard in training
  (inside other tags' songs) and are therefore never counted as zero-shot.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from retrieval.model import MusicSearchModel

from ..metrics import MIN_POSITIVES, NoRankableTags, macro, tag_retrieval_metrics
from .categories import tag_category

__all__ = ["evaluate_tags", "tag_groups", "training_tag_counts", "score_tags", "relevance"]


def relevance(records, tags: list[str]) -> np.ndarray:
    column = {t: i for i, t in enumerate(tags)}
    out = np.zeros((len(records), len(tags)), dtype=bool)
    for row, record in enumerate(records):
        for tag in record.tags:
            if tag in column:
                out[row, column[tag]] = True
    return out


def training_tag_counts(model: MusicSearchModel) -> dict[str, int] | None:
    """How many training tracks carried each tag, as the bundle recorded it; None when the
    bundle does not say (then zero-shot tags cannot be told from rare ones)."""
    training = (getattr(model, "bundle_info", None) or {}).get("training") or {}
    counts = ((training.get("corpus") or {}).get("tag_counts") or {}).get("train")
    return dict(counts) if isinstance(counts, Mapping) else None


def tag_groups(model: MusicSearchModel, split_tags, train_counts: Mapping[str, int] | None,
               include_unseen: bool = True) -> dict[str, list[str]]:
    """Tags of the split by group (see the module doc); `train_counts` None leaves out the
    unseen groups, which need it."""
    seen = list(model.config.tags)
    groups = {"seen": seen}
    if include_unseen and train_counts is not None:
        unseen = [t for t in sorted(set(split_tags) - set(seen))
                  if model.phrase_vector(t) is not None]
        groups["zero_shot"] = [t for t in unseen if not train_counts.get(t)]
        groups["below_min_tracks"] = [t for t in unseen if train_counts.get(t)]
    return groups


def score_tags(songs: np.ndarray, model: MusicSearchModel, tags: list[str]) -> np.ndarray:
    """(n_songs, n_tags) cosine similarities of song vectors and tag vectors."""
    return songs @ model.encode_words(tags).T


def _by_category(per_tag: dict[str, dict], k: int) -> dict[str, dict]:
    categories: dict[str, dict[str, dict]] = {}
    for tag, values in per_tag.items():
        categories.setdefault(tag_category(tag), {})[tag] = values
    return {name: macro(tags, k) for name, tags in sorted(categories.items())}


def evaluate_song_vectors(model: MusicSearchModel, records, songs: np.ndarray, *, k: int = 10,
                          min_positives: int = MIN_POSITIVES, include_unseen: bool = True,
                          train_counts: Mapping[str, int] | None = None) -> dict:
    """Metrics per tag group for song vectors `songs` (aligned with `records`)."""
    if train_counts is None:
        train_counts = training_tag_counts(model)
    groups = tag_groups(model, {t for r in records for t in r.tags}, train_counts,
                        include_unseen)
    report = {}
    for name, tags in groups.items():
        if not tags:
            continue
        try:
            result = tag_retrieval_metrics(score_tags(songs, model, tags),
                                           relevance(records, tags), tags, k=k,
                                           min_positives=min_positives)
        except NoRankableTags:
            continue
        result["per_category"] = _by_category(result["per_tag"], k)
        report[name] = result
    return report


def evaluate_tags(model: MusicSearchModel, records, mels, k: int = 10,
                  include_unseen: bool = True, min_positives: int = MIN_POSITIVES,
                  train_counts: Mapping[str, int] | None = None) -> dict:
    """Metrics for ranking `records` (with their log-mels) by each tag's embedding.

    A group whose tags cannot be scored in this split is left out; NaN or infinite
    output (a diverged model) raises NonFiniteOutput / NonFiniteScores, never a score.
    """
    songs = np.stack([model.encode_mel(mel.astype(np.float32))[0] for mel in mels])
    return evaluate_song_vectors(model, records, songs, k=k, min_positives=min_positives,
                                 include_unseen=include_unseen, train_counts=train_counts)
