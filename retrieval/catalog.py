"""Catalog records: one per track, plus playlists (DESIGN.md §3.1), read and written as JSONL."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["TrackRecord", "Playlist", "read_catalog", "write_catalog", "read_playlists",
           "write_playlists", "CatalogError"]

SPLITS = ("train", "valid", "test")


class CatalogError(ValueError):
    """A catalog or playlist file that cannot be read; the message names file and line."""


@dataclass
class TrackRecord:
    track_id: str
    path: str
    title: str = ""
    artist: str = ""
    album: str = ""
    duration: float = 0.0
    tags: list[str] = field(default_factory=list)
    split: str = "train"
    caption: str | None = None
    # Free-form provenance (collection, source file, rendering programs, heuristic flags).
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "TrackRecord":
        if "track_id" not in data or "path" not in data:
            raise CatalogError("a track record needs 'track_id' and 'path'")
        known = {f for f in cls.__dataclass_fields__}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.track_id = str(record.track_id)
        if not isinstance(record.tags or [], list):
            raise CatalogError(f"track {record.track_id}: 'tags' must be a list of strings")
        record.tags = [str(t) for t in (record.tags or [])]
        if record.split not in SPLITS:
            raise CatalogError(f"track {record.track_id}: split {record.split!r} is not one of "
                               f"{', '.join(SPLITS)}")
        return record

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Playlist:
    playlist_id: str
    tracks: list[str]
    # How the group was formed (e.g. "collection", "composer", "form"): demo playlists are
    # co-occurrence groups derived from corpus structure, not listening data.
    kind: str = ""


def _lines(handle, path: Path) -> Iterator[str]:
    try:
        yield from handle
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not a UTF-8 text file (a catalog is JSON lines)") from None


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8", errors="strict") as handle:
        for number, line in enumerate(_lines(handle, path), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise CatalogError(f"{path}:{number}: not valid JSON ({error.msg})") from None


def read_catalog(path: str | Path) -> list[TrackRecord]:
    """Read a catalog JSONL; relative `path` fields are resolved against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog not found: {path}")
    records = []
    for number, data in _read_jsonl(path):
        try:
            record = TrackRecord.from_dict(data)
        except (CatalogError, TypeError) as error:
            raise CatalogError(f"{path}:{number}: {error}") from None
        if not Path(record.path).is_absolute():
            record.path = str((path.parent / record.path).resolve())
        records.append(record)
    return records


def write_catalog(records: Iterable[TrackRecord], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")


def read_playlists(path: str | Path) -> list[Playlist]:
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"playlists not found: {path}")
    playlists = []
    for number, data in _read_jsonl(path):
        if "playlist_id" not in data or not isinstance(data.get("tracks"), list):
            raise CatalogError(f"{path}:{number}: a playlist needs 'playlist_id' and a "
                               "'tracks' list")
        playlists.append(Playlist(str(data["playlist_id"]), [str(t) for t in data["tracks"]],
                                  data.get("kind", "")))
    return playlists


def write_playlists(playlists: Iterable[Playlist], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for playlist in playlists:
            handle.write(json.dumps(asdict(playlist), ensure_ascii=False) + "\n")
