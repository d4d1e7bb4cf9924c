"""Ingestion: audio files → song vectors (+ chunk vectors) → a Qdrant collection.

Resumable and idempotent: point ids derive from track ids (see `index.sources`), each batch
is durable once upserted, so an interrupted run keeps its work and a re-run finishes it.
Tracks already indexed with the same model are re-encoded only when their audio changed,
and get a new payload when their catalog fields changed (`index.changes`). A folder scan
also removes the points of files gone from that folder.

Nothing bad passes silently and nothing good is lost: every entry that cannot be indexed
(unreadable or undecodable audio, an invalid catalog record, a duplicate id, a dangling
symlink, a FIFO, a model output that is not finite) is listed in the summary with its
reason, and the rest are indexed. Only those expected per-track errors are caught: any
other exception (a bug, MemoryError) propagates, after the batches already stored.

Encoding is an `Encoder`: a function of (model, records, cache, batch_size, store) that
yields the results of one batch at a time. The local engine (`local_encoder`) runs
`encode_batch` in this process; `index.ray_engine` runs the same per-track steps
(`read_features`, then `make_point`) as Ray tasks and actors. Planning (what to encode,
skip or refresh), writing the points that come back, counting and the end of the run are
the same for every engine.

With a backbone (`backbone="msd"` or `"mtt"`, retrieval/backbone.py) each point also gets
the backbone's song embedding as the `backbone` named vector and its top tags in the
payload. The collection records which backbone made it: a collection is made with or
without one, and later runs use the one it records (another one is refused). The local
engine reads it from the collection's schema; a backbone runs only there.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.backbone import BACKBONE_DIM, MusiCNNBackbone, check_backbone, load_backbone
from retrieval.catalog import TrackRecord, display_text
from retrieval.feature_cache import FeatureCache
from retrieval.frontend import AudioDecodeError
from retrieval.messages import first_line
from retrieval.model import MusicSearchModel
from retrieval.paths import default_cache_dir
from retrieval.search import FingerprintMismatch

from .changes import UnreadableTrack, file_state, plan_changes, remove_gone
from .points import FileState, IndexPoint, InvalidPoint, build_payload
from .schema import OPTIMIZE_MIN_POINTS, CollectionSchema
from .sources import TrackSource, collect_tracks
from .store import QdrantStore, StoreError
from .summary import INVALID_VECTOR, UNREADABLE, IngestSummary, Skipped

__all__ = ["IngestSummary", "IndexFailure", "StoredPoint", "Result", "Encoder", "index_tracks",
           "encode_batch", "local_encoder", "read_features", "make_point", "add_cultural",
           "track_failure", "TRACK_ERRORS", "collect_tracks", "TrackSource",
           "collection_backbone"]

# The per-track errors a bad input can cause; anything else is a bug and must surface.
TRACK_ERRORS = (AudioDecodeError, UnreadableTrack, InvalidPoint)
# Points per upsert: 1024 ingested 1.8× faster than 32 (issue 8). Encoded points also go
# out after at most WRITE_EVERY_S seconds, so an interrupt loses little encoding work.
UPSERT_BATCH = 1024
WRITE_EVERY_S = 10.0


@dataclass
class IndexFailure:
    """A track that could not be encoded: its path (printable), kind and a one-line reason."""
    track_id: str
    path: str
    reason: str
    kind: str = UNREADABLE

    def to_skipped(self) -> Skipped:
        return Skipped(self.path, self.kind, self.reason)


@dataclass
class StoredPoint:
    """A track encoded and written by a worker of a distributed engine (a server collection
    under `--engine ray`): the run only counts it."""
    track_id: str


Result = IndexPoint | IndexFailure | StoredPoint
# (model, records to encode, feature cache, batch size, store) → the results of one batch at
# a time, one result per record, in order.
Encoder = Callable[[MusicSearchModel, list[TrackRecord], FeatureCache, int, QdrantStore],
                   Iterator[list[Result]]]


def _one_line(error: BaseException) -> str:
    return display_text(first_line(error))


def _kind(error: BaseException) -> str:
    if isinstance(error, UnreadableTrack):
        return error.kind
    return INVALID_VECTOR if isinstance(error, InvalidPoint) else UNREADABLE


def track_failure(record: TrackRecord, error: BaseException) -> IndexFailure:
    """One of TRACK_ERRORS as the listed failure of `record`."""
    return IndexFailure(record.track_id, display_text(record.path), _one_line(error),
                        _kind(error))


def read_features(record: TrackRecord, cache: FeatureCache) -> tuple[FileState, np.ndarray]:
    """The first step of encoding a track: its file state (size, mtime, content hash) and
    its log-mel (decoded once, then read from `cache`). Raises one of TRACK_ERRORS."""
    state = file_state(record.path)
    return state, cache.mel(record.path, digest=state.content_hash)


def make_point(model: MusicSearchModel, record: TrackRecord, state: FileState,
               mel: np.ndarray, fingerprint: str,
               backbone: MusiCNNBackbone | None = None) -> IndexPoint:
    """The second step: the model's vectors of a log-mel, with the track's payload, as a
    checked point; with `backbone`, also the backbone's vector and tags of the audio file.
    Raises one of TRACK_ERRORS."""
    song, chunks = model.encode_mel(mel)
    payload, extra = build_payload(record, fingerprint, state), None
    if backbone is not None:
        extra = backbone.encode_file(record.path)
        payload.update(extra.payload(backbone.name))
    point = IndexPoint(track_id=record.track_id, music=song, chunks=chunks, payload=payload,
                       backbone=None if extra is None else extra.vector)
    if _has_playlist_tower(model):   # every engine's points get their cultural vector here
        add_cultural([point], model)
    return point


def encode_batch(model: MusicSearchModel, records: list[TrackRecord], cache: FeatureCache,
                 backbone: MusiCNNBackbone | None = None) -> list[IndexPoint | IndexFailure]:
    """Encode tracks (cached log-mel → model; with `backbone`, also the audio → backbone)
    into checked points, one result per record, in order. A bad input (unreadable file,
    undecodable audio, non-finite model output) becomes an IndexFailure; any other error
    propagates."""
    fingerprint = _fingerprint(model)
    results: list[IndexPoint | IndexFailure] = []
    for record in records:
        try:
            state, mel = read_features(record, cache)
            results.append(make_point(model, record, state, mel, fingerprint, backbone))
        except TRACK_ERRORS as error:
            results.append(track_failure(record, error))
    return results


def local_encoder(model: MusicSearchModel, records: list[TrackRecord], cache: FeatureCache,
                  batch_size: int, store: QdrantStore) -> Iterator[list[Result]]:
    """The default engine: `encode_batch` in this process, `batch_size` tracks at a time,
    with the backbone the collection records (if any); the caller writes the points."""
    name = store.schema().backbone if records else None
    backbone = load_backbone(name) if name else None
    for start in range(0, len(records), max(1, batch_size)):
        yield encode_batch(model, records[start:start + batch_size], cache, backbone)


def _has_playlist_tower(model) -> bool:
    return bool(getattr(model, "has_tower", None)) and model.has_tower("playlist")


def add_cultural(points: list[IndexPoint], model: MusicSearchModel) -> None:
    """Give each point its cultural vector: from the playlist tower where the track is in
    the playlists, else predicted from its song vector (cold start), marked in the payload
    as `cultural_predicted`."""
    if not points:
        return
    known_vectors, known = model.encode_cultural([p.track_id for p in points])
    predicted = (model.predict_cultural(np.stack([p.music for p in points])[~known])
                 if (~known).any() else np.zeros((0, len(points[0].music)), np.float32))
    known_rows, predicted_rows = iter(known_vectors), iter(predicted)
    for point, in_playlists in zip(points, known):
        point.cultural = next(known_rows) if in_playlists else next(predicted_rows)
        point.payload["cultural_predicted"] = not bool(in_playlists)


def _fingerprint(model: MusicSearchModel) -> str:
    fingerprint = getattr(model, "fingerprint", None)
    if not fingerprint:
        raise ValueError("the model has no fingerprint: load it with retrieval.bundle.load_bundle "
                         "so the index can record which model built it")
    return str(fingerprint)


def _with_backbone(schema: CollectionSchema, backbone: str | None) -> CollectionSchema:
    if backbone is None:
        return schema
    return replace(schema, backbone=backbone, backbone_dim=BACKBONE_DIM)


def collection_backbone(store: QdrantStore, wanted: str | None) -> str | None:
    """The backbone an indexing run uses: `wanted` for a new collection, else the one the
    collection records (StoreError, one line, if `wanted` is another)."""
    if wanted is not None:
        check_backbone(wanted)
    if not store.exists():
        return wanted
    recorded = store.schema().backbone
    if wanted is not None and wanted != recorded:
        had = (f"was made with backbone '{recorded}'" if recorded
               else "was made without a backbone vector")
        raise StoreError(f"collection '{store.collection}' at {store.location} {had}, not "
                         f"'{wanted}': index into a new --collection"
                         + (f", or use --backbone {recorded}" if recorded else ""))
    return recorded


def _open_collection(store: QdrantStore, model: MusicSearchModel, chunks: bool | None,
                     schema: CollectionSchema | None, backbone: str | None) -> None:
    fingerprint = _fingerprint(model)
    given = schema
    if _has_playlist_tower(model):   # every track gets a `cultural` vector (add_cultural)
        dim = model.config.joint_dim
        schema = replace(schema if schema is not None else CollectionSchema(dim=dim),
                         cultural_dim=dim)
    if not store.exists():
        schema = store.resolve_schema(model.config.joint_dim, chunks, schema)
        store.create(model.config.joint_dim, fingerprint, schema=_with_backbone(schema, backbone))
    elif given is not None and store.schema() != store.as_kept(_with_backbone(schema,
                                                                              backbone)):
        raise StoreError(f"collection '{store.collection}' at {store.location} exists with "
                         "other settings (chunks, int8, on-disk): settings apply when a "
                         "collection is created; use a new --collection")
    indexed_with = store.model_fingerprint()
    if indexed_with is not None and indexed_with != fingerprint:
        raise FingerprintMismatch(
            f"collection '{store.collection}' at {store.location} was built with model "
            f"{indexed_with}, not {fingerprint}; use another --collection, or the model the "
            "index was built with")


def index_tracks(model: MusicSearchModel, source: str | Path, store: QdrantStore, *,
                 catalog: str | Path | None = None, cache_dir: str | Path | None = None,
                 batch_size: int = 32, progress: bool = True,
                 chunks: bool | None = None, schema: CollectionSchema | None = None,
                 upsert_batch: int = UPSERT_BATCH, build_index: bool = True,
                 on_progress: Callable[[int, int], None] | None = None,
                 encoder: Encoder | None = None, backbone: str | None = None) -> IngestSummary:
    """Index a folder of audio or a catalog into `store`; see the module docstring.

    Creates the collection if missing, as `schema` says (default `CollectionSchema(dim)`:
    no `chunks` multivector unless `chunks=True`). Encodes `batch_size` tracks at a time
    and writes `upsert_batch` points per upsert. Ends with the HNSW build when the
    collection holds OPTIMIZE_MIN_POINTS songs or more (`build_index=False`: never).
    Raises FingerprintMismatch if the collection was built with another model.
    `summary.complete` is False when anything was skipped. `on_progress(done, total)` is
    called after each batch (the app's progress bar). `encoder` runs the encoding
    (default `local_encoder`; `index.ray_engine.RayEncoder` for `--engine ray`).
    `backbone` ("msd", "mtt"): also store that MusiCNN's embedding and tags (see the module
    doc); None: whatever the collection records (none for a new one).
    """
    started = time.perf_counter()
    fingerprint = _fingerprint(model)
    tracks: TrackSource = collect_tracks(source, catalog)
    backbone = collection_backbone(store, backbone)     # refused before any work
    if backbone and encoder not in (None, local_encoder):
        raise StoreError(f"a backbone ('{backbone}') runs with the local engine only: "
                         "index without --engine, or into a collection without a backbone")
    _open_collection(store, model, chunks, schema, backbone)
    summary = IngestSummary(collection=store.collection, location=store.location,
                            skipped=list(tracks.skipped))
    existing = store.existing_payloads(r.track_id for r in tracks.records)
    plan = plan_changes(tracks.records, existing, fingerprint)
    store.overwrite_payloads(plan.refresh)
    summary.skipped_existing, summary.updated = plan.unchanged, plan.updated
    summary.skipped += plan.skipped

    cache = FeatureCache(cache_dir if cache_dir is not None else default_cache_dir(),
                         model.config.audio_frontend)
    bar = tqdm(total=len(tracks.records), initial=len(tracks.records) - len(plan.encode),
               unit="track", desc=f"indexing into {store.collection}", disable=not progress,
               dynamic_ncols=True)
    pending: list[IndexPoint] = []
    written = time.monotonic()
    done = len(tracks.records) - len(plan.encode)
    encode = encoder if encoder is not None else local_encoder
    try:
        for results in encode(model, plan.encode, cache, batch_size, store):
            points = [r for r in results if isinstance(r, IndexPoint)]
            pending += points
            if len(pending) >= upsert_batch or time.monotonic() - written > WRITE_EVERY_S:
                batch, pending = pending, []   # a failed write is not retried below
                store.upsert(batch)  # durable on return: an interrupted run keeps this
                written = time.monotonic()
            stored = [r for r in results if not isinstance(r, IndexFailure)]
            replaced = sum(1 for p in stored if p.track_id in existing)
            summary.updated += replaced
            summary.indexed += len(stored) - replaced
            summary.skipped += [r.to_skipped() for r in results if isinstance(r, IndexFailure)]
            bar.update(len(results))
            done += len(results)
            if on_progress is not None:   # counted here: a disabled bar counts nothing
                on_progress(done, len(tracks.records))
            bar.set_postfix(skipped=len(summary.skipped))
        batch, pending = pending, []
        store.upsert(batch)
        if tracks.folder is not None:
            summary.removed = remove_gone(store, tracks.folder)
    finally:
        bar.close()
        if pending:    # an error or an interrupt after encoding: keep what was encoded
            store.upsert(pending)
    if build_index and store.count() >= OPTIMIZE_MIN_POINTS:
        build_started = time.perf_counter()
        if store.optimize(progress=progress):
            summary.index_build_s = time.perf_counter() - build_started
    summary.elapsed_s = time.perf_counter() - started
    return summary
