"""Query text → terms for the word tower.

Text is normalised (Unicode NFKC, case-folded) and split into Unicode words, so
"Violín", "Dvořák" and "音楽" stay whole words. Multi-word tags known to the model
("string quartet") are matched first, longest first, and a hyphen or slash joins words as
well as a space does ("string-quartet" finds the same tag). Remaining words go to the word
vectors one by one: a hyphenated compound the vectors know ("hip-hop") is kept whole, else
its parts are looked up. A word the vectors lack is looked up once more without accents
(GloVe has "dvorak"). Stop words are dropped; every other word that is not used, unknown
words and stray single letters alike, is reported, never fatal, as long as one term is left.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable

__all__ = ["QueryError", "ParsedQuery", "parse_query", "tokenize", "normalize_text",
           "strip_accents", "resolve_word", "phrase_words", "split_negations",
           "PHRASE_JOINER"]

STOP_WORDS = frozenset("""
a an the and or of for to in on at by with from into some any very really quite
i me my we you your it its this that these those is are be was were been being
music song songs track tracks piece pieces something like sounds sound please play
""".split())

# A word: letters or digits of any script (no underscore), with internal apostrophes
# ("o'neill") or joiners ("hip-hop", "rock/pop"); joiners are split off later if needed.
_TOKEN = re.compile(r"[^\W_]+(?:['’\-/][^\W_]+)*")
_JOINERS = re.compile(r"[\-/]")
# A negated term: "-word" or -"a phrase" at the start or after a space ("hip-hop" is not one).
_NEGATION = re.compile(r"""(?:^|(?<=\s))-(?:"([^"]*)"|([^\s"-][^\s"]*))""")

HasWord = Callable[[str], bool]

# Multi-word phrases in word vectors are one key joined by "_" (word2vec's convention:
# gensim's Phrases, GoogleNews "new_york"). The tokenizer never keeps "_" inside a word,
# so such a key cannot clash with a single word or a hyphenated compound.
PHRASE_JOINER = "_"
MAX_PHRASE_WORDS = 3


class QueryError(ValueError):
    """A query that cannot be turned into a vector (empty, or no known words)."""


@dataclass
class ParsedQuery:
    text: str
    terms: list[str] = field(default_factory=list)      # tags and words that were used
    unknown: list[str] = field(default_factory=list)    # words that were not used


def normalize_text(text: str) -> str:
    """NFKC (full-width letters, ligatures → plain) and case-folded ("Straße" → "strasse")."""
    return unicodedata.normalize("NFKC", text).casefold().replace("’", "'")


def strip_accents(word: str) -> str:
    """"dvořák" → "dvorak": the fallback spelling for vectors that lack the accented one."""
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def tokenize(text: str) -> list[str]:
    """Normalised words, with joined compounds ("hip-hop") kept as one token."""
    return _TOKEN.findall(normalize_text(text))


def split_negations(text: str) -> tuple[str, list[str]]:
    """"piano -vocals -\"male voice\"" → ("piano", ["vocals", "male voice"]): the text to
    look for and the terms to avoid, each stripped; a lone "-" is left alone."""
    negatives = [(quoted or word).strip() for quoted, word in _NEGATION.findall(text)]
    rest = " ".join(_NEGATION.sub(" ", text).split())
    return rest, [n for n in negatives if n]


def _parts(token: str) -> list[str]:
    return [p for p in _JOINERS.split(token) if p]


def resolve_word(word: str, has_word: HasWord) -> str | None:
    """The word-vector key for a normalised word: itself, or its accent-free spelling."""
    if has_word(word):
        return word
    plain = strip_accents(word)
    return plain if plain != word and has_word(plain) else None


def _is_fragment(word: str) -> bool:
    """A single Latin letter ("n" of a split "violín" in older tokenizers, a stray "x"):
    never a query term on its own. A single CJK character is a word and is kept."""
    return len(word) == 1 and word.isascii() and word.isalpha()


def _joined_phrase(words: list[str], start: int, has_word: HasWord) -> tuple[str, int] | None:
    """The longest run of 2+ words from `start` the vectors know as one phrase key
    ("string quartet" → "string_quartet"), and how many words it spans. Like gensim's
    connector words, a stop word may join a phrase ("rock_and_roll") but not begin or end one."""
    if words[start] in STOP_WORDS:
        return None
    for size in range(min(MAX_PHRASE_WORDS, len(words) - start), 1, -1):
        if words[start + size - 1] in STOP_WORDS:
            continue
        key = resolve_word(PHRASE_JOINER.join(words[start:start + size]), has_word)
        if key is not None:
            return key, size
    return None


def phrase_words(phrase: str, has_word: HasWord) -> list[str]:
    """The word-vector keys of a tag or phrase (the words it is embedded from); a run of
    words the vectors know as one phrase key is that one key."""
    words = []
    for token in tokenize(phrase):
        whole = resolve_word(token, has_word) if _JOINERS.search(token) else None
        words += [whole] if whole else _parts(token)
    keys, position = [], 0
    while position < len(words):
        joined = _joined_phrase(words, position, has_word)
        if joined is not None:
            keys.append(joined[0])
            position += joined[1]
            continue
        key = resolve_word(words[position], has_word)
        position += 1
        if key is not None:
            keys.append(key)
    return keys


@lru_cache(maxsize=8)
def _tag_index(tags: tuple[str, ...]) -> "_TagIndex":
    return _TagIndex(tags)   # built once per vocabulary, not once per query


class _TagIndex:
    """Known tags by their word sequence, exact and accent-free, for longest-first matching."""

    def __init__(self, tags: Iterable[str]):
        self.exact: dict[tuple[str, ...], str] = {}
        self.plain: dict[tuple[str, ...], str] = {}
        for tag in sorted(tags):
            words = tuple(p for token in tokenize(tag) for p in _parts(token))
            if words:
                self.exact.setdefault(words, tag)
                self.plain.setdefault(tuple(strip_accents(w) for w in words), tag)
        self.longest = max((len(words) for words in self.exact), default=1)

    def match(self, words: list[str], start: int) -> tuple[str, int] | None:
        """The longest tag starting at `start`, and how many words it spans."""
        for size in range(min(self.longest, len(words) - start), 0, -1):
            span = tuple(words[start:start + size])
            tag = self.exact.get(span) or self.plain.get(tuple(strip_accents(w) for w in span))
            if tag is not None:
                return tag, size
        return None


def parse_query(text: str, known_tags: Iterable[str], has_word: HasWord) -> ParsedQuery:
    """Split `text` into known tags (multi-word first) and single known words.

    `has_word(word) -> bool` says whether the word vectors contain a (normalised) word.
    """
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. 'lively irish fiddle reel'")
    tags = _tag_index(tuple(known_tags))
    words: list[str] = []                 # every token split at its joiners
    compounds: dict[int, tuple[str, int]] = {}   # word position → (whole compound, its end)
    for token in tokenize(text):
        parts = _parts(token)
        if len(parts) > 1:
            compounds[len(words)] = (token, len(words) + len(parts))
        words += parts
    parsed = ParsedQuery(text=text)
    position = 0
    while position < len(words):
        tag = tags.match(words, position)
        if tag is not None:
            parsed.terms.append(tag[0])
            position += tag[1]
            continue
        if position in compounds:
            compound, end = compounds[position]
            key = resolve_word(compound, has_word)
            if key is not None:
                parsed.terms.append(key)
                position = end
                continue
        joined = _joined_phrase(words, position, has_word)
        if joined is not None:
            parsed.terms.append(joined[0])
            position += joined[1]
            continue
        word = words[position]
        position += 1
        if word in STOP_WORDS:
            continue
        key = None if _is_fragment(word) else resolve_word(word, has_word)
        (parsed.terms if key is not None else parsed.unknown).append(key or word)
    if not parsed.terms:
        detail = f" (unknown: {', '.join(parsed.unknown)})" if parsed.unknown else ""
        raise QueryError(f"no known words in query {text!r}{detail}")
    return parsed
