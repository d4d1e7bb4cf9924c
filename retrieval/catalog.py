"""Catalog records: one per track, plus playlists (DESIGN.md §3.1), read and written as JSONL.

Records are validated field by field when read (`TrackRecord.from_dict`); every message
names the file and line. Two readers share that check:

- `scan_catalog` lists each bad record (file:line and reason; a repeated track id is one)
  and returns the good ones: indexing uses it, so one bad line never costs the other tracks
  and is never silent.
- `read_catalog` raises on the first bad record, before any work: training uses it, since a
  training set must be exactly what its catalog says.

A line that is not JSON at all means the file is not a catalog (a CSV, a truncated write):
both readers raise for it.

Paths as text (`path_to_text`/`text_to_path`): a file name need not be valid UTF-8, but JSON
(catalogs, Qdrant payloads) holds only Unicode. A path that is valid Unicode is stored as
itself, so every name a person can type keeps its usual id; one that is not becomes its
RFC 8089 `file://` URI (percent-encoded bytes), which is lossless, plain ASCII, and never
equal to an absolute path (those start with "/"). `display_text` is for people only:
undecodable bytes shown as `\\xff` (ambiguous with a literal backslash, so never an id).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import quote_from_bytes, unquote_to_bytes

__all__ = ["TrackRecord", "Playlist", "RejectedRecord", "read_catalog", "scan_catalog",
           "write_catalog", "read_playlists", "write_playlists", "CatalogError",
           "path_to_text", "text_to_path", "display_text", "json_problem", "read_jsonl"]

SPLITS = ("train", "valid", "test")
_FILE_URI = "file://"


class CatalogError(ValueError):
    """A catalog or playlist file that cannot be read; the message names file and line."""


# ---- paths and text ---------------------------------------------------------------------
def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates: undecodable file-name bytes, or "\ud800"
        return False


def path_to_text(path: str | bytes | os.PathLike) -> str:
    """A filesystem path as JSON-safe text, losslessly (see the module docstring)."""
    text = os.fsdecode(path)
    if _is_unicode(text):
        return text
    return _FILE_URI + quote_from_bytes(os.fsencode(os.path.abspath(text)), safe="/")


def text_to_path(text: str) -> str:
    """The inverse of `path_to_text`: a path `open()` and `Path()` accept."""
    if text.startswith(_FILE_URI):
        return os.fsdecode(unquote_to_bytes(text[len(_FILE_URI):]))
    return text


def display_text(text: str | os.PathLike) -> str:
    """Any string (a path, a message) made printable: undecodable bytes as `\\xNN`."""
    text = os.fsdecode(text)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name produces ("\ud800" from JSON)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# ---- field checks -------------------------------------------------------------------------
def _describe(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str) if value is not None else "null"
    return text if len(text) <= 40 else text[:37] + "..."


def _string(data: dict, name: str, default: str | None = "", *, required: bool = False,
            non_empty: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise CatalogError(f"'{name}' is missing" if name not in data else f"'{name}' is null")
        return default
    if not isinstance(value, str):
        raise CatalogError(f"'{name}' must be a string, not {_describe(value)}")
    if not _is_unicode(value):
        raise CatalogError(f"'{name}' holds an invalid character (a lone surrogate): "
                           f"{display_text(value)!r}")
    if non_empty and not value.strip():
        raise CatalogError(f"'{name}' is empty")
    return value


def _track_id(data: dict) -> str:
    value = data.get("track_id")
    # Integer ids are common (MagnaTagATune clip ids); floats and booleans are mistakes.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _string(data, "track_id", required=True, non_empty=True)


def _path(data: dict) -> str:
    value = _string(data, "path", required=True, non_empty=True)
    if "\0" in value:
        raise CatalogError("'path' contains a NUL character")
    return text_to_path(value)


def _duration(data: dict) -> float:
    value = data.get("duration")
    if value is None:
        return 0.0
    try:
        seconds = float(value) if isinstance(value, (int, float)) and \
            not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer beyond float range
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise CatalogError(f"'duration' must be a finite number of seconds >= 0, "
                           f"not {_describe(value)}")
    return seconds


def _tags(data: dict) -> list[str]:
    value = data.get("tags")
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogError(f"'tags' must be a list of strings, not {_describe(value)}")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or not _is_unicode(tag):
            raise CatalogError(f"'tags' must hold non-empty strings, not {_describe(tag)}")
    return list(value)


def json_problem(value: object, where: str = "value") -> str | None:
    """Why `value` cannot go into JSON (catalogs, Qdrant payloads), or None if it can: only
    finite numbers, Unicode text, string keys, lists and objects."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value!r}: JSON holds only finite numbers"
    if isinstance(value, str):
        return None if _is_unicode(value) else \
            f"{where} holds an invalid character (a lone surrogate)"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _is_unicode(key):
                return f"{where} has an invalid key {display_text(str(key))!r}"
            problem = json_problem(item, f"{where}[{key!r}]")
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = json_problem(item, f"{where}[{index}]")
            if problem:
                return problem
    elif value is not None and not isinstance(value, (bool, int, float)):
        return f"{where} is a {type(value).__name__}, not a JSON value"
    return None


def _meta(data: dict) -> dict:
    value = data.get("meta")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"'meta' must be an object, not {_describe(value)}")
    problem = json_problem(value, "'meta'")
    if problem:
        raise CatalogError(problem)
    return value


@dataclass
class TrackRecord:
    track_id: str
    path: str                   # a filesystem path (may hold surrogate escapes: see above)
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
    def from_dict(cls, data: object) -> "TrackRecord":
        """A record from its JSON form, checked field by field (CatalogError names the field
        and, once known, the track). `null` means "not given" for optional fields; unknown
        fields are ignored (catalog exports carry extra columns)."""
        if not isinstance(data, dict):
            raise CatalogError(f"a track record must be a JSON object, not {_describe(data)}")
        track_id = _track_id(data)
        try:
            split = _string(data, "split", "train")
            if split not in SPLITS:
                raise CatalogError(f"split {split!r} is not one of {', '.join(SPLITS)}")
            return cls(track_id=track_id, path=_path(data), title=_string(data, "title"),
                       artist=_string(data, "artist"), album=_string(data, "album"),
                       duration=_duration(data), tags=_tags(data), split=split,
                       caption=_string(data, "caption", None), meta=_meta(data))
        except CatalogError as error:
            raise CatalogError(f"track {display_text(track_id)!r}: {error}") from None

    def to_dict(self) -> dict:
        """The JSON form: `path` as text (`path_to_text`)."""
        data = asdict(self)
        data["path"] = path_to_text(self.path)
        return data


@dataclass
class RejectedRecord:
    """A catalog line that is not a valid track record: where it is and why."""
    where: str                  # "catalog.jsonl:12", printable
    reason: str
    duplicate_of: int | None = None   # a repeated track id: the line that first had it


@dataclass
class Playlist:
    playlist_id: str
    tracks: list[str]
    # Where the playlist comes from (e.g. "mpd", "simulated"): the demo corpus's playlists
    # are simulated listening sessions (training.playlists.sessions), not listening data.
    kind: str = ""


def _lines(handle, path: Path) -> Iterator[str]:
    try:
        yield from handle
    except UnicodeDecodeError:
        raise CatalogError(f"{display_text(path)}: not a UTF-8 text file (a catalog is JSON "
                           "lines)") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    # utf-8-sig: a byte-order mark (as Windows editors write) is not part of the first record.
    with open(path, encoding="utf-8-sig", errors="strict") as handle:
        for number, line in enumerate(_lines(handle, path), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise CatalogError(f"{display_text(path)}:{number}: not valid JSON at column "
                                   f"{error.colno} ({error.msg.removesuffix(' at')})") from None


def _catalog_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():  # stat only: a FIFO must not be opened (it would block)
        problem = ("a folder, not a file" if path.is_dir() else
                   "not a regular file" if os.path.lexists(path) else "no such file")
        raise CatalogError(f"catalog not found: {display_text(path)} ({problem})")
    return path


def scan_catalog(path: str | Path) -> tuple[list[TrackRecord], list[RejectedRecord]]:
    """The valid records of a catalog JSONL (relative paths resolved against the file's
    folder) and the rejected ones. Raises CatalogError only when the file itself is not a
    catalog (missing, not UTF-8, a line that is not JSON)."""
    path = _catalog_file(path)
    records, rejected, first_line = [], [], {}
    for number, data in read_jsonl(path):
        where = f"{display_text(path)}:{number}"
        try:
            record = TrackRecord.from_dict(data)
        except CatalogError as error:
            rejected.append(RejectedRecord(where, str(error)))
            continue
        first = first_line.setdefault(record.track_id, number)
        if first != number:  # one id, one point: a second record would silently replace it
            rejected.append(RejectedRecord(
                where, f"track {display_text(record.track_id)!r}: duplicate track id (first on "
                       f"line {first}; this record is ignored)", duplicate_of=first))
            continue
        if not Path(record.path).is_absolute():
            record.path = str((path.parent / record.path).resolve())
        records.append(record)
    return records, rejected


def read_catalog(path: str | Path) -> list[TrackRecord]:
    """Read a catalog JSONL; raise CatalogError (file:line) if any record is invalid."""
    records, rejected = scan_catalog(path)
    if rejected:
        more = f" (and {len(rejected) - 1} more invalid records)" if len(rejected) > 1 else ""
        raise CatalogError(f"{rejected[0].where}: {rejected[0].reason}{more}")
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
    for number, data in read_jsonl(path):
        if not isinstance(data, dict) or "playlist_id" not in data or \
                not isinstance(data.get("tracks"), list):
            raise CatalogError(f"{path}:{number}: a playlist needs 'playlist_id' and a "
                               "'tracks' list")
        playlists.append(Playlist(str(data["playlist_id"]), [str(t) for t in data["tracks"]],
                                  data.get("kind", "")))
    return playlists


def write_playlists(playlists: Iterable[Playlist], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for playlist in playlists:
            handle.write(json.dumps(asdict(playlist), ensure_ascii=False) + "\n")
