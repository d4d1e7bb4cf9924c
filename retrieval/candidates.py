"""From the store's candidates to the hits shown: chunk MaxSim for partial matches, MMR
for variety, and each query part's own similarity for the explanation. Every vector this
needs is fetched in one request per vector name."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .query import QueryError
from .rerank import best_chunks, mmr
from .sections import chunk_span

if TYPE_CHECKING:
    from .query_plan import QueryPlan
    from .search import StoredHit

__all__ = ["candidate_count", "check_rerank", "rerank", "Refined", "MUSIC", "CHUNKS"]

MUSIC, CHUNKS = "music", "chunks"   # the store's vector names (index/store.py)
MAX_CANDIDATES = 500


def candidate_count(k: int) -> int:
    """How many song-vector neighbours a re-ranked search starts from: 5k, at least 50."""
    return max(k, min(max(5 * k, 50), MAX_CANDIDATES))


def check_rerank(diverse: float | None) -> None:
    if diverse is not None and not (isinstance(diverse, (int, float)) and 0 <= diverse <= 1):
        raise QueryError(f"diversity (MMR lambda) must be a number from 0 to 1, got {diverse!r}")


@dataclass
class Refined:
    hits: list                                              # StoredHit, final order
    similarities: dict[str, dict[str, float]] = field(default_factory=dict)
    sections: dict[str, dict] = field(default_factory=dict)


def rerank(store, plan: "QueryPlan", stored: list["StoredHit"], k: int, *,
           diverse: float | None, sections: bool, frontend, max_chunks: int) -> Refined:
    refined = Refined(hits=list(stored))
    if sections and stored:
        refined = _by_sections(store, plan, stored, frontend, max_chunks)
    ids = [h.track_id for h in refined.hits]
    one_part_score = len(plan.parts) == 1 and not sections
    need_vectors = diverse is not None or not (plan.text_only or one_part_score)
    music = store.get_vectors(ids if diverse is not None else ids[:k]) if need_vectors else {}
    if diverse is not None:
        usable = [h for h in refined.hits if h.track_id in music]
        picks = mmr(np.array([h.score for h in usable]),
                    np.stack([music[h.track_id] for h in usable]) if usable else np.zeros((0, 1)),
                    k, diverse)
        refined.hits = [usable[i] for i in picks]
    else:
        refined.hits = refined.hits[:k]
    for hit in refined.hits:
        refined.similarities[hit.track_id] = _part_similarities(plan, hit, music, one_part_score)
    return refined


def _part_similarities(plan: "QueryPlan", hit, music: dict, one_part_score: bool) -> dict:
    """Each query part's own cosine with a hit, when the score mixes several parts or
    compares audio (for one text part the hit's score already is that cosine)."""
    if plan.text_only:
        return {}
    if one_part_score:
        return {next(iter(plan.parts)): hit.score}
    vector = music.get(hit.track_id)
    if vector is None:
        return {}
    vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return {label: float(part @ vector) for label, part in plan.parts.items()}


def _by_sections(store, plan: "QueryPlan", stored: list, frontend, max_chunks: int) -> Refined:
    """Candidates re-ranked by their best chunk's cosine with the query vector; each hit
    gets that chunk's place in time."""
    chunk_sets = store.get_vectors([h.track_id for h in stored], using=CHUNKS)
    if not chunk_sets:
        raise QueryError("this collection stores no per-chunk vectors, so sections cannot "
                         "be matched: index it into a new collection with `musicsearch index --chunks`")
    with_chunks = [h for h in stored if h.track_id in chunk_sets]
    scores, best = best_chunks(plan.vector, [chunk_sets[h.track_id] for h in with_chunks])
    order = np.argsort(-scores, kind="stable")
    refined = Refined(hits=[])
    for i in order:
        hit = with_chunks[i]
        chunks = np.asarray(chunk_sets[hit.track_id]).reshape(-1, plan.vector.shape[0])
        start, end = chunk_span(int(best[i]), len(chunks), sample_rate=frontend.sample_rate,
                                hop_length=frontend.hop_length,
                                chunk_frames=frontend.chunk_frames, max_chunks=max_chunks,
                                max_seconds=frontend.max_seconds,
                                duration=float((hit.payload or {}).get("duration") or 0.0))
        refined.hits.append(replace(hit, score=float(scores[i])))
        refined.sections[hit.track_id] = {"chunk": int(best[i]), "start": start, "end": end,
                                          "song_score": round(float(hit.score), 4)}
    return refined
