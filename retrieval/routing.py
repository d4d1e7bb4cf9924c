"""Which tower answers a text query: `word`, `sentence`, or `auto` (decided by the text).

- word: the word tower (known tags and words; Won's multi-tag retrieval).
- sentence: the sentence tower; a model without one answers with MissingTower.
- auto: a known tag or a few known words go to the word tower: every word known, and
  either a bare keyword list (no function words: "lively irish fiddle reel") or at most
  MAX_WORD_TERMS terms with at most one function word ("a jig", "calm and slow").
  Anything else is a sentence ("something like a pub session in dublin"): on a model with both towers its
  vector is the normalised weighted sum `w·sentence + (1−w)·word` of the two unit vectors
  (word part left out when no word is known); a model without a sentence tower falls
  back to the word tower. `Searcher(sentence_weight=…)` overrides the default `w`.

DEFAULT_SENTENCE_WEIGHT was chosen with benchmarks/sentence_weight.py (the sentence-query
evaluation of configs/queries/sentences.yaml) on the demo corpus's valid split, for a short
configs/sentence.yaml run (2 × 40 steps): auto's MAP at w = 0.25 / 0.5 / 0.75 / 0.9 was
0.288 / 0.296 / 0.284 / 0.270 (word path alone 0.276, sentence path alone 0.303; 32
queries, 164 tracks). Re-measure with the model that ships.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .query import STOP_WORDS, ParsedQuery, QueryError, tokenize
from .vectors import l2_normalize

__all__ = ["MODES", "BACKBONE_TAGS", "SEARCH_MODES", "MAX_WORD_TERMS", "DEFAULT_SENTENCE_WEIGHT", "RoutedQuery", "looks_like_words",
           "route_query"]

MODES = ("word", "sentence", "auto")
# not a tower: ranks by a backbone's stored tag probabilities (retrieval/backbone_search.py)
BACKBONE_TAGS = "backbone-tags"
SEARCH_MODES = (*MODES, BACKBONE_TAGS)    # what a search (CLI, app, Searcher) accepts
MAX_WORD_TERMS = 3
DEFAULT_SENTENCE_WEIGHT = 0.5


@dataclass
class RoutedQuery:
    vector: np.ndarray               # (joint_dim,) unit vector
    path: str                        # "word", "sentence" or "sentence+word"
    terms: list[str] = field(default_factory=list)     # word-tower terms used
    unknown: list[str] = field(default_factory=list)   # words the word tower ignored
    why: str = ""                    # which path answered, for a hit's "why" line


def looks_like_words(text: str, parsed: ParsedQuery | None) -> bool:
    """A tag query rather than a sentence: all words known, and few or a keyword list."""
    if parsed is None or parsed.unknown:
        return False
    function_words = sum(word in STOP_WORDS for word in tokenize(text))
    return function_words == 0 or (function_words <= 1 and len(parsed.terms) <= MAX_WORD_TERMS)


def _word_why(terms: list[str]) -> str:
    return f"word tower: {', '.join(terms)}"


def route_query(model, text: str, mode: str = "auto",
                sentence_weight: float = DEFAULT_SENTENCE_WEIGHT) -> RoutedQuery:
    """`text` → a unit vector through the path `mode` asks for (see the module doc)."""
    if mode not in MODES:
        raise QueryError(f"unknown query mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == BACKBONE_TAGS:   # no vector: ranked by stored probabilities (Searcher.search)
        raise QueryError("backbone-tags queries are ranked by the stored tags, not a vector")
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. 'lively irish fiddle reel'")
    has_sentence = model.has_tower("sentence")
    if mode == "word" or (mode == "auto" and not has_sentence):
        vector, parsed = model.encode_text(text)
        return RoutedQuery(vector, "word", parsed.terms, parsed.unknown, _word_why(parsed.terms))
    if mode == "sentence":
        model.tower("sentence")   # MissingTower, one line, on a word-only model
        return RoutedQuery(model.encode_sentences([text])[0], "sentence", why="sentence tower")
    try:
        word_vector, parsed = model.encode_text(text)
    except QueryError:
        word_vector, parsed = None, None
    if looks_like_words(text, parsed):
        return RoutedQuery(word_vector, "word", parsed.terms, [], _word_why(parsed.terms))
    sentence_vector = model.encode_sentences([text])[0]
    if word_vector is None or sentence_weight >= 1:
        return RoutedQuery(sentence_vector, "sentence", why="sentence tower")
    mixed = sentence_weight * sentence_vector + (1 - sentence_weight) * word_vector
    why = (f"sentence tower {sentence_weight:.2g} + word tower {1 - sentence_weight:.2g}: "
           f"{', '.join(parsed.terms)}")
    return RoutedQuery(l2_normalize(mixed).astype(np.float32), "sentence+word", parsed.terms,
                       parsed.unknown, why)
