"""The app's tabs as plain functions, on the real tiny model and audio indexed into the real
embedded store: Search options (negative terms, filters, sections), By example (clip,
track, text weight), Explore (the PCA map), Library (description, indexing a folder), and
`musicsearch search` answered by a running app that holds the collection."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from index import index_tracks, open_store
from retrieval.bundle import load_bundle
from retrieval.catalog import read_catalog, write_catalog
from retrieval.filters import SearchFilter
from retrieval.search import Searcher
from ui.advert import advert_path, advertise, find_app, withdraw
from ui.callbacks import run_search
from ui.collection_map import CollectionMap
from ui.explore import MapCache, explore_html
from ui.format import render_results
from ui.library import collection_facets, index_folder, library_markdown
from ui.tab_example import example_outputs
from ui.tab_search import search_fields


@pytest.fixture(scope="module")
def indexed(tiny_bundle, tiny_audio, tmp_path_factory):
    folder, records = tiny_audio
    model = load_bundle(tiny_bundle)
    where = tmp_path_factory.mktemp("tabs_index")
    catalog = read_catalog(folder / "catalog.jsonl")       # two catalog collections
    for i, record in enumerate(catalog):
        record.meta = {"collection": "reels" if i < 3 else "airs"}
    write_catalog(catalog, where / "catalog.jsonl")
    store = open_store(where, "ui")
    index_tracks(model, folder, store, catalog=where / "catalog.jsonl",
                 cache_dir=where / "features", progress=False, chunks=True)
    try:
        yield Searcher(model, store), folder, records
    finally:
        store.close()


def by_id(records):
    return {r.track_id: r for r in records}


def test_filters_and_negative_terms_narrow_the_same_ranking(indexed):
    searcher, _, records = indexed
    records = by_id(records)
    _, everything = run_search(searcher, "fast violin", None, 50)
    status, rows = run_search(searcher, "fast violin", None, 50,
                              fields={"artist": "Artist 1", "not": "sad"})
    assert rows and all(records[r.track_id].artist == "Artist 1" for r in rows)
    assert all("sad" not in records[r.track_id].tags for r in rows)
    assert "without sad" in status and "by Artist 1" in status
    # the negative term also moves the query away from "sad": the kept tracks are exactly
    # those the filter allows, ranked by the adjusted query (so not a subsequence test)
    allowed = {t for t, r in records.items() if r.artist == "Artist 1" and "sad" not in r.tags}
    assert {r.track_id for r in rows} == allowed
    assert len(everything) == len(records) > len(rows)
    # "-sad" typed in the text is the same as the Leave out box
    _, typed = run_search(searcher, "fast violin -sad", None, 50, fields={"artist": "Artist 1"})
    assert [r.track_id for r in typed] == [r.track_id for r in rows]


def test_duration_and_tag_filters_and_bad_values(indexed):
    searcher, _, records = indexed
    _, rows = run_search(searcher, "piano", None, 50, fields={"min_duration": "5",
                                                              "max_duration": 7})
    assert len(rows) == len(records)          # every clip is 6 s long
    status, rows = run_search(searcher, "piano", None, 50, fields={"min_duration": 10})
    assert rows == [] and "No indexed tracks matched" in status and "≥ 10 s" in status
    _, rows = run_search(searcher, "piano", None, 50, fields={"tag": ["happy", "(any)"]})
    assert rows and {r.track_id for r in rows} == {r.track_id for r in records
                                                   if "happy" in r.tags}
    status, rows = run_search(searcher, "piano", None, 5, fields={"min_duration": "abc"})
    assert rows == [] and "shortest duration must be a number" in status
    status, rows = run_search(searcher, "piano", None, 5, fields={"min_duration": 9,
                                                                 "max_duration": 3})
    assert rows == [] and "above max duration" in status
    status, rows = run_search(searcher, "-piano", None, 5)
    assert rows == [] and "nothing to look for" in status.lower()


def test_diversity_and_collection_filter_rank_as_the_api_does(indexed):
    searcher, _, records = indexed
    def ids(hits):
        return [getattr(h, "track_id") for h in hits]
    relevance = ids(searcher.search("fast violin", k=6).hits)
    for lam in (0.3, 0.0):        # the tab's slider → the API's MMR, same order
        expected = ids(searcher.search("fast violin", k=6, diverse=lam).hits)
        status, rows = run_search(searcher, "fast violin", None, 6, fields=search_fields(
            "", "(any)", "(any)", None, None, False, diverse=lam))
        assert ids(rows) == expected and f"varied (λ {lam:g})" in status
    assert expected != relevance           # variety moved tracks (λ 0 here)
    # at 1 the slider asks for nothing: the relevance order, no "varied" in the status
    status, rows = run_search(searcher, "fast violin", None, 6, fields=search_fields(
        "", "(any)", "(any)", None, None, False, diverse=1))
    assert ids(rows) == relevance and "varied" not in status
    # the catalog collection filter: the facets list both, the tab filters as the API does
    assert collection_facets(searcher.store).collections == ["airs", "reels"]
    airs = ids(searcher.search("fast violin", k=8, where=SearchFilter(collections=["airs"])).hits)
    status, rows = run_search(searcher, "fast violin", None, 8, fields=search_fields(
        "", "(any)", "(any)", None, None, False, collection="airs"))
    assert ids(rows) == airs and "from airs" in status
    assert set(airs) == {r.track_id for r in records[3:]}     # the ids the catalog gave
    _, rows = run_search(searcher, "fast violin", None, 8, fields={"from_collection": "nope"})
    assert rows == []


def test_section_matches_start_the_player_there(indexed):
    searcher, _, _ = indexed
    status, rows = run_search(searcher, "slow piano", None, 4, fields={"sections": True})
    assert len(rows) == 4 and "best-matching sections" in status
    for row in rows:
        assert row.section is not None and 0 <= row.start < row.section["end"] <= 6.5
    page = render_results(rows)
    for row in rows:
        assert f'src="audio/{row.track_id}#t={row.start:g}"' in page
    assert page.count("matched section") == 4


def test_by_example_track_clip_and_text_weight(indexed):
    searcher, folder, records = indexed
    seed = records[2]
    page = example_outputs(searcher, None, seed.track_id, "", 0.3, False, 50,
                           track_label=seed.title)
    assert f"sounds like {seed.title}" in page and f'data-track-id="{seed.track_id}"' not in page
    others = example_outputs(searcher, None, seed.track_id, "", 0.3, True, 50)
    assert "other artists" in others
    for record in records:
        assert (f'data-track-id="{record.track_id}"' in others) == (record.artist != seed.artist)
    # the text weight moves the ranking from the example's (0) to the words' (1)
    def ranking(text, **options):
        return [r.track_id for r in run_search(searcher, text, None, 50, **options)[1]]
    by_track = ranking(None, track_id=seed.track_id)
    by_text = [t for t in ranking("sad piano") if t != seed.track_id]
    assert ranking("sad piano", track_id=seed.track_id, fields={"text_weight": 0}) == by_track
    assert ranking("sad piano", track_id=seed.track_id, fields={"text_weight": 1}) == by_text
    assert by_track != by_text
    # a clip finds its own track first
    page = example_outputs(searcher, str(folder / records[5].path), None, None, 0.3, False, 3)
    first = page.split('data-track-id="', 1)[1].split('"', 1)[0]
    assert first == records[5].track_id and page.count('class="ms-card"') == 3
    assert "Upload or record" in example_outputs(searcher, None, " ", "sad", 0.3, False, 5)


def test_the_map_is_the_pca_of_the_song_vectors(indexed):
    searcher, _, records = indexed
    cmap = CollectionMap.fit(searcher.store)
    assert sorted(cmap.track_ids) == sorted(r.track_id for r in records)
    assert cmap.xy.shape == (8, 2) and cmap.xy.min() >= 0 and cmap.xy.max() <= 1
    vectors = np.stack([searcher.store.get_vector(t) for t in cmap.track_ids]).astype(float)
    centred = vectors - vectors.mean(axis=0)
    spread = np.var(centred @ cmap.components.T, axis=0)
    # the first axis carries the most variance any direction can (the top eigenvalue)
    top = np.linalg.eigvalsh(np.cov(centred.T, bias=True))[-1]
    assert spread[0] == pytest.approx(top, rel=1e-6) and spread[0] >= spread[1]
    for i, track_id in enumerate(cmap.track_ids):      # a song projects onto its own point
        x, y, inside = cmap.project(searcher.store.get_vector(track_id))
        assert inside and (x, y) == pytest.approx(tuple(cmap.xy[i]), abs=1e-9)


def test_a_bigger_collection_is_mapped_from_a_seeded_random_sample(indexed):
    searcher, _, records = indexed
    in_order = [p["track_id"] for p in searcher.store.iter_payloads()]
    samples = {seed: CollectionMap.fit(searcher.store, 5, seed=seed) for seed in range(6)}
    for cmap in samples.values():
        assert len(cmap.track_ids) == len(set(cmap.track_ids)) == 5 and cmap.total == 8
        assert set(cmap.track_ids) <= set(in_order) and cmap.xy.shape == (5, 2)
    # not the store's first five, and a seed gives the same sample every time
    assert len({tuple(sorted(c.track_ids)) for c in samples.values()}) > 1
    assert any(sorted(c.track_ids) != sorted(in_order[:5]) for c in samples.values())
    assert CollectionMap.fit(searcher.store, 5, seed=3).track_ids == samples[3].track_ids
    html = explore_html(searcher, MapCache(searcher.store, max_points=5), "(any)", "")
    assert html.count('class="ms-point') == 5 and "a random sample of 5 of 8 tracks" in html


def test_explore_colours_a_tag_and_marks_the_query(indexed):
    searcher, _, records = indexed
    maps = MapCache(searcher.store)
    html = explore_html(searcher, maps, "piano", "sad violin")
    assert html.count('class="ms-point') == 8
    assert html.count("ms-point ms-tagged") == sum("piano" in r.tags for r in records)
    for record in records:
        assert f'data-track="{record.track_id}"' in html
    assert 'id="ms-map-query"' in html and "sad violin" in html
    assert 'id="ms-map-player"' in html
    plain = explore_html(searcher, maps, "(any)", "")
    assert "ms-tagged" not in plain and "ms-map-query" not in plain
    unknown = explore_html(searcher, maps, "piano", "qzxv")
    assert "ms-map-query" not in unknown and "not marked" in unknown
    assert maps.get() is maps.get()                   # fitted once while the count holds


def test_library_describes_and_indexes_a_typed_folder(tiny_bundle, tiny_audio, tmp_path):
    folder, records = tiny_audio
    model = load_bundle(tiny_bundle)
    store = open_store(tmp_path / "qdrant", "lib")
    copy = tmp_path / "music"
    shutil.copytree(folder / "audio", copy)
    try:
        searcher = Searcher(model, store)
        assert index_folder(searcher, "").startswith("Not indexed: type the path")
        assert index_folder(searcher, str(tmp_path / "nope")) == \
            f"Not indexed: no such folder: {tmp_path / 'nope'}"
        assert "is not a folder" in index_folder(searcher, str(copy / "clip0.wav"))
        seen = []
        line = index_folder(searcher, str(copy), on_progress=lambda *p: seen.append(p),
                            cache_dir=tmp_path / "features")
        assert line.startswith("indexed 8 new track(s)") and store.count() == 8
        assert seen and seen[-1] == (8, 8)
        soundfile.write(copy / "new.wav", np.zeros(22050 * 3, np.float32) + 0.01, 22050)
        line = index_folder(searcher, str(copy), on_progress=lambda *p: seen.append(p),
                            cache_dir=tmp_path / "features")
        assert line.startswith("indexed 1 new track(s)") and "8 already indexed" in line
        facets = collection_facets(store)
        assert facets.tracks == 9 and not facets.has_chunks   # chunk vectors are opt-in
        text = library_markdown(searcher, facets)
        for expected in ("Collection `lib`", "**tracks** 9", model.fingerprint,
                         "audio (short_chunk_cnn)", f"{len(model.config.tags)} tags"):
            assert expected in text
    finally:
        store.close()


def test_an_advert_names_a_live_app_only(tmp_path):
    path = advertise(tmp_path, "c", "http://127.0.0.1:1/", "abc")
    assert path == advert_path(tmp_path, "c")
    found = find_app(tmp_path, "c")
    assert found.url == "http://127.0.0.1:1/" and found.model_fingerprint == "abc"
    withdraw(path)
    assert not path.exists() and find_app(tmp_path, "c") is None
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path.write_text(json.dumps({"url": "http://x/", "pid": int(gone.stdout), "collection": "c",
                                "location": str(tmp_path)}))
    assert find_app(tmp_path, "c") is None            # its process has exited
    path.write_text("{not json")
    assert find_app(tmp_path, "c") is None


def test_cli_search_is_answered_by_the_running_app(tiny_bundle, tiny_audio, tmp_path, capsys):
    from test_ui import free_port
    from ui.app import serve
    from ui.cli import main

    folder, records = tiny_audio
    model = load_bundle(tiny_bundle)
    where = tmp_path / "qdrant"
    store = open_store(where, "ui")
    index_tracks(model, folder, store, catalog=folder / "catalog.jsonl",
                 cache_dir=tmp_path / "features", progress=False, chunks=True)
    searcher = Searcher(model, store)
    app = serve(searcher, port=free_port(), block=False, warm=False)
    try:
        assert find_app(where, "ui").pid == __import__("os").getpid()
        expected = searcher.search("fast violin -sad", k=5, where=__import__(
            "retrieval.filters", fromlist=["SearchFilter"]).SearchFilter(artists=["Artist 1"]))
        assert main(["search", "fast violin", "--not", "sad", "--artist", "Artist 1",
                     "--k", "5", "--qdrant", str(where), "--json"]) == 0
        out, err = capsys.readouterr()
        body = json.loads(out)
        assert [h["track_id"] for h in body["results"]] == \
            [h.track_id for h in expected.hits] and body["results"]
        assert "answered by the app at http://127.0.0.1:" in err
        clip = folder / records[6].path          # --audio: the clip travels in the request
        assert main(["search", "--audio", str(clip), "--k", "2", "--qdrant", str(where),
                     "--collection", "ui", "--json"]) == 0
        body = json.loads(capsys.readouterr().out)
        assert body["results"][0]["track_id"] == records[6].track_id
        assert body["query"]["audio"] == str(clip)
        assert main(["search", "qzxv", "--qdrant", str(where)]) == 2   # a user error: one line
        err = capsys.readouterr().err.strip().splitlines()
        assert "no known words" in err[-1] and err[-1].startswith("musicsearch search: error")
        assert main(["search", "slow piano", "--k", "3", "--sections", "--qdrant",
                     str(where)]) == 0
        out = capsys.readouterr().out
        assert out.count("section: ") == 3 and "(3 results in" in out
        _batch_and_duplicates_through_the_app(searcher, where, tmp_path, clip, capsys)
    finally:
        app.close()
    assert find_app(where, "ui") is None and not advert_path(where, "ui").exists()
    # no app: the command opens the store itself (here still held by this test's store)
    assert main(["search", "piano", "--qdrant", str(where), "--model", str(tiny_bundle)]) == 2
    assert "in use by another process" in capsys.readouterr().err
    assert main(["duplicates", "--qdrant", str(where)]) == 2
    assert "in use by another process" in capsys.readouterr().err
    store.close()


def _batch_and_duplicates_through_the_app(searcher, where, tmp_path, clip, capsys):
    """`search --batch` sends each line to the app (the store is held: no other way in),
    with the command line's options under each line's own; `duplicates` asks the app too.
    Each answer is the API's own, computed here on the same store."""
    from index.duplicates import find_duplicates
    from ui.cli import main

    batch = tmp_path / "queries.txt"
    batch.write_text("fast violin\n"
                     '{"text": "slow piano", "id": "a", "from_collection": [], "diverse": 0}\n'
                     '{"text": "qzxv"}\n'
                     f'{json.dumps({"audio": str(clip), "k": 2})}\n'
                     '{"text": "piano", "min_duration": "long"}\n', encoding="utf-8")
    assert main(["search", "--batch", str(batch), "--k", "4", "--tag", "happy",
                 "--qdrant", str(where)]) == 3           # two lines gave an error
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert "answered by the app at http://127.0.0.1:" in err
    assert [r["line"] for r in lines] == [1, 2, 3, 4, 5]
    happy = SearchFilter(tags=["happy"])
    expected = [searcher.search("fast violin", k=4, where=happy),
                searcher.search("slow piano", k=4, where=happy, diverse=0.0),
                None, searcher.search(audio=str(clip), k=2, where=happy)]
    for record, result in zip(lines, expected):
        if result is not None:
            assert [h["track_id"] for h in record["results"]] == \
                [h.track_id for h in result.hits] and record["results"]
    assert lines[1]["id"] == "a" and lines[3]["query"]["audio"] == str(clip)
    assert "no known words" in lines[2]["error"] and "must be a number" in lines[4]["error"]
    for threshold in (0.99, 0.2):            # no pairs, then most of them
        assert main(["duplicates", "--threshold", str(threshold), "--json",
                     "--qdrant", str(where)]) == 0
        body = json.loads(capsys.readouterr().out)
        pairs = [p.to_dict() for p in find_duplicates(searcher.store, threshold)]
        assert body == {"threshold": threshold, "pairs": pairs}
    assert pairs                              # the low threshold found pairs
    assert main(["duplicates", "--threshold", "0.2", "--qdrant", str(where)]) == 0
    out, err = capsys.readouterr()
    assert f"({len(pairs)} pair(s) at cosine ≥ 0.2)" in out and "answered by the app" in err
