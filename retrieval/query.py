"""Query text → terms for the word tower.

Multi-word tags known to the model ("string quartet") are matched first, longest first;
remaining words go through the word vectors one by one. Stop words are dropped, and words
the vectors do not know are reported, never fatal, as long as one term is left.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["QueryError", "ParsedQuery", "parse_query", "tokenize"]

STOP_WORDS = frozenset("""
a an the and or of for to in on at by with from into some any very really quite
i me my we you your it its this that these those is are be was were been being
music song songs track tracks piece pieces something like sounds sound please play
""".split())

_TOKEN = re.compile(r"[a-z0-9]+(?:[/'\-][a-z0-9]+)*")


class QueryError(ValueError):
    """A query that cannot be turned into a vector (empty, or no known words)."""


@dataclass
class ParsedQuery:
    text: str
    terms: list[str] = field(default_factory=list)      # tags and words that were used
    unknown: list[str] = field(default_factory=list)    # words the vectors do not know


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def parse_query(text: str, known_tags: set[str], has_word) -> ParsedQuery:
    """Split `text` into known multi-word tags and single known words.

    `has_word(word) -> bool` says whether the word vectors contain a word.
    """
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. 'lively irish fiddle reel'")
    tokens = tokenize(text)
    parsed = ParsedQuery(text=text)
    longest = max((len(t.split()) for t in known_tags), default=1)
    position = 0
    while position < len(tokens):
        for size in range(min(longest, len(tokens) - position), 1, -1):
            phrase = " ".join(tokens[position:position + size])
            if phrase in known_tags:
                parsed.terms.append(phrase)
                position += size
                break
        else:
            word = tokens[position]
            position += 1
            if word in STOP_WORDS and word not in known_tags:
                continue
            (parsed.terms if (word in known_tags or has_word(word)) else parsed.unknown).append(word)
    if not parsed.terms:
        detail = f" (unknown: {', '.join(parsed.unknown)})" if parsed.unknown else ""
        raise QueryError(f"no known words in query {text!r}{detail}")
    return parsed
