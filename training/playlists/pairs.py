"""Positive pairs for contrastive pre-training on playlists (Alonso-Jiménez, thesis §5).

Tracks are row indices (0..n-1) and playlists lists of them. Each strategy makes one
epoch's pairs (anchor, positive); `PairStream` hands them out a batch at a time and
draws a new epoch when they run out, so every epoch's pairs are new (Table 5.1's `*`).

- `own`: every track with its own playlist vector (the thesis's "Playlist W2V": the
  audio of a track against its frozen Word2Vec vector), each track once, shuffled.
- `co` (Playlist CO): the playlists in random order, ⌊|p|/2⌋ random pairs per playlist
  from its tracks not yet used this epoch, each track used once per epoch.
- `tco` (Playlist TCO): co-occurrence counts over all playlists; the anchors in random
  order, each pairs with a track drawn at random among its `top` (thesis: 10) most
  co-occurring tracks that are still unused; each track used once per epoch.

A batch's `relevant` mask marks two pairs that share a track, so the same track (or a
co-occurring one) is never pushed away from itself when an epoch boundary falls inside
a batch.

A stream's unused pairs are not checkpointed: a resumed run starts a fresh epoch of
pairs (from the restored generator), so it does not draw exactly what an uninterrupted
run would have.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PAIR_STRATEGIES", "own_pairs", "co_pairs", "tco_pairs", "top_cooccurring",
           "PairStream", "shared_track_mask"]

PAIR_STRATEGIES = ("own", "co", "tco")


def own_pairs(tracks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 2): each track paired with itself, in random order."""
    order = rng.permutation(np.asarray(tracks))
    return np.stack([order, order], axis=1)


def co_pairs(playlists: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(P, 2): Playlist CO pairs of one epoch (see the module docstring)."""
    used: set[int] = set()
    pairs = []
    for index in rng.permutation(len(playlists)):
        free = [t for t in dict.fromkeys(playlists[index].tolist()) if t not in used]
        free = rng.permutation(free).tolist() if free else []
        for a, b in zip(free[0::2], free[1::2]):
            pairs.append((a, b))
            used.update((a, b))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def top_cooccurring(playlists: list[np.ndarray], n_tracks: int, top: int) -> list[np.ndarray]:
    """Each track's `top` most co-occurring tracks (most first; ties by lower index),
    counting one co-occurrence per playlist in which both appear."""
    from scipy.sparse import csr_matrix
    rows, cols = [], []
    for playlist in playlists:
        members = np.unique(playlist)
        rows.append(np.repeat(members, len(members)))
        cols.append(np.tile(members, len(members)))
    if not rows:
        return [np.zeros(0, np.int64) for _ in range(n_tracks)]
    counts = csr_matrix((np.ones(sum(map(len, rows)), np.int64),
                         (np.concatenate(rows), np.concatenate(cols))), shape=(n_tracks, n_tracks))
    counts.setdiag(0)
    counts.eliminate_zeros()
    best = []
    for track in range(n_tracks):
        start, end = counts.indptr[track], counts.indptr[track + 1]
        partners, values = counts.indices[start:end], counts.data[start:end]
        order = np.lexsort((partners, -values))[:top]
        best.append(partners[order].astype(np.int64))
    return best


def tco_pairs(candidates: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(P, 2): Playlist TCO pairs of one epoch from `top_cooccurring`'s lists."""
    used = np.zeros(len(candidates), bool)
    pairs = []
    for anchor in rng.permutation(len(candidates)):
        if used[anchor]:
            continue
        free = candidates[anchor][~used[candidates[anchor]]]
        if free.size == 0:
            continue
        partner = int(rng.choice(free))
        pairs.append((int(anchor), partner))
        used[[anchor, partner]] = True
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def shared_track_mask(pairs: np.ndarray) -> np.ndarray:
    """(P, P) bool: pairs i and j have a track in common (the diagonal is always True)."""
    a, b = pairs[:, 0], pairs[:, 1]
    return ((a[:, None] == a[None, :]) | (b[:, None] == b[None, :])
            | (a[:, None] == b[None, :]) | (b[:, None] == a[None, :]))


class PairStream:
    """Batches of one strategy's pairs over `n_tracks` tracks, a new epoch when spent.

    `eligible` (bool, n_tracks) limits the tracks that may appear (e.g. those with a
    playlist vector); playlists are restricted to them first."""

    def __init__(self, strategy: str, playlists: list[np.ndarray], n_tracks: int,
                 eligible: np.ndarray | None = None, top: int = 10):
        if strategy not in PAIR_STRATEGIES:
            raise ValueError(f"pair strategy {strategy!r} is not one of "
                             f"{', '.join(PAIR_STRATEGIES)}")
        eligible = np.ones(n_tracks, bool) if eligible is None else np.asarray(eligible, bool)
        self.strategy = strategy
        self.playlists = [p[eligible[p]] for p in playlists]
        self.playlists = [p for p in self.playlists if np.unique(p).size >= 2]
        self.tracks = np.flatnonzero(eligible)
        self.candidates = (top_cooccurring(self.playlists, n_tracks, top)
                           if strategy == "tco" else None)
        self._pending = np.zeros((0, 2), np.int64)
        self.epochs = 0

    def epoch(self, rng: np.random.Generator) -> np.ndarray:
        if self.strategy == "own":
            return own_pairs(self.tracks, rng)
        if self.strategy == "co":
            return co_pairs(self.playlists, rng)
        return tco_pairs(self.candidates, rng)

    def next(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """(size, 2) pairs: the rest of this epoch's, then the next epoch's."""
        while len(self._pending) < size:
            fresh = self.epoch(rng)
            if len(fresh) == 0:
                raise ValueError(f"pair strategy {self.strategy!r} found no pair: no playlist "
                                 "has two usable tracks")
            self._pending = np.concatenate([self._pending, fresh])
            self.epochs += 1
        batch, self._pending = self._pending[:size], self._pending[size:]
        return batch
