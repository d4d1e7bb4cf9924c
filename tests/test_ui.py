"""The Gradio app's callbacks on the real tiny model and the real tiny audio, indexed into
the real embedded Qdrant store (`index.open_store` + `index.index_tracks`).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from index import index_tracks, open_store
from retrieval.bundle import load_bundle
from retrieval.search import Searcher
from ui.app import build_app, header_text, indexed_audio_roots, run_search, search_outputs
from ui.format import ResultRow, render_results, resolve_audio_path


def index_tiny(model, folder: Path, store_dir: Path):
    """The tiny audio folder and its catalog, indexed into an embedded store at store_dir."""
    store = open_store(store_dir, "ui")
    summary = index_tracks(model, folder, store, catalog=folder / "catalog.jsonl",
                           cache_dir=store_dir / "features", progress=False)
    assert summary.failed == []
    return store


@pytest.fixture(scope="module")
def indexed(tiny_bundle, tiny_audio, tmp_path_factory):
    folder, records = tiny_audio
    model = load_bundle(tiny_bundle)
    store = index_tiny(model, folder, tmp_path_factory.mktemp("ui_index"))
    try:
        yield Searcher(model, store), folder, records
    finally:
        store.close()


def test_text_query_returns_playable_rows(indexed):
    searcher, folder, records = indexed
    status, rows = run_search(searcher, "fast happy violin", None, 5,
                              audio_roots=[str(folder)])
    assert len(rows) == 5 and "5" in status and "fast happy violin" in status
    assert [r.rank for r in rows] == [1, 2, 3, 4, 5]
    assert all(isinstance(r, ResultRow) for r in rows)
    assert {r.title for r in rows} <= {rec.title for rec in records}
    for row in rows:
        assert row.path is not None and Path(row.path).is_file()
        assert Path(row.path).resolve().is_relative_to(folder.resolve())
    scores = [r.score for r in rows]
    assert scores == sorted(scores, reverse=True)
    page = render_results(rows)
    assert page.count("<audio") == 5 and "gradio_api/file=" in page
    assert rows[0].title in page and rows[0].tags[0] in page


def test_k_is_clamped_and_all_tracks_fit(indexed):
    searcher, folder, records = indexed
    _, rows = run_search(searcher, "piano", None, 500)
    assert len(rows) == len(records)
    _, rows = run_search(searcher, "piano", None, 0)
    assert len(rows) == 1


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_query_is_a_friendly_hint(indexed, text):
    searcher, _, _ = indexed
    status, rows = run_search(searcher, text, None, 10)
    assert rows == [] and "Type a description" in status and "Traceback" not in status


def test_unknown_words_only_is_a_friendly_message(indexed):
    searcher, _, _ = indexed
    status, rows = run_search(searcher, "qzxv blorptang", None, 10)
    assert rows == []
    assert "no known words" in status.lower() and "qzxv" in status
    assert "Traceback" not in status


def test_partly_unknown_words_are_noted(indexed):
    searcher, _, _ = indexed
    status, rows = run_search(searcher, "slow piano qzxv", None, 3)
    assert len(rows) == 3 and "ignored unknown words: qzxv" in status


def test_corrupt_upload_is_a_friendly_message(indexed, tmp_path):
    searcher, _, _ = indexed
    bad = tmp_path / "upload.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    status, rows = run_search(searcher, None, str(bad), 10)
    assert rows == [] and "Could not read the uploaded audio" in status
    status, rows = run_search(searcher, "piano", str(bad), 10)   # with text too
    assert rows == [] and "Could not read" in status


def test_audio_upload_finds_the_same_file_first(indexed):
    searcher, folder, records = indexed
    for record in records[:3]:
        status, rows = run_search(searcher, None, str(folder / record.path), 4,
                                  audio_roots=[str(folder)])
        assert rows[0].track_id == record.track_id
        assert rows[0].score == pytest.approx(1.0, abs=1e-3)
        assert Path(record.path).name in status


def test_text_and_audio_combine(indexed):
    searcher, folder, records = indexed
    status, rows = run_search(searcher, "sad piano", str(folder / records[0].path), 3)
    assert len(rows) == 3 and "sad piano" in status and "sounds like" in status
    # each hit explains itself: its own cosine with the text part and with the clip
    import re
    clip_similarity = [float(re.search(r"sounds like clip0\.wav: (-?[0-9.]+)", r.why).group(1))
                       for r in rows]
    assert all("'sad piano': " in r.why for r in rows)
    assert clip_similarity[0] == pytest.approx(1.0, abs=0.01)
    assert all(-1.0 <= s <= 1.0 for s in clip_similarity)


def test_more_like_this_by_track_id(indexed):
    searcher, _, records = indexed
    status, rows = run_search(searcher, None, None, 3, track_id=records[2].track_id,
                              track_label=records[2].title)
    assert len(rows) == 3 and records[2].track_id not in [r.track_id for r in rows]
    assert records[2].title in status
    status, rows = run_search(searcher, None, None, 3, track_id="no-such-track")
    assert rows == [] and "not in the index" in status


def test_paths_outside_the_roots_get_no_player(indexed, tmp_path):
    searcher, folder, records = indexed
    _, rows = run_search(searcher, "piano", None, 3, audio_roots=[str(tmp_path)])
    assert rows and all(r.path is None for r in rows)
    assert "audio file not available" in render_results(rows)
    # relative paths resolve against the roots
    assert resolve_audio_path(records[0].path, [str(folder)]) == str(
        (folder / records[0].path).resolve())
    assert resolve_audio_path("../../etc/passwd", [str(folder)]) is None
    assert resolve_audio_path("", [str(folder)]) is None


def test_html_is_escaped(indexed):
    row = ResultRow(rank=1, track_id="x\"y", title="<script>alert(1)</script>", artist="A&B",
                    score=0.5, tags=["<b>"], why="w", path=None)
    page = render_results([row])
    assert "<script>" not in page and "&lt;script&gt;" in page and "A&amp;B" in page


def test_header_and_outputs(indexed):
    searcher, folder, _ = indexed
    header = header_text(searcher)
    assert searcher.model.fingerprint in header and "8 tracks indexed" in header
    status, page = search_outputs(searcher, "violin", None, 2, audio_roots=[str(folder)])
    assert page.count('class="ms-card"') == 2 and "More like this" in page
    assert indexed_audio_roots(searcher.store) == [str((folder / "audio").resolve())]


def test_build_app_has_the_controls(indexed):
    searcher, folder, _ = indexed
    app = build_app(searcher, audio_roots=[str(folder)], examples=["solemn organ"])
    ids = {getattr(block, "elem_id", None) for block in app.blocks.values()}
    assert {"ms-query", "ms-audio", "ms-search", "ms-status", "ms-results"} <= ids
    audio = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "ms-audio")
    assert audio.sources == ["upload"]
