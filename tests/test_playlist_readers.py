"""Playlist readers on fixtures written in the real formats: MPD slices and playlist JSONL."""
from __future__ import annotations

import json

import pytest

from retrieval.catalog import CatalogError, TrackRecord
from training.playlists.readers import (PlaylistError, normalise_name, read_mpd,
                                        read_playlist_jsonl)


def _record(track_id, artist, title):
    return TrackRecord(track_id=track_id, path=f"/audio/{track_id}.wav", title=title,
                       artist=artist, album="", duration=30.0, tags=["folk"], split="train")


CATALOG = [_record("7vqa3sDmtEaVJ2gcvxtRID", "Degiheugi", "Finalement"),
           _record("t-halo", "Beyoncé", "Halo"),
           _record("t-reel", "Traditional", "The Mountaineer's March"),
           _record("t-reel-2", "Traditional", "The Mountaineer's March")]   # same name: ambiguous


def _mpd_track(pos, artist, title, uri):
    return {"pos": pos, "artist_name": artist, "track_uri": uri,
            "artist_uri": "spotify:artist:3V2paBXEoZIAhfZRJmo2jL", "track_name": title,
            "album_uri": "spotify:album:2KrRMJ9z7Xjoz1Az4O6UML", "duration_ms": 166264,
            "album_name": "Album"}


def _mpd_playlist(pid, tracks):
    return {"name": "musical", "collaborative": "false", "pid": pid, "modified_at": 1493424000,
            "num_albums": 1, "num_tracks": len(tracks), "num_followers": 1, "num_edits": 2,
            "duration_ms": 166264 * len(tracks), "num_artists": 1, "tracks": tracks}


def _write_slice(path, playlists):
    path.write_text(json.dumps({"info": {"generated_on": "2017-12-03 08:41:42.057563",
                                         "slice": "0-999", "version": "v1"},
                                "playlists": playlists}), encoding="utf-8")
    return path


def test_normalise_name_ignores_case_accents_and_punctuation():
    assert normalise_name("  BEYONCÉ – Halo! ") == normalise_name("beyonce halo")
    assert normalise_name("The Mountaineer's March") == "the mountaineers march"
    assert normalise_name("the mountaineers' march") == "the mountaineers march"


def test_mpd_slice_maps_tracks_by_uri_and_by_artist_title(tmp_path):
    path = _write_slice(tmp_path / "mpd.slice.0-999.json", [
        _mpd_playlist(5, [_mpd_track(0, "Degiheugi", "Finalement",
                                     "spotify:track:7vqa3sDmtEaVJ2gcvxtRID"),
                          _mpd_track(1, "beyonce", "HALO", "spotify:track:unknownuri000"),
                          _mpd_track(2, "Nobody", "Nothing", "spotify:track:missing00000")]),
        _mpd_playlist(6, [_mpd_track(0, "Traditional", "the mountaineers' march",
                                     "spotify:track:x1"),
                          _mpd_track(1, "Nobody", "Else", "spotify:track:x2")])])
    playlists, report = read_mpd(path, CATALOG)
    assert [(p.playlist_id, p.tracks, p.kind) for p in playlists] == [
        ("mpd:5", ["7vqa3sDmtEaVJ2gcvxtRID", "t-halo"], "mpd")]   # pid 6: one match, dropped
    assert (report.tracks_read, report.matched_by_id, report.matched_by_name,
            report.unmatched, report.ambiguous) == (5, 1, 2, 2, 1)
    assert (report.playlists_read, report.playlists_kept) == (2, 1)
    assert "spotify:track:missing00000" in report.unmatched_examples
    playlists, report = read_mpd(path, CATALOG, min_tracks=1)
    assert [(p.playlist_id, p.tracks) for p in playlists][1] == ("mpd:6", ["t-reel"])


def test_mpd_ambiguous_name_takes_the_first_catalog_track_and_counts_it(tmp_path):
    path = _write_slice(tmp_path / "mpd.slice.0-999.json", [_mpd_playlist(0, [
        _mpd_track(0, "Traditional", "The Mountaineer’s March".replace("’", "'"), "u:1"),
        _mpd_track(1, "Beyoncé", "Halo", "u:2")])])
    playlists, report = read_mpd(path, CATALOG)
    assert playlists[0].tracks == ["t-reel", "t-halo"]
    assert (report.matched_by_name, report.ambiguous) == (2, 1)


def test_mpd_folder_reads_slices_in_name_order_and_needs_some(tmp_path):
    _write_slice(tmp_path / "mpd.slice.1000-1999.json",
                 [_mpd_playlist(1000, [_mpd_track(0, "a", "b", "u:a"),
                                       _mpd_track(1, "c", "d", "u:c")])])
    _write_slice(tmp_path / "mpd.slice.0-999.json",
                 [_mpd_playlist(0, [_mpd_track(0, "a", "b", "u:e"),
                                    _mpd_track(1, "c", "d", "u:f")])])
    playlists, report = read_mpd(tmp_path)          # no catalog: the uris are the ids
    assert [p.playlist_id for p in playlists] == ["mpd:0", "mpd:1000"]
    assert playlists[0].tracks == ["u:e", "u:f"] and report.matched_by_id == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PlaylistError, match="no mpd.slice"):
        read_mpd(empty)


@pytest.mark.parametrize("playlists, message", [
    ([_mpd_playlist(1, []), {"name": "x", "tracks": []}], r"playlist 1: needs an integer 'pid'"),
    ([_mpd_playlist(7, [_mpd_track(0, "a", "b", "u:1"), {"pos": 1, "artist_name": "a"}])],
     r"playlist 0 \(pid 7\): track 1: needs 'track_uri'"),
    ([{"pid": 3, "name": "no tracks"}], r"playlist 0 \(pid 3\): needs a 'tracks' list"),
])
def test_mpd_malformed_records_name_the_playlist(tmp_path, playlists, message):
    path = _write_slice(tmp_path / "mpd.slice.0-999.json", playlists)
    with pytest.raises(PlaylistError, match=message) as error:
        read_mpd(path, CATALOG)
    assert "mpd.slice.0-999.json" in str(error.value) and "\n" not in str(error.value)


def test_mpd_file_that_is_not_a_slice(tmp_path):
    (tmp_path / "a.json").write_text('{"info": {}, "playlists": [', encoding="utf-8")
    with pytest.raises(PlaylistError, match="not an MPD slice"):
        read_mpd(tmp_path / "a.json")
    (tmp_path / "b.json").write_text('[1, 2]', encoding="utf-8")
    with pytest.raises(PlaylistError, match="no 'playlists' list"):
        read_mpd(tmp_path / "b.json")


def _write_jsonl(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_jsonl_maps_ids_and_artist_title_objects(tmp_path):
    path = _write_jsonl(tmp_path / "playlists.jsonl", [
        json.dumps({"playlist_id": "p1",
                    "tracks": ["t-halo", "spotify:track:7vqa3sDmtEaVJ2gcvxtRID", "gone"]}),
        "",
        json.dumps({"playlist_id": "p2", "tracks": [{"artist": "BEYONCE", "title": "halo"},
                                                    {"track_id": "t-reel"}],
                    "kind": "user"})])
    playlists, report = read_playlist_jsonl(path, CATALOG)
    assert [(p.playlist_id, p.tracks, p.kind) for p in playlists] == [
        ("p1", ["t-halo", "7vqa3sDmtEaVJ2gcvxtRID"], ""), ("p2", ["t-halo", "t-reel"], "user")]
    assert (report.matched_by_id, report.matched_by_name, report.unmatched) == (3, 1, 1)
    assert report.unmatched_examples == ["gone"]


@pytest.mark.parametrize("bad, message", [
    ('{"playlist_id": "p", "tracks": "t1"}', r":2: a playlist needs 'playlist_id'"),
    ('{"tracks": ["a", "b"]}', r":2: a playlist needs 'playlist_id'"),
    ('{"playlist_id": "p", "tracks": ["a", 3]}', r":2: track 1: expected a track id"),
    ('{"playlist_id": "p", "tracks": [{"artist": "only"}]}', r":2: track 0: expected"),
    ('{"playlist_id": "p", "tracks": [', r":2: not valid JSON"),
])
def test_jsonl_malformed_line_names_the_line(tmp_path, bad, message):
    path = _write_jsonl(tmp_path / "p.jsonl", ['{"playlist_id": "ok", "tracks": ["a", "b"]}', bad])
    with pytest.raises(CatalogError, match=message) as error:
        read_playlist_jsonl(path)
    assert "p.jsonl" in str(error.value) and "\n" not in str(error.value)


def test_jsonl_missing_file(tmp_path):
    with pytest.raises(PlaylistError, match="playlists not found"):
        read_playlist_jsonl(tmp_path / "none.jsonl")
