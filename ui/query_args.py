"""The query options shared by `search` and `search --batch`: command-line flags and the
fields of a batch line, both turned into `Searcher.search` keyword arguments here."""
from __future__ import annotations

import argparse

from retrieval.filters import SearchFilter
from retrieval.fusion import FUSIONS, check_fusion
from retrieval.query import QueryError
from retrieval.routing import SEARCH_MODES

__all__ = ["add_query_options", "query_from_args", "query_from_fields", "FIELDS", "CHOICES"]

# batch-line field → (kind, help); the flag is --field with "_" → "-"
FIELDS = {
    "not": ("list", "leave out tracks like TERM (tagged TERM, and the query moved away from "
                    "it); repeatable; same as '-TERM' in the text"),
    "artist": ("list", "only tracks by ARTIST (exact name); repeatable: any of them"),
    "exclude_artist": ("flag", "with --track: leave out the seed track's own artist"),
    "tag": ("list", "only tracks tagged TAG (exact tag); repeatable: all of them"),
    "from_collection": ("list", "only tracks of the catalog collection NAME (payload "
                                "meta.collection, e.g. the demo's 'oneills1850'); repeatable"),
    "min_duration": ("float", "only tracks at least SECONDS long (unknown durations excluded)"),
    "max_duration": ("float", "only tracks at most SECONDS long (unknown durations excluded)"),
    "text_weight": ("float", "with TEXT and --audio/--track: the text's share of the query, 0–1 "
                             "(e.g. 0.3: like this track, a little sadder; default: equal parts)"),
    "diverse": ("float", "re-rank for variety (MMR) with this LAMBDA, 0–1: 1 = by relevance "
                         "only, 0.5 = balanced, lower = more varied"),
    "sections": ("flag", "partial matches: rank by the best-matching section of each track "
                         "(chunk MaxSim) and say where it is"),
    "mode": ("choice", "which tower answers TEXT: word (tags, a few words), sentence (the "
                       "sentence tower), or auto: a few known words go to the word tower, a "
                       "sentence to both (default: auto); backbone-tags: no tower, rank by "
                       "the probabilities of MusiCNN's own 50 tags stored by `index "
                       "--backbone` (e.g. \"piano\", \"hard rock\")"),
    "fusion": ("choice", "which song vectors answer: acoustic (the audio's, default), cultural "
                         "(playlist co-occurrence; predicted from audio for tracks in no "
                         "playlist), rrf (both, reciprocal rank fusion) or weighted (both, "
                         "by --fusion-weight); needs a model with a playlist tower"),
    "fusion_weight": ("float", "with --fusion weighted: the cultural vector's share, 0–1 "
                               "(default 0.5)"),
    "vector": ("choice", "which stored vector --audio/--track/--like is compared on: music "
                         "(the joint space; default) or backbone (MusiCNN's embedding, for "
                         "collections made with `index --backbone`; examples only, no text)"),
}
CHOICES = {"mode": SEARCH_MODES, "fusion": FUSIONS, "vector": ("music", "backbone")}
_METAVARS = {"not": "TERM", "artist": "ARTIST", "tag": "TAG", "from_collection": "NAME",
             "min_duration": "SECONDS", "max_duration": "SECONDS", "text_weight": "W",
             "diverse": "LAMBDA", "fusion_weight": "W"}


def add_query_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters, mixing and re-ranking")
    for name, (kind, help_text) in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if kind == "flag":
            group.add_argument(flag, action="store_true", help=help_text)
        elif kind == "list":
            group.add_argument(flag, action="append", default=[], metavar=_METAVARS[name],
                               help=help_text)
        elif kind == "choice":
            group.add_argument(flag, choices=CHOICES[name], default=None, help=help_text)
        else:
            group.add_argument(flag, type=float, default=None, metavar=_METAVARS[name],
                               help=help_text)


def query_from_fields(fields: dict) -> dict:
    """Option values (by field name) → `Searcher.search` keyword arguments; a value of the
    wrong kind is a QueryError naming the field."""
    for name, value in fields.items():
        kind = FIELDS[name][0]
        ok = {"flag": lambda v: isinstance(v, bool),
              "list": lambda v: isinstance(v, str) or (isinstance(v, list)
                                                       and all(isinstance(x, str) for x in v)),
              "float": lambda v: v is None or (isinstance(v, (int, float))
                                               and not isinstance(v, bool)),
              "choice": lambda v: v is None or v in CHOICES[name]}[kind](value)
        if not ok:
            wanted = {"flag": "true or false", "list": "a string or a list of strings",
                      "float": "a number",
                      "choice": "one of " + ", ".join(CHOICES.get(name, ()))}[kind]
            raise QueryError(f"'{name}' must be {wanted}, got {value!r}")

    def strings(name):
        value = fields.get(name) or []
        return [value] if isinstance(value, str) else list(value)

    where = SearchFilter(artists=strings("artist"), tags=strings("tag"),
                         collections=strings("from_collection"),
                         min_duration=fields.get("min_duration"),
                         max_duration=fields.get("max_duration"))
    return {"negatives": strings("not"), "where": where,
            "text_weight": fields.get("text_weight"), "diverse": fields.get("diverse"),
            "exclude_artist": bool(fields.get("exclude_artist")),
            "sections": bool(fields.get("sections")), "mode": fields.get("mode"),
            "vector": fields.get("vector"),
            **dict(zip(("fusion", "fusion_weight"),   # a weight without `weighted`: refused
                       check_fusion(fields.get("fusion"), fields.get("fusion_weight"))))}


def query_from_args(args: argparse.Namespace) -> dict:
    return query_from_fields({name: getattr(args, name) for name in FIELDS})
