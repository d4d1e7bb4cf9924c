"""Searcher: a query (text, audio example, track id, or a combination) → ranked hits.

The vector store is any object with the `VectorStore` methods below; `index/` provides the
Qdrant back ends. Retrieval depends only on this protocol, never on `index`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .model import MusicSearchModel, l2_normalize
from .query import QueryError
from .routing import DEFAULT_SENTENCE_WEIGHT, MODES, route_query

__all__ = ["VectorStore", "StoredHit", "Hit", "SearchResult", "Searcher", "FingerprintMismatch",
           "TrackNotFound"]


class FingerprintMismatch(RuntimeError):
    """The index was built with a different model than the one querying it."""


class TrackNotFound(KeyError):
    def __str__(self) -> str:
        return f"track not in the index: {self.args[0]}"


@dataclass
class StoredHit:
    track_id: str
    score: float
    payload: dict


class VectorStore(Protocol):
    def search(self, vector: np.ndarray, k: int, using: str = "music",
               exclude_track_ids: list[str] | None = None) -> list[StoredHit]: ...
    def get_vector(self, track_id: str, using: str = "music") -> np.ndarray | None: ...
    def model_fingerprint(self) -> str | None: ...
    def count(self) -> int: ...


@dataclass
class Hit:
    track_id: str
    score: float
    title: str
    artist: str
    path: str
    tags: list[str]
    why: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    query: dict
    hits: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # e.g. words the model did not know

    def to_dict(self) -> dict:
        return {"query": self.query, "results": [h.to_dict() for h in self.hits],
                "notes": self.notes}


class Searcher:
    """`mode` (word, sentence or auto; see retrieval.routing) picks the tower a text query
    goes through; `sentence_weight` is auto's share of the sentence tower."""

    def __init__(self, model: MusicSearchModel, store: VectorStore, mode: str = "auto",
                 sentence_weight: float = DEFAULT_SENTENCE_WEIGHT):
        if mode not in MODES:
            raise QueryError(f"unknown query mode {mode!r}; use one of {', '.join(MODES)}")
        self.model = model
        self.store = store
        self.mode = mode
        self.sentence_weight = sentence_weight
        self.check_fingerprint()

    def check_fingerprint(self) -> None:
        indexed = self.store.model_fingerprint()
        mine = getattr(self.model, "fingerprint", None)
        if indexed is not None and mine is not None and indexed != mine:
            raise FingerprintMismatch(
                f"the index was built with model {indexed} but the loaded model is {mine}; "
                "re-index with this model or load the model the index was built with")

    def search(self, text: str | None = None, audio: str | Path | None = None,
               track_id: str | None = None, k: int = 10, mode: str | None = None
               ) -> SearchResult:
        """Rank indexed tracks against the normalised sum of every query part given.
        `mode` overrides the searcher's for this query's text."""
        if k < 1:
            raise QueryError("k must be at least 1")
        parts: dict[str, np.ndarray] = {}      # a label for the explanation → unit vector
        query, notes, terms, path = {}, [], [], ""
        if text is not None and (text.strip() or (audio is None and track_id is None)):
            routed = route_query(self.model, text, mode or self.mode, self.sentence_weight)
            terms, path = routed.terms, routed.why
            label = " ".join(routed.terms) if routed.path == "word" else text.strip()
            parts[f"'{label}'"] = routed.vector
            query.update(text=text, terms=routed.terms, path=routed.path)
            if routed.unknown:
                notes.append(f"ignored unknown words: {', '.join(routed.unknown)}")
        if audio is not None:
            parts[f"sounds like {Path(audio).name}"] = self.model.encode_audio(audio)
            query["audio"] = str(audio)
        if track_id is not None:
            vector = self.store.get_vector(track_id)
            if vector is None:
                raise TrackNotFound(track_id)
            parts[f"sounds like track {track_id}"] = l2_normalize(np.asarray(vector, np.float32))
            query["track_id"] = track_id
        if not parts:
            raise QueryError("empty query: give text, an audio file or a track id")
        combined = l2_normalize(np.sum(list(parts.values()), axis=0)).astype(np.float32)
        exclude = [track_id] if track_id is not None else None
        stored = self.store.search(combined, k, exclude_track_ids=exclude)
        hits = [self._hit(h, terms, path, self._part_similarities(h, parts)) for h in stored]
        return SearchResult(query=query, hits=hits, notes=notes)

    def _part_similarities(self, stored: StoredHit, parts: dict[str, np.ndarray]) -> dict:
        """Each query part's own cosine with a hit, when the score mixes several parts or
        compares audio (for one text part the hit's score already is that cosine)."""
        if len(parts) == 1:
            label = next(iter(parts))
            return {} if label.startswith("'") else {label: stored.score}
        vector = self.store.get_vector(stored.track_id)
        if vector is None:
            return {}
        vector = l2_normalize(np.asarray(vector, np.float32))
        return {label: float(part @ vector) for label, part in parts.items()}

    @staticmethod
    def _hit(stored: StoredHit, terms: list[str], path: str,
             similarities: dict[str, float]) -> Hit:
        payload = stored.payload or {}
        tags = list(payload.get("tags", []))
        reasons = [path] if path else []
        if terms:
            shared = [t for t in tags if t in terms or any(w in terms for w in t.split())]
            reasons.append(f"tags matching the query: {', '.join(shared)}" if shared
                           else f"close to '{' '.join(terms)}' in the joint space")
        reasons += [f"{label}: {value:.2f}" for label, value in similarities.items()]
        return Hit(track_id=stored.track_id, score=round(float(stored.score), 4),
                   title=payload.get("title", ""), artist=payload.get("artist", ""),
                   path=payload.get("path", ""), tags=tags, why="; ".join(reasons))
