"""The embedded default store: the Qdrant engine in process (`qdrant-edge-py`), no server.

Layout under the store folder (default `retrieval.paths.default_qdrant_path()`):

    <root>/<collection>/                   an EdgeShard (segments, WAL, edge_config.json)
    <root>/<collection>.musicsearch.json   collection metadata: model_fingerprint, dim, …

The metadata lives next to the shard, not inside it, so it never mixes with files the
engine owns. The shard is opened lazily on first use and held until `close()`: the
engine's WAL takes a file lock, so only one open store (one process) can use a shard.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from qdrant_edge import (CountRequest, Distance, EdgeConfig, EdgeShard, EdgeVectorParams,
                         HnswIndexConfig, MultiVectorComparator, MultiVectorConfig, Point,
                         Query, QueryRequest, ScrollRequest, UpdateOperation)

from retrieval.filters import SearchFilter
from retrieval.search import StoredHit

from .filters import edge_filter
from .points import IndexPoint, point_id
from .store import CHUNKS, MUSIC, IndexNotFound, QdrantStore, StoreError, StoreLocked

__all__ = ["EdgeStore"]

METADATA_FORMAT = 1
# ef_construct 256 (search ef defaults to it) measured recall@10 0.999 at 100K on clustered
# data, against 0.970 for the engine default of 100 (QDRANT-EDGE.md §3).
_HNSW = HnswIndexConfig(m=16, ef_construct=256, full_scan_threshold=10_000)


class EdgeStore(QdrantStore):
    """A collection as an EdgeShard folder under `root`."""

    def __init__(self, root: str | os.PathLike, collection: str):
        self.root = Path(root).expanduser().absolute()  # messages name a findable folder
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"the index location {self.root} is a file, not a folder: give a "
                             "folder (it is created if missing) or a Qdrant URL")
        self.collection = collection
        self.location = str(self.root)
        self.shard_dir = self.root / collection
        self.metadata_path = self.root / f"{collection}.musicsearch.json"
        self._shard: EdgeShard | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def exists(self) -> bool:
        return self._shard is not None or (self.shard_dir / "edge_config.json").is_file()

    def collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(folder.name for folder in self.root.iterdir()
                      if (folder / "edge_config.json").is_file())

    def _open(self) -> EdgeShard:
        if self._shard is not None:
            return self._shard
        if not self.exists():
            raise IndexNotFound(self.collection, self.location)
        try:
            self._shard = EdgeShard.load(str(self.shard_dir))
        except Exception as error:  # the engine raises a bare Exception; sort by message
            message = str(error)
            if "WouldBlock" in message or "lock" in message.lower():
                raise StoreLocked(
                    f"the index at {self.shard_dir} is in use by another process (a running "
                    "`musicsearch ui` or `index`?) or another open store; close it first, "
                    "or use a Qdrant server with --qdrant URL") from None
            raise StoreError(f"cannot open the index at {self.shard_dir}: {message}") from None
        return self._shard

    def create(self, dim: int, fingerprint: str, chunks: bool = True) -> None:
        if self.exists():
            raise StoreError(f"collection '{self.collection}' already exists at {self.location}")
        vectors = {MUSIC: EdgeVectorParams(size=dim, distance=Distance.Cosine, hnsw_config=_HNSW)}
        if chunks:
            vectors[CHUNKS] = EdgeVectorParams(
                size=dim, distance=Distance.Cosine,
                multivector_config=MultiVectorConfig(MultiVectorComparator.MaxSim))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file on the way, no permission, read-only disk
            raise StoreError(f"cannot create the index folder {self.root}: "
                             f"{error.strerror or error}") from None
        try:
            self._shard = EdgeShard.create(str(self.shard_dir), EdgeConfig(vectors=vectors))
        except Exception as error:
            raise StoreError(f"cannot create the index at {self.shard_dir}: {error}") from None
        self._write_metadata({"format": METADATA_FORMAT, "collection": self.collection,
                              "model_fingerprint": fingerprint, "dim": dim,
                              "vectors": sorted(vectors),
                              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def _write_metadata(self, metadata: dict) -> None:
        # Write-then-rename so a crash never leaves a half-written metadata file.
        temporary = self.metadata_path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.metadata_path)

    def metadata(self) -> dict:
        """The collection metadata file's content ({} if missing or unreadable)."""
        try:
            return json.loads(self.metadata_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def model_fingerprint(self) -> str | None:
        if not self.exists():
            return None
        fingerprint = self.metadata().get("model_fingerprint")
        if fingerprint:
            return str(fingerprint)
        # Metadata lost (or a crash between create and its write): every payload has it too.
        page, _ = self._open().scroll(ScrollRequest(limit=1, with_payload=True))
        fingerprint = (page[0].payload or {}).get("model_fingerprint") if page else None
        return str(fingerprint) if fingerprint else None

    def drop(self) -> None:
        if self.exists():
            try:
                self._open()  # takes the WAL lock: never delete a shard another process uses
            except StoreLocked:
                raise
            except StoreError:
                pass  # unreadable (damaged) shard: deleting it is what a rebuild needs
            self.close()
            try:
                shutil.rmtree(self.shard_dir)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise StoreError(f"cannot delete the index at {self.shard_dir}: {error}") from None
        elif self.shard_dir.is_dir():
            shutil.rmtree(self.shard_dir, ignore_errors=True)  # a create that failed half-way
        self.metadata_path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._shard is not None:
            shard, self._shard = self._shard, None
            shard.close()

    def optimize(self) -> None:
        """Build the HNSW graph (blocks; about a minute per 100K points). Until then new
        points are searched exactly, which is fast enough for a personal library."""
        if self.exists():
            self._open().optimize()

    # ---- writes --------------------------------------------------------------------------
    def _upsert(self, points: list[IndexPoint]) -> None:
        shard = self._open()
        shard.update(UpdateOperation.upsert_points([self._to_point(p) for p in points]))
        shard.flush()  # the WAL already survives a kill; flush keeps it short

    def _overwrite_payloads(self, payloads: list[dict]) -> None:
        shard = self._open()
        for payload in payloads:
            shard.update(UpdateOperation.overwrite_payload([point_id(payload["track_id"])],
                                                           payload))
        shard.flush()

    def _delete(self, ids: list[str]) -> None:
        shard = self._open()
        shard.update(UpdateOperation.delete_points(ids))
        shard.flush()

    @staticmethod
    def _to_point(point: IndexPoint) -> Point:
        vector = {MUSIC: np.asarray(point.music, dtype=np.float32)}
        if point.chunks is not None and len(point.chunks):
            vector[CHUNKS] = np.asarray(point.chunks, dtype=np.float32)
        return Point(id=point.id, vector=vector, payload=point.payload)

    # ---- reads ---------------------------------------------------------------------------
    def _retrieve_payloads(self, ids: list[str]) -> list[dict]:
        records = self._open().retrieve(ids, with_payload=True, with_vector=False)
        return [r.payload for r in records if r.payload]

    def search(self, vector: np.ndarray, k: int, using: str = MUSIC,
               exclude_track_ids: list[str] | None = None,
               where: SearchFilter | None = None) -> list[StoredHit]:
        shard = self._open()
        query_filter = edge_filter(where, exclude_track_ids)
        hits = shard.query(QueryRequest(
            query=Query.Nearest(np.asarray(vector, dtype=np.float32), using=using),
            filter=query_filter, limit=int(k), with_payload=True))
        return [StoredHit(track_id=str((h.payload or {}).get("track_id", h.id)),
                          score=float(h.score), payload=dict(h.payload or {})) for h in hits]

    def get_vector(self, track_id: str, using: str = MUSIC) -> np.ndarray | None:
        records = self._open().retrieve([point_id(track_id)], with_payload=False,
                                        with_vector=[using])
        if not records or not records[0].vector or using not in records[0].vector:
            return None
        return np.asarray(records[0].vector[using], dtype=np.float32)

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self._open().count(CountRequest()))

    def get_vectors(self, track_ids, using: str = MUSIC) -> dict[str, np.ndarray]:
        ids = [point_id(t) for t in dict.fromkeys(track_ids)]
        if not ids:
            return {}
        try:
            records = self._open().retrieve(ids, with_payload=["track_id"], with_vector=[using])
        except Exception as error:   # the engine's bare Exception; a collection without it
            if "Not existing vector name" in str(error):
                return {}
            raise
        return {str(r.payload["track_id"]): np.asarray(r.vector[using], dtype=np.float32)
                for r in records if r.payload and r.vector and using in r.vector}

    def iter_vectors(self, using: str = MUSIC, page_size: int = 256):
        if not self.exists():
            return
        shard, offset = self._open(), None
        while True:
            page, offset = shard.scroll(ScrollRequest(offset=offset, limit=page_size,
                                                      with_payload=True, with_vector=[using]))
            for record in page:
                if record.vector and using in record.vector:
                    yield (dict(record.payload or {}),
                           np.asarray(record.vector[using], dtype=np.float32))
            if offset is None:
                return

    def iter_payloads(self, page_size: int = 256) -> Iterator[dict]:
        if not self.exists():
            return
        shard, offset = self._open(), None
        while True:
            page, offset = shard.scroll(ScrollRequest(offset=offset, limit=page_size,
                                                      with_payload=True))
            for record in page:
                yield dict(record.payload or {})
            if offset is None:
                return
