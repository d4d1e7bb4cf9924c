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
from qdrant_edge import (AcornSearchParams, BoolIndexParams, CountRequest, Distance, EdgeConfig,
                         EdgeOptimizersConfig, EdgeShard, EdgeVectorParams, Filter,
                         FloatIndexParams, HasIdCondition, HnswIndexConfig, IntegerIndexParams,
                         KeywordIndexParams, Memory, MultiVectorComparator, MultiVectorConfig,
                         Point, QuantizationSearchParams, Query, QueryRequest,
                         ScalarQuantizationConfig, ScalarType, ScrollRequest, SearchParams,
                         UpdateOperation)

from retrieval.filters import SearchFilter
from retrieval.search import StoredHit

from .filters import edge_filter
from .fused_search import edge_fused_request
from .build import build_index
from .points import IndexPoint, point_id
from .schema import (ACORN_MAX_SELECTIVITY, CULTURAL, OPTIMIZE_MIN_POINTS, CollectionSchema,
                     SchemaError, legacy_schema)
from .store import BACKBONE, CHUNKS, MUSIC, IndexNotFound, QdrantStore, StoreError, StoreLocked

# ACORN for filtered graph walks (schema.py `acorn`, `ACORN_MAX_SELECTIVITY`)
ACORN = AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY)

__all__ = ["EdgeStore", "edge_config"]

METADATA_FORMAT = 2        # 2: the collection schema is recorded under "schema"
_PAYLOAD_PARAMS = {"keyword": KeywordIndexParams, "integer": IntegerIndexParams,
                   "float": FloatIndexParams, "bool": BoolIndexParams}


def payload_index(kind: str, schema: CollectionSchema):
    """A payload index of `kind` as the schema wants it: with or without its own graph
    links, memory-mapped (Cold) or the engine's default (in RAM)."""
    return _PAYLOAD_PARAMS[kind](enable_hnsw=schema.payload_links,
                                 memory=Memory.Cold if schema.payload_indexes_on_disk else None)


def edge_config(schema: CollectionSchema, *, graph_memory: Memory | None = None,
                codes_memory: Memory | None = None, payload_memory: Memory | None = None,
                indexing_threads: int = 0, payload_m: int | None = None) -> EdgeConfig:
    """The schema as qdrant-edge settings. The keywords are engine levers the schema does
    not expose (benchmarks/scale_levers.py measures them; None = the engine's default)."""
    hnsw = HnswIndexConfig(m=schema.hnsw.m, ef_construct=schema.hnsw.ef_construct,
                           full_scan_threshold=schema.hnsw.full_scan_threshold_kb,
                           max_indexing_threads=indexing_threads, payload_m=payload_m,
                           memory=graph_memory)
    quantization = None
    if schema.quantization is not None:
        # The int8 codes: pinned in RAM, or with `on_disk` memory-mapped too. Pinned codes
        # are copied in whenever the store opens: 2.4 s for 1M songs, most of a cold
        # `musicsearch search` (3.1 s, against 0.76 s mapped), for the same warm search
        # time (docs/SCALE.md).
        if codes_memory is None:
            codes_memory = Memory.Cold if schema.on_disk else Memory.Pinned
        quantization = ScalarQuantizationConfig(type=ScalarType.Int8,
                                                quantile=schema.quantization.quantile,
                                                memory=codes_memory)
    memory = Memory.Cold if schema.on_disk else Memory.Cached
    vectors = {}
    for name, size in schema.vectors().items():
        if name == CHUNKS:   # read only to re-rank a few candidates: no graph, not cached
            vectors[name] = EdgeVectorParams(
                size=size, distance=Distance.Cosine, memory=Memory.Cold,
                multivector_config=MultiVectorConfig(MultiVectorComparator.MaxSim),
                hnsw_config=HnswIndexConfig(m=0, ef_construct=schema.hnsw.ef_construct,
                                            full_scan_threshold=hnsw.full_scan_threshold))
        else:
            vectors[name] = EdgeVectorParams(size=size, distance=Distance.Cosine,
                                             hnsw_config=hnsw, memory=memory,
                                             quantization_config=quantization)
    # The engine builds a graph only for segments above indexing_threshold (KB of vectors):
    # make that our OPTIMIZE_MIN_POINTS song vectors.
    threshold_kb = max(1, OPTIMIZE_MIN_POINTS * schema.dim * 4 // 1024)
    return EdgeConfig(vectors=vectors, payload_memory=payload_memory,
                      optimizers=EdgeOptimizersConfig(indexing_threshold=threshold_kb))


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
        self._schema: CollectionSchema | None = None

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

    def create(self, dim: int, fingerprint: str, chunks: bool | None = None,
               schema: CollectionSchema | None = None) -> None:
        if self.exists():
            raise StoreError(f"collection '{self.collection}' already exists at {self.location}")
        # one shard on this machine: the recorded schema says so (the CLI notes it)
        schema = self.as_kept(self.resolve_schema(dim, chunks, schema))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file on the way, no permission, read-only disk
            raise StoreError(f"cannot create the index folder {self.root}: "
                             f"{error.strerror or error}") from None
        try:
            self._shard = EdgeShard.create(str(self.shard_dir), edge_config(schema))
            for key, kind in schema.payload_indexes.items():
                self._shard.update(UpdateOperation.create_field_index(
                    key, payload_index(kind, schema)))
        except Exception as error:
            raise StoreError(f"cannot create the index at {self.shard_dir}: {error}") from None
        self._schema = schema
        self._write_metadata({"format": METADATA_FORMAT, "collection": self.collection,
                              "model_fingerprint": fingerprint, "dim": dim,
                              "vectors": sorted(schema.vectors()), "schema": schema.to_dict(),
                              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def schema(self) -> CollectionSchema | None:
        if self._schema is None and self.exists():
            metadata = self.metadata()
            if "schema" in metadata:
                try:
                    self._schema = CollectionSchema.from_dict(metadata["schema"])
                except SchemaError as error:
                    raise StoreError(f"the collection metadata {self.metadata_path} is "
                                     f"damaged: {error}") from None
            else:   # made before the schema existed: read what the engine was given
                try:
                    engine = json.loads((self.shard_dir / "edge_config.json").read_text())
                    vectors = engine["vectors"]
                    self._schema = legacy_schema(int(vectors[MUSIC]["size"]), CHUNKS in vectors)
                except (OSError, ValueError, KeyError, TypeError) as error:
                    raise StoreError(f"cannot read the index settings in {self.shard_dir}: "
                                     f"{error}") from None
        return self._schema

    def _search_params(self, using: str) -> SearchParams | None:
        schema = self.schema()
        if schema is None or using == CHUNKS:
            return None
        quantization = None
        if schema.quantization is not None:
            quantization = QuantizationSearchParams(rescore=schema.quantization.rescore,
                                                    oversampling=schema.quantization.oversampling)
        return SearchParams(hnsw_ef=self.search_ef(), quantization=quantization,
                            acorn=ACORN if schema.hnsw.acorn else None)

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
            self._schema, self._ef_counted = None, None
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

    def optimize(self, progress: bool = False) -> bool:
        """Build the HNSW graph of the points not yet in one (blocks: minutes per 100K
        points). Until then new points are searched exactly, which is as fast below
        OPTIMIZE_MIN_POINTS. With `progress`, the build runs in a child process (the engine
        holds the GIL while it builds) under a progress bar. True if anything was built."""
        if not self.exists():
            return False
        if not progress:
            return bool(self._open().optimize())
        points = self.count()
        self.close()   # the child takes the shard's lock
        try:
            return build_index(self.shard_dir, points, self.schema())
        finally:
            self._open()

    # ---- writes --------------------------------------------------------------------------
    def _upsert(self, points: list[IndexPoint]) -> None:
        shard = self._open()
        schema = self.schema()   # chunk and cultural vectors are kept only where it has them
        shard.update(UpdateOperation.upsert_points(
            [self._to_point(p, schema.chunks, bool(schema.cultural_dim)) for p in points]))
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
    def _to_point(point: IndexPoint, chunks: bool, cultural: bool = False) -> Point:
        vector = {MUSIC: np.asarray(point.music, dtype=np.float32)}
        if chunks and point.chunks is not None and len(point.chunks):
            vector[CHUNKS] = np.asarray(point.chunks, dtype=np.float32)
        if cultural and point.cultural is not None:
            vector[CULTURAL] = np.asarray(point.cultural, dtype=np.float32)
        if point.backbone is not None:   # upsert checked that the schema has it
            vector[BACKBONE] = np.asarray(point.backbone, dtype=np.float32)
        return Point(id=point.id, vector=vector, payload=point.payload)

    # ---- reads ---------------------------------------------------------------------------
    def _retrieve_payloads(self, ids: list[str]) -> list[dict]:
        records = self._open().retrieve(ids, with_payload=True, with_vector=False)
        return [r.payload for r in records if r.payload]

    def search(self, vector: np.ndarray, k: int, using: str = MUSIC,
               exclude_track_ids: list[str] | None = None,
               where: SearchFilter | None = None) -> list[StoredHit]:
        query_filter = edge_filter(where, exclude_track_ids)
        return self._query(QueryRequest(
            query=Query.Nearest(np.asarray(vector, dtype=np.float32), using=using),
            filter=query_filter, limit=int(k), with_payload=True,
            params=self._search_params(using)))

    def _query(self, request: QueryRequest) -> list[StoredHit]:
        return [StoredHit(track_id=str((h.payload or {}).get("track_id", h.id)),
                          score=float(h.score), payload=dict(h.payload or {}))
                for h in self._open().query(request)]

    def search_fused(self, queries: dict[str, np.ndarray], k: int, fusion: str,
                     weights: dict[str, float] | None = None,
                     exclude_track_ids: list[str] | None = None,
                     where: SearchFilter | None = None) -> list[StoredHit]:
        return self._query(edge_fused_request(queries, k, fusion, weights,
                                              edge_filter(where, exclude_track_ids),
                                              self._search_params))

    def get_vector(self, track_id: str, using: str = MUSIC) -> np.ndarray | None:
        schema = self.schema()
        if schema is not None and using not in schema.vectors():   # `chunks` where not kept
            return None
        records = self._open().retrieve([point_id(track_id)], with_payload=False,
                                        with_vector=[using])
        if not records or not records[0].vector or using not in records[0].vector:
            return None
        return np.asarray(records[0].vector[using], dtype=np.float32)

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self._open().count(CountRequest()))

    def size_estimate(self) -> int:
        return int(self._open().info().points_count) if self.exists() else 0

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
