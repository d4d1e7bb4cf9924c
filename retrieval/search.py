"""Searcher: a query (text, audio example, track id, or a combination) → ranked hits.

The vector store is any object with the `VectorStore` methods below; `index/` provides the
Qdrant back ends. Retrieval depends only on this protocol, never on `index`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .filters import SearchFilter
from .query import QueryError
from .query_plan import QueryPlan, TrackNotFound
from .candidates import candidate_count, check_rerank, rerank
from .fusion import ACOUSTIC, CULTURAL, WEIGHTED, check_fusion, contribution, fusion_limit
from .routing import BACKBONE_TAGS, DEFAULT_SENTENCE_WEIGHT, SEARCH_MODES

if TYPE_CHECKING:   # not imported at run time: a text search needs no torch
    from .light_model import LightModel
    from .model import MusicSearchModel

__all__ = ["VectorStore", "StoredHit", "Hit", "SearchResult", "Searcher", "FingerprintMismatch",
           "TrackNotFound"]


class FingerprintMismatch(RuntimeError):
    """The index was built with a different model than the one querying it."""


@dataclass
class StoredHit:
    track_id: str
    score: float
    payload: dict


class VectorStore(Protocol):
    def search(self, vector: np.ndarray, k: int, using: str = "music",
               exclude_track_ids: list[str] | None = None,
               where: SearchFilter | None = None) -> list[StoredHit]: ...
    def search_fused(self, queries: dict[str, np.ndarray], k: int, fusion: str,
                     weights: dict[str, float] | None = None,
                     exclude_track_ids: list[str] | None = None,
                     where: SearchFilter | None = None) -> list[StoredHit]: ...
    def vector_names(self) -> set[str]: ...
    def get_vector(self, track_id: str, using: str = "music") -> np.ndarray | None: ...
    def get_vectors(self, track_ids: list[str], using: str = "music") -> dict[str, np.ndarray]: ...
    def get_payloads(self, track_ids: list[str]) -> dict[str, dict]: ...
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
    section: dict | None = None   # partial matches: {"chunk", "start", "end"} in seconds

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["section"] is None:   # only section searches have one
            del data["section"]
        return data


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

    def __init__(self, model: MusicSearchModel | LightModel, store: VectorStore, mode: str = "auto",
                 sentence_weight: float = DEFAULT_SENTENCE_WEIGHT):
        if mode not in SEARCH_MODES:
            raise QueryError(f"unknown query mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
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
               track_id: str | None = None, k: int = 10, *,
               negatives: list[str] | tuple[str, ...] = (), where: SearchFilter | None = None,
               text_weight: float | None = None, exclude_artist: bool = False,
               diverse: float | None = None, sections: bool = False,
               mode: str | None = None, fusion: str | None = None,
               fusion_weight: float | None = None, vector: str | None = None) -> SearchResult:
        """Rank indexed tracks against a query; see `QueryPlan` for what each option does.

        `text` may hold negated terms ("piano -vocals"), added to `negatives`. `mode`
        overrides the searcher's tower choice for this query's text (retrieval.routing);
        mode `backbone-tags` ranks by the backbone's stored tag probabilities instead.
        `fusion` searches the acoustic vector (default), the cultural one, or both fused
        (retrieval/fusion.py); `fusion_weight` is `weighted`'s cultural share.
        `vector="backbone"` compares the examples (audio, track) on the collection's
        backbone vector (both backbone queries: retrieval/backbone_search.py).
        """
        if k < 1:
            raise QueryError("k must be at least 1")
        mode = mode or self.mode
        if vector not in (None, "music") or mode == BACKBONE_TAGS:
            if fusion not in (None, ACOUSTIC) or fusion_weight is not None:
                raise QueryError("--fusion searches the joint-space vectors: it does not "
                                 "combine with --vector backbone or --mode backbone-tags")
            return self._search_backbone(text, audio, track_id, k, negatives, where,
                                         text_weight, exclude_artist, diverse, sections,
                                         mode, vector)
        fusion, fusion_weight = check_fusion(fusion, fusion_weight)
        if fusion != ACOUSTIC:
            self._check_cultural(fusion, diverse, sections)
        plan = QueryPlan.build(self, text, audio, track_id, negatives=negatives, where=where,
                               text_weight=text_weight, exclude_artist=exclude_artist,
                               mode=mode, sentence_weight=self.sentence_weight)
        if fusion != ACOUSTIC:
            return self._fused(plan, k, fusion, fusion_weight)
        check_rerank(diverse)
        wanted = candidate_count(k) if (diverse is not None or sections) else k
        stored = self.store.search(plan.vector, wanted, where=plan.where or None)
        # only sections need the chunking settings: a LightModel builds its config (torch) for them
        config = self.model.config if sections else None
        found = rerank(self.store, plan, stored, k, diverse=diverse, sections=sections,
                       frontend=config and config.audio_frontend,
                       max_chunks=config and config.max_chunks)
        hits = [self._hit(h, plan.terms, plan.path, found.similarities.get(h.track_id, {}),
                          found.sections.get(h.track_id)) for h in found.hits]
        return SearchResult(query=plan.query, hits=hits, notes=plan.notes)

    def _search_backbone(self, text, audio, track_id, k, negatives, where, text_weight,
                         exclude_artist, diverse, sections, mode, vector) -> SearchResult:
        """The two backbone queries; options that need the joint space are refused."""
        from .backbone_search import BACKBONE, backbone_plan, rank_by_tags
        what = "--mode backbone-tags" if mode == BACKBONE_TAGS else "--vector backbone"
        if vector not in (None, "music", BACKBONE):
            raise QueryError(f"unknown vector {vector!r}; use music or {BACKBONE}")
        if mode == BACKBONE_TAGS and vector == BACKBONE:
            raise QueryError("--mode backbone-tags ranks by words, --vector backbone by "
                             "examples: use one of them")
        refused = [name for name, given in (("--diverse", diverse is not None),
                                            ("--sections", sections),
                                            ("--text-weight", text_weight is not None)) if given]
        if mode == BACKBONE_TAGS and (audio is not None or track_id is not None):
            refused.append("an audio file or track")
        if mode != BACKBONE_TAGS and (text is not None or negatives):
            refused.append("text (use --mode backbone-tags for the backbone's words)")
        if refused:
            raise QueryError(f"{what} does not take {', '.join(refused)}")
        if mode == BACKBONE_TAGS:
            if text is None or not text.strip():
                raise QueryError("empty query: type some of the backbone's tags, e.g. 'rock'")
            ranked, echo = rank_by_tags(self.store, text, list(negatives), where, k)
            hits = [self._hit(StoredHit(str(payload.get("track_id")), score, payload), [],
                              f"{BACKBONE_TAGS}: " + ", ".join(f"{t} {p:.2f}"
                                                                 for t, p in found.items()), {})
                    for score, payload, found in ranked]
            return SearchResult(query=echo["query"], hits=hits, notes=echo["notes"])
        plan = backbone_plan(self.store, audio, track_id, where, exclude_artist)
        stored = self.store.search(plan.vector, k, using=BACKBONE, where=plan.where or None)
        label = next(iter(plan.parts)) if len(plan.parts) == 1 else None
        hits = [self._hit(h, [], plan.path, {label: h.score} if label else {}) for h in stored]
        if plan.where:
            plan.query["filter"] = {name: value for name, value in plan.where.to_dict().items()
                                    if name != "exclude_track_ids"}
        return SearchResult(query=plan.query, hits=hits, notes=plan.notes)

    def _check_cultural(self, fusion: str, diverse: float | None, sections: bool) -> None:
        if diverse is not None or sections:
            raise QueryError(f"--fusion {fusion} cannot be combined with --diverse or "
                             "--sections (they re-rank the acoustic list)")
        if CULTURAL not in self.store.vector_names():
            raise QueryError(f"--fusion {fusion} needs a '{CULTURAL}' vector, and this "
                             "collection has none (its model has no playlist tower): use "
                             "--fusion acoustic, or index with a model that has one")

    def _fused(self, plan: QueryPlan, k: int, fusion: str, weight: float | None) -> SearchResult:
        """A cultural-only or fused search (Qdrant's prefetch + fusion); each hit's "why"
        says its rank in each vector's own list."""
        cultural = plan.cultural_vector(self.model, self.store, CULTURAL)
        where = plan.where or None
        if fusion == CULTURAL:
            stored = self.store.search(cultural, k, using=CULTURAL, where=where)
            lists = {CULTURAL: stored}
        else:
            weights = {"music": 1 - weight, CULTURAL: weight} if fusion == WEIGHTED else None
            stored = self.store.search_fused({"music": plan.vector, CULTURAL: cultural}, k,
                                             fusion, weights, where=where)
            limit = fusion_limit(k)   # the prefetches' lists, to say who contributed what
            lists = {ACOUSTIC: self.store.search(plan.vector, limit, where=where),
                     CULTURAL: self.store.search(cultural, limit, using=CULTURAL, where=where)}
        ranks = {name: {h.track_id: i for i, h in enumerate(hits)} for name, hits in lists.items()}
        hits = []
        for found in stored:
            extra = [contribution({name: rank.get(found.track_id) for name, rank in ranks.items()})]
            if (found.payload or {}).get("cultural_predicted"):
                extra.append("cultural vector predicted from audio (not in the playlists)")
            hits.append(self._hit(found, plan.terms, plan.path, {}, extra=extra))
        plan.query["fusion"] = fusion
        if fusion == WEIGHTED:
            plan.query["fusion_weight"] = weight
        return SearchResult(query=plan.query, hits=hits, notes=plan.notes)

    @staticmethod
    def _hit(stored: StoredHit, terms: list[str], path: str, similarities: dict[str, float],
             section: dict | None = None, extra: list[str] | None = None) -> Hit:
        payload = stored.payload or {}
        tags = list(payload.get("tags", []))
        reasons = [path] if path else []
        if terms:
            shared = [t for t in tags if t in terms or any(w in terms for w in t.split())]
            # a sentence's vector is more than its known words: do not name them as the target
            target = "the query" if path.startswith("sentence") else f"'{' '.join(terms)}'"
            reasons.append(f"tags matching the query: {', '.join(shared)}" if shared
                           else f"close to {target} in the joint space")
        reasons += [f"{label}: {value:.2f}" for label, value in similarities.items()]
        reasons += extra or []
        if section is not None:
            reasons.append(f"best section {_clock(section['start'])}–{_clock(section['end'])}")
        if "backbone_tags" in payload:   # what the backbone heard, for any query
            from .backbone_search import backbone_why
            reasons += [why] if (why := backbone_why(payload)) else []
        return Hit(track_id=stored.track_id, score=round(float(stored.score), 4),
                   title=payload.get("title", ""), artist=payload.get("artist", ""),
                   path=payload.get("path", ""), tags=tags, why="; ".join(reasons),
                   section=section)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"
