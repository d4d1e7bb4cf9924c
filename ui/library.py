"""What the app knows about the collection it serves, as plain functions of the searcher:
the filter choices (artists, tags by frequency), the Library tab's description, and
indexing a folder the visitor types into the served collection (index.index_tracks with
a progress callback)."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.messages import first_line

__all__ = ["Facets", "collection_facets", "library_markdown", "index_folder",
           "MAX_FACET_SCAN"]

MAX_FACET_SCAN = 100_000     # payloads read for the filter choices (a 1M library: a sample)


@dataclass
class Facets:
    """The choices the filters offer and what the collection stores."""
    tracks: int = 0
    scanned: int = 0
    artists: list[str] = field(default_factory=list)        # by name
    tags: list[tuple[str, int]] = field(default_factory=list)   # by count, then name
    collections: list[str] = field(default_factory=list)
    track_choices: list[tuple[str, str]] = field(default_factory=list)   # (label, track id)
    has_chunks: bool = False
    has_cultural: bool = False      # a `cultural` vector: hybrid search (--fusion) possible
    backbone: str | None = None      # the backbone `index --backbone` stored ("msd", "mtt")


def collection_facets(store, limit: int = MAX_FACET_SCAN,
                      max_track_choices: int = 2000) -> Facets:
    """Read up to `limit` payloads once: artists, tags, catalog collections, and the
    tracks a visitor can pick by name (the first `max_track_choices` by title; any other
    track id can be typed). Whether the collection keeps per-chunk vectors (sections), and
    which backbone it stored, if any."""
    facets = Facets(tracks=int(store.count()))
    artists, tags, collections, tracks = set(), Counter(), set(), []
    for payload in store.iter_payloads():
        if facets.scanned >= limit:
            break
        facets.scanned += 1
        if payload.get("artist"):
            artists.add(str(payload["artist"]))
        tags.update(str(t) for t in payload.get("tags") or [])
        facets.backbone = facets.backbone or payload.get("backbone")
        collection = (payload.get("meta") or {}).get("collection")
        if collection:
            collections.add(str(collection))
        track_id = str(payload.get("track_id"))
        title = payload.get("title") or track_id
        byline = f" — {payload['artist']}" if payload.get("artist") else ""
        tracks.append((f"{title}{byline}", track_id))
    facets.artists = sorted(artists, key=str.casefold)
    facets.tags = sorted(tags.items(), key=lambda item: (-item[1], item[0]))
    facets.collections = sorted(collections)
    facets.track_choices = sorted(tracks, key=lambda t: t[0].casefold())[:max_track_choices]
    if tracks:
        facets.has_chunks = bool(store.get_vectors([tracks[0][1]], using="chunks"))
        facets.has_cultural = "cultural" in getattr(store, "vector_names", set)()
    return facets


def _model_lines(model) -> list[str]:
    config = getattr(model, "config", None)
    fingerprint = getattr(model, "fingerprint", None) or "unsaved"
    lines = [f"- **fingerprint** `{fingerprint}`"]
    if config is not None:
        towers = ", ".join(f"{kind} ({getattr(tower, 'type', type(tower).__name__)})"
                           for kind, tower in config.towers.items())
        lines += [f"- **towers** {towers}", f"- **joint space** {config.joint_dim} dimensions",
                  f"- **tag vocabulary** {len(config.tags)} tags"]
    return lines


def library_markdown(searcher, facets: Facets) -> str:
    """The Library tab's description of the store, the collection and the model."""
    store = searcher.store
    try:
        others = [name for name in store.collections() if name != store.collection]
    except Exception:  # a server that refuses listing still serves this collection
        others = []
    sample = (f" (filters list the first {facets.scanned:,})"
              if facets.scanned < facets.tracks else "")
    lines = [f"### Collection `{store.collection}`",
             f"- **where** `{store.location}`",
             f"- **tracks** {facets.tracks:,}{sample}",
             f"- **artists** {len(facets.artists):,} · **tags** {len(facets.tags):,}"
             + (f" · **catalog collections** {', '.join(facets.collections)}"
                if facets.collections else ""),
             f"- **section matching** {'yes (chunk vectors stored)' if facets.has_chunks else 'no (no chunk vectors)'}",
             f"- **hybrid search** {'yes (cultural vectors stored)' if facets.has_cultural else 'no (no cultural vectors)'}",
             "- **other collections here** " + (", ".join(f"`{n}`" for n in others)
                                                 if others else "none"),
             "", "### Model", *_model_lines(searcher.model)]
    return "\n".join(lines)


class FolderError(ValueError):
    """The folder to index cannot be used (one line, shown in the app)."""


def check_folder(text: str | None) -> Path:
    """A folder the visitor typed: it must exist and be a readable folder; nothing else
    (no catalog, no single file) is indexed from the app."""
    text = (text or "").strip()
    if not text:
        raise FolderError("type the path of a folder of audio files to index")
    folder = Path(os.path.expanduser(text))
    if not folder.exists():
        raise FolderError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise FolderError(f"{folder} is not a folder: give a folder of audio files")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise FolderError(f"cannot read the folder {folder}")
    return folder.resolve()


def index_folder(searcher, text: str | None,
                 on_progress: Callable[[int, int], None] | None = None,
                 cache_dir: str | os.PathLike | None = None) -> str:
    """Index a folder into the served collection → one line (what was done, or why not).
    `on_progress(done, total)` follows the tracks. Never raises for user errors."""
    from index import index_tracks      # the index package only when the app indexes

    from .errors import USER_ERRORS
    try:
        folder = check_folder(text)
        summary = index_tracks(searcher.model, folder, searcher.store, progress=False,
                               on_progress=on_progress, cache_dir=cache_dir)
    except (FolderError, *USER_ERRORS) as error:
        return f"Not indexed: {first_line(error)}"
    skipped = "".join(f"\n- skipped {s.where}: {s.reason}" for s in summary.skipped[:20])
    return summary.describe() + skipped
