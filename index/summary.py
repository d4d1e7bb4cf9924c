"""What an indexing run did: counts, and every entry it could not index, with the reason.

Nothing is skipped silently: a bad file, a bad catalog record, a duplicate track id, a
dangling symlink, a symlink loop or a FIFO each become one `Skipped` entry, counted by kind.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from retrieval.catalog import display_text

__all__ = ["Skipped", "IngestSummary", "UNREADABLE", "INVALID_RECORD", "INVALID_VECTOR",
           "DUPLICATE", "DANGLING_SYMLINK", "SYMLINK_LOOP", "NOT_A_FILE"]

# Kinds of skipped entries (the summary counts them by kind).
UNREADABLE = "unreadable"               # missing, corrupt, empty, undecodable audio; I/O error
INVALID_RECORD = "invalid record"       # a catalog line with a bad field
INVALID_VECTOR = "invalid vector"       # the model gave a non-finite or zero vector
DUPLICATE = "duplicate"                 # a track id (or folder) already seen in this run
DANGLING_SYMLINK = "dangling symlink"
SYMLINK_LOOP = "symlink loop"
NOT_A_FILE = "not a regular file"       # FIFO, socket, device, folder


@dataclass
class Skipped:
    """An entry that was not indexed: where it is (printable), its kind and a one-line reason."""
    where: str
    kind: str
    reason: str


@dataclass
class IngestSummary:
    indexed: int = 0              # new tracks encoded and stored
    updated: int = 0              # already indexed, audio or catalog fields changed
    skipped_existing: int = 0     # already indexed with the same model, audio and fields
    removed: int = 0              # points of files gone from the indexed folder
    skipped: list[Skipped] = field(default_factory=list)
    elapsed_s: float = 0.0
    collection: str = ""
    location: str = ""
    index_build_s: float | None = None   # the HNSW build at the end, when one ran

    @property
    def failed(self) -> list[tuple[str, str]]:
        """(where, reason) of every skipped entry (the pre-`skipped` form, kept for callers)."""
        return [(s.where, s.reason) for s in self.skipped]

    @property
    def complete(self) -> bool:
        """Whether every entry was indexed (or already was)."""
        return not self.skipped

    def skipped_counts(self) -> dict[str, int]:
        return dict(Counter(s.kind for s in self.skipped))

    def to_dict(self) -> dict:
        return {"indexed": self.indexed, "updated": self.updated,
                "skipped_existing": self.skipped_existing, "removed": self.removed,
                "skipped": [asdict(s) for s in self.skipped],
                "skipped_counts": self.skipped_counts(),
                "failed": [list(f) for f in self.failed], "elapsed_s": round(self.elapsed_s, 3),
                "collection": self.collection, "location": self.location,
                "index_build_s": (None if self.index_build_s is None
                                  else round(self.index_build_s, 3))}

    def describe(self) -> str:
        """One line for people: what was done, and what was skipped by kind."""
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped_counts().items()))
        skipped = f"{len(self.skipped)} skipped ({counts})" if counts else "0 skipped"
        return (f"indexed {self.indexed} new track(s), {self.updated} updated, "
                f"{self.skipped_existing} already indexed, {self.removed} removed, {skipped}, "
                f"into '{self.collection}' at {display_text(self.location)} "
                f"({self.elapsed_s:.1f} s"
                + (f", search index built in {self.index_build_s:.1f} s)"
                   if self.index_build_s is not None else ")"))
