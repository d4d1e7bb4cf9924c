"""Re-indexing follows the audio: new bytes at the same path are re-encoded, a touched
file is not, files gone from a folder leave the collection (only that folder's), and
collections written before file states were stored keep working."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from index import index_tracks, open_store
from index.points import FILE_STATE_KEYS


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("features")


@pytest.fixture()
def store(tmp_path):
    opened = open_store(str(tmp_path / "qdrant"), "music")
    yield opened
    opened.close()


@pytest.fixture()
def counted(tiny_model, monkeypatch):
    """The tiny model, counting the songs it encodes."""
    real, calls = tiny_model.encode_mel, []

    def encode_mel(mel, *args, **kwargs):
        calls.append(1)
        return real(mel, *args, **kwargs)

    monkeypatch.setattr(tiny_model, "encode_mel", encode_mel)
    return tiny_model, calls


def _index(model, source, store, cache, **kwargs):
    return index_tracks(model, source, store, cache_dir=cache, progress=False, **kwargs)


def _clip(tiny_audio, i: int):
    return tiny_audio[0] / "audio" / f"clip{i}.wav"


def _counts(summary):
    return summary.indexed, summary.updated, summary.skipped_existing, summary.removed


def test_new_audio_at_the_same_path_is_re_encoded(counted, tiny_audio, store, feature_cache,
                                                  tmp_path):
    model, calls = counted
    music = tmp_path / "music"
    music.mkdir()
    song = music / "song.wav"
    shutil.copy(_clip(tiny_audio, 0), song)
    assert _counts(_index(model, music, store, feature_cache)) == (1, 0, 0, 0)
    first = store.get_vector(str(song))

    stat = song.stat()
    os.utime(song, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched only
    assert _counts(_index(model, music, store, feature_cache)) == (0, 0, 1, 0)
    assert len(calls) == 1  # the hash matched: not re-encoded
    [payload] = store.iter_payloads()
    assert payload["file_mtime_ns"] == song.stat().st_mtime_ns  # so the next run reads nothing

    shutil.copy(_clip(tiny_audio, 1), song)  # other audio, same path (and same size)
    assert song.stat().st_size == _clip(tiny_audio, 0).stat().st_size
    assert _counts(_index(model, music, store, feature_cache)) == (0, 1, 0, 0)
    assert len(calls) == 2
    assert _counts(_index(model, music, store, feature_cache)) == (0, 0, 1, 0)
    assert len(calls) == 2
    changed = store.get_vector(str(song))
    assert not np.allclose(first, changed)
    np.testing.assert_allclose(changed, model.encode_audio(_clip(tiny_audio, 1)), atol=1e-5)


def test_a_catalog_path_moved_to_the_same_audio_is_not_re_encoded(counted, tiny_audio, store,
                                                                  feature_cache, tmp_path):
    model, calls = counted
    catalog = tmp_path / "catalog.jsonl"
    moved = tmp_path / "moved.wav"
    shutil.copy(_clip(tiny_audio, 2), moved)
    for path in (_clip(tiny_audio, 2), moved):
        catalog.write_text(json.dumps({"track_id": "t", "path": str(path)}) + "\n")
        summary = _index(model, catalog, store, feature_cache)
    assert _counts(summary) == (0, 1, 0, 0) and len(calls) == 1
    [payload] = store.iter_payloads()
    assert payload["path"] == str(moved)


def test_files_gone_from_a_folder_leave_only_that_folder(tiny_model, tiny_audio, store,
                                                         feature_cache, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    for i, path in enumerate([a / "one.wav", a / "sub" / "two.wav", a / "three.wav",
                              b / "four.wav"]):
        shutil.copy(_clip(tiny_audio, i % 3), path)
    _index(tiny_model, a, store, feature_cache)
    _index(tiny_model, b, store, feature_cache)
    # A catalog track whose audio lies in the folder: never removed by a folder scan.
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps({"track_id": "cat", "path": str(a / "three.wav")}) + "\n")
    _index(tiny_model, catalog, store, feature_cache)
    assert store.count() == 5

    (a / "sub" / "two.wav").unlink()
    (a / "three.wav").unlink()
    (b / "four.wav").unlink()  # in another folder: stays until that folder is indexed
    summary = _index(tiny_model, a, store, feature_cache)
    assert _counts(summary) == (0, 0, 1, 2)
    assert {p["track_id"] for p in store.iter_payloads()} == {str(a / "one.wav"),
                                                             str(b / "four.wav"), "cat"}
    assert _counts(_index(tiny_model, b, store, feature_cache)) == (0, 0, 0, 1)


def test_collections_from_before_file_states_are_re_indexed_once(counted, tiny_audio, store,
                                                                 feature_cache):
    model, calls = counted
    catalog = tiny_audio[0] / "catalog.jsonl"
    assert _index(model, catalog, store, feature_cache).indexed == 8
    # Payloads as the previous version wrote them: no size, mtime or content hash.
    old = [{k: v for k, v in p.items() if k not in FILE_STATE_KEYS} for p in store.iter_payloads()]
    store.overwrite_payloads(old)
    assert not any(k in p for p in store.iter_payloads() for k in FILE_STATE_KEYS)
    upgraded = _index(model, catalog, store, feature_cache)
    assert _counts(upgraded) == (0, 8, 0, 0) and upgraded.complete and len(calls) == 16
    assert all(p["content_hash"] for p in store.iter_payloads())
    assert _counts(_index(model, catalog, store, feature_cache)) == (0, 0, 8, 0)
    assert len(calls) == 16
