"""The `cultural` named vector and hybrid search, on real engines (qdrant-edge and
qdrant-client local mode), real decoding of the tiny fixture audio, a real Word2Vec on
playlists and a playlist tower trained on them:

- a track in no playlist gets a cultural vector predicted from its audio, marked as such;
- Qdrant's fusion (prefetch + RRF or a formula) orders a hand-built collection as the
  reference functions say it must, in both back ends;
- the "why" line names each vector's rank; a collection without `cultural`, a bad
  `--fusion` value and a bundle whose Word2Vec side file changed are refused in one line.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from index import index_tracks, open_store
from index.points import IndexPoint
from index.schema import CollectionSchema
from index.server_store import ClientStore
from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.catalog import Playlist, read_catalog, read_playlists
from retrieval.fusion import RRF, WEIGHTED, check_fusion, rrf_scores, weighted_scores
from retrieval.query import QueryError
from retrieval.search import Searcher
from retrieval.towers.playlist import PLAYLIST_VECTORS
from training.cultural import CulturalConfig, add_playlist_tower, fit_playlist_tower
from training.playlists.word2vec import (PlaylistWord2VecConfig, save_track_vectors,
                                         train_track_vectors)
from ui.callbacks import run_search
from ui.cli import main
from ui.form import form_fields
from ui.query_args import query_from_fields

COLD = "t7"    # the track no playlist holds


@pytest.fixture(scope="module")
def cultural_bundle(tiny_bundle, tiny_audio, tmp_path_factory):
    """The tiny model plus a playlist tower trained on real Word2Vec vectors of playlists
    over t0–t6 (t7 in none), with the cold-start predictor trained on decoded audio."""
    folder, _ = tiny_audio
    records = read_catalog(folder / "catalog.jsonl")
    rng = np.random.default_rng(0)
    groups = [["t0", "t2", "t4", "t6"], ["t1", "t3", "t5"]]
    playlists = [Playlist(f"p{i}", list(rng.permutation(groups[i % 2])[:3])) for i in range(60)]
    vectors = train_track_vectors(playlists, PlaylistWord2VecConfig(vector_size=8, seed=0))
    out = tmp_path_factory.mktemp("cultural")
    path = save_track_vectors(vectors, out / "vectors.safetensors")
    model = load_bundle(tiny_bundle)
    songs = {r.track_id: model.encode_audio(r.path) for r in records}
    tower, report = fit_playlist_tower(
        model, path, records, songs,
        CulturalConfig(hidden_dim=16, steps=40, predictor_steps=40, batch_size=8))
    assert report.tracks >= 2 and report.predictor_tracks == report.tracks
    add_playlist_tower(model, tower)
    save_bundle(model, out / "bundle")
    return out / "bundle"


def _stores(tmp_path):
    return [open_store(str(tmp_path / "edge"), "music"), ClientStore(":memory:", "music")]


def test_cold_start_track_gets_a_predicted_cultural_vector(cultural_bundle, tiny_audio,
                                                          feature_cache, tmp_path):
    model = load_bundle(cultural_bundle)
    folder, records = tiny_audio
    ids = [r.track_id for r in records]
    known_vectors, known = model.encode_cultural(ids)
    assert known.tolist() == [t != COLD for t in ids]
    for store in _stores(tmp_path):
        with store:
            summary = index_tracks(model, folder / "catalog.jsonl", store,
                                   cache_dir=feature_cache, progress=False)
            assert summary.indexed == 8 and "cultural" in store.vector_names()
            payloads = store.get_payloads(ids)
            assert [payloads[t]["cultural_predicted"] for t in ids] == [t == COLD for t in ids]
            cultural = store.get_vectors(ids, using="cultural")
            assert set(cultural) == set(ids)              # every track has one
            np.testing.assert_allclose(np.stack([cultural[t] for t in ids if t != COLD]),
                                       known_vectors, atol=1e-5)
            predicted = model.predict_cultural(store.get_vector(COLD)[None, :])[0]
            np.testing.assert_allclose(cultural[COLD], predicted, atol=1e-5)
            # a predicted vector is not just the audio vector copied
            assert float(cultural[COLD] @ store.get_vector(COLD)) < 0.999


def _unit(*parts):
    vector = np.zeros(4, np.float32)
    for axis, value in parts:
        vector[axis] = value
    return vector / np.linalg.norm(vector)


# Query e0 against both vectors. Acoustic order A, B, C, D; cultural order B, C, A, D.
HAND_BUILT = {"A": (_unit((0, 1)), _unit((0, 0.3), (1, 0.95))),
              "B": (_unit((0, 0.8), (1, 0.6)), _unit((0, 1))),
              "C": (_unit((0, 0.6), (1, 0.8)), _unit((0, 0.8), (2, 0.6))),
              "D": (_unit((2, 1)), _unit((3, 1)))}


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_fusion_reorders_a_hand_built_collection_as_the_reference_says(backend, tmp_path):
    store = (open_store(str(tmp_path / "edge"), "hand") if backend == "edge"
             else ClientStore(":memory:", "hand"))
    with store:
        store.create(4, "hand-built", schema=CollectionSchema(dim=4, cultural_dim=4))
        store.upsert([IndexPoint(t, music, None, {"track_id": t}, cultural=culture)
                      for t, (music, culture) in HAND_BUILT.items()])
        query = _unit((0, 1))
        queries = {"music": query, "cultural": query}
        ids = list(HAND_BUILT)
        acoustic = np.array([HAND_BUILT[t][0] @ query for t in ids])
        culture = np.array([HAND_BUILT[t][1] @ query for t in ids])

        def order(scores):
            return [ids[i] for i in np.argsort(-scores, kind="stable")]

        assert [h.track_id for h in store.search(query, 4)] == ["A", "B", "C", "D"]
        assert [h.track_id for h in store.search(query, 4, using="cultural")] == \
            ["B", "C", "A", "D"]
        rrf = store.search_fused(queries, 4, RRF)
        assert [h.track_id for h in rrf][:3] == order(rrf_scores(acoustic, culture))[:3] \
            == ["B", "A", "C"]   # B: 2nd + 1st beats A: 1st + 3rd
        np.testing.assert_allclose([h.score for h in rrf[:3]],
                                   sorted(rrf_scores(acoustic, culture), reverse=True)[:3],
                                   rtol=1e-5)
        for weight, expected in ((0.5, ["B", "C", "A", "D"]), (0.1, ["A", "B", "C", "D"])):
            fused = store.search_fused(queries, 4, WEIGHTED,
                                       {"music": 1 - weight, "cultural": weight})
            assert [h.track_id for h in fused] == expected == \
                order(weighted_scores(acoustic, culture, weight))
        excluded = store.search_fused(queries, 4, RRF, exclude_track_ids=["B"])
        assert "B" not in [h.track_id for h in excluded]   # the filter reaches each prefetch
        assert {h.track_id for h in excluded[:2]} == {"A", "C"}   # tied: 1st + 2nd each


def test_searcher_fusion_and_why_line(cultural_bundle, tiny_audio, feature_cache, tmp_path):
    model = load_bundle(cultural_bundle)
    folder, _ = tiny_audio
    with open_store(str(tmp_path / "edge"), "music") as store:
        index_tracks(model, folder / "catalog.jsonl", store, cache_dir=feature_cache,
                     progress=False)
        searcher = Searcher(model, store)
        text_vector = model.encode_text("piano")[0]
        acoustic = [h.track_id for h in store.search(text_vector, 8)]
        cultural = [h.track_id for h in store.search(text_vector, 8, using="cultural")]
        fused = searcher.search(text="piano", k=8, fusion="rrf")
        reference = sorted(acoustic, key=lambda t: -(1 / (60 + acoustic.index(t))
                                                     + 1 / (60 + cultural.index(t))))
        assert [h.track_id for h in fused.hits] == reference
        assert fused.query["fusion"] == "rrf"
        top = fused.hits[0]
        assert f"acoustic #{acoustic.index(top.track_id) + 1}" in top.why
        assert f"cultural #{cultural.index(top.track_id) + 1}" in top.why
        cold = next(h for h in fused.hits if h.track_id == COLD)
        assert "predicted from audio" in cold.why
        # "more like this" by the cultural vector: the seed's own cultural vector is the query
        like = searcher.search(track_id="t0", k=3, fusion="cultural")
        seed = store.get_vector("t0", using="cultural")
        expected = [h.track_id for h in store.search(seed, 3, using="cultural",
                                                     exclude_track_ids=["t0"])]
        assert [h.track_id for h in like.hits] == expected
        assert [h.track_id for h in searcher.search(text="piano", k=8).hits] == acoustic
        # the app's path: the Search tab's and URL's fields, as the form cleans them
        status, rows = run_search(searcher, "piano", None, 8,
                                  fields=form_fields(fusion="rrf", mode=None))
        assert [r.track_id for r in rows] == reference and "cultural #" in rows[0].why
        status, rows = run_search(searcher, "piano", None, 8, fields=form_fields(fusion="loud"))
        assert rows == [] and "must be one of acoustic, cultural, rrf, weighted" in status


def test_collection_without_cultural_refuses_fusion(tiny_model, tiny_audio, feature_cache,
                                                    tmp_path):
    folder, _ = tiny_audio
    with open_store(str(tmp_path / "edge"), "music") as store:
        index_tracks(tiny_model, folder / "catalog.jsonl", store, cache_dir=feature_cache,
                     progress=False)
        assert "cultural" not in store.vector_names()
        with pytest.raises(QueryError, match="no playlist tower") as error:
            Searcher(tiny_model, store).search(text="piano", fusion="rrf")
        assert "\n" not in str(error.value)


def test_bad_fusion_values_are_one_line(capsys, tmp_path):
    for fields in ({"fusion": "loud"}, {"fusion": 3}):
        with pytest.raises(QueryError, match="fusion"):
            query_from_fields(fields)
    for fusion, weight in (("weighted", 1.5), ("rrf", 0.3), ("cubist", None)):
        with pytest.raises(QueryError) as error:
            check_fusion(fusion, weight)
        assert "\n" not in str(error.value)
    assert check_fusion("weighted", None) == ("weighted", 0.5)
    with pytest.raises(SystemExit) as exited:
        main(["search", "piano", "--fusion", "loud", "--qdrant", str(tmp_path)])
    assert exited.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err.strip().splitlines()[-1]
    # a weight without `weighted`: refused before any model or store is opened
    assert main(["search", "piano", "--fusion", "rrf", "--fusion-weight", "0.3",
                 "--qdrant", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs --fusion weighted" in err


def test_bundle_with_altered_word2vec_side_file_is_refused(cultural_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(cultural_bundle, copy)
    side = copy / "files" / PLAYLIST_VECTORS
    data = bytearray(side.read_bytes())
    data[-1] ^= 0x01                       # one bit of one track's vector
    side.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"{PLAYLIST_VECTORS} changed") as error:
        load_bundle(copy)
    assert "\n" not in str(error.value)
    assert load_bundle(cultural_bundle).has_tower("playlist")


def test_simulated_sessions_mix_splits_only_when_asked(tiny_audio, tmp_path, capsys):
    folder, records = tiny_audio
    split = {r.track_id: r.split for r in records}
    mixed = {}
    for flags in ([], ["--across-splits"]):
        out = tmp_path / f"sessions{len(flags)}.jsonl"
        assert main(["playlists", "simulate", "--catalog", str(folder / "catalog.jsonl"),
                     "--out", str(out), "--listeners", "5", "--sessions", "4", *flags]) == 0
        playlists = read_playlists(out)
        mixed[bool(flags)] = sum(len({split[t] for t in p.tracks}) > 1 for p in playlists)
    assert mixed == {False: 0, True: mixed[True]} and mixed[True] > 0
