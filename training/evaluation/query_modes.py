"""Text queries of the evaluation through the query routing (retrieval/routing.py), per mode.

The caption and sentence tasks embed each query with `query_encoder(model, mode)`, the same
`route_query` the search uses, so a task row measures what a user of that mode gets. A mode
that needs a sentence tower is skipped on a model without one (`usable_modes` says why);
`auto` there answers through the word tower, exactly as the search does.

`example_queries` ranks the split for a few sentences of the sentence file, per mode, for
the report's "top 5" table (word path = before the sentence tower, the others = after).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from retrieval.query import QueryError
from retrieval.routing import DEFAULT_SENTENCE_WEIGHT, MODES, route_query

from .sentences import SentenceSet

__all__ = ["QUERY_TASKS", "task_label", "usable_modes", "query_encoder", "example_modes",
           "example_sentences", "example_queries", "EXAMPLE_TOP", "EXAMPLE_EXTRA"]

QUERY_TASKS = ("text_retrieval", "sentences")   # the tasks whose queries are text
EXAMPLE_TOP = 5
EXAMPLE_FIRST = 3                               # the first sentences of the file …
EXAMPLE_EXTRA = "something like a pub session in dublin"   # … and this one when listed


def task_label(task: str, mode: str | None) -> str:
    """How a (task, mode) row is named in the report: "sentences (auto)"."""
    return f"{task} ({mode})" if mode else task


def usable_modes(model, modes: list[str], name: str) -> tuple[list[str], list[str]]:
    """The modes of `modes` this model can answer, and a note per mode it cannot (or that
    answers through another path)."""
    if model.has_tower("sentence"):
        return list(modes), []
    usable = [mode for mode in modes if mode != "sentence"]
    notes = []
    if "sentence" in modes:
        notes.append(f"model {name!r} has no sentence tower: sentence mode skipped")
    if "auto" in modes:
        notes.append(f"model {name!r} has no sentence tower: auto answers through the word "
                     "tower")
    return usable, notes


def query_encoder(model, mode: str,
                  sentence_weight: float = DEFAULT_SENTENCE_WEIGHT) -> Callable[[str], np.ndarray]:
    """`encode(text) -> unit vector` through `route_query` in `mode`; QueryError for a text
    the path cannot take. Memoised: the same queries are asked under every condition."""
    cache: dict[str, np.ndarray | str] = {}

    def encode(text: str) -> np.ndarray:
        if text not in cache:
            try:
                cache[text] = route_query(model, text, mode, sentence_weight).vector
            except QueryError as error:
                cache[text] = str(error)
        hit = cache[text]
        if isinstance(hit, str):
            raise QueryError(hit)
        return hit
    return encode


def example_modes(model, modes: list[str], name: str) -> list[str]:
    """The word path (before) and every usable configured mode (after), in MODES order;
    only the word path on a word-only model."""
    usable = set(usable_modes(model, modes, name)[0])
    if not model.has_tower("sentence"):
        return ["word"]
    return [mode for mode in MODES if mode == "word" or mode in usable]


def example_sentences(sentences: SentenceSet) -> list:
    """The first EXAMPLE_FIRST sentences, and EXAMPLE_EXTRA where the file lists it."""
    chosen = list(sentences.sentences[:EXAMPLE_FIRST])
    chosen += [s for s in sentences.sentences[EXAMPLE_FIRST:]
               if s.text.lower() == EXAMPLE_EXTRA]
    return chosen


def example_queries(model, records, songs: np.ndarray, sentences: SentenceSet,
                    modes: list[str], sentence_weight: float = DEFAULT_SENTENCE_WEIGHT) -> dict:
    """{"modes": [...], "sentences": [{"text", "tags", "top": {mode: [track, …] or
    error line}}]}, a track being {"title", "tags", "score", "relevant"}."""
    encoders = {mode: query_encoder(model, mode, sentence_weight) for mode in modes}
    out = {"modes": list(modes), "sentences": []}
    for sentence in example_sentences(sentences):
        top = {}
        for mode, encode in encoders.items():
            try:
                scores = songs @ encode(sentence.text)
            except QueryError as error:
                top[mode] = str(error)
                continue
            best = np.argsort(-scores, kind="stable")[:EXAMPLE_TOP]
            top[mode] = [{"title": records[i].title, "tags": list(records[i].tags),
                          "score": float(scores[i]),
                          "relevant": set(sentence.tags) <= set(records[i].tags)}
                         for i in best.tolist()]
        out["sentences"].append({"text": sentence.text, "tags": list(sentence.tags),
                                 "top": top})
    return out
