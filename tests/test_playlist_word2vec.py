"""Word2Vec track vectors from playlists: reproducible from a seed (across processes with
different hash salts), co-occurrence makes tracks close, the whole playlist is the
window, and the safetensors file round-trips and works as a bundle side file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.catalog import Playlist, write_playlists
from retrieval.typed_config import ConfigError
from training.playlists.word2vec import (VECTORS_FILE, PlaylistWord2VecConfig,
                                         load_track_vectors, save_track_vectors,
                                         train_track_vectors)
from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _groups(seed=0, n=150):
    """Two groups of six tracks; each playlist draws 3-5 tracks from one group."""
    rng = np.random.default_rng(seed)
    groups = [[f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]]
    return [Playlist(f"p{k}", list(rng.choice(groups[k % 2], rng.integers(3, 6), replace=False)))
            for k in range(n)]


def _cos(vectors, a, b):
    index = {t: i for i, t in enumerate(vectors.track_ids)}
    x, y = vectors.vectors[index[a]], vectors.vectors[index[b]]
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def test_tracks_that_co_occur_are_closer_than_tracks_that_never_do():
    vectors = train_track_vectors(_groups(), PlaylistWord2VecConfig(vector_size=16, sample=0))
    within = [_cos(vectors, f"{g}{i}", f"{g}{j}") for g in "ab" for i in range(6)
              for j in range(i + 1, 6)]
    across = [_cos(vectors, f"a{i}", f"b{j}") for i in range(6) for j in range(6)]
    assert min(within) > max(across)
    keyed = vectors.keyed_vectors()
    assert all(keyed.most_similar(t, topn=1)[0][0][0] == t[0] for t in vectors.track_ids)


def _ends_margin(window):
    """Pair i's playlists: x_i, five tracks of pool P_i, five of pool Q_i, y_i. Within a
    window of 5, x_i only meets P_i and y_i only Q_i; only a window over the whole
    playlist has x_i and y_i share their context. Margin: mean cosine of x_i with y_i
    minus that with the other pairs' y_j."""
    rng = np.random.default_rng(0)
    playlists = []
    for k in range(240):
        i = k % 6
        head = rng.choice([f"p{i}.{j}" for j in range(8)], 5, replace=False)
        tail = rng.choice([f"q{i}.{j}" for j in range(8)], 5, replace=False)
        playlists.append(Playlist(f"l{k}", [f"x{i}", *head, *tail, f"y{i}"]))
    vectors = train_track_vectors(playlists, PlaylistWord2VecConfig(vector_size=16, sample=0,
                                                                    window=window))
    same = np.mean([_cos(vectors, f"x{i}", f"y{i}") for i in range(6)])
    other = np.mean([_cos(vectors, f"x{i}", f"y{j}") for i in range(6) for j in range(6) if i != j])
    return same - other


def test_the_window_covers_the_whole_playlist():
    whole, short = _ends_margin(None), _ends_margin(2)
    assert whole > 0.3 and whole > short + 0.2


_TRAIN_IN_A_PROCESS = """
import sys
from retrieval.catalog import read_playlists
from training.playlists.word2vec import (PlaylistWord2VecConfig, save_track_vectors,
                                         train_track_vectors)
config = PlaylistWord2VecConfig(vector_size=8, seed=3)
vectors = train_track_vectors(read_playlists(sys.argv[1]), config)
save_track_vectors(vectors, sys.argv[2])
"""


def test_same_seed_same_vectors_even_across_hash_salts(tmp_path):
    playlists = _groups()
    config = PlaylistWord2VecConfig(vector_size=8, seed=3)
    first, second = train_track_vectors(playlists, config), train_track_vectors(playlists, config)
    assert first.track_ids == second.track_ids
    np.testing.assert_array_equal(first.vectors, second.vectors)
    other = train_track_vectors(playlists, PlaylistWord2VecConfig(vector_size=8, seed=4))
    assert not np.array_equal(first.vectors, other.vectors)
    # a new process has a new string-hash salt unless PYTHONHASHSEED is fixed
    write_playlists(playlists, tmp_path / "p.jsonl")
    outputs = []
    for salt in ("1", "2"):
        out = tmp_path / f"v{salt}.safetensors"
        env = dict(os.environ, PYTHONHASHSEED=salt, OMP_NUM_THREADS="1")
        subprocess.run([sys.executable, "-c", _TRAIN_IN_A_PROCESS, str(tmp_path / "p.jsonl"),
                        str(out)], check=True, cwd=ROOT, env=env)
        outputs.append(load_track_vectors(out))
    np.testing.assert_array_equal(outputs[0].vectors, outputs[1].vectors)
    np.testing.assert_array_equal(outputs[0].vectors, first.vectors)


def test_vectors_file_round_trips_any_track_id(tmp_path):
    playlists = [Playlist("p1", ["a track with spaces", "tråck ünïcode", "t3"]),
                 Playlist("p2", ["t3", "a track with spaces"])]
    config = PlaylistWord2VecConfig(vector_size=4, seed=1)
    vectors = train_track_vectors(playlists, config)
    path = save_track_vectors(vectors, tmp_path / VECTORS_FILE)
    loaded = load_track_vectors(path)
    assert loaded.track_ids == vectors.track_ids and loaded.config == config
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)
    assert path.read_bytes()[8:9] == b"{"     # safetensors: u64 header size, JSON header
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ConfigError, match="not a playlist vectors file"):
        load_track_vectors(tmp_path / "bad.safetensors")


def test_min_count_and_bad_config():
    playlists = _groups() + [Playlist("rare", ["once", "a0"])]
    vectors = train_track_vectors(playlists, PlaylistWord2VecConfig(vector_size=4, min_count=2))
    assert "once" not in vectors.track_ids and "a0" in vectors.track_ids
    with pytest.raises(ConfigError, match="vector_size must be at least 1"):
        train_track_vectors(playlists, PlaylistWord2VecConfig(vector_size=0))
    with pytest.raises(ConfigError, match="no playlist has two tracks"):
        train_track_vectors([Playlist("p", ["a"])], PlaylistWord2VecConfig())


def test_vectors_as_a_bundle_side_file_are_checked(tiny_model, tmp_path):
    path = save_track_vectors(train_track_vectors(_groups(), PlaylistWord2VecConfig(vector_size=4)),
                              tmp_path / VECTORS_FILE)
    bundle = tmp_path / "bundle"
    save_bundle(tiny_model, bundle, side_files={VECTORS_FILE: path})
    load_bundle(bundle)
    side = next(bundle.rglob(VECTORS_FILE))
    assert load_track_vectors(side).track_ids == load_track_vectors(path).track_ids
    data = bytearray(side.read_bytes())
    data[-1] ^= 1
    side.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="changed since the bundle was saved"):
        load_bundle(bundle)


def test_cli_train_on_jsonl_and_mpd(tmp_path, capsys):
    write_playlists(_groups(n=20), tmp_path / "p.jsonl")
    out = tmp_path / "w2v"
    assert main(["playlists", "train", "--playlists", str(tmp_path / "p.jsonl"), "--out", str(out),
                 "--vector-size", "8", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "20 of 20 playlists kept" in printed and "12 tracks × 8" in printed
    assert load_track_vectors(out / VECTORS_FILE).vectors.shape == (12, 8)
    slice_file = tmp_path / "mpd.slice.0-999.json"
    slice_file.write_text(json.dumps({"info": {"slice": "0-999"}, "playlists": [
        {"pid": 0, "name": "x", "tracks": [{"pos": 0, "track_uri": "u:1", "artist_name": "A",
                                            "track_name": "One"}, {"pos": 1}]}]}))
    assert main(["playlists", "train", "--playlists", str(slice_file), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "playlist 0 (pid 0): track 1: needs 'track_uri' or 'artist_name' and 'track_name'")
