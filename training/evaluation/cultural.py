"""Acoustic vs cultural vs fused, offline (docs/results/cultural-fusion.md).

- Tag retrieval: each tag's word-tower vector ranks the split's songs by their acoustic
  (`music`) vectors, by their cultural vectors, and by the two fused (RRF over the full
  rankings, or the weighted cosine sum): the same fusions the store runs
  (retrieval/fusion.py), without its candidate cut-off.
- Similarity by example (dim-sim style): triplets (anchor, positive, negative) of the
  split's tracks where the positive shares most of the anchor's tags and the negative few;
  accuracy = how often the anchor is closer to the positive. Fused similarity is the
  weighted cosine sum (a pair has no ranks to fuse). Chance is 0.5.

Cultural vectors of tracks outside the playlists are the cold-start predictions, as in the
index; `coverage` says how many had a real one.
"""
from __future__ import annotations

import numpy as np

from retrieval.fusion import DEFAULT_FUSION_WEIGHT, rrf_scores, weighted_scores
from retrieval.model import MusicSearchModel

from ..metrics import MIN_POSITIVES, tag_retrieval_metrics
from .tag_task import relevance

__all__ = ["cultural_vectors", "fused_tag_metrics", "similarity_triplets", "triplet_accuracy"]


def cultural_vectors(model: MusicSearchModel, track_ids: list[str],
                     songs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cultural vectors aligned with `track_ids`, bool mask of those from playlists);
    the others are predicted from their audio song vectors `songs`."""
    known_vectors, known = model.encode_cultural(track_ids)
    out = np.empty_like(songs)
    out[known] = known_vectors
    if (~known).any():
        out[~known] = model.predict_cultural(songs[~known])
    return out, known


def fused_tag_metrics(model: MusicSearchModel, records, songs: np.ndarray,
                      cultural: np.ndarray, *, k: int = 10,
                      weight: float = DEFAULT_FUSION_WEIGHT,
                      min_positives: int = MIN_POSITIVES) -> dict[str, dict]:
    """Macro tag-retrieval metrics (with random baselines) for acoustic, cultural, rrf
    and weighted scores over the model's training tags present in `records`."""
    present = {t for r in records for t in r.tags}
    tags = [t for t in model.config.tags if t in present and model.phrase_vector(t) is not None]
    words = model.encode_words(tags)
    acoustic, culture = songs @ words.T, cultural @ words.T
    scores = {"acoustic": acoustic, "cultural": culture, "rrf": rrf_scores(acoustic, culture),
              "weighted": weighted_scores(acoustic, culture, weight)}
    labels = relevance(records, tags)
    return {name: tag_retrieval_metrics(value, labels, tags, k=k, min_positives=min_positives)
            for name, value in scores.items()}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


def similarity_triplets(records, n: int, seed: int = 0, positive_min: float = 0.6,
                        negative_max: float = 0.25, tries: int = 200_000) -> np.ndarray:
    """(n, 3) row indices (anchor, positive, negative): Jaccard(tags) of anchor and
    positive ≥ `positive_min`, of anchor and negative ≤ `negative_max`."""
    rng = np.random.default_rng(seed)
    tags = [set(r.tags) for r in records]
    out = []
    for _ in range(tries):
        if len(out) >= n:
            break
        a, p, q = rng.integers(len(records), size=3)
        if len({a, p, q}) == 3 and _jaccard(tags[a], tags[p]) >= positive_min \
                and _jaccard(tags[a], tags[q]) <= negative_max:
            out.append((a, p, q))
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def triplet_accuracy(vectors: list[np.ndarray], triplets: np.ndarray,
                     weights: list[float] | None = None) -> float:
    """Share of triplets where sim(anchor, positive) > sim(anchor, negative); sim is the
    weighted sum of cosines over the aligned unit-vector sets `vectors`."""
    weights = weights or [1.0 / len(vectors)] * len(vectors)
    a, p, q = triplets.T
    closer = sum(w * ((v[a] * v[p]).sum(1) - (v[a] * v[q]).sum(1))
                 for w, v in zip(weights, vectors))
    return float(np.mean(closer > 0))
