"""Ingestion: audio files → song vectors (+ chunk vectors) → a Qdrant collection.

Resumable and idempotent: point ids derive from track ids, tracks already indexed with the
same model and the same catalog fields (`payload_hash`) are skipped, and each batch is
durable once upserted, so an interrupted run keeps its work and a re-run finishes it.
Tracks whose catalog fields changed get their payload rewritten (re-encoded only if their
audio path changed). Unreadable files are listed, never fatal.

Track ids: a catalog's own `track_id`s; for a folder scan or a single audio file, the
file's resolved absolute POSIX path (so two folders never collide, and indexing a parent
folder later finds the same tracks).

`encode_batch` is a pure function of (model, records, cache) → points, so the encoding
step can run on a distributed engine (e.g. Ray Data `map_batches`) and feed `upsert`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from retrieval.catalog import TrackRecord, read_catalog
from retrieval.feature_cache import FeatureCache
from retrieval.frontend import AUDIO_EXTENSIONS
from retrieval.model import MusicSearchModel
from retrieval.paths import default_cache_dir
from retrieval.search import FingerprintMismatch

from .points import IndexPoint, build_payload
from .store import QdrantStore

__all__ = ["IngestSummary", "IndexFailure", "index_tracks", "encode_batch", "collect_tracks"]


@dataclass
class IndexFailure:
    """A track that could not be encoded: its path and a one-line reason."""
    track_id: str
    path: str
    reason: str


@dataclass
class IngestSummary:
    indexed: int = 0              # new tracks encoded and stored
    updated: int = 0              # already indexed, catalog fields changed: payload rewritten
    skipped_existing: int = 0     # already indexed with the same model and catalog fields
    failed: list[tuple[str, str]] = field(default_factory=list)   # (path, one-line reason)
    elapsed_s: float = 0.0
    collection: str = ""
    location: str = ""

    def to_dict(self) -> dict:
        return {"indexed": self.indexed, "updated": self.updated,
                "skipped_existing": self.skipped_existing,
                "failed": [list(f) for f in self.failed], "elapsed_s": round(self.elapsed_s, 3),
                "collection": self.collection, "location": self.location}


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _file_record(path: Path) -> TrackRecord:
    """One audio file as a track: track_id = resolved absolute POSIX path, title = stem."""
    resolved = path.resolve()
    return TrackRecord(track_id=resolved.as_posix(), path=str(resolved), title=path.stem)


def scan_folder(folder: str | Path) -> list[TrackRecord]:
    """Audio files under `folder` (recursive, sorted): track_id = the file's resolved
    absolute POSIX path (the same whichever folder was given), title = stem."""
    folder = Path(folder).resolve()
    records = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden files and folders (.DS_Store, .git, …) are not music
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
            records.append(_file_record(path))
    return records


def collect_tracks(source: str | Path, catalog: str | Path | None = None) -> list[TrackRecord]:
    """The tracks to index, from a folder, a single audio file, a catalog JSONL, or a folder
    plus a catalog. A file that is neither audio (by extension) nor a readable catalog
    raises CatalogError.

    With a folder and a catalog, relative catalog paths that do not exist beside the
    catalog file are looked up in the folder instead. Duplicate track ids keep the first.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"nothing to index: {source} does not exist")
    if catalog is None and source.is_file() and source.suffix.lower() in AUDIO_EXTENSIONS:
        records = [_file_record(source)]
    elif catalog is None and source.is_file():
        records = read_catalog(source)
    elif catalog is None:
        records = scan_folder(source)
    else:
        catalog = Path(catalog).expanduser()
        records = read_catalog(catalog)
        base = catalog.resolve().parent
        for record in records:
            path = Path(record.path)
            if not path.exists() and path.is_relative_to(base):
                alternative = source.resolve() / path.relative_to(base)
                if alternative.exists():
                    record.path = str(alternative)
    unique: dict[str, TrackRecord] = {}
    for record in records:
        unique.setdefault(record.track_id, record)
    return list(unique.values())


def encode_batch(model: MusicSearchModel, records: list[TrackRecord],
                 cache: FeatureCache) -> list[IndexPoint | IndexFailure]:
    """Encode tracks (cached log-mel → model) into points, one result per record, in order.

    Never raises for a bad file: decoding or encoding errors become IndexFailure.
    """
    fingerprint = _fingerprint(model)
    results: list[IndexPoint | IndexFailure] = []
    for record in records:
        try:
            song, chunks = model.encode_mel(cache.mel(record.path))
            results.append(IndexPoint(track_id=record.track_id, music=song, chunks=chunks,
                                      payload=build_payload(record, fingerprint)))
        except Exception as error:  # corrupt, empty, unreadable: list it and go on
            results.append(IndexFailure(record.track_id, record.path, _one_line(error)))
    return results


def _fingerprint(model: MusicSearchModel) -> str:
    fingerprint = getattr(model, "fingerprint", None)
    if not fingerprint:
        raise ValueError("the model has no fingerprint: load it with retrieval.bundle.load_bundle "
                         "so the index can record which model built it")
    return str(fingerprint)


def index_tracks(model: MusicSearchModel, source: str | Path, store: QdrantStore, *,
                 catalog: str | Path | None = None, cache_dir: str | Path | None = None,
                 batch_size: int = 32, progress: bool = True,
                 chunks: bool = True) -> IngestSummary:
    """Index a folder of audio or a catalog into `store`; see the module docstring.

    Creates the collection if missing (dim = model.config.joint_dim, with the `chunks`
    multivector unless `chunks=False`). Raises FingerprintMismatch if the collection was
    built with another model.
    """
    started = time.perf_counter()
    fingerprint = _fingerprint(model)
    records = collect_tracks(source, catalog)
    if not store.exists():
        store.create(model.config.joint_dim, fingerprint, chunks=chunks)
    indexed_with = store.model_fingerprint()
    if indexed_with is not None and indexed_with != fingerprint:
        raise FingerprintMismatch(
            f"collection '{store.collection}' at {store.location} was built with model "
            f"{indexed_with}, not {fingerprint}; use another --collection, or the model the "
            "index was built with")
    summary = IngestSummary(collection=store.collection, location=store.location)
    existing = store.existing_payloads(r.track_id for r in records)
    todo: list[TrackRecord] = []          # to encode: new, or catalog changed with the path
    refresh: list[dict] = []              # catalog changed, same audio path: payload only
    for record in records:
        stored = existing.get(record.track_id)
        if stored is None:
            todo.append(record)
            continue
        payload = build_payload(record, fingerprint)
        if stored.get("payload_hash") == payload["payload_hash"]:
            summary.skipped_existing += 1
        elif stored.get("path") == payload["path"]:
            refresh.append(payload)
        else:
            todo.append(record)           # another file now: its vectors must change too
    store.overwrite_payloads(refresh)
    summary.updated = len(refresh)

    cache = FeatureCache(cache_dir if cache_dir is not None else default_cache_dir(),
                         model.config.frontend)
    bar = tqdm(total=len(records), initial=summary.skipped_existing + summary.updated,
               unit="track",
               desc=f"indexing into {store.collection}", disable=not progress,
               dynamic_ncols=True)
    try:
        for start in range(0, len(todo), max(1, batch_size)):
            results = encode_batch(model, todo[start:start + batch_size], cache)
            points = [r for r in results if isinstance(r, IndexPoint)]
            store.upsert(points)  # durable per batch: an interrupted run keeps this
            replaced = sum(1 for p in points if p.track_id in existing)
            summary.updated += replaced
            summary.indexed += len(points) - replaced
            summary.failed += [(f.path, f.reason) for f in results
                               if isinstance(f, IndexFailure)]
            bar.update(len(results))
            bar.set_postfix(failed=len(summary.failed))
    finally:
        bar.close()
        summary.elapsed_s = time.perf_counter() - started
    return summary
