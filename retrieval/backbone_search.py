"""Queries on what a backbone (retrieval/backbone.py) stored with each song, in a
collection indexed with `musicsearch index --backbone msd|mtt`:

- by example on the `backbone` vector (`vector="backbone"`): an indexed track's stored
  backbone embedding, or an audio file run through the same backbone, against every
  song's; cosine, like the `music` vector, but in MusiCNN's own space, so no text mixes in;
- by the backbone's own tags (mode `backbone-tags`): the words of the query that are among
  its 50 tags (multi-word tags first: "hard rock", "female vocalists"; case and hyphens
  as typed or not) rank songs by their mean stored probability; a negated tag ("-rock")
  multiplies by (1 − its probability). Words that are no tag are ignored (a note says
  which); a query with no tag at all is refused, naming the 50 tags. It reads every
  stored payload (an exact scan, no index): fine for a personal library, linear in its
  size.
"""
from __future__ import annotations

import heapq

import numpy as np

from .backbone import backbone_tags, load_backbone
from .filters import SearchFilter
from .query import STOP_WORDS, QueryError, split_negations, tokenize
from .query_plan import QueryPlan, unit

__all__ = ["VECTORS", "BACKBONE", "BACKBONE_TAGS", "collection_backbone", "backbone_plan",
           "match_tags", "rank_by_tags", "backbone_why"]

MUSIC, BACKBONE = "music", "backbone"     # the store's vector names (index/schema.py)
VECTORS = (MUSIC, BACKBONE)
BACKBONE_TAGS = "backbone-tags"           # the text mode (retrieval/routing.py MODES)
WHY_TAGS = 3                              # backbone tags named in a hit's "why"
MAX_TAG_WORDS = 3                         # longest tag: "female vocalists", "no vocals"


def collection_backbone(store) -> str:
    """The backbone the collection was indexed with; QueryError (one line) if none."""
    schema = getattr(store, "schema", None)
    schema = schema() if callable(schema) else None
    name = getattr(schema, "backbone", None)
    if not name:
        raise QueryError(f"collection '{getattr(store, 'collection', '?')}' has no backbone "
                         "vector: index it into a new collection with `musicsearch index PATH "
                         "--backbone msd|mtt --collection NAME`")
    return name


def backbone_plan(store, audio, track_id: str | None, where: SearchFilter | None,
                  exclude_artist: bool) -> QueryPlan:
    """The query vector in the backbone's space: the normalised sum of the examples'."""
    name = collection_backbone(store)
    if audio is None and track_id is None:
        raise QueryError("the backbone vector compares examples: give an audio file or an "
                         "indexed track (text goes to --mode backbone-tags)")
    if exclude_artist and track_id is None:
        raise QueryError("excluding the seed's artist needs a track query (--track ID)")
    plan = QueryPlan(vector=np.zeros(0, np.float32), parts={}, where=where or SearchFilter(),
                     path=f"backbone vector ({name})")
    if audio is not None:
        from pathlib import Path
        plan.parts[f"sounds like {Path(audio).name}"] = load_backbone(name).encode_file(
            audio).vector
        plan.query["audio"] = str(audio)
    if track_id is not None:
        plan.parts[f"sounds like track {track_id}"] = plan.track_vector(
            store, track_id, exclude_artist, using=BACKBONE)
        plan.query["track_id"] = track_id
    plan.vector = unit(np.sum(list(plan.parts.values()), axis=0))
    plan.query.update(vector=BACKBONE, backbone=name)
    return plan


def match_tags(text: str, tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(tags named in `text`, in order, longest match first; other words, stop words
    aside)."""
    by_words = {tuple(tokenize(tag)): tag for tag in tags}
    words = tokenize(text)
    found, unknown, i = [], [], 0
    while i < len(words):
        for n in range(min(MAX_TAG_WORDS, len(words) - i), 0, -1):
            tag = by_words.get(tuple(words[i:i + n]))
            if tag is not None:
                found.append(tag)
                i += n
                break
        else:
            if words[i] not in STOP_WORDS:
                unknown.append(words[i])
            i += 1
    return list(dict.fromkeys(found)), unknown


def _tags_or_refuse(text: str, name: str, tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    found, unknown = match_tags(text, tags)
    if not found:
        raise QueryError(f"no {name} backbone tag in {text.strip()!r}; its 50 tags: "
                         + ", ".join(tags))
    return found, unknown


def rank_by_tags(store, text: str, negatives: list[str], where: SearchFilter | None,
                 k: int) -> tuple[list[tuple[float, dict, dict]], dict]:
    """The k stored songs with the highest mean probability of the query's tags, as
    (score, payload, {tag: p, "-avoided tag": p}), and the query echo (with `notes`)."""
    name = collection_backbone(store)
    tags = backbone_tags(name)
    positive, typed = split_negations(text)
    wanted, unknown = _tags_or_refuse(positive, name, tags)
    avoided: list[str] = []
    for phrase in [*typed, *negatives]:
        avoided += _tags_or_refuse(phrase, name, tags)[0]
    column = {tag: i for i, tag in enumerate(tags)}
    where = where or SearchFilter()

    def scored():
        for payload in store.iter_payloads():
            probabilities = payload.get("backbone_p")
            if not isinstance(probabilities, list) or len(probabilities) != len(tags) \
                    or not where.matches(payload):
                continue
            p = {tag: float(probabilities[column[tag]]) for tag in wanted}
            score = float(np.mean(list(p.values())))
            for tag in avoided:
                p[f"-{tag}"] = float(probabilities[column[tag]])
                score *= 1.0 - p[f"-{tag}"]
            yield score, payload, p

    best = heapq.nlargest(k, scored(), key=lambda item: item[0])
    query = {"text": text, "terms": wanted, "path": BACKBONE_TAGS, "backbone": name}
    if avoided:
        query["negatives"] = avoided
    notes = [f"not {name} backbone tags, ignored: {', '.join(unknown)}"] if unknown else []
    return best, {"query": query, "notes": notes}


def backbone_why(payload: dict) -> str | None:
    """"backbone msd: piano 0.71, classical 0.55, …" from a payload's top tags, or None."""
    top = payload.get("backbone_tags")
    if not isinstance(top, list) or not top:
        return None
    named = [f"{t['tag']} {float(t['p']):.2f}" for t in top[:WHY_TAGS]
             if isinstance(t, dict) and "tag" in t and "p" in t]
    if not named:
        return None
    name = payload.get("backbone")
    return f"backbone{f' {name}' if name else ''}: {', '.join(named)}"
