"""The store over `qdrant-client`: a Qdrant server or cluster (URL + API key), or the
client's local mode (a folder or ":memory:"), through the same class.

Collection metadata: the model fingerprint goes into Qdrant's collection-level `metadata`
(server ≥ 1.16, and local mode). A server that drops it (older versions) still works:
`model_fingerprint()` then reads it from any point's payload, which always carries it.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from qdrant_client import QdrantClient, models

from retrieval.filters import SearchFilter
from retrieval.messages import first_line
from retrieval.search import StoredHit

from .filters import client_filter
from .points import IndexPoint, point_id
from .store import CHUNKS, MUSIC, IndexNotFound, QdrantStore, StoreError, StoreLocked

__all__ = ["ClientStore"]

_HNSW = models.HnswConfigDiff(m=16, ef_construct=256)   # same graph settings as EdgeStore


class ClientStore(QdrantStore):
    """A collection reached through `qdrant_client.QdrantClient`.

    `location`: `http(s)://host:port` for a server, ":memory:", or a folder (local mode).

    The folder (local-mode) branch is for tests and back-end congruence checks only:
    `open_store` routes every folder to `EdgeStore`, the embedded default, so users never
    get this branch (qdrant-client's local mode is meant for testing).
    """

    def __init__(self, location: str, collection: str, api_key: str | None = None,
                 timeout: int = 60):
        self.collection = collection
        self.location = location
        try:
            if location.startswith(("http://", "https://")):
                self.client = QdrantClient(url=location, api_key=api_key, timeout=timeout)
            elif location == ":memory:":
                self.client = QdrantClient(location=":memory:")
            else:  # local mode on a folder: tests/congruence only, see the class docstring
                self.client = QdrantClient(path=location)
        except RuntimeError as error:  # local mode: the folder's lock is held elsewhere
            if "already accessed" in str(error):
                raise StoreLocked(f"the index at {location} is in use by another process or "
                                  "open store; close it first") from None
            raise StoreError(f"cannot open Qdrant at {location}: {error}") from None
        self._closed = False

    # ---- lifecycle -----------------------------------------------------------------------
    def exists(self) -> bool:
        try:
            return bool(self.client.collection_exists(self.collection))
        except Exception as error:  # connection refused, bad API key, …
            raise self._unreachable(error) from None

    def collections(self) -> list[str]:
        try:
            return sorted(c.name for c in self.client.get_collections().collections)
        except Exception as error:  # connection refused, bad API key, …
            raise self._unreachable(error) from None

    def _unreachable(self, error: Exception) -> StoreError:
        return StoreError(f"cannot reach Qdrant at {self.location}: {first_line(error)}")

    def _missing(self) -> IndexNotFound:
        return IndexNotFound(self.collection, self.location)

    def create(self, dim: int, fingerprint: str, chunks: bool = True) -> None:
        if self.exists():
            raise StoreError(f"collection '{self.collection}' already exists at {self.location}")
        vectors = {MUSIC: models.VectorParams(size=dim, distance=models.Distance.COSINE,
                                              hnsw_config=_HNSW)}
        if chunks:
            vectors[CHUNKS] = models.VectorParams(
                size=dim, distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM))
        self.client.create_collection(self.collection, vectors_config=vectors,
                                      metadata={"model_fingerprint": fingerprint, "dim": dim})

    def model_fingerprint(self) -> str | None:
        if not self.exists():
            return None
        config = self.client.get_collection(self.collection).config
        fingerprint = (getattr(config, "metadata", None) or {}).get("model_fingerprint")
        if fingerprint:
            return str(fingerprint)
        page, _ = self.client.scroll(self.collection, limit=1, with_payload=True)
        fingerprint = (page[0].payload or {}).get("model_fingerprint") if page else None
        return str(fingerprint) if fingerprint else None

    def drop(self) -> None:
        if self.exists():  # the collection metadata (fingerprint) goes with the collection
            self.client.delete_collection(self.collection)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    # ---- writes --------------------------------------------------------------------------
    def _upsert(self, points: list[IndexPoint]) -> None:
        structs = []
        for point in points:
            vector: dict = {MUSIC: np.asarray(point.music, dtype=np.float32).tolist()}
            if point.chunks is not None and len(point.chunks):
                vector[CHUNKS] = np.asarray(point.chunks, dtype=np.float32).tolist()
            structs.append(models.PointStruct(id=point.id, vector=vector, payload=point.payload))
        self.client.upsert(self.collection, points=structs, wait=True)  # durable on return

    def _overwrite_payloads(self, payloads: list[dict]) -> None:
        operations = [models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(
            payload=payload, points=[point_id(payload["track_id"])])) for payload in payloads]
        self.client.batch_update_points(self.collection, operations, wait=True)

    def _delete(self, ids: list[str]) -> None:
        self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids),
                           wait=True)

    # ---- reads ---------------------------------------------------------------------------
    def _retrieve_payloads(self, ids: list[str]) -> list[dict]:
        records = self.client.retrieve(self.collection, ids=ids, with_payload=True,
                                       with_vectors=False)
        return [r.payload for r in records if r.payload]

    def search(self, vector: np.ndarray, k: int, using: str = MUSIC,
               exclude_track_ids: list[str] | None = None,
               where: SearchFilter | None = None) -> list[StoredHit]:
        query_filter = client_filter(where, exclude_track_ids)
        try:
            response = self.client.query_points(
                self.collection, query=np.asarray(vector, dtype=np.float32).tolist(),
                using=using, query_filter=query_filter, limit=int(k), with_payload=True)
        except Exception:
            # Only a check after the fact: a round trip per search just for this would be waste.
            if not self.exists():
                raise self._missing() from None
            raise
        return [StoredHit(track_id=str((h.payload or {}).get("track_id", h.id)),
                          score=float(h.score), payload=dict(h.payload or {}))
                for h in response.points]

    def get_vector(self, track_id: str, using: str = MUSIC) -> np.ndarray | None:
        if not self.exists():
            raise self._missing()
        records = self.client.retrieve(self.collection, ids=[point_id(track_id)],
                                       with_payload=False, with_vectors=[using])
        if not records or not isinstance(records[0].vector, dict) or using not in records[0].vector:
            return None
        return np.asarray(records[0].vector[using], dtype=np.float32)

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self.client.count(self.collection, exact=True).count)

    def get_vectors(self, track_ids, using: str = MUSIC) -> dict[str, np.ndarray]:
        ids = [point_id(t) for t in dict.fromkeys(track_ids)]
        if not ids:
            return {}
        if not self.exists():
            raise self._missing()
        records = self.client.retrieve(self.collection, ids=ids, with_payload=["track_id"],
                                       with_vectors=[using])
        return {str(r.payload["track_id"]): np.asarray(r.vector[using], dtype=np.float32)
                for r in records
                if r.payload and isinstance(r.vector, dict) and using in r.vector}

    def iter_vectors(self, using: str = MUSIC, page_size: int = 256):
        if not self.exists():
            return
        offset = None
        while True:
            page, offset = self.client.scroll(self.collection, offset=offset, limit=page_size,
                                              with_payload=True, with_vectors=[using])
            for record in page:
                if isinstance(record.vector, dict) and using in record.vector:
                    yield (dict(record.payload or {}),
                           np.asarray(record.vector[using], dtype=np.float32))
            if offset is None:
                return

    def iter_payloads(self, page_size: int = 256) -> Iterator[dict]:
        if not self.exists():
            return
        offset = None
        while True:
            page, offset = self.client.scroll(self.collection, offset=offset, limit=page_size,
                                              with_payload=True, with_vectors=False)
            for record in page:
                yield dict(record.payload or {})
            if offset is None:
                return
