"""Qdrant's own fusion of named vectors (retrieval/fusion.py says what each mode means), as
each back end spells it: one nearest-neighbour prefetch per named vector (the query's
filter applied in each), then `rrf` (reciprocal rank fusion, k = RRF_K) or `weighted` (a
formula query: Σ weight · `$score[i]`, a point missing from a prefetch counting 0).

Both back ends get the same request, so their fused rankings agree (tests/test_fusion.py
checks them against `retrieval.fusion.rrf_scores` on a hand-built collection).
"""
from __future__ import annotations

import numpy as np

from retrieval.fusion import RRF, RRF_K, WEIGHTED, fusion_limit
from retrieval.query import QueryError

__all__ = ["edge_fused_request", "client_fused_query"]


def _check(fusion: str, weights: dict[str, float] | None) -> None:
    if fusion not in (RRF, WEIGHTED):
        raise QueryError(f"a fused search needs fusion rrf or weighted, got {fusion!r}")
    if fusion == WEIGHTED and not weights:
        raise QueryError("a weighted fusion needs a weight per named vector")


def edge_fused_request(queries: dict[str, np.ndarray], k: int, fusion: str,
                       weights: dict[str, float] | None, query_filter, params):
    """A qdrant-edge `QueryRequest`; `params(using)` gives each prefetch's SearchParams."""
    from qdrant_edge import Expression, Formula, Fusion, Prefetch, Query, QueryRequest
    _check(fusion, weights)
    names = list(queries)
    prefetches = [Prefetch(limit=fusion_limit(k), filter=query_filter, params=params(name),
                           query=Query.Nearest(np.asarray(queries[name], np.float32),
                                               using=name)) for name in names]
    if fusion == RRF:
        query = Fusion.Rrf(k=RRF_K)
    else:
        variables = [f"$score[{i}]" for i in range(len(names))]
        query = Formula(Expression.Sum([
            Expression.Mult([Expression.Constant(float(weights[name])),
                             Expression.Variable(variable)])
            for name, variable in zip(names, variables)]),
            defaults={variable: 0.0 for variable in variables})
    return QueryRequest(prefetches=prefetches, query=query, filter=query_filter, limit=int(k),
                        with_payload=True)


def client_fused_query(queries: dict[str, np.ndarray], k: int, fusion: str,
                       weights: dict[str, float] | None, query_filter, search_params):
    """(prefetch list, query) for qdrant-client `query_points`."""
    from qdrant_client import models
    _check(fusion, weights)
    names = list(queries)
    prefetch = [models.Prefetch(query=np.asarray(queries[name], np.float32).tolist(),
                                using=name, limit=fusion_limit(k), filter=query_filter,
                                params=search_params(name)) for name in names]
    if fusion == RRF:   # k stated: local mode's bare FusionQuery uses another constant
        query = models.RrfQuery(rrf=models.Rrf(k=RRF_K))
    else:
        variables = [f"$score[{i}]" for i in range(len(names))]
        query = models.FormulaQuery(
            formula=models.SumExpression(sum=[
                models.MultExpression(mult=[float(weights[name]), variable])
                for name, variable in zip(names, variables)]),
            defaults={variable: 0.0 for variable in variables})
    return prefetch, query
