"""`retrieval.filters.SearchFilter` (plus ids to leave out) → each back end's Qdrant filter.

The clauses are worked out once (`clauses`); the two back ends only spell them in their
own classes (`qdrant_edge` for the embedded store, `qdrant_client.models` for a server).
"""
from __future__ import annotations

from dataclasses import dataclass

from retrieval.filters import ARTIST, COLLECTION, DURATION, TAGS, SearchFilter

from .points import point_id

__all__ = ["Clause", "clauses", "edge_filter", "client_filter"]


@dataclass(frozen=True)
class Clause:
    key: str | None                # payload key; None: point ids
    values: tuple = ()             # match any of these (ids, for key None)
    gt: float | None = None        # or a range
    gte: float | None = None
    lte: float | None = None


def clauses(where: SearchFilter | None,
            exclude_track_ids: list[str] | None = None) -> tuple[list[Clause], list[Clause]]:
    """(must, must_not) clauses; both empty when nothing is filtered."""
    where = where or SearchFilter()
    must: list[Clause] = []
    must_not: list[Clause] = []
    if where.artists:
        must.append(Clause(ARTIST, where.artists))
    if where.collections:
        must.append(Clause(COLLECTION, where.collections))
    must += [Clause(TAGS, (tag,)) for tag in where.tags]     # every tag
    if where.has_duration:   # unknown durations (0) never pass a bound
        must.append(Clause(DURATION, gt=0.0 if where.min_duration is None else None,
                           gte=where.min_duration, lte=where.max_duration))
    if where.exclude_artists:
        must_not.append(Clause(ARTIST, where.exclude_artists))
    if where.exclude_tags:
        must_not.append(Clause(TAGS, where.exclude_tags))
    ids = tuple(dict.fromkeys([*where.exclude_track_ids, *(exclude_track_ids or [])]))
    if ids:
        must_not.append(Clause(None, tuple(point_id(t) for t in ids)))
    return must, must_not


def _build(where, exclude_track_ids, spell, make_filter):
    must, must_not = clauses(where, exclude_track_ids)
    if not must and not must_not:
        return None
    return make_filter(must=[spell(c) for c in must] or None,
                       must_not=[spell(c) for c in must_not] or None)


def edge_filter(where: SearchFilter | None, exclude_track_ids: list[str] | None = None):
    import qdrant_edge as q

    def spell(clause: Clause):
        if clause.key is None:
            return q.HasIdCondition(set(clause.values))
        if clause.values:
            return q.FieldCondition(key=clause.key, match=q.MatchAny(list(clause.values)))
        return q.FieldCondition(key=clause.key, range=q.RangeFloat(
            gt=clause.gt, gte=clause.gte, lte=clause.lte))

    return _build(where, exclude_track_ids, spell, q.Filter)


def client_filter(where: SearchFilter | None, exclude_track_ids: list[str] | None = None):
    from qdrant_client import models

    def spell(clause: Clause):
        if clause.key is None:
            return models.HasIdCondition(has_id=list(clause.values))
        if clause.values:
            return models.FieldCondition(key=clause.key,
                                         match=models.MatchAny(any=list(clause.values)))
        return models.FieldCondition(key=clause.key, range=models.Range(
            gt=clause.gt, gte=clause.gte, lte=clause.lte))

    return _build(where, exclude_track_ids, spell, models.Filter)
