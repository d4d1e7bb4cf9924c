"""Change detection that follows the audio, and removal of files gone from a folder.

Each payload records its audio file's size, mtime and content hash (`points.FileState`).
On a re-run a stored track is:

- unchanged when path, size and mtime match (no read), or when they moved but the content
  hash did not (a touched or copied file: its payload's file state is refreshed quietly);
- re-encoded when the content hash differs (new audio at the same path, or a catalog path
  now naming another file), or when the payload has no hash (a collection built before
  hashes were stored: re-encoded once, features usually come from the cache);
- given a new payload, vectors kept, when only its catalog fields changed.

A file that cannot be read is listed (`UnreadableTrack`) and its stored point is kept.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.catalog import TrackRecord, display_text, path_to_text, text_to_path
from retrieval.feature_cache import file_digest

from .points import DERIVED_KEYS, FILE_STATE_KEYS, FileState, build_payload
from .sources import file_kind
from .store import QdrantStore
from .summary import DANGLING_SYMLINK, NOT_A_FILE, SYMLINK_LOOP, UNREADABLE, Skipped

__all__ = ["UnreadableTrack", "file_state", "ChangePlan", "plan_changes", "remove_gone"]


class UnreadableTrack(ValueError):
    """A track's audio file cannot be read: missing, not a regular file, or an I/O error."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


def file_state(path: str | Path, known: dict | None = None) -> FileState:
    """Size, mtime and content hash of a regular file. Only stats first, so a FIFO or device
    is refused before it is opened (opening one would block or never end). With `known`
    (a stored payload for this same path) whose size and mtime match, its hash is reused."""
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnreadableTrack(SYMLINK_LOOP, "symlink loop: the link never reaches a file")
        if isinstance(error, FileNotFoundError):
            dangling = os.path.islink(path)
            raise UnreadableTrack(DANGLING_SYMLINK if dangling else UNREADABLE,
                                  "dangling symlink" if dangling else "audio file not found")
        raise UnreadableTrack(UNREADABLE, f"cannot stat: {error.strerror or error}")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableTrack(NOT_A_FILE, f"{file_kind(info.st_mode)}, not an audio file")
    if known and known.get("content_hash") and known.get("file_size") == info.st_size \
            and known.get("file_mtime_ns") == info.st_mtime_ns:
        return FileState(info.st_size, info.st_mtime_ns, str(known["content_hash"]))
    try:
        digest = file_digest(path)
    except OSError as error:
        raise UnreadableTrack(UNREADABLE, f"cannot read: {error.strerror or error}") from None
    return FileState(info.st_size, info.st_mtime_ns, digest)


@dataclass
class ChangePlan:
    encode: list[TrackRecord] = field(default_factory=list)   # new, or audio changed
    refresh: list[dict] = field(default_factory=list)         # payloads to rewrite, vectors kept
    unchanged: int = 0                                        # same audio, same catalog fields
    updated: int = 0                                          # catalog fields changed
    skipped: list[Skipped] = field(default_factory=list)      # unreadable now: point kept


def plan_changes(records: list[TrackRecord], existing: dict[str, dict],
                 fingerprint: str) -> ChangePlan:
    """Sort `records` into what to encode, what to rewrite and what to leave, against the
    stored payloads `existing` (by track id, already filtered to this model)."""
    plan = ChangePlan()
    for record in records:
        stored = existing.get(record.track_id)
        if stored is None or not stored.get("content_hash"):
            plan.encode.append(record)     # new, or stored before hashes: cannot tell
            continue
        same_path = stored.get("path") == path_to_text(Path(record.path).expanduser().resolve())
        try:
            state = file_state(record.path, stored if same_path else None)
        except UnreadableTrack as error:
            plan.skipped.append(Skipped(display_text(record.path), error.kind, str(error)))
            continue
        if state.content_hash != stored["content_hash"]:
            plan.encode.append(record)     # other audio: its vectors must change
            continue
        payload = build_payload(record, fingerprint, state)
        payload.update({k: stored[k] for k in DERIVED_KEYS if k in stored})   # vectors kept
        same_fields = payload["payload_hash"] == stored.get("payload_hash")
        if not same_fields or any(payload[k] != stored.get(k) for k in FILE_STATE_KEYS):
            plan.refresh.append(payload)
        if same_fields:
            plan.unchanged += 1            # a touched file is still the same track
        else:
            plan.updated += 1
    return plan


def remove_gone(store: QdrantStore, folder: Path) -> int:
    """Delete the folder-scan points (track id = path) under `folder` whose file no longer
    exists; never points of other folders or of catalogs, never a file that is still there
    (even if it could not be read this time). Returns how many were removed."""
    gone = []
    for payload in store.iter_payloads():
        track_id, stored = payload.get("track_id"), payload.get("path")
        if not isinstance(stored, str) or track_id != stored:
            continue                       # a catalog track: its id is its own, not its path
        path = Path(text_to_path(stored))
        if path.is_relative_to(folder) and not os.path.lexists(path):
            gone.append(track_id)
    store.delete(gone)
    return len(gone)
