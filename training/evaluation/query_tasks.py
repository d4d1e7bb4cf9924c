"""Text → music on captions and similar-by-example triplets.

Text → music: each distinct caption of the split is a query; its relevant songs are the
tracks with exactly that caption (templated captions repeat). The rank of a query is the
rank of its first relevant song, tied scores counted by expectation. Reported: R@1/5/10
(a relevant song in the top K), MRR and median rank, each beside a random ranking's
exact value (R@K = 1 − C(N−K, R)/C(N, R), E[1/rank] by formula, E[rank] = (N+1)/(R+1)).

Triplets: anchor a, positive p with tag Jaccard(a, p) ≥ 0.5, negative n with
Jaccard(a, n) ≤ 0.2, drawn with a seed; accuracy = share with cos(a, p) > cos(a, n)
(ties count ½); a random embedding scores 0.5.
"""
from __future__ import annotations

import numpy as np

from retrieval.query import QueryError

from ..random_baseline import expected_random_hit_at_k, expected_random_reciprocal_rank

__all__ = ["first_relevant_rank", "text_retrieval", "triplet_accuracy", "RECALL_KS",
           "POSITIVE_JACCARD", "NEGATIVE_JACCARD"]

RECALL_KS = (1, 5, 10)
POSITIVE_JACCARD, NEGATIVE_JACCARD = 0.5, 0.2


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Expected rank of the first relevant item when ties are broken at random: g items
    score above the best relevant one; among the a irrelevant and b relevant items tied
    with it, the first relevant comes at expected place (a + b + 1) / (b + 1)."""
    best = scores[relevant].max()
    above = int((scores[~relevant] > best).sum())
    tied_other = int((scores[~relevant] == best).sum())
    tied_relevant = int((scores[relevant] == best).sum())
    return above + (tied_other + tied_relevant + 1) / (tied_relevant + 1)


def text_retrieval(model, records, songs: np.ndarray, encode=None) -> tuple[dict, dict]:
    """Summary and per-query metrics for caption queries (see the module doc).
    `encode(text) -> unit vector` embeds a query (default: the word tower; the evaluation
    passes query_modes.query_encoder for each query mode)."""
    encode = encode or (lambda text: model.encode_text(text)[0])
    by_caption: dict[str, list[int]] = {}
    for row, record in enumerate(records):
        if record.caption:
            by_caption.setdefault(record.caption, []).append(row)
    n = len(records)
    per_query = {}
    for caption, rows in sorted(by_caption.items()):
        try:
            vector = encode(caption)
        except QueryError:
            continue          # e.g. no word of the caption is known: not a query this path takes
        relevant = np.zeros(n, dtype=bool)
        relevant[rows] = True
        rank = first_relevant_rank(songs @ vector, relevant)
        r = len(rows)
        per_query[caption] = {"rank": rank, "rr": 1.0 / rank, "relevant": r,
                              "random_rr": expected_random_reciprocal_rank(n, r),
                              "random_rank": (n + 1) / (r + 1),
                              **{f"r@{k}": float(rank <= k) for k in RECALL_KS},
                              **{f"random_r@{k}": expected_random_hit_at_k(n, r, k) for k in RECALL_KS}}
    if not per_query:
        return {}, {}
    values = list(per_query.values())
    mean = lambda key: float(np.mean([v[key] for v in values]))  # noqa: E731
    summary = {"captions/n_queries": len(values), "captions/mrr": mean("rr"),
               "captions/random_mrr": mean("random_rr"),
               "captions/median_rank": float(np.median([v["rank"] for v in values])),
               "captions/random_median_rank": float(np.median([v["random_rank"] for v in values]))}
    for k in RECALL_KS:
        summary[f"captions/r@{k}"] = mean(f"r@{k}")
        summary[f"captions/random_r@{k}"] = mean(f"random_r@{k}")
    return summary, {"captions": per_query}


def _jaccard(records) -> np.ndarray:
    vocabulary = sorted({t for r in records for t in r.tags})
    index = {t: i for i, t in enumerate(vocabulary)}
    tags = np.zeros((len(records), len(vocabulary)), dtype=np.float64)
    for row, record in enumerate(records):
        tags[row, [index[t] for t in set(record.tags)]] = 1
    shared = tags @ tags.T
    union = tags.sum(1)[:, None] + tags.sum(1)[None, :] - shared
    return np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def triplet_accuracy(records, songs: np.ndarray, seed: int = 0,
                     n_triplets: int = 1000) -> tuple[dict, dict]:
    """Similar-by-example triplet accuracy (see the module doc) over `n_triplets` drawn
    with `seed`; anchors with no positive or no negative are never drawn."""
    similarity = _jaccard(records)
    np.fill_diagonal(similarity, -1.0)                 # a track is not its own positive
    positives = similarity >= POSITIVE_JACCARD
    negatives = (similarity <= NEGATIVE_JACCARD) & (similarity >= 0)
    anchors = np.flatnonzero(positives.any(1) & negatives.any(1))
    if anchors.size == 0:
        return {}, {}
    rng = np.random.default_rng(seed)
    cosine = songs @ songs.T
    correct = []
    for _ in range(n_triplets):
        a = rng.choice(anchors)
        p, n = rng.choice(np.flatnonzero(positives[a])), rng.choice(np.flatnonzero(negatives[a]))
        correct.append(1.0 if cosine[a, p] > cosine[a, n] else 0.5 if cosine[a, p] == cosine[a, n]
                       else 0.0)
    return ({"triplets/accuracy": float(np.mean(correct)), "triplets/random_accuracy": 0.5,
             "triplets/anchors": int(anchors.size), "triplets/n": n_triplets}, {})
