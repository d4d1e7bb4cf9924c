"""Query tokenizing and parsing: Unicode words, joined compounds, accent fallback, and
every unused word reported (issue: "violín" used to become `viol` + `n`)."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.query import QueryError, parse_query, phrase_words, tokenize


def vocabulary(*words):
    known = set(words)
    return known.__contains__


def test_unicode_words_stay_whole():
    assert tokenize("Violín, Dvořák 音楽!") == ["violín", "dvořák", "音楽"]
    assert tokenize("ＰＩＡＮＯ Straße") == ["piano", "strasse"]   # NFKC + case folding
    assert tokenize("O’Neill's reel") == ["o'neill's", "reel"]


def test_accented_word_falls_back_to_plain_spelling_and_leaves_no_fragments():
    parsed = parse_query("violín", [], vocabulary("violin", "viol", "n"))
    assert parsed.terms == ["violin"] and parsed.unknown == []
    # the accented spelling wins where the vectors have it
    assert parse_query("violín", [], vocabulary("violín", "violin")).terms == ["violín"]


def test_every_dropped_word_is_reported():
    parsed = parse_query("piano 音楽 x zzqxv", [], vocabulary("piano", "x"))
    assert parsed.terms == ["piano"]
    assert parsed.unknown == ["音楽", "x", "zzqxv"]      # a lone letter is never a term
    with pytest.raises(QueryError, match="音楽"):
        parse_query("音楽", [], vocabulary("piano"))


def test_hyphen_slash_and_space_find_the_same_tag():
    tags = ["string quartet", "fast"]
    for text in ("string quartet", "String-Quartet", "string/quartet", "STRING - quartet"):
        assert parse_query(text, tags, vocabulary()).terms == ["string quartet"], text
    assert parse_query("fast-string-quartet", tags, vocabulary()).terms == ["fast",
                                                                           "string quartet"]


def test_known_compound_is_kept_whole_else_split():
    assert parse_query("hip-hop", [], vocabulary("hip-hop", "hip", "hop")).terms == ["hip-hop"]
    assert parse_query("fiddle-banjo", [], vocabulary("fiddle", "banjo")).terms == ["fiddle",
                                                                                   "banjo"]
    assert phrase_words("hip-hop", vocabulary("hip", "hop")) == ["hip", "hop"]


def test_accented_tag_matches_plain_query_and_back():
    assert parse_query("Dvorak quartet", ["dvořák"], vocabulary("quartet")).terms == [
        "dvořák", "quartet"]
    assert parse_query("Dvořák", ["dvorak"], vocabulary()).terms == ["dvorak"]


def test_stop_word_that_is_a_tag_is_kept():
    assert parse_query("a fast air", ["air"], vocabulary("fast")).terms == ["fast", "air"]


def test_real_glove_accents_and_scripts(tiny_model):
    """On the shipped GloVe vectors: accents resolve, other scripts are reported."""
    vector, parsed = tiny_model.encode_text("Violín")
    assert parsed.terms in (["violín"], ["violin"]) and parsed.unknown == []
    if parsed.terms == ["violin"]:
        assert np.allclose(vector, tiny_model.encode_text("violin")[0])
    parsed = tiny_model.parse("Dvořák string-quartet")
    assert len(parsed.terms) == 3 and all(len(t) > 1 for t in parsed.terms)
    assert parsed.terms[0] in ("dvořák", "dvorak")
    parsed = tiny_model.parse("piano ☃☃☃ zzqxvv")
    assert parsed.terms == ["piano"] and "zzqxvv" in parsed.unknown
