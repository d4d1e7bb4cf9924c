"""Every query a user would make, through `Searcher` on a small real index: the tiny audio
(real decoding), a tiny random-weight model, the embedded store (qdrant-edge) and, where
the store translates something, qdrant-client's local mode too."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from index import index_tracks, open_store
from index.points import IndexPoint
from index.server_store import ClientStore
from retrieval.catalog import TrackRecord, read_catalog, write_catalog
from retrieval.filters import SearchFilter
from retrieval.query import QueryError
from retrieval.rerank import mmr
from retrieval.search import Searcher
from retrieval.sections import chunk_offsets

from conftest import SAMPLE_RATE, _tone

DURATIONS = [30.0, 95.0, 180.0, 240.0, 61.0, 0.0, 120.0, 300.0]   # 0: unknown


@pytest.fixture()
def catalog(tiny_audio, tmp_path):
    """The tiny catalog with varied durations and catalog collections."""
    folder, _ = tiny_audio
    records = read_catalog(folder / "catalog.jsonl")
    for i, record in enumerate(records):
        record.duration = DURATIONS[i]
        record.meta = {"collection": "reels" if i < 4 else "airs"}
    path = tmp_path / "catalog.jsonl"
    write_catalog(records, path)
    return path, records


@pytest.fixture(params=["edge", "client"])
def searcher(request, tiny_model, catalog, feature_cache, tmp_path):
    store = (open_store(str(tmp_path / "qdrant"), "music") if request.param == "edge"
             else ClientStore(":memory:", "music"))
    index_tracks(tiny_model, catalog[0], store, cache_dir=feature_cache, progress=False)
    yield Searcher(tiny_model, store)
    store.close()


def _payloads(searcher):
    return {p["track_id"]: p for p in searcher.store.iter_payloads()}


def _ids(result):
    return [h.track_id for h in result.hits]


@pytest.mark.parametrize("where", [
    SearchFilter(artists=["Artist 1"]),
    SearchFilter(exclude_artists=["Artist 0", "Artist 2"]),
    SearchFilter(tags=["piano", "fast"]),
    SearchFilter(exclude_tags=["sad"]),
    SearchFilter(collections=["airs"]),
    SearchFilter(min_duration=60, max_duration=200),
    SearchFilter(max_duration=100),                     # unknown duration (0) excluded
    SearchFilter(artists=["Artist 1", "Artist 2"], exclude_tags=["violin"], min_duration=50),
])
def test_filters_match_the_reference(searcher, where):
    """Both back ends return exactly the tracks the filter's reference `matches` allows,
    in the unfiltered ranking's order."""
    payloads = _payloads(searcher)
    allowed = {t for t, p in payloads.items() if where.matches(p)}
    assert 0 < len(allowed) < 8
    unfiltered = _ids(searcher.search(text="happy piano", k=8))
    result = searcher.search(text="happy piano", k=8, where=where)
    assert _ids(result) == [t for t in unfiltered if t in allowed]
    assert result.query["filter"]


def test_negative_terms_filter_tags_and_move_the_query(searcher, tiny_model):
    payloads = _payloads(searcher)
    result = searcher.search(text="happy -piano", k=8)
    assert result.query["negatives"] == ["piano"] and result.query["terms"] == ["happy"]
    assert _ids(result) and all("piano" not in payloads[t]["tags"] for t in _ids(result))
    # the same through the keyword argument (the CLI's --not)
    assert _ids(searcher.search(text="happy", negatives=["piano"], k=8)) == _ids(result)
    # the vector: the query's component along "piano" is projected out
    happy = tiny_model.encode_text("happy")[0]
    piano = tiny_model.encode_text("piano")[0]
    from retrieval.query_plan import QueryPlan
    plan = QueryPlan.build(searcher, "happy -piano", None, None)
    assert abs(float(plan.vector @ piano)) < 1e-5
    expected = happy - max(0.0, float(happy @ piano)) * piano
    np.testing.assert_allclose(plan.vector, expected / np.linalg.norm(expected), atol=1e-5)
    # a negated word the vectors lack only filters, and says so
    noted = searcher.search(text="happy -qqzxv", k=3)
    assert any("qqzxv" in note for note in noted.notes)
    with pytest.raises(QueryError, match="nothing to look for"):
        searcher.search(text="-piano")


def test_more_like_this_can_leave_out_the_seed_artist(searcher):
    payloads = _payloads(searcher)
    seed_artist = payloads["t1"]["artist"]
    plain = searcher.search(track_id="t1", k=7)
    assert seed_artist in {h.artist for h in plain.hits}      # same artist found by default
    other = searcher.search(track_id="t1", k=7, exclude_artist=True)
    assert other.hits and seed_artist not in {h.artist for h in other.hits}
    assert "t1" not in _ids(other)
    with pytest.raises(QueryError, match="track query"):
        searcher.search(text="piano", exclude_artist=True)


def test_text_and_track_with_weights(searcher, tiny_model):
    track = searcher.store.get_vector("t3")
    track = track / np.linalg.norm(track)
    sad = tiny_model.encode_text("sad")[0]
    ranked = {}
    for weight in (0.0, 0.3, 1.0):
        result = searcher.search(text="sad", track_id="t3", text_weight=weight, k=7)
        expected = weight * sad + (1 - weight) * track
        expected /= np.linalg.norm(expected)
        vectors = searcher.store.get_vectors(_ids(result))
        scores = [float(expected @ (vectors[t] / np.linalg.norm(vectors[t])))
                  for t in _ids(result)]
        assert [h.score for h in result.hits] == pytest.approx(scores, abs=1e-4)
        # the explanation gives each part's own cosine
        assert "'sad':" in result.hits[0].why and "sounds like track t3:" in result.hits[0].why
        ranked[weight] = _ids(result)
    text_only = [t for t in _ids(searcher.search(text="sad", k=8)) if t != "t3"]
    assert ranked[1.0] == text_only[:7]
    assert ranked[0.0] == _ids(searcher.search(track_id="t3", k=7))
    with pytest.raises(QueryError, match="text weight"):
        searcher.search(text="sad", track_id="t3", text_weight=1.5)


def test_mmr_reference():
    """Hand-built: two near-copies of the best match; MMR picks one, then the other kind."""
    vectors = np.array([[1, 0], [0.999, 0.045], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = np.array([0.9, 0.89, 0.6])
    assert mmr(relevance, vectors, 3, 1.0) == [0, 1, 2]
    assert mmr(relevance, vectors, 3, 0.5) == [0, 2, 1]
    assert mmr(relevance, vectors, 1, 0.0) == [0]


def test_diverse_search_reranks_candidates(searcher, monkeypatch):
    calls = []
    real = searcher.store.get_vectors
    monkeypatch.setattr(searcher.store, "get_vectors",
                        lambda ids, using="music": calls.append((list(ids), using)) or real(ids, using))
    plain = searcher.search(text="fast violin", k=4)
    calls.clear()
    varied = searcher.search(text="fast violin", k=4, diverse=0.3)
    assert len(calls) == 1 and len(calls[0][0]) == 8      # every candidate, one request
    assert _ids(varied)[0] == _ids(plain)[0] and len(varied.hits) == 4
    everything = searcher.search(text="fast violin", k=8)
    vectors = real(_ids(everything))
    order = mmr(np.array([h.score for h in everything.hits]),
                np.stack([vectors[t] for t in _ids(everything)]), 4, 0.3)
    assert _ids(varied) == [_ids(everything)[i] for i in order]
    assert _ids(searcher.search(text="fast violin", k=4, diverse=1.0)) == _ids(plain)
    calls.clear()
    searcher.search(text="fast violin", track_id="t0", k=4)     # two parts: one fetch
    assert len(calls) == 2 and calls[1][1] == "music" and len(calls[1][0]) == 4


def test_chunk_offsets_match_the_front_end():
    from retrieval.frontend import chunk_mel
    for total in (10, 232, 500, 929, 2000, 5000):
        mel = np.tile(np.arange(total, dtype=np.float32), (2, 1))
        chunks = chunk_mel(mel, 232, 4)
        starts = chunk_offsets(total, 232, 4)
        assert len(chunks) == len(starts)
        if total >= 232:
            assert [int(c[0, 0]) for c in chunks] == list(starts)


def test_sections_find_the_part_that_sounds_like_the_clip(tiny_model, tiny_audio, feature_cache,
                                                         tmp_path):
    """A long track made of four sections; a clip equal to its third section finds it,
    section and all, and the section matches better than the whole track does."""
    folder, records = tiny_audio
    frontend = tiny_model.config.frontend
    seconds = frontend.chunk_frames * frontend.hop_length / frontend.sample_rate
    sections = [_tone(f, seconds, SAMPLE_RATE, seed) for f, seed in
                ((1500.0, 11), (2500.0, 12), (330.0, 13), (4000.0, 14))]
    long_path = tmp_path / "long.wav"
    soundfile.write(long_path, np.concatenate(sections), SAMPLE_RATE)
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, sections[2], SAMPLE_RATE)
    catalog = read_catalog(folder / "catalog.jsonl")
    catalog.append(TrackRecord(track_id="long", path=str(long_path), title="Long",
                               artist="Someone", duration=4 * seconds, tags=["suite"]))
    write_catalog(catalog, tmp_path / "catalog.jsonl")
    store = open_store(str(tmp_path / "qdrant"), "music")
    try:
        index_tracks(tiny_model, tmp_path / "catalog.jsonl", store, cache_dir=feature_cache,
                     progress=False, chunks=True)
        searcher = Searcher(tiny_model, store)
        whole = searcher.search(audio=clip, k=9)
        partial = searcher.search(audio=clip, k=9, sections=True)
        hit = partial.hits[0]
        assert hit.track_id == "long" and hit.section["chunk"] == 2
        song_score = next(h.score for h in whole.hits if h.track_id == "long")
        assert hit.section["song_score"] == pytest.approx(song_score, abs=1e-4)
        assert hit.section["start"] == pytest.approx(2 * seconds, abs=0.02)
        assert hit.section["end"] == pytest.approx(3 * seconds, abs=0.02)
        assert hit.to_dict()["section"] == hit.section and "best section" in hit.why
        # the score is the best chunk's cosine, from the stored chunk vectors
        clip_vector = tiny_model.encode_audio(clip)
        chunks = store.get_vector("long", using="chunks")
        assert hit.score == pytest.approx(float((chunks @ clip_vector).max()), abs=1e-4)
        song = store.get_vector("long")
        assert float((chunks @ clip_vector).max()) > float(song @ clip_vector / np.linalg.norm(song))
        assert "section" not in whole.hits[0].to_dict()
    finally:
        store.close()


def test_sections_need_chunk_vectors(tiny_model, tiny_audio, feature_cache, tmp_path):
    store = open_store(str(tmp_path / "qdrant"), "music")
    try:
        folder, _ = tiny_audio    # chunk vectors are opt-in: this collection has none
        index_tracks(tiny_model, folder / "catalog.jsonl", store, cache_dir=feature_cache,
                     progress=False)
        with pytest.raises(QueryError, match="per-chunk vectors"):
            Searcher(tiny_model, store).search(text="piano", sections=True)
    finally:
        store.close()


def test_bad_filter_values_are_query_errors():
    with pytest.raises(QueryError, match="min duration"):
        SearchFilter(min_duration=200, max_duration=100)
    with pytest.raises(QueryError, match="seconds"):
        SearchFilter(max_duration=float("nan"))
