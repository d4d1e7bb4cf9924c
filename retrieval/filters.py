"""Payload filters for a search: artist, tag, duration range, catalog collection.

A `SearchFilter` is plain data; each store back end translates it (index/filters.py), and
`matches(payload)` is the reference the translations are tested against. Values match
payload fields exactly (Qdrant keyword matching), so `--tag Reel` does not find "reel".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .query import QueryError

__all__ = ["SearchFilter", "ARTIST", "TAGS", "DURATION", "COLLECTION"]

ARTIST = "artist"
TAGS = "tags"
DURATION = "duration"          # seconds; 0 means unknown (a folder scan without a catalog)
COLLECTION = "meta.collection"  # the catalog's collection (the demo: "bach", "oneills1850", …)


def _strings(values) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    return tuple(dict.fromkeys(str(v) for v in values if str(v).strip()))


@dataclass(frozen=True)
class SearchFilter:
    """Which tracks a search may return. Empty fields filter nothing.

    `artists`, `collections`: any of them; `tags`: every one of them; `exclude_*`: none
    of them. A duration bound also drops tracks of unknown duration (stored as 0).
    """
    artists: tuple[str, ...] = ()
    exclude_artists: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    min_duration: float | None = None
    max_duration: float | None = None
    exclude_track_ids: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("artists", "exclude_artists", "tags", "exclude_tags", "collections",
                     "exclude_track_ids"):
            object.__setattr__(self, name, _strings(getattr(self, name)))
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise QueryError(f"{name.replace('_', ' ')} must be a number of seconds ≥ 0, "
                                 f"got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if (self.min_duration is not None and self.max_duration is not None
                and self.min_duration > self.max_duration):
            raise QueryError(f"min duration {self.min_duration:g} s is above max duration "
                             f"{self.max_duration:g} s")

    def __bool__(self) -> bool:
        return any(getattr(self, name) not in ((), None) for name in self.__dataclass_fields__)

    def also(self, **more) -> "SearchFilter":
        """This filter with more values appended to tuple fields (bounds replaced)."""
        changes = {name: (getattr(self, name) + _strings(value)
                          if isinstance(getattr(self, name), tuple) else value)
                   for name, value in more.items()}
        return replace(self, **changes)

    @property
    def has_duration(self) -> bool:
        return self.min_duration is not None or self.max_duration is not None

    def matches(self, payload: dict) -> bool:
        """Whether a stored payload passes (the reference for the store translations)."""
        tags = set(payload.get(TAGS) or [])
        artist = payload.get(ARTIST)
        collection = (payload.get("meta") or {}).get("collection")
        duration = float(payload.get(DURATION) or 0.0)
        return ((not self.artists or artist in self.artists)
                and artist not in self.exclude_artists
                and set(self.tags) <= tags and not tags & set(self.exclude_tags)
                and (not self.collections or collection in self.collections)
                and (not self.has_duration or duration > 0)
                and (self.min_duration is None or duration >= self.min_duration)
                and (self.max_duration is None or duration <= self.max_duration)
                and payload.get("track_id") not in self.exclude_track_ids)

    def to_dict(self) -> dict:
        """The fields that filter something (for a result's `query` echo)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name in self.__dataclass_fields__
                if (value := getattr(self, name)) not in ((), None)}
