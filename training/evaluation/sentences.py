"""Text → music on natural sentences: queries people type, not the corpus's captions.

A sentence file (versioned YAML, e.g. configs/queries/sentences.yaml) lists sentences, each
with its relevance definition: the tags a relevant track must ALL carry. Per sentence, with
N tracks of which R are relevant, and ties in score broken uniformly at random (every
figure is its exact expectation over the tie-breaks):

    rank      rank of the first relevant track (its expectation, as in the caption task)
    hit@K     at least one relevant track in the top K (what the caption task calls R@K)
    recall@K  share of the R relevant tracks found in the top K
    rr, ap    reciprocal rank (E[1/rank], not 1/E[rank], under ties), average precision

each beside a uniformly random ranking's exact value: hit@K 1 − C(N−R, K)/C(N, K),
recall@K min(K, N)/N, E[1/rank] and E[AP] by formula, E[rank] = (N+1)/(R+1). A sentence
with no relevant track in the split is left out of the means and listed as excluded.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np

from retrieval.query import QueryError

from ..config import ConfigError, read_yaml_mapping
from ..random_baseline import (expected_random_ap, expected_random_hit_at_k,
                               expected_random_recall_at_k, expected_random_reciprocal_rank)
from .query_tasks import RECALL_KS, first_relevant_rank

__all__ = ["Sentence", "SentenceSet", "load_sentences", "check_tags", "ranking_metrics",
           "sentence_retrieval", "DEFAULT_SENTENCES"]

# The committed sentence file, found from the source tree so the default works from any cwd.
DEFAULT_SENTENCES = str(Path(__file__).resolve().parents[2] / "configs" / "queries"
                        / "sentences.yaml")


@dataclass(frozen=True)
class Sentence:
    text: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class SentenceSet:
    path: str
    version: int
    sentences: tuple[Sentence, ...]


def load_sentences(path: str | Path) -> SentenceSet:
    """The sentence file at `path`, or one ConfigError naming every malformed entry."""
    data = read_yaml_mapping(path)
    where = str(path)
    unknown = sorted(set(data) - {"version", "sentences"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
                          "(known: sentences, version)")
    version, entries = data.get("version"), data.get("sentences")
    problems = []
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"version must be a positive integer, got {version!r}")
    if not isinstance(entries, list) or not entries:
        problems.append("sentences must be a non-empty list of {text: ..., tags: [...]}")
        entries = []
    sentences, seen = [], set()
    for number, entry in enumerate(entries, 1):
        label = f"sentences[{number}]"
        if not isinstance(entry, dict) or set(entry) != {"text", "tags"}:
            problems.append(f"{label}: expected exactly the keys text and tags, got {entry!r}")
            continue
        text, tags = entry["text"], entry["tags"]
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{label}: text must be a non-empty string, got {text!r}")
        elif text.strip() in seen:
            problems.append(f"{label}: {text.strip()!r} is listed twice")
        if (not isinstance(tags, list) or not tags
                or not all(isinstance(t, str) and t.strip() for t in tags)):
            problems.append(f"{label}: tags must be a non-empty list of tag names, got {tags!r}")
        elif isinstance(text, str) and text.strip():
            seen.add(text.strip())
            sentences.append(Sentence(text.strip(), tuple(t.strip() for t in tags)))
    if problems:
        raise ConfigError(f"{where}: {'; '.join(problems)}")
    return SentenceSet(where, version, tuple(sentences))


def check_tags(sentences: SentenceSet, known: set[str], source: str) -> None:
    """One ConfigError naming every tag that no track of `source` (a catalog) carries."""
    problems = []
    for sentence in sentences.sentences:
        for tag in sentence.tags:
            if tag not in known:
                close = difflib.get_close_matches(tag, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{sentence.text!r}: unknown tag {tag!r}{hint}")
    if problems:
        raise ConfigError(f"{sentences.path}: {'; '.join(problems)} — no track of {source} "
                          "carries it")


def _tie_groups(scores: np.ndarray, relevant: np.ndarray):
    """(c, m, b, h) per distinct score, highest first: c items before the group, m in it,
    b of them relevant, h relevant before it."""
    values, inverse = np.unique(-scores, return_inverse=True)
    sizes = np.bincount(inverse, minlength=values.size)
    hits = np.bincount(inverse, weights=relevant.astype(float), minlength=values.size)
    before = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    hits_before = np.concatenate([[0], np.cumsum(hits)[:-1]])
    return zip(before.tolist(), sizes.tolist(), hits.astype(int).tolist(),
               hits_before.astype(int).tolist())


def ranking_metrics(scores: np.ndarray, relevant: np.ndarray,
                    ks: tuple[int, ...] = RECALL_KS) -> dict:
    """rank, rr, ap, hit@K and recall@K of one query (see the module doc), each the exact
    expectation over random tie-breaks. A relevant item at place j of a tie group of m
    (c items before, h of them relevant) has, on average, h + 1 + (j−1)(b−1)/(m−1)
    relevant items at or above it; its place j is uniform over 1..m."""
    r = int(relevant.sum())
    rank = first_relevant_rank(scores, relevant)
    rr, ap, found, missed = 0.0, 0.0, {k: 0.0 for k in ks}, {k: 1.0 for k in ks}
    for c, m, b, h in _tie_groups(scores, relevant):
        if b and h == 0:    # first relevant at place j of this group: P = C(m−j, b−1)/C(m, b)
            rr = sum(comb(m - j, b - 1) / comb(m, b) / (c + j) for j in range(1, m - b + 2))
        if b:
            j = np.arange(1, m + 1, dtype=np.float64)
            others = (j - 1) * (b - 1) / (m - 1) if m > 1 else 0.0
            ap += b * float(np.mean((h + 1 + others) / (c + j)))
        for k in ks:
            slots = min(max(k - c, 0), m)      # places of the top k this group fills
            found[k] += b * slots / m
            if slots:                         # a miss needs all `slots` irrelevant
                missed[k] *= comb(m - b, slots) / comb(m, slots)
    out = {"rank": rank, "rr": rr, "ap": ap / r}
    for k in ks:
        out[f"hit@{k}"] = 1.0 - missed[k]
        out[f"recall@{k}"] = found[k] / r
    return out


def _random_metrics(n: int, r: int, ks: tuple[int, ...]) -> dict:
    return {"random_rank": (n + 1) / (r + 1), "random_rr": expected_random_reciprocal_rank(n, r),
            "random_ap": expected_random_ap(n, r),
            **{f"random_hit@{k}": expected_random_hit_at_k(n, r, k) for k in ks},
            **{f"random_recall@{k}": expected_random_recall_at_k(n, r, k) for k in ks}}


def sentence_retrieval(model, records, songs: np.ndarray, sentences: SentenceSet,
                       encode=None) -> tuple[dict, dict]:
    """Summary ("sentences/…") and per-sentence metrics; sentences with no relevant track,
    or no word the model knows, are listed under "sentences/excluded" with the reason.
    `encode(text) -> unit vector` embeds a query (default: the word tower, as
    `model.encode_text`; the evaluation passes query_modes.query_encoder per query mode)."""
    encode = encode or (lambda text: model.encode_text(text)[0])
    n = len(records)
    carried = [set(record.tags) for record in records]
    per_query, excluded = {}, {}
    for sentence in sentences.sentences:
        relevant = np.array([set(sentence.tags) <= tags for tags in carried])
        r = int(relevant.sum())
        if r == 0:
            excluded[sentence.text] = "no relevant track in this split"
            continue
        try:
            vector = encode(sentence.text)
        except QueryError:
            excluded[sentence.text] = "no word the model knows"
            continue
        per_query[sentence.text] = {"tags": list(sentence.tags), "relevant": r,
                                    **ranking_metrics(songs @ vector, relevant),
                                    **_random_metrics(n, r, RECALL_KS)}
    if not per_query:
        return {}, {}
    values = list(per_query.values())
    mean = lambda key: float(np.mean([v[key] for v in values]))  # noqa: E731
    summary = {"sentences/n_queries": len(values), "sentences/excluded": len(excluded),
               "sentences/version": sentences.version,
               "sentences/mrr": mean("rr"), "sentences/random_mrr": mean("random_rr"),
               "sentences/map": mean("ap"), "sentences/random_map": mean("random_ap"),
               "sentences/median_rank": float(np.median([v["rank"] for v in values])),
               "sentences/random_median_rank": float(np.median([v["random_rank"]
                                                                for v in values]))}
    for k in RECALL_KS:
        for name in ("hit", "recall"):
            summary[f"sentences/{name}@{k}"] = mean(f"{name}@{k}")
            summary[f"sentences/random_{name}@{k}"] = mean(f"random_{name}@{k}")
    return summary, {"sentences": per_query, "excluded": excluded}
