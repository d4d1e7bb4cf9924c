"""A query's parts → one query vector and one payload filter (the searcher's first step).

Parts: text (with negated terms, "piano -vocals"), an audio example, an indexed track.
Without weights the query vector is the normalised sum of the parts' unit vectors; with
`text_weight` w it is w·text + (1 − w)·examples, so "like this track, but sadder" is
`track_id=…, text="sadder", text_weight=0.3`.

Negated terms act twice, because each way alone misses something:
- as a filter: tracks tagged with the term (exactly as typed, or as the model's tag it
  parses to) are excluded. Exact where the catalog has tags, useless where it has none
  (a folder scan) or where the tag is missing from a track that has the sound;
- in the vector: the query's component along the term's vector is removed (projected
  out), so untagged tracks that sound like the term rank lower. Projecting out rather
  than subtracting a fixed multiple keeps a query that never leaned towards the term
  unchanged, and never turns "not vocals" into "the opposite of vocals".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .filters import SearchFilter
from .query import QueryError, normalize_text, split_negations
from .routing import DEFAULT_SENTENCE_WEIGHT, route_query

__all__ = ["QueryPlan", "TrackNotFound", "unit"]


class TrackNotFound(KeyError):
    def __str__(self) -> str:
        return f"track not in the index: {self.args[0]}"


def unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _check_weight(text_weight: float | None) -> None:
    if text_weight is not None and not (isinstance(text_weight, (int, float))
                                        and math.isfinite(text_weight)
                                        and 0 <= text_weight <= 1):
        raise QueryError(f"text weight must be a number from 0 to 1, got {text_weight!r}")


@dataclass
class QueryPlan:
    vector: np.ndarray                          # (d,) unit query vector
    parts: dict[str, np.ndarray]                # label for the explanation → unit vector
    where: SearchFilter
    terms: list[str] = field(default_factory=list)
    path: str = ""                              # which tower answered the text, for "why"
    query: dict = field(default_factory=dict)   # echoed in results
    notes: list[str] = field(default_factory=list)
    # what `vector` was made of, so the same query can be re-made for another named
    # vector (the cultural one, `cultural_vector`): the text's vector, the examples as
    # (kind "audio"|"track", path or id, unit vector), the text weight, the negation
    text_vector: np.ndarray | None = None
    examples: list[tuple[str, str, np.ndarray]] = field(default_factory=list)
    text_weight: float | None = None
    negation: np.ndarray | None = None

    @property
    def text_only(self) -> bool:
        return len(self.parts) == 1 and next(iter(self.parts)).startswith("'")

    @classmethod
    def build(cls, searcher, text: str | None, audio: str | Path | None, track_id: str | None,
              *, negatives=(), where: SearchFilter | None = None,
              text_weight: float | None = None, exclude_artist: bool = False,
              mode: str = "auto", sentence_weight: float = DEFAULT_SENTENCE_WEIGHT
              ) -> "QueryPlan":
        model, store = searcher.model, searcher.store
        _check_weight(text_weight)
        if exclude_artist and track_id is None:
            raise QueryError("excluding the seed's artist needs a track query (--track ID)")
        where = where or SearchFilter()
        plan = cls(vector=np.zeros(0, np.float32), parts={}, where=where)
        positive, typed = split_negations(text) if text is not None else (None, [])
        negatives = list(dict.fromkeys([*typed, *(n.strip() for n in negatives if n.strip())]))
        text_vector = None
        if text is not None and (positive or (audio is None and track_id is None)):
            if not positive and negatives:
                raise QueryError(f"nothing to look for: '-{negatives[0]}' only says what to "
                                 "avoid; add words, an audio file or a track")
            routed = route_query(model, positive, mode, sentence_weight)
            text_vector, plan.terms, plan.path = routed.vector, routed.terms, routed.why
            label = " ".join(routed.terms) if routed.path == "word" else positive.strip()
            plan.parts[f"'{label}'"] = text_vector
            plan.query.update(text=text, terms=routed.terms, path=routed.path)
            if routed.unknown:
                plan.notes.append(f"ignored unknown words: {', '.join(routed.unknown)}")
        plan.text_vector = text_vector
        if audio is not None:
            plan.examples.append(("audio", str(audio), model.encode_audio(audio)))
            plan.parts[f"sounds like {Path(audio).name}"] = plan.examples[-1][2]
            plan.query["audio"] = str(audio)
        if track_id is not None:
            plan.examples.append(("track", track_id,
                                  plan.track_vector(store, track_id, exclude_artist)))
            plan.parts[f"sounds like track {track_id}"] = plan.examples[-1][2]
            plan.query["track_id"] = track_id
        if not plan.parts:
            raise QueryError("empty query: give text, an audio file or a track id")
        if text_weight is not None and text_vector is not None and plan.examples:
            plan.text_weight = text_weight
            plan.query["text_weight"] = text_weight
        elif text_weight is not None:
            plan.notes.append("text weight ignored: it mixes text with an audio file or "
                              "a track, and this query has only one of them")
        plan.vector = plan._combine([vector for _, _, vector in plan.examples])
        if negatives:
            plan._negate(model, negatives)
        if plan.where:
            plan.query["filter"] = {name: value for name, value in plan.where.to_dict().items()
                                    if name != "exclude_track_ids"}
        return plan

    def _combine(self, examples: list[np.ndarray]) -> np.ndarray:
        """The text vector and the examples' vectors as one unit query vector: the
        normalised sum, or w·text + (1 − w)·examples with a text weight."""
        if self.text_weight is not None:
            return unit(self.text_weight * self.text_vector
                        + (1 - self.text_weight) * unit(np.sum(examples, axis=0)))
        parts = ([] if self.text_vector is None else [self.text_vector]) + list(examples)
        return unit(np.sum(parts, axis=0))

    def _project_out(self, vector: np.ndarray) -> np.ndarray:
        # only the part leaning towards the negated terms: a query leaning away keeps it
        if self.negation is None:
            return vector
        return vector - max(0.0, float(vector @ self.negation)) * self.negation

    def cultural_vector(self, model, store, using: str = "cultural") -> np.ndarray:
        """The same query for the cultural named vector: the text's vector as it is (the
        playlist tower was trained into the text towers' space), a track example by its
        stored cultural vector, an audio example by the cultural vector predicted from
        its sound; mixed, weighted and negated as `vector` was."""
        examples = []
        for kind, value, vector in self.examples:
            if kind == "track":
                found = store.get_vectors([value], using=using).get(value)
                if found is None:
                    raise QueryError(f"track {value} has no {using} vector in this index")
                examples.append(unit(found))
            else:
                examples.append(model.predict_cultural(vector[None, :])[0])
        vector = self._project_out(self._combine(examples))
        if np.linalg.norm(vector) < 1e-3:
            raise QueryError("the query and its negated terms mean the same thing for the "
                             "cultural vector: nothing is left to look for")
        return unit(vector)

    def track_vector(self, store, track_id: str, exclude_artist: bool,
                     using: str = "music") -> np.ndarray:
        """An indexed track's stored vector `using` (unit), the track left out of the results
        (and its artist too, with `exclude_artist`); TrackNotFound if it has none."""
        vector = store.get_vectors([track_id], using=using).get(track_id)
        if vector is None:
            raise TrackNotFound(track_id)
        self.where = self.where.also(exclude_track_ids=[track_id])
        if exclude_artist:
            artist = store.get_payloads([track_id]).get(track_id, {}).get("artist")
            if artist:
                self.where = self.where.also(exclude_artists=[artist])
            else:
                self.notes.append(f"track {track_id} has no artist to exclude")
        return unit(vector)

    def _negate(self, model, negatives: list[str]) -> None:
        vectors, tags = [], []
        for phrase in negatives:
            tags += [phrase, normalize_text(phrase)]
            try:
                vector, parsed = model.encode_text(phrase)
            except QueryError:
                self.notes.append(f"'-{phrase}': no known words, so it only excludes tracks "
                                  "tagged with it")
                continue
            vectors.append(vector)
            if len(parsed.terms) == 1:   # the phrase is one tag or word: exclude that too
                tags.append(parsed.terms[0])
        self.where = self.where.also(exclude_tags=tags)
        self.query["negatives"] = negatives
        if vectors:
            self.negation = unit(np.sum(vectors, axis=0))
            kept = self._project_out(self.vector)
            if np.linalg.norm(kept) < 1e-3:
                raise QueryError("the query and its negated terms mean the same thing: "
                                 "nothing is left to look for")
            self.vector = unit(kept)
