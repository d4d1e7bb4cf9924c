"""Bad input never aborts an index run, never loses the good tracks and never passes
silently: real files (bytes names, FIFOs, symlinks, damaged audio), real Qdrant stores."""
from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest
import soundfile

from index import InvalidPoint, index_tracks, open_store
from index.points import IndexPoint
from index.server_store import ClientStore
from index.summary import (DANGLING_SYMLINK, DUPLICATE, INVALID_RECORD,
                           NOT_A_FILE, SYMLINK_LOOP, UNREADABLE)
from retrieval.catalog import text_to_path
from retrieval.feature_cache import FeatureCache, file_digest
from ui.cli import EXIT_SKIPPED, main


def _index(model, source, store, cache, **kwargs):
    return index_tracks(model, source, store, cache_dir=cache, progress=False, **kwargs)


def _clip(tiny_audio, i: int) -> str:
    return str(tiny_audio[0] / "audio" / f"clip{i}.wav")


def test_file_names_that_are_not_utf8(tiny_model, tiny_audio, store, feature_cache, tmp_path):
    music = os.fsencode(tmp_path / "music")
    os.makedirs(music + b"/caf\xe9")
    names = [b"a.wav", b"bad\xff\xfename.wav", b"bad\\xff\\xfename.wav",  # a literal "\x"
             b"caf\xe9/c.wav"]                                               # a Latin-1 folder
    for name in names:  # one recording: its log-mel is computed once, then found by content
        shutil.copy(_clip(tiny_audio, 0), music + b"/" + name)
    summary = _index(tiny_model, os.fsdecode(music), store, feature_cache)
    assert (summary.indexed, summary.failed) == (4, [])
    payloads = {os.fsencode(text_to_path(p["path"])): p for p in store.iter_payloads()}
    assert set(payloads) == {music + b"/" + name for name in names}  # lossless, distinct
    odd = payloads[music + b"/" + names[1]]
    assert odd["track_id"] == odd["path"] and odd["path"].startswith("file:///")
    assert odd["title"] == "bad\\xff\\xfename"  # shown escaped
    json.dumps(odd, ensure_ascii=False, allow_nan=False).encode("utf-8")  # valid JSON text
    assert store.get_vector(odd["track_id"]) is not None
    with open(text_to_path(odd["path"]), "rb") as handle:  # re-openable from what is stored
        assert handle.read() == open(_clip(tiny_audio, 0), "rb").read()
    again = _index(tiny_model, os.fsdecode(music), store, feature_cache)
    assert (again.indexed, again.skipped_existing, again.removed) == (0, 4, 0)
    os.remove(music + b"/caf\xe9/c.wav")  # gone: removed from the collection by its URI id
    assert _index(tiny_model, os.fsdecode(music), store, feature_cache).removed == 1


def test_bad_catalog_records_are_listed_and_the_rest_indexed(tiny_model, tiny_audio, store,
                                                             feature_cache, tmp_path):
    good = {"track_id": "g1", "path": _clip(tiny_audio, 1), "title": "Good"}
    lines = [json.dumps(good), '{"track_id": "n", "path": "%s", "duration": NaN}'
             % _clip(tiny_audio, 2), json.dumps({"track_id": "p", "path": None}),
             json.dumps({"track_id": "i", "path": 12345}), json.dumps(dict(good, title="Dup")),
             json.dumps(dict(good, track_id="g2", path=_clip(tiny_audio, 2)))]
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join(lines) + "\n")
    summary = _index(tiny_model, catalog, store, feature_cache)
    assert summary.indexed == 2 and store.count() == 2
    assert [(s.where, s.kind) for s in summary.skipped] == \
        [(f"{catalog}:{n}", INVALID_RECORD) for n in (2, 3, 4)] + [(f"{catalog}:5", DUPLICATE)]
    assert {p["title"] for p in store.iter_payloads()} == {"Good"}  # the first record wins


def test_folder_entries_that_are_not_tracks_are_listed(tiny_model, tiny_audio, store,
                                                       feature_cache, tmp_path):
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    shutil.copy(_clip(tiny_audio, 0), music / "a.wav")
    (music / "b_link.wav").symlink_to(music / "a.wav")            # the same file twice
    (music / "dangling.wav").symlink_to(music / "missing.wav")
    (music / "loop.wav").symlink_to(music / "loop.wav")
    (music / "sub" / "up").symlink_to(music)                      # a folder loop
    os.mkfifo(music / "pipe.wav")
    (music / "corrupt.wav").write_bytes(b"RIFF junk" * 20)
    (music / "notes.txt").write_text("not audio")
    summary = _index(tiny_model, music, store, feature_cache)
    assert summary.indexed == 1 and store.count() == 1
    assert summary.skipped_counts() == {DUPLICATE: 1, DANGLING_SYMLINK: 1, SYMLINK_LOOP: 2,
                                        NOT_A_FILE: 1, UNREADABLE: 1}
    kinds = {s.where: s.kind for s in summary.skipped}
    assert kinds[str(music / "pipe.wav")] == NOT_A_FILE
    assert kinds[str(music / "sub" / "up")] == SYMLINK_LOOP
    assert "6 skipped (1 dangling symlink, 1 duplicate, 1 not a regular file, 2 symlink loop, " \
        "1 unreadable)" in summary.describe()


def _finishes(function, fifo, seconds=60.0):
    """Run `function` in a thread; if it blocks on the FIFO, open the FIFO's other end so
    the test fails instead of hanging."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        return None
    return result.get("value")


def test_a_catalog_path_to_a_fifo_never_hangs(tiny_model, tiny_audio, store, feature_cache,
                                              tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps({"track_id": "f", "path": str(fifo)}) + "\n"
                       + json.dumps({"track_id": "g", "path": _clip(tiny_audio, 1)}) + "\n")
    summary = _finishes(lambda: _index(tiny_model, catalog, store, feature_cache), fifo)
    assert summary is not None, "indexing blocked on a FIFO"
    assert summary.indexed == 1 and [(s.where, s.kind) for s in summary.skipped] == \
        [(str(fifo), NOT_A_FILE)]


def test_non_finite_vectors_are_never_stored(tiny_model, tiny_audio, store, feature_cache,
                                             tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy(_clip(tiny_audio, 4), music / "good.wav")
    soundfile.write(music / "loud.wav", np.full(22050 * 4, 1e30, dtype=np.float32), 22050,
                    subtype="FLOAT")
    # A damaged feature-cache entry (infinite log-mel) for this file's content: the cache
    # must not hand it to the model (it recomputes the features from the audio).
    damaged = music / "damaged.wav"
    soundfile.write(damaged, np.random.default_rng(5).standard_normal(22050 * 4) * 0.1, 22050)
    entry = FeatureCache(feature_cache, tiny_model.config.frontend)._path_for(file_digest(damaged))
    entry.parent.mkdir(parents=True, exist_ok=True)
    np.save(entry, np.full((tiny_model.config.frontend.n_mels, 400), np.inf, dtype=np.float16))
    try:
        summary = _index(tiny_model, music, store, feature_cache, chunks=True)
    finally:
        entry.unlink(missing_ok=True)
    stored = [p["track_id"] for p in store.iter_payloads()]
    assert str(music / "good.wav") in stored and str(damaged) in stored
    assert summary.indexed + len(summary.skipped) == 3   # loud.wav: finite vector, or listed
    for track_id in stored:
        assert np.isfinite(store.get_vector(track_id)).all()
        assert np.isfinite(store.get_vector(track_id, using="chunks")).all()


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_the_store_refuses_invalid_points(tmp_path, kind):
    store = open_store(str(tmp_path), "music") if kind == "edge" else ClientStore(":memory:", "m")
    good = np.ones(4, dtype=np.float32) / 2
    try:
        store.create(4, "fp", chunks=True)
        point = IndexPoint("a", good, good[None], {"track_id": "a"})
        for change in ({"music": np.full(4, np.nan, dtype=np.float32)},
                       {"chunks": np.array([[np.inf, 0, 0, 0]], dtype=np.float32)},
                       {"music": np.zeros(4, dtype=np.float32)},
                       {"payload": {"track_id": "a", "duration": float("nan")}},
                       {"payload": {"track_id": "a", "title": "\ud800"}}):
            with pytest.raises(InvalidPoint):
                IndexPoint(**{**point.__dict__, **change})
            broken = IndexPoint("a", good, good[None], {"track_id": "a"})
            broken.__dict__.update(change)  # changed after the check: the store checks again
            with pytest.raises(InvalidPoint):
                store.upsert([IndexPoint("ok", good, None, {"track_id": "ok"}), broken])
            assert store.count() == 0  # nothing of that batch was written
        with pytest.raises(InvalidPoint):
            store.overwrite_payloads([{"track_id": "a", "duration": float("inf")}])
    finally:
        store.close()


def test_real_errors_surface(tiny_model, tiny_audio, store, feature_cache, monkeypatch):
    real, calls = tiny_model.encode_mel, []

    def encode_mel(mel):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(mel)

    monkeypatch.setattr(tiny_model, "encode_mel", encode_mel)
    folder = tiny_audio[0]
    with pytest.raises(RuntimeError, match="illegal memory access"):
        _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=2)
    assert store.count() == 2  # the batch stored before the bug is kept
    monkeypatch.setattr(tiny_model, "encode_mel", lambda mel: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(MemoryError):
        _index(tiny_model, folder / "catalog.jsonl", store, feature_cache)


def test_cli_exit_status(tiny_bundle, tiny_audio, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    music = os.fsencode(tmp_path / "music")
    os.mkdir(music)
    shutil.copy(_clip(tiny_audio, 5), music + b"/good.wav")
    common = ["--qdrant", str(tmp_path / "q"), "--model", str(tiny_bundle)]
    assert main(["index", os.fsdecode(music), *common]) == 0
    with open(music + b"/broken\xe9.wav", "wb") as handle:
        handle.write(b"RIFF not audio")
    capsys.readouterr()
    assert main(["index", os.fsdecode(music), *common]) == EXIT_SKIPPED == 3
    out, err = capsys.readouterr()
    assert "0 new track(s), 0 updated, 1 already indexed, 0 removed, 1 skipped (1 unreadable)" \
        in out
    assert "skipped " + str(tmp_path / "music") + "/broken\\xe9.wav: cannot decode" in err
    assert "exit status 3" in err.splitlines()[-1] and "Traceback" not in err
    err.encode("utf-8")  # printable: no lone surrogates
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    assert "3  the run finished but some entries were skipped" in capsys.readouterr().out


@pytest.mark.parametrize("location, message", [
    ("file", "is a file, not a folder"),
    ("file/sub", "cannot create the index folder"),
    ("", "empty Qdrant location"),
])
def test_unusable_index_locations_are_one_line(tiny_bundle, tiny_audio, tmp_path, capsys,
                                               location, message):
    (tmp_path / "file").write_text("not a folder")
    qdrant = str(tmp_path / location) if location else ""
    code = main(["index", _clip(tiny_audio, 0), "--qdrant", qdrant, "--model", str(tiny_bundle)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "file").read_text() == "not a folder"
