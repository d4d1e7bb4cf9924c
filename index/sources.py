"""Which tracks an `index` run covers: a folder scan, a single audio file, a catalog JSONL,
or a folder plus a catalog; and what in them cannot be a track (listed, never dropped).

Track ids: a catalog's own `track_id`s; for a folder scan or a single audio file, the
file's resolved absolute path as text (`retrieval.catalog.path_to_text`: the path itself, or
its file:// URI when the name is not valid UTF-8), so two folders never collide and
indexing a parent folder later finds the same tracks. A folder-scan point is therefore one
whose track id equals its payload `path`.

A folder scan follows symlinked folders (libraries link albums in) but never enters a
folder twice, so a symlink loop ends the descent instead of recursing; hidden entries are
skipped and only audio extensions count. It only stats entries, never opens them: a FIFO
cannot hang it. Dangling symlinks, loops, FIFOs/sockets/devices and files reached twice
(a symlink to a file already found) are listed as `Skipped`.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.catalog import (CatalogError, TrackRecord, display_text, path_to_text,
                               scan_catalog)
from retrieval.frontend import AUDIO_EXTENSIONS

from .summary import (DANGLING_SYMLINK, DUPLICATE, INVALID_RECORD, NOT_A_FILE, SYMLINK_LOOP,
                      UNREADABLE, Skipped)

__all__ = ["TrackSource", "collect_tracks", "scan_folder", "file_record", "file_kind"]


@dataclass
class TrackSource:
    records: list[TrackRecord]
    skipped: list[Skipped] = field(default_factory=list)
    # The resolved folder of a plain folder scan: where files that are gone may be removed
    # from the collection. None for catalogs and single files.
    folder: Path | None = None


def file_kind(mode: int) -> str:
    """'a FIFO', 'a socket', … for a stat mode that is not a regular file."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def file_record(path: Path) -> TrackRecord:
    """One audio file as a track: track_id = resolved absolute path as text, title = stem."""
    resolved = path.resolve()
    return TrackRecord(track_id=path_to_text(resolved), path=str(resolved),
                       title=display_text(path.stem))


def _stat_problem(path: Path, error: OSError) -> Skipped:
    where = display_text(path)
    if error.errno == errno.ELOOP:
        return Skipped(where, SYMLINK_LOOP, "symlink loop: the link never reaches a file")
    if isinstance(error, FileNotFoundError) and path.is_symlink():
        return Skipped(where, DANGLING_SYMLINK,
                       f"dangling symlink to {display_text(os.readlink(path))}")
    return Skipped(where, UNREADABLE, f"cannot stat: {error.strerror or error}")


def _walk(root: Path) -> tuple[list[Path], list[Skipped]]:
    """Regular audio files under `root` and the entries that could not be tracks."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    top = root.stat()
    first_seen: dict[tuple[int, int], Path] = {(top.st_dev, top.st_ino): root}
    stack: list[tuple[Path, frozenset]] = [(root, frozenset(first_seen))]
    while stack:  # an explicit stack: deep trees never hit the recursion limit
        directory, ancestors = stack.pop()
        try:
            with os.scandir(directory) as listing:
                names = sorted(entry.name for entry in listing)
        except OSError as error:
            skipped.append(Skipped(display_text(directory), UNREADABLE,
                                   f"cannot list the folder: {error.strerror or error}"))
            continue
        for name in reversed(names):  # reversed: the stack pops them in sorted order
            if name.startswith("."):
                continue  # hidden files and folders (.DS_Store, .git, …) are not music
            path = directory / name
            audio = path.suffix.lower() in AUDIO_EXTENSIONS
            try:
                info = os.stat(path)  # follows symlinks; never opens the entry
            except OSError as error:
                if audio or error.errno == errno.ELOOP:
                    skipped.append(_stat_problem(path, error))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    skipped.append(Skipped(display_text(path), SYMLINK_LOOP,
                                           f"links back to {display_text(first_seen[key])}"))
                elif key in first_seen:
                    skipped.append(Skipped(display_text(path), DUPLICATE,
                                           f"the same folder as {display_text(first_seen[key])}"
                                           ", scanned once"))
                else:
                    first_seen[key] = path
                    stack.append((path, ancestors | {key}))
            elif audio and stat.S_ISREG(info.st_mode):
                files.append(path)
            elif audio:
                skipped.append(Skipped(display_text(path), NOT_A_FILE,
                                       f"{file_kind(info.st_mode)}, not an audio file"))
    return files, skipped


def _unique(records: list[TrackRecord], where: list[str]) -> tuple[list[TrackRecord],
                                                                   list[Skipped]]:
    """First record of each track id; later ones listed (one id is one point)."""
    first: dict[str, str] = {}
    unique, skipped = [], []
    for record, place in zip(records, where):
        if record.track_id in first:
            skipped.append(Skipped(place, DUPLICATE,
                                   f"the same track as {first[record.track_id]}"))
        else:
            first[record.track_id] = place
            unique.append(record)
    return unique, skipped


def scan_folder(folder: str | Path) -> TrackSource:
    """Audio files under `folder` (recursive, sorted by path) as tracks; see the module
    docstring for what is followed and what is listed."""
    folder = Path(folder).resolve()
    files, skipped = _walk(folder)
    files.sort(key=lambda p: os.fsencode(p))
    records, duplicates = _unique([file_record(p) for p in files],
                                  [display_text(p) for p in files])
    return TrackSource(records, skipped + duplicates, folder)


def _from_catalog(catalog: Path, folder: Path | None) -> TrackSource:
    records, rejected = scan_catalog(catalog)
    skipped = [Skipped(r.where, DUPLICATE if r.duplicate_of else INVALID_RECORD, r.reason)
               for r in rejected]
    if folder is not None:
        # Relative catalog paths that do not exist beside the catalog are looked up in the
        # folder instead (a catalog kept apart from its audio).
        base = catalog.resolve().parent
        for record in records:
            path = Path(record.path)
            if not os.path.lexists(path) and path.is_relative_to(base):
                alternative = folder.resolve() / path.relative_to(base)
                if os.path.lexists(alternative):
                    record.path = str(alternative)
    return TrackSource(records, skipped)


def collect_tracks(source: str | Path, catalog: str | Path | None = None) -> TrackSource:
    """The tracks to index, from a folder, a single audio file, a catalog JSONL, or a folder
    plus a catalog. Raises FileNotFoundError if `source` is missing, CatalogError if it is a
    file that is neither audio (by extension) nor a catalog."""
    source = Path(source).expanduser()
    try:
        info = os.stat(source)
    except OSError as error:
        if isinstance(error, FileNotFoundError) and not source.is_symlink():
            raise FileNotFoundError(f"nothing to index: {display_text(source)} does not "
                                    "exist") from None
        problem = _stat_problem(source, error)
        raise FileNotFoundError(f"nothing to index: {problem.where}: {problem.reason}") from None
    if catalog is not None:
        folder = source if stat.S_ISDIR(info.st_mode) else None
        return _from_catalog(Path(catalog).expanduser(), folder)
    if stat.S_ISDIR(info.st_mode):
        return scan_folder(source)
    if source.suffix.lower() in AUDIO_EXTENSIONS:
        return TrackSource([file_record(source)])  # a FIFO is listed when its state is read
    if not stat.S_ISREG(info.st_mode):
        raise CatalogError(f"cannot index {display_text(source)}: "
                           f"{file_kind(info.st_mode)}, not a folder, audio file or catalog")
    return _from_catalog(source, None)
