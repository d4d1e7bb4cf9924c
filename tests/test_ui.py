"""The Gradio app's callbacks on the real tiny model and the real tiny audio, indexed into
the real embedded Qdrant store (`index.open_store` + `index.index_tracks`).
"""
from __future__ import annotations

import http.client
import io
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import soundfile

from index import index_tracks, open_store
from retrieval.bundle import load_bundle
from retrieval.catalog import read_catalog, write_catalog
from retrieval.search import Searcher
from ui.app import (build_app, header_text, indexed_audio_path, run_search, search_outputs,
                    warm_up)
from ui.app import ServeError, serve
from ui.format import ResultRow, playable_path, render_results, render_status
from ui.media import probe_audio
from ui.uploads import UploadFolder


def index_tiny(model, folder: Path, store_dir: Path):
    """The tiny audio folder and its catalog, indexed into an embedded store at store_dir
    (with chunk vectors, so the app offers section matches)."""
    store = open_store(store_dir, "ui")
    summary = index_tracks(model, folder, store, catalog=folder / "catalog.jsonl",
                           cache_dir=store_dir / "features", progress=False, chunks=True)
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
    status, rows = run_search(searcher, "fast happy violin", None, 5)
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
    # players point at the track-id route, never at a file path
    assert page.count("<audio") == 5 and "gradio_api/file=" not in page
    assert f'src="audio/{rows[0].track_id}"' in page and str(folder) not in page
    assert rows[0].title in page and rows[0].tags[0] in page


def test_k_is_clamped_and_all_tracks_fit(indexed):
    searcher, folder, records = indexed
    _, rows = run_search(searcher, "piano", None, 500)
    assert len(rows) == len(records)
    _, rows = run_search(searcher, "piano", None, 0)
    assert len(rows) == 1
    for wild in ("1e9", float("inf"), float("nan"), "abc", None, -5):
        _, rows = run_search(searcher, "piano", None, wild)    # the routes pass any k
        assert 1 <= len(rows) <= len(records)


def test_overlong_query_is_refused_with_one_line(indexed):
    searcher, _, _ = indexed
    status, rows = run_search(searcher, "piano " * 200, None, 5)
    assert rows == [] and "1,199 characters" in status and "under 500" in status


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
        status, rows = run_search(searcher, None, str(folder / record.path), 4)
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


def test_missing_or_relative_files_get_no_player(indexed, tmp_path):
    searcher, folder, records = indexed
    assert playable_path(str(folder / records[0].path)) == str(folder / records[0].path)
    assert playable_path(records[0].path) is None              # relative: no root to trust
    assert playable_path(str(tmp_path / "gone.wav")) is None
    assert playable_path("") is None and playable_path(None) is None
    row = ResultRow(rank=1, track_id="t0", title="T", artist="", score=0.1, path=None)
    assert "audio file not available" in render_results([row])


def test_user_text_is_escaped_everywhere(indexed):
    searcher, _, records = indexed
    row = ResultRow(rank=1, track_id="x\"y", title="<script>alert(1)</script>", artist="A&B",
                    score=0.5, tags=["<b>"], why="w", path=None)
    page = render_results([row])
    assert "<script>" not in page and "&lt;script&gt;" in page and "A&amp;B" in page
    assert 'data-track="x&quot;y"' in page
    # the query, a clip's name and a clicked title reach the status line as text only
    attack = '<img src=x onerror=alert(1)>'
    status, _ = run_search(searcher, f"piano {attack}", None, 2)
    assert "<img" not in status and "&lt;img src=x onerror=alert(1)&gt;" in status
    status, rows = run_search(searcher, None, None, 2, track_id=records[0].track_id,
                              track_label=attack)
    assert rows and "<img" not in status
    status, _ = run_search(searcher, attack, None, 2)            # in an error message too
    assert "<img" not in status
    assert "<i>" not in render_status("x", notes=["<i>n</i>"])


def test_header_and_outputs(indexed):
    searcher, folder, _ = indexed
    header = header_text(searcher)
    assert searcher.model.fingerprint in header and "8 tracks indexed" in header
    page = search_outputs(searcher, "violin", None, 2)
    assert page.count('class="ms-card"') == 2 and "More like this" in page
    assert page.startswith('<div class="ms-status') and "2 results" in page


def test_indexed_audio_path_comes_from_the_payload_only(indexed):
    searcher, folder, records = indexed
    assert indexed_audio_path(searcher.store, records[0].track_id) == str(
        (folder / records[0].path).resolve())
    for not_a_track in ("no-such-track", str(folder / records[0].path), records[0].path,
                        "../" + records[0].track_id, ""):
        assert indexed_audio_path(searcher.store, not_a_track) is None
    assert indexed_audio_path(object(), records[0].track_id) is None   # no payload lookup


def test_too_short_clip_is_explained_without_a_format_hint(indexed, tmp_path):
    searcher, _, _ = indexed
    clip = tmp_path / "blip.wav"
    soundfile.write(clip, np.zeros(3, dtype=np.float32), 22050)
    status, rows = run_search(searcher, None, str(clip), 5)
    assert rows == [] and "too short" in status and "Try a WAV" not in status
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF junk" * 10)
    status, rows = run_search(searcher, None, str(broken), 5)
    assert rows == [] and "Try a WAV" in status


def test_a_non_utf8_file_name_plays(tiny_model, tiny_audio, tmp_path):
    """The index stores such a path as a file:// URI; the player and the route map it back."""
    music = os.fsencode(tmp_path / "music")
    os.makedirs(music)
    odd = music + b"/caf\xe9 \xff.wav"
    shutil.copy(tiny_audio[0] / "audio" / "clip0.wav", odd)
    store = open_store(tmp_path / "qdrant", "odd")
    try:
        index_tracks(tiny_model, os.fsdecode(music), store, cache_dir=tmp_path / "features",
                     progress=False)
        (payload,) = store.iter_payloads()
        assert payload["path"].startswith("file://")
        served = indexed_audio_path(store, payload["track_id"])
        assert os.fsencode(served) == odd and probe_audio(served) is not None
        assert os.fsencode(playable_path(payload["path"])) == odd
    finally:
        store.close()


def test_build_app_has_the_controls(indexed):
    searcher, folder, _ = indexed
    app = build_app(searcher, examples=["solemn organ"])
    ids = {getattr(block, "elem_id", None) for block in app.blocks.values()}
    assert {"ms-query", "ms-not", "ms-artist", "ms-tag", "ms-min", "ms-max", "ms-search",
            "ms-k", "ms-results", "ms-audio", "ms-track", "ms-but", "ms-weight",
            "ms-example-results", "ms-map", "ms-map-tag", "ms-library", "ms-index-folder",
            "ms-tab-search", "ms-tab-example", "ms-tab-explore", "ms-tab-library"} <= ids
    audio = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "ms-audio")
    assert audio.sources == ["upload", "microphone"]
    artist = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "ms-artist")
    assert [c[1] for c in artist.choices] == ["(any)", "Artist 0", "Artist 1", "Artist 2"]
    # searches are answered in the request (no queue, no event stream); indexing is queued
    for name in ("on_search", "on_example", "on_draw"):
        assert all(f.queue is False for f in app.fns.values() if f.name == name), name
    assert next(f for f in app.fns.values() if f.name == "on_index").queue is not False


def test_warm_up_runs_a_text_and_an_audio_query(indexed):
    searcher, _, _ = indexed
    seen = []

    class Recording:
        model, store = searcher.model, searcher.store

        def search(self, **query):
            seen.append(sorted(k for k, v in query.items() if v is not None and k != "k"))
            return searcher.search(**query)

    warm_up(Recording(), "slow piano")
    assert seen == [["text"], ["audio"]]
    warm_up(Recording(), "qzxv")          # words this model does not know: no crash


# ---- what the served app hands out -------------------------------------------------------

SECRET = "top secret: never served"


@pytest.fixture()
def music_folder(tiny_model, tiny_audio, tmp_path):
    """A copy of the tiny audio folder, indexed; next to the audio, files that must never
    be served: a secret, symlinks out of the folder (to a secret and to audio that is not
    indexed). Returns (searcher, folder, records, outside)."""
    source, records = tiny_audio
    folder = tmp_path / "music"
    shutil.copytree(source, folder)
    catalog = read_catalog(folder / "catalog.jsonl")     # two catalog collections
    for i, record in enumerate(catalog):
        record.meta = {"collection": "reels" if i < 3 else "airs"}
    write_catalog(catalog, folder / "catalog.jsonl")
    store = index_tiny(tiny_model, folder, tmp_path / "index")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    shutil.copy(folder / records[0].path, outside / "other.wav")
    audio = folder / "audio"
    (audio / "secret.txt").write_text(SECRET)
    (audio / "link-out.txt").symlink_to(outside / "secret.txt")
    (audio / "link-audio.wav").symlink_to(outside / "other.wav")
    try:
        yield Searcher(tiny_model, store), folder, records, outside
    finally:
        store.close()


def refused_paths(folder: Path, outside: Path, uploads: str, base: str) -> list[str]:
    """Raw request paths (sent as they are, no client-side normalisation) that must be
    refused: files next to the audio, symlinks out of the folder, traversals and absolute
    paths through the audio route and through Gradio's own file routes."""
    audio = folder / "audio"
    targets = [audio / "secret.txt", audio / "link-out.txt", audio / "link-audio.wav",
               audio / "clip0.wav", folder / "catalog.jsonl", outside / "secret.txt",
               Path("/etc/passwd")]
    paths = [f"/audio/{quote(str(t), safe='')}" for t in targets]
    paths += ["/audio/secret.txt", "/audio/link-out.txt", "/audio/..%2Fcatalog.jsonl",
              "/audio/..%2F..%2F..%2Fetc%2Fpasswd", "/audio/%2e%2e/%2e%2e/etc/passwd",
              "/audio/../../etc/passwd", "/audio//etc/passwd", "/audio/t0/../../etc/passwd",
              "/audio/", "/audio/%00"]
    for prefix in ("/gradio_api/file=", "/gradio_api/file/", "/file="):
        paths += [prefix + str(t) for t in targets]
    paths += [f"/gradio_api/file={uploads}/../../etc/passwd",
              f"/gradio_api/file={uploads}/%2e%2e/%2e%2e/etc/passwd",
              "/gradio_api/file=%2Fetc%2Fpasswd", "/gradio_api/file=../../../../etc/passwd",
              f"/gradio_api/file={base}config", f"/gradio_api/proxy={base}config",
              "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
              "/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd"]
    return paths


def raw_get(port: int, path: str, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def served(music_folder):
    """The real app (ui.app.serve) on a free port, uploads capped at 0.1 MB."""
    searcher, folder, records, outside = music_folder
    port = free_port()
    app = serve(searcher, port=port, block=False, max_upload_mb=0.1, warm=False)
    try:
        yield port, searcher, folder, records, outside
    finally:
        app.close()


def test_served_app_serves_indexed_audio_and_nothing_else(served):
    port, _, folder, records, outside = served
    uploads = os.environ["GRADIO_TEMP_DIR"]
    status, headers, body = raw_get(port, f"/audio/{quote(records[0].track_id, safe='')}")
    assert status == 200 and headers["content-type"] == "audio/wav"
    assert body == (folder / records[0].path).read_bytes()
    flac = next(r for r in records if r.path.endswith(".flac"))
    assert raw_get(port, f"/audio/{flac.track_id}")[1]["content-type"] == "audio/flac"
    # browsers seek with Range
    status, headers, body = raw_get(port, f"/audio/{records[0].track_id}",
                                    {"Range": "bytes=100-199"})
    assert status == 206 and body == (folder / records[0].path).read_bytes()[100:200]
    assert headers["content-range"].startswith("bytes 100-199/")
    for path in refused_paths(folder, outside, uploads, f"http://127.0.0.1:{port}/"):
        status, _, body = raw_get(port, path)
        assert status in (403, 404), (path, status)
        assert SECRET.encode() not in body and b"root:" not in body, path


def test_an_indexed_path_that_is_no_longer_audio_is_not_served(served):
    port, _, folder, records, outside = served
    (folder / records[1].path).write_text(SECRET)                  # replaced by text
    (folder / records[2].path).unlink()
    (folder / records[2].path).symlink_to(outside / "secret.txt")   # by a symlink out
    (folder / records[4].path).unlink()
    os.mkfifo(folder / records[4].path)                              # by a FIFO: no hang
    (folder / records[5].path).unlink()                              # gone
    for record in records[1:3] + records[4:6]:
        status, _, body = raw_get(port, f"/audio/{record.track_id}")
        assert status == 404 and SECRET.encode() not in body, record.path


def test_uploads_are_capped_checked_and_removed(served):
    port, _, folder, records, _ = served
    base = f"http://127.0.0.1:{port}/gradio_api/"
    uploads = Path(os.environ["GRADIO_TEMP_DIR"])
    clip = io.BytesIO()
    data, rate = soundfile.read(folder / records[3].path)
    soundfile.write(clip, data[: rate // 2], rate, format="WAV")       # 0.5 s: under the cap
    big = (folder / records[0].path).read_bytes()                     # 6 s: over 0.1 MB
    assert len(big) > 0.1 * 1024 * 1024 > len(clip.getvalue())
    assert httpx.post(base + "upload", files={"files": ("big.wav", big)}).status_code == 413
    # many files under the cap each, in one request: the request body is capped too
    parts = [("files", (f"part{i}.wav", os.urandom(60_000))) for i in range(3)]
    assert httpx.post(base + "upload", files=parts).status_code == 413
    assert not list(uploads.rglob("part*.wav"))

    def upload(name: str, content: bytes) -> Path:
        response = httpx.post(base + "upload", files={"files": (name, content)})
        assert response.status_code == 200
        path = Path(response.json()[0])
        assert path.is_file() and path.resolve().is_relative_to(uploads.resolve())
        return path

    def call(api: str, data: list) -> list:
        response = httpx.post(base + f"run/{api}", json={"data": data, "session_hash": "t"},
                              timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def file_data(path: Path) -> dict:
        return {"path": str(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    # a text file posing as audio is refused at upload time, and deleted
    fake = upload("notes.wav", SECRET.encode())
    cleared, message = call("on_upload", [file_data(fake)])
    assert cleared is None and "not an audio file" in message and not fake.exists()
    # a real clip is searched with, then deleted; the player that showed it is cleared
    real = upload("clip.wav", clip.getvalue())
    page, cleared = call("on_example", [file_data(real), None, "", 0.3, False, 3, "music"])
    assert page.count('class="ms-card"') == 3 and "sounds like clip.wav" in page
    assert cleared is None and not real.exists() and not real.parent.exists()
    # a path that was not uploaded is refused by Gradio, and never deleted by the app
    indexed = folder / records[0].path
    response = httpx.post(base + "run/on_example", timeout=30,
                          json={"data": [file_data(indexed), None, "", 0.3, False, 3, "music"],
                                "session_hash": "t"})
    assert response.status_code != 200 and indexed.is_file()
    # the screen-recording route (writes to Gradio's shared temp folder) is not offered
    assert httpx.post(base + "process_recording",
                      files={"video": ("v.mp4", b"0" * 1000)}).status_code == 404


def test_search_route_answers_text_and_more_like_this(served):
    port, _, _, records, _ = served
    search = f"http://127.0.0.1:{port}/search"
    page = httpx.get(search, params={"q": "fast violin", "k": 3}).text
    assert page.count('class="ms-card"') == 3 and "fast violin" in page
    page = httpx.get(search, params={"track": records[0].track_id, "title": "<b>x</b>",
                                     "k": "1e9"}).text
    assert page.count('class="ms-card"') == len(records) - 1 and "<b>x" not in page
    page = httpx.get(search, params={"q": "qzxv"}).text
    assert "no known words" in page.lower() and "ms-card" not in page
    assert "Type a description" in httpx.get(search).text


def test_upload_folder_deletes_only_its_own_files_once_unused(tmp_path):
    folder = UploadFolder(tmp_path / "uploads")
    (tmp_path / "uploads" / "abc").mkdir(parents=True)
    upload = tmp_path / "uploads" / "abc" / "clip.wav"
    upload.write_bytes(b"x")
    elsewhere = tmp_path / "mine.wav"
    elsewhere.write_bytes(b"x")
    with folder.consumed(str(upload)):
        with folder.consumed(str(upload)):      # two searches, one identical upload
            pass
        assert upload.exists()                   # the other search still uses it
        folder.discard(str(upload))              # a rejection does not pull it away
        assert upload.exists()
    assert not upload.exists() and not upload.parent.exists()
    with folder.consumed(str(elsewhere)):
        pass
    folder.discard(str(elsewhere))
    folder.discard(str(tmp_path / "uploads" / ".." / "mine.wav"))
    assert elsewhere.exists()


def test_audio_probe_needs_a_regular_audio_file(tiny_audio, tmp_path):
    folder, records = tiny_audio
    assert probe_audio(folder / records[0].path).content_type == "audio/wav"
    (tmp_path / "a.wav").write_bytes(b"RIFF....WAVEnot audio")
    os.mkfifo(tmp_path / "fifo.wav")
    for path in [tmp_path / "a.wav", tmp_path / "fifo.wav", tmp_path, tmp_path / "none.wav",
                 "", None, "bad\0path"]:
        assert probe_audio(path) is None, path


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "20000"])
def test_max_upload_mb_must_be_a_sensible_size(value, capsys):
    from ui.cli import main
    for command in ("ui", "demo"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--max-upload-mb", value])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith(f"musicsearch {command}: error: argument --max-upload-mb")


@pytest.mark.parametrize("value", ["abc", "0", "99999", "-1"])
def test_port_must_be_a_port_number(value, capsys):
    from ui.cli import main
    with pytest.raises(SystemExit) as exit_info:
        main(["ui", "--port", value])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"musicsearch ui: error: argument --port: must be a TCP port number " \
                    f"(1-65535), got '{value}'"


def test_an_address_that_cannot_be_listened_on_is_one_clear_error(indexed):
    searcher, _, _ = indexed
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{port}: Address "
                                             "already in use"):
            serve(searcher, port=port, block=False, warm=False)
    with pytest.raises(ServeError, match="unknown host"):
        serve(searcher, host="999.1.1.1", port=port, block=False, warm=False)


def test_text_encodings_are_remembered_read_only(tiny_model):
    from ui.text_cache import TextCachedModel
    calls = []

    class Counting:
        fingerprint = tiny_model.fingerprint

        def encode_text(self, text):
            calls.append(text)
            return tiny_model.encode_text(text)

    cached = TextCachedModel(Counting(), size=2)
    first, parsed = cached.encode_text("slow piano")
    again, _ = cached.encode_text("slow piano")
    assert again is first and calls == ["slow piano"] and parsed.terms == ["slow", "piano"]
    assert np.allclose(first, tiny_model.encode_text("slow piano")[0])
    with pytest.raises(ValueError):
        first[0] = 1.0                       # shared between searches: nobody may alter it
    cached.encode_text("fast violin")
    cached.encode_text("sad")                # size 2: "slow piano" is dropped
    cached.encode_text("slow piano")
    assert calls.count("slow piano") == 2 and cached.fingerprint == tiny_model.fingerprint
