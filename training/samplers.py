"""Triplet samplers for tag-to-music training (Won, Sec. 5.2; research/seed-001 §4.1).

- random: a random song, one of its tags as the anchor; the negative is a random song of
  the whole training set without that tag (biased toward popular tags).
- balanced: the anchor tag is drawn uniformly, then a song carrying it; negatives are drawn
  uniformly from the batch's other songs that do not carry the anchor tag.
- balanced_weighted: balanced anchors; in-batch negatives drawn with probability inversely
  proportional to their cosine distance from the anchor tag (distance-weighted sampling):
  hard negatives are favoured, semi-hard and easy ones still drawn.

A negative never carries the anchor tag, and a tag carried by every training track never
anchors (it has no negative anywhere). In-batch samplers can still find no negative for
an anchor (−1): the trainer drops those triplets, and skips a batch left with none.
Samplers see tag/track ids and distances only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TagTrackIndex", "RandomSampler", "BalancedSampler", "BalancedWeightedSampler",
           "SAMPLERS", "make_sampler"]


@dataclass
class TagTrackIndex:
    """Which training track carries which tag, as a boolean matrix and lookup lists."""
    tags: list[str]
    has_tag: np.ndarray              # (n_tracks, n_tags) bool

    @classmethod
    def from_track_tags(cls, track_tags: list[list[str]], tags: list[str]) -> "TagTrackIndex":
        column = {t: i for i, t in enumerate(tags)}
        has_tag = np.zeros((len(track_tags), len(tags)), dtype=bool)
        for row, names in enumerate(track_tags):
            for name in names:
                if name in column:
                    has_tag[row, column[name]] = True
        return cls(tags=list(tags), has_tag=has_tag)

    def tracks_with(self, tag: int) -> np.ndarray:
        return np.flatnonzero(self.has_tag[:, tag])

    def contrastive_tags(self) -> list[int]:
        """Tags some track carries and some track lacks: only these have both a positive
        and a negative, so only these can anchor a triplet. Raises if there are none."""
        count = self.has_tag.sum(axis=0)
        tags = [int(t) for t in np.flatnonzero((count > 0) & (count < len(self.has_tag)))]
        if not tags:
            raise ValueError("no tag is on some training tracks but not on others, so no "
                             "triplet has a negative song")
        return tags


class BalancedSampler:
    """Uniform anchor tags; uniform in-batch negatives without the anchor tag."""
    needs_external_negatives = False

    def __init__(self, index: TagTrackIndex):
        self.index = index
        self._members = [index.tracks_with(t) for t in range(len(index.tags))]
        self._usable = np.array(index.contrastive_tags())

    def sample_anchors(self, rng: np.random.Generator, batch_size: int):
        tags = rng.choice(self._usable, size=batch_size)
        tracks = np.array([rng.choice(self._members[t]) for t in tags])
        return tags, tracks

    def _negative_weights(self, distances: np.ndarray) -> np.ndarray:
        return np.ones_like(distances)

    def choose_negatives(self, rng: np.random.Generator, tags: np.ndarray,
                         batch_tracks: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """For each anchor i, a batch position j whose track lacks tag i (−1 if none).

        `distances[i, j]` is the cosine distance between anchor tag i and batch song j.
        """
        valid = ~self.index.has_tag[batch_tracks][:, tags].T    # (anchors, batch songs)
        weights = self._negative_weights(distances) * valid
        chosen = np.full(len(tags), -1)
        for i, row in enumerate(weights):
            total = row.sum()
            if total > 0:
                chosen[i] = rng.choice(len(row), p=row / total)
        return chosen


class BalancedWeightedSampler(BalancedSampler):
    """Balanced anchors; negatives weighted by inverse cosine distance to the anchor."""

    def _negative_weights(self, distances: np.ndarray) -> np.ndarray:
        return 1.0 / np.clip(distances, 0.05, None)   # clip: a distance of 0 would take all mass


class RandomSampler:
    """Song-first anchors; negatives are random songs of the whole set without the tag."""
    needs_external_negatives = True

    def __init__(self, index: TagTrackIndex):
        self.index = index
        self._anchor_tag = np.zeros(index.has_tag.shape[1], dtype=bool)
        self._anchor_tag[index.contrastive_tags()] = True
        self._tagged = np.flatnonzero((index.has_tag & self._anchor_tag).any(axis=1))

    def sample_anchors(self, rng: np.random.Generator, batch_size: int):
        tracks = rng.choice(self._tagged, size=batch_size)
        tags = np.array([rng.choice(np.flatnonzero(self.index.has_tag[t] & self._anchor_tag))
                         for t in tracks])
        return tags, tracks

    def sample_negatives(self, rng: np.random.Generator, tags: np.ndarray) -> np.ndarray:
        negatives = []
        for tag in tags:
            pool = np.flatnonzero(~self.index.has_tag[:, tag])
            negatives.append(rng.choice(pool) if len(pool) else -1)
        return np.array(negatives)


SAMPLERS = {"random": RandomSampler, "balanced": BalancedSampler,
            "balanced_weighted": BalancedWeightedSampler}


def make_sampler(name: str, index: TagTrackIndex):
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    return SAMPLERS[name](index)
