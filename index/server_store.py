"""The store over `qdrant-client`: a Qdrant server or cluster (URL + API key), or the
client's local mode (a folder or ":memory:"), through the same class.

Collection metadata: the model fingerprint goes into Qdrant's collection-level `metadata`
(server ≥ 1.16, and local mode). A server that drops it (older versions) still works:
`model_fingerprint()` then reads it from any point's payload, which always carries it.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np
from qdrant_client import QdrantClient, models

from retrieval.filters import SearchFilter
from retrieval.messages import first_line
from retrieval.search import StoredHit

from .filters import client_filter
from .fused_search import client_fused_query
from .points import IndexPoint, point_id
from .schema import (ACORN_MAX_SELECTIVITY, CULTURAL, CollectionSchema, SchemaError,
                     legacy_schema)
from .store import BACKBONE, CHUNKS, MUSIC, IndexNotFound, QdrantStore, StoreError, StoreLocked

# ACORN for filtered graph walks (schema.py `acorn`, `ACORN_MAX_SELECTIVITY`)
ACORN = models.AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY)

__all__ = ["ClientStore", "client_vectors"]

_PAYLOAD_PARAMS = {"keyword": models.KeywordIndexParams,
                   "integer": models.IntegerIndexParams,
                   "float": models.FloatIndexParams, "bool": models.BoolIndexParams}
UPLOAD_BATCH = 256     # points per request of `upload_points`


def client_vectors(schema: CollectionSchema) -> dict[str, models.VectorParams]:
    """The schema's named vectors as qdrant-client `vectors_config` (same settings as
    `edge_store.edge_config`; the server also decides when to build graphs itself)."""
    hnsw = models.HnswConfigDiff(m=schema.hnsw.m, ef_construct=schema.hnsw.ef_construct,
                                 full_scan_threshold=schema.hnsw.full_scan_threshold_kb)
    quantization = None
    if schema.quantization is not None:
        quantization = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=schema.quantization.quantile, always_ram=True))
    vectors = {}
    for name, size in schema.vectors().items():
        if name == CHUNKS:   # re-ranking only: no graph (m=0), kept on disk
            vectors[name] = models.VectorParams(
                size=size, distance=models.Distance.COSINE, on_disk=True,
                hnsw_config=models.HnswConfigDiff(m=0),
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM))
        else:
            vectors[name] = models.VectorParams(size=size, distance=models.Distance.COSINE,
                                                hnsw_config=hnsw, on_disk=schema.on_disk,
                                                quantization_config=quantization)
    return vectors


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
        self._server = location.startswith(("http://", "https://"))
        self.distributed = self._server
        self._schema: CollectionSchema | None = None

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

    def create(self, dim: int, fingerprint: str, chunks: bool | None = None,
               schema: CollectionSchema | None = None) -> None:
        if self.exists():
            raise StoreError(f"collection '{self.collection}' already exists at {self.location}")
        schema = self.as_kept(self.resolve_schema(dim, chunks, schema))
        # shards, replicas, write consistency: only those given, the server picks the rest
        spread = {key: value for key, value in asdict(schema.distribution).items()
                  if value is not None}
        self.client.create_collection(self.collection, vectors_config=client_vectors(schema),
                                      metadata={"model_fingerprint": fingerprint, "dim": dim,
                                                "schema": schema.to_dict()}, **spread)
        with warnings.catch_warnings():   # local mode warns that it ignores them
            warnings.filterwarnings("ignore", "Payload indexes have no effect")
            for key, kind in schema.payload_indexes.items():
                index = _PAYLOAD_PARAMS[kind](type=kind, enable_hnsw=schema.payload_links,
                                              on_disk=schema.payload_indexes_on_disk or None)
                self.client.create_payload_index(self.collection, key, index, wait=True)
        self._schema = schema

    def schema(self) -> CollectionSchema | None:
        if self._schema is None and self.exists():
            info = self.client.get_collection(self.collection)
            recorded = (getattr(info.config, "metadata", None) or {}).get("schema")
            try:
                if recorded:
                    self._schema = CollectionSchema.from_dict(recorded)
                else:   # made before schemas, or a server that drops metadata
                    vectors = info.config.params.vectors
                    self._schema = legacy_schema(int(vectors[MUSIC].size), CHUNKS in vectors)
            except SchemaError as error:
                raise StoreError(f"collection '{self.collection}' at {self.location} has a "
                                 f"damaged schema: {error}") from None
            except (KeyError, TypeError):   # unnamed vectors, or no `music`: made elsewhere
                raise StoreError(f"collection '{self.collection}' at {self.location} has no "
                                 f"'{MUSIC}' vector: it was not made by musicsearch") from None
        return self._schema

    def _search_params(self, using: str) -> models.SearchParams | None:
        schema = self.schema()
        if schema is None or using == CHUNKS or not self._server:
            return None   # local mode searches exactly (and warns about search params)
        quantization = None
        if schema.quantization is not None:
            quantization = models.QuantizationSearchParams(
                rescore=schema.quantization.rescore,
                oversampling=schema.quantization.oversampling)
        return models.SearchParams(hnsw_ef=self.search_ef(), quantization=quantization,
                                   acorn=ACORN if schema.hnsw.acorn else None)

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
        self._schema, self._ef_counted = None, None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    # ---- writes --------------------------------------------------------------------------
    def _upsert(self, points: list[IndexPoint]) -> None:
        structs, schema = [], self.schema()   # chunk, cultural vectors only where it has them
        for point in points:
            vector: dict = {MUSIC: np.asarray(point.music, dtype=np.float32).tolist()}
            if schema.chunks and point.chunks is not None and len(point.chunks):
                vector[CHUNKS] = np.asarray(point.chunks, dtype=np.float32).tolist()
            if schema.cultural_dim and point.cultural is not None:
                vector[CULTURAL] = np.asarray(point.cultural, dtype=np.float32).tolist()
            if point.backbone is not None:   # upsert checked that the schema has it
                vector[BACKBONE] = np.asarray(point.backbone, dtype=np.float32).tolist()
            structs.append(models.PointStruct(id=point.id, vector=vector, payload=point.payload))
        # Batched requests; `wait` makes each durable before the call returns.
        self.client.upload_points(self.collection, structs, batch_size=UPLOAD_BATCH, wait=True)

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
        return self._query(query=np.asarray(vector, dtype=np.float32).tolist(), using=using,
                           query_filter=client_filter(where, exclude_track_ids), limit=int(k),
                           search_params=self._search_params(using))

    def search_fused(self, queries: dict[str, np.ndarray], k: int, fusion: str,
                     weights: dict[str, float] | None = None,
                     exclude_track_ids: list[str] | None = None,
                     where: SearchFilter | None = None) -> list[StoredHit]:
        query_filter = client_filter(where, exclude_track_ids)
        prefetch, query = client_fused_query(queries, k, fusion, weights, query_filter,
                                             self._search_params)
        return self._query(prefetch=prefetch, query=query, query_filter=query_filter,
                           limit=int(k))

    def _query(self, **request) -> list[StoredHit]:
        """`query_points` with payloads, as hits."""
        try:
            response = self.client.query_points(self.collection, with_payload=True, **request)
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
        if using not in self.schema().vectors():   # e.g. `chunks` in a collection without
            return None
        records = self.client.retrieve(self.collection, ids=[point_id(track_id)],
                                       with_payload=False, with_vectors=[using])
        if not records or not isinstance(records[0].vector, dict) or using not in records[0].vector:
            return None
        return np.asarray(records[0].vector[using], dtype=np.float32)

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self.client.count(self.collection, exact=True).count)

    def size_estimate(self) -> int:
        if not self.exists():
            return 0
        return int(self.client.get_collection(self.collection).points_count or 0)

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
