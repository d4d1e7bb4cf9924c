"""Simulated listening sessions: deterministic from a seed, within splits, and each rule
of the module docstring visible in what it generates."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from retrieval.catalog import TrackRecord, read_playlists
from retrieval.typed_config import ConfigError
from training.playlists.sessions import (FACETS, SessionConfig, facet_values,
                                         simulate_sessions, track_circles)
from ui.cli import main


def _catalog(n=240, splits=("train",)):
    """Tracks over every combination of a few facet values, a split each."""
    eras, regions = ("baroque", "traditional", "renaissance"), ("irish", "german")
    ensembles, tempos = ("choir", "solo"), ("slow", "moderate", "fast")
    records = []
    for i in range(n):
        tags = [eras[i % 3], regions[(i // 3) % 2], ensembles[(i // 6) % 2], tempos[(i // 12) % 3]]
        records.append(TrackRecord(track_id=f"t{i:03d}", path=f"/a/{i}.wav", title=f"T{i}",
                                   artist="A", album="", duration=10.0, tags=tags,
                                   split=splits[i % len(splits)]))
    return records


def _shared(records, playlists):
    facets = {r.track_id: facet_values(r.tags) for r in records}
    pairs = [(a, b) for p in playlists for a, b in zip(p.tracks, p.tracks[1:])]
    return np.mean([sum(facets[a][f] == facets[b][f] for f in FACETS) for a, b in pairs])


def test_facet_values_read_from_tags():
    assert facet_values(["baroque", "german", "organ", "slow", "sacred"]) == {
        "era": "baroque", "region": "german", "ensemble": "organ", "tempo": "slow"}
    assert facet_values(["piano"])["era"] == "other"


def test_sessions_are_deterministic_from_the_seed_and_not_from_file_order():
    records = _catalog()
    config = SessionConfig(listeners=20, sessions=3, seed=7)
    first = simulate_sessions(records, config)
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    assert first == simulate_sessions(shuffled, config)
    assert first != simulate_sessions(records, SessionConfig(listeners=20, sessions=3, seed=8))
    assert len(first) == 60 and all(p.kind == "simulated" for p in first)
    assert first[0].playlist_id == "sim:0000:000"


def test_sessions_stay_in_one_split_and_never_repeat_a_track(tiny_audio):
    _, records = tiny_audio                        # 8 tracks: 4 train, 2 valid, 2 test
    split = {r.track_id: r.split for r in records}
    playlists = simulate_sessions(records, SessionConfig(listeners=10, sessions=4, seed=0))
    for playlist in playlists:
        assert len({split[t] for t in playlist.tracks}) == 1
        assert len(set(playlist.tracks)) == len(playlist.tracks)
        size = sum(s == split[playlist.tracks[0]] for s in split.values())
        assert len(playlist.tracks) >= min(5, size)    # min_length, capped by the split
    assert {split[p.tracks[0]] for p in playlists} == {"train", "valid", "test"}


def test_sessions_drift_with_the_previous_track_and_noise_breaks_it():
    records = _catalog()
    calm = simulate_sessions(records, SessionConfig(listeners=40, sessions=5, noise=0.0))
    noisy = simulate_sessions(records, SessionConfig(listeners=40, sessions=5, noise=0.5))
    flat = simulate_sessions(records, SessionConfig(listeners=40, sessions=5, noise=0.0,
                                                    stay=1.0))
    # neighbours share more facets when each pick follows the previous track
    assert _shared(records, calm) > _shared(records, flat) + 0.3
    assert _shared(records, noisy) < _shared(records, calm) - 0.2


def _top_share(records, playlists):
    """Share of all plays that go to the most played tenth of the catalog."""
    plays = Counter(t for p in playlists for t in p.tracks)
    counts = sorted((plays.get(r.track_id, 0) for r in records), reverse=True)
    return sum(counts[:len(counts) // 10]) / sum(counts)


def test_popular_tracks_recur():
    records = _catalog()
    zipf = simulate_sessions(records, SessionConfig(listeners=60, sessions=5))
    flat = simulate_sessions(records, SessionConfig(listeners=60, sessions=5,
                                                    popularity_exponent=0.0))
    assert _top_share(records, zipf) > _top_share(records, flat) + 0.04


def _same_circle(records, playlists, config):
    circle = track_circles(records, config)
    pairs = [(a, b) for p in playlists for a, b in zip(p.tracks, p.tracks[1:])]
    return np.mean([circle[a] == circle[b] for a, b in pairs])


def test_hidden_circles_make_co_occurrence_that_tags_do_not_explain():
    same_tags = [TrackRecord(track_id=r.track_id, path=r.path, title=r.title, artist="A",
                             album="", duration=10.0, tags=["baroque", "solo"], split="train")
                 for r in _catalog()]
    base = dict(listeners=60, sessions=5, popularity_exponent=0.0, noise=0.0)
    config = SessionConfig(**base)
    plain = SessionConfig(**base, circle_boost=1.0)    # same circles, no boost
    with_circles = _same_circle(same_tags, simulate_sessions(same_tags, config), config)
    without = _same_circle(same_tags, simulate_sessions(same_tags, plain), plain)
    assert abs(without - 1 / config.circles) < 0.03     # chance
    assert with_circles > 1.8 * without


def test_bad_config_is_one_line():
    with pytest.raises(ConfigError, match="noise must be between 0 and 0.5"):
        simulate_sessions(_catalog(), SessionConfig(noise=0.9))
    with pytest.raises(ConfigError, match="needs at least 5 tracks"):
        simulate_sessions(_catalog(3), SessionConfig())


def test_cli_simulate_writes_playlist_jsonl(tiny_audio, tmp_path, capsys):
    folder, records = tiny_audio
    out = tmp_path / "sessions" / "playlists.jsonl"
    assert main(["playlists", "simulate", "--catalog", str(folder / "catalog.jsonl"),
                 "--out", str(out), "--listeners", "3", "--sessions", "2", "--seed", "1"]) == 0
    playlists = read_playlists(out)
    assert len(playlists) == 6 and "simulated 6 sessions" in capsys.readouterr().out
    ids = {r.track_id for r in records}
    assert all(set(p.tracks) <= ids for p in playlists)
    assert main(["playlists", "simulate", "--catalog", str(tmp_path / "none.jsonl"),
                 "--out", str(out)]) == 2
    assert "catalog not found" in capsys.readouterr().err
