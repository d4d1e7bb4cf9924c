"""Near-duplicate tracks in a collection: the same recording indexed twice (two formats,
two masters, a copy in another folder), found from the stored song vectors alone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval.duplicates import near_duplicate_pairs

from .store import MUSIC, IndexNotFound, QdrantStore

__all__ = ["DuplicateTracks", "find_duplicates", "TRACK_FIELDS"]

TRACK_FIELDS = ("track_id", "title", "artist", "path", "duration")


@dataclass
class DuplicateTracks:
    score: float          # cosine of the two song vectors
    first: dict           # TRACK_FIELDS of each track
    second: dict

    def to_dict(self) -> dict:
        return {"score": round(self.score, 4), "first": self.first, "second": self.second}


def find_duplicates(store: QdrantStore, threshold: float) -> list[DuplicateTracks]:
    """Every pair of tracks whose song vectors' cosine is ≥ `threshold`, best first.
    Exact (all pairs); reads every song vector once."""
    if not store.exists():
        raise IndexNotFound(store.collection, store.location, store.collections())
    payloads, vectors = [], []
    for payload, vector in store.iter_vectors(MUSIC, page_size=1024):
        payloads.append({k: payload.get(k) for k in TRACK_FIELDS})
        vectors.append(vector)
    if len(vectors) < 2:
        return []
    return [DuplicateTracks(pair.score, payloads[pair.first], payloads[pair.second])
            for pair in near_duplicate_pairs(np.stack(vectors), threshold)]
