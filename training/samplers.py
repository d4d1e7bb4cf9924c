"""Batch samplers for tag-to-music training (Won, Sec. 5.2; research/seed-001 §4.1).

One API: `sampler.sample(rng, batch_size) -> Batch(anchor_tags, tracks)`, where tracks[:A]
are the A anchors' positives and any further tracks are extra negatives. Which column is
an anchor's negative is the objective's choice (training.objectives), among the columns
`index.relevant(batch)` marks as not carrying the anchor's tag; each sampler names the
negative weighting it was designed with (`negatives`).

- random: a random song, one of its tags as the anchor; for each anchor a random song of
  the whole training set without that tag is appended (biased toward popular tags).
- balanced: the anchor tag is drawn uniformly, then a song carrying it; negatives come from
  the batch, uniformly.
- balanced_weighted: balanced anchors; in-batch negatives drawn with probability inversely
  proportional to their cosine distance from the anchor tag (distance-weighted sampling).

A tag carried by every training track never anchors (it has no negative anywhere). An
anchor can still find no negative in its batch: the objective drops it, and the trainer
skips a batch left with none. Samplers see tag and track ids only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Batch", "TagTrackIndex", "RandomSampler", "BalancedSampler",
           "BalancedWeightedSampler", "SAMPLERS", "make_sampler"]


@dataclass
class Batch:
    anchor_tags: np.ndarray          # (A,) tag ids
    tracks: np.ndarray               # (B ≥ A,) track ids: A positives, then extra negatives


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

    def relevant(self, batch: Batch) -> np.ndarray:
        """(A, B) bool: batch track j carries anchor i's tag."""
        return self.has_tag[batch.tracks][:, batch.anchor_tags].T

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
    """Uniform anchor tags, each with a song carrying it; negatives from the batch."""
    negatives = "uniform"

    def __init__(self, index: TagTrackIndex):
        self.index = index
        self._members = [index.tracks_with(t) for t in range(len(index.tags))]
        self._usable = np.array(index.contrastive_tags())

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        tags = rng.choice(self._usable, size=batch_size)
        tracks = np.array([rng.choice(self._members[t]) for t in tags])
        return Batch(anchor_tags=tags, tracks=tracks)


class BalancedWeightedSampler(BalancedSampler):
    """Balanced anchors; negatives weighted by inverse cosine distance to the anchor."""
    negatives = "distance_weighted"


class RandomSampler:
    """Song-first anchors; one extra negative per anchor from the whole set without its tag."""
    negatives = "uniform"

    def __init__(self, index: TagTrackIndex):
        self.index = index
        self._anchor_tag = np.zeros(index.has_tag.shape[1], dtype=bool)
        self._anchor_tag[index.contrastive_tags()] = True
        self._tagged = np.flatnonzero((index.has_tag & self._anchor_tag).any(axis=1))

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        tracks = rng.choice(self._tagged, size=batch_size)
        tags = np.array([rng.choice(np.flatnonzero(self.index.has_tag[t] & self._anchor_tag))
                         for t in tracks])
        # every anchor tag is contrastive, so some track lacks it
        negatives = [rng.choice(np.flatnonzero(~self.index.has_tag[:, tag])) for tag in tags]
        return Batch(anchor_tags=tags, tracks=np.concatenate([tracks, negatives]))


SAMPLERS = {"random": RandomSampler, "balanced": BalancedSampler,
            "balanced_weighted": BalancedWeightedSampler}


def make_sampler(name: str, index: TagTrackIndex):
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    return SAMPLERS[name](index)
