"""Playlist readers: the Million Playlist Dataset slices and a plain JSONL, both to
DESIGN's playlist records (`retrieval.catalog.Playlist`) with tracks mapped to catalog ids.

Formats
- MPD slice (`mpd.slice.<a>-<b>.json`, one JSON object per file): `{"info": {...},
  "playlists": [{"pid": int, "name": str, ..., "tracks": [{"pos", "artist_name",
  "track_uri", "artist_uri", "track_name", "album_uri", "duration_ms", "album_name"}]}]}`.
  A path may be one slice or a folder of them (read in name order).
- Playlist JSONL: one `{"playlist_id": str, "tracks": [...]}` per line, where a track is a
  catalog id (string) or `{"track_id"?, "artist", "title"}`.

Matching (`TrackMatcher`): a track is found by its id first (an MPD `track_uri`, or the
bare id after its last ':'), then by normalised artist + title (case, accents, punctuation
and spacing ignored). Several catalog tracks with one artist + title are ambiguous: the
first in catalog order is used and the case is counted. What did not match is dropped and
counted (`MatchReport`), never silent. Without a catalog, ids are kept as they are.

A malformed record raises PlaylistError naming the file and the line (JSONL) or the
playlist index and pid (MPD), before anything is returned.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from retrieval.catalog import CatalogError, Playlist, TrackRecord, read_jsonl, display_text

__all__ = ["PlaylistError", "MatchReport", "TrackMatcher", "normalise_name",
           "read_mpd", "read_playlist_jsonl"]


class PlaylistError(CatalogError):
    """A playlist file that cannot be read; the message names file and line or playlist."""


@dataclass
class MatchReport:
    playlists_read: int = 0
    playlists_kept: int = 0         # with at least `min_tracks` matched tracks
    tracks_read: int = 0
    matched_by_id: int = 0
    matched_by_name: int = 0
    ambiguous: int = 0              # matched by name, but several catalog tracks fit
    unmatched: int = 0
    unmatched_examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.playlists_kept} of {self.playlists_read} playlists kept; tracks: "
                f"{self.matched_by_id} by id, {self.matched_by_name} by artist + title "
                f"({self.ambiguous} ambiguous), {self.unmatched} unmatched of {self.tracks_read}")


def normalise_name(text: str) -> str:
    """Case, accents, apostrophes, punctuation and spacing removed: 'Beyoncé – Halo!' →
    'beyonce halo'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['’`]", "", text)     # "Mountaineer's" and "Mountaineers'" agree
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


class TrackMatcher:
    """Catalog ids for playlist tracks, by id or by artist + title, counting the outcome."""

    def __init__(self, records: Iterable[TrackRecord] | None, report: MatchReport):
        self.report = report
        self.ids: set[str] | None = None
        self.names: dict[tuple[str, str], list[str]] = {}
        if records is not None:
            self.ids = set()
            for record in records:
                self.ids.add(record.track_id)
                key = (normalise_name(record.artist), normalise_name(record.title))
                self.names.setdefault(key, []).append(record.track_id)

    def match(self, track_id: str | None, artist: str | None, title: str | None) -> str | None:
        self.report.tracks_read += 1
        if self.ids is None:                 # no catalog: the ids are the words
            if track_id:
                self.report.matched_by_id += 1
                return track_id
        elif track_id:
            for candidate in (track_id, track_id.rsplit(":", 1)[-1]):
                if candidate in self.ids:
                    self.report.matched_by_id += 1
                    return candidate
        if artist and title:
            found = self.names.get((normalise_name(artist), normalise_name(title)))
            if found:
                self.report.matched_by_name += 1
                self.report.ambiguous += len(found) > 1
                return found[0]
        self.report.unmatched += 1
        if len(self.report.unmatched_examples) < 5:
            self.report.unmatched_examples.append(
                track_id or f"{artist or '?'} – {title or '?'}")
        return None


def _keep(playlist_id: str, tracks: list[str], kind: str, min_tracks: int,
          report: MatchReport, out: list[Playlist]) -> None:
    report.playlists_read += 1
    if len(tracks) >= min_tracks:
        report.playlists_kept += 1
        out.append(Playlist(playlist_id, tracks, kind))


def _mpd_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("mpd.slice.*.json"))
        if not files:
            raise PlaylistError(f"{display_text(path)}: no mpd.slice.*.json files in this folder")
        return files
    if not path.is_file():
        raise PlaylistError(f"playlists not found: {display_text(path)}")
    return [path]


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def read_mpd(path: str | Path, catalog: Iterable[TrackRecord] | None = None, *,
             min_tracks: int = 2) -> tuple[list[Playlist], MatchReport]:
    """Playlists of MPD slice files (one file or a folder), ids `mpd:<pid>`."""
    report = MatchReport()
    matcher = TrackMatcher(catalog, report)
    playlists: list[Playlist] = []
    for file in _mpd_files(Path(path)):
        name = display_text(file)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PlaylistError(f"{name}: not an MPD slice (not UTF-8 JSON: "
                                f"{str(error).splitlines()[0]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("playlists"), list):
            raise PlaylistError(f"{name}: not an MPD slice (no 'playlists' list)")
        for index, entry in enumerate(data["playlists"]):
            pid = entry.get("pid") if isinstance(entry, dict) else None
            where = f"{name}: playlist {index} (pid {pid})"
            if not isinstance(pid, int) or isinstance(pid, bool):
                raise PlaylistError(f"{name}: playlist {index}: needs an integer 'pid'")
            if not isinstance(entry.get("tracks"), list):
                raise PlaylistError(f"{where}: needs a 'tracks' list")
            tracks = []
            for position, track in enumerate(entry["tracks"]):
                if not isinstance(track, dict) or not (
                        _text(track.get("track_uri")) or
                        (_text(track.get("artist_name")) and _text(track.get("track_name")))):
                    raise PlaylistError(f"{where}: track {position}: needs 'track_uri' or "
                                        "'artist_name' and 'track_name'")
                found = matcher.match(_text(track.get("track_uri")),
                                      _text(track.get("artist_name")),
                                      _text(track.get("track_name")))
                if found is not None:
                    tracks.append(found)
            _keep(f"mpd:{pid}", tracks, "mpd", min_tracks, report, playlists)
    return playlists, report


def read_playlist_jsonl(path: str | Path, catalog: Iterable[TrackRecord] | None = None, *,
                        min_tracks: int = 2) -> tuple[list[Playlist], MatchReport]:
    """Playlists of a JSONL file (see the module docstring), tracks mapped to the catalog."""
    path = Path(path)
    if not path.is_file():
        raise PlaylistError(f"playlists not found: {display_text(path)}")
    report = MatchReport()
    matcher = TrackMatcher(catalog, report)
    playlists: list[Playlist] = []
    for number, data in read_jsonl(path):
        where = f"{display_text(path)}:{number}"
        if not isinstance(data, dict) or not _text(str(data.get("playlist_id") or "")) or \
                not isinstance(data.get("tracks"), list):
            raise PlaylistError(f"{where}: a playlist needs 'playlist_id' and a 'tracks' list")
        tracks = []
        for position, track in enumerate(data["tracks"]):
            if isinstance(track, str) and track.strip():
                found = matcher.match(track, None, None)
            elif isinstance(track, dict) and (_text(track.get("track_id")) or (
                    _text(track.get("artist")) and _text(track.get("title")))):
                found = matcher.match(_text(track.get("track_id")), _text(track.get("artist")),
                                      _text(track.get("title")))
            else:
                raise PlaylistError(f"{where}: track {position}: expected a track id or "
                                    "{'artist', 'title'}")
            if found is not None:
                tracks.append(found)
        _keep(str(data["playlist_id"]), tracks, str(data.get("kind", "")), min_tracks,
              report, playlists)
    return playlists, report
