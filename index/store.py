"""The vector-store interface shared by the Qdrant back ends, and `open_store`, the factory.

`QdrantStore` satisfies `retrieval.search.VectorStore` (search, get_vector,
model_fingerprint, count) and adds what ingestion and the UI need (create, drop, upsert,
overwrite_payloads, delete, existing_payloads, existing_track_ids, iter_payloads). Writes
are checked here, once for both back ends (see `index.points`). Back ends:

- `EdgeStore` (index/edge_store.py): the embedded default, the Qdrant engine in process
  (`qdrant-edge-py`); one shard folder per collection, no server.
- `ClientStore` (index/server_store.py): `qdrant-client`, against a Qdrant server or cluster
  by URL, or in the client's local mode (a folder or ":memory:").
"""
from __future__ import annotations

import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from retrieval.filters import SearchFilter
from retrieval.paths import default_qdrant_path
from retrieval.search import StoredHit

from .points import IndexPoint, InvalidPoint, check_payload, point_id
from .schema import BACKBONE, CHUNKS, MUSIC, CollectionSchema, Distribution, auto_search_ef

__all__ = ["QdrantStore", "IndexNotFound", "StoreError", "StoreLocked", "open_store",
           "MUSIC", "CHUNKS", "BACKBONE", "DEFAULT_COLLECTION"]

DEFAULT_COLLECTION = "music"
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class IndexNotFound(LookupError):
    """The collection does not exist yet: nothing has been indexed into it."""

    def __init__(self, collection: str, location: str, existing: list[str] | None = None):
        super().__init__(collection, location)
        self.collection = collection
        self.location = location
        self.existing = list(existing or [])   # the collections that are there instead

    def __str__(self) -> str:
        there = (f" (collections there: {', '.join(self.existing)}; pick one with "
                 "--collection)" if self.existing else "")
        return (f"no index '{self.collection}' at {self.location}{there}: "
                f"run `musicsearch index PATH --collection {self.collection}` first")


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad location, incompatible collection, …)."""


class StoreLocked(StoreError):
    """Another process (or another open store in this one) holds the embedded index."""


def check_collection_name(name: str) -> str:
    # The edge back end turns the name into a folder: keep it a plain, portable file name.
    if not _COLLECTION_NAME.match(name):
        raise StoreError(f"invalid collection name {name!r}: use letters, digits, '_', '-', '.'")
    return name


class QdrantStore(ABC):
    """A Qdrant collection of songs: named vector `music` (+ optional multivector `chunks`).

    Point ids are `points.point_id(track_id)`; every payload holds `track_id`,
    `model_fingerprint` and (since payload hashing) `payload_hash`. Stores are context
    managers; `close()` releases locks.
    """

    collection: str
    location: str              # human-readable: a folder, a URL or ":memory:"

    # ---- collection lifecycle ----------------------------------------------------------
    @abstractmethod
    def exists(self) -> bool:
        """Whether the collection has been created."""

    @abstractmethod
    def collections(self) -> list[str]:
        """The names of every collection at this store's location, sorted."""

    @abstractmethod
    def create(self, dim: int, fingerprint: str, chunks: bool | None = None,
               schema: CollectionSchema | None = None) -> None:
        """Create the collection as `schema` says (default: `CollectionSchema(dim)`;
        `chunks`, if given, overrides its `chunks`) and record `fingerprint` and the schema
        as collection metadata. Raises StoreError if it already exists."""

    @abstractmethod
    def schema(self) -> CollectionSchema | None:
        """The collection's schema (collections made before schemas: what was made then);
        None if the collection does not exist."""

    # A server or cluster spreads a collection over nodes; the embedded store and local mode
    # are one shard on this machine, so a schema's `distribution` does not apply to them.
    distributed = False

    def as_kept(self, schema: CollectionSchema) -> CollectionSchema:
        """`schema` as this store creates and records it."""
        return schema if self.distributed else replace(schema, distribution=Distribution())

    @staticmethod
    def resolve_schema(dim: int, chunks: bool | None,
                       schema: CollectionSchema | None) -> CollectionSchema:
        schema = schema if schema is not None else CollectionSchema(dim=dim)
        if schema.dim != dim:
            raise StoreError(f"the collection schema has dim {schema.dim}, the model {dim}")
        if chunks is not None and chunks != schema.chunks:
            schema = replace(schema, chunks=chunks)
        return schema.check()

    @abstractmethod
    def drop(self) -> None:
        """Delete the collection, its points and its metadata; nothing if it does not exist.
        The store stays usable: `create()` makes the collection again."""

    @abstractmethod
    def model_fingerprint(self) -> str | None:
        """Fingerprint of the model the collection was built with; None if unknown/missing."""

    # The point count behind a search ef that follows the collection's size is read again
    # after this store writes, and otherwise at most this often (others may write to a
    # server's collection).
    EF_RECOUNT_S = 60.0
    _ef_counted: tuple[int, float] | None = None      # (ef, when)

    def search_ef(self) -> int:
        """The HNSW search beam for `music`: the schema's, or by the collection's size."""
        hnsw = self.schema().hnsw
        if hnsw.ef is not None:
            return hnsw.ef
        now = time.monotonic()
        if self._ef_counted is None or now - self._ef_counted[1] > self.EF_RECOUNT_S:
            self._ef_counted = (auto_search_ef(self.size_estimate()), now)
        return self._ef_counted[0]

    def size_estimate(self) -> int:
        """The number of songs, as cheaply as the back end knows it (an exact count of 1M
        points in the embedded store took 0.1–1.3 s; its segment info, under 1 ms)."""
        return self.count()

    # ---- writes --------------------------------------------------------------------------
    def upsert(self, points: list[IndexPoint]) -> None:
        """Insert or overwrite points (idempotent: ids derive from track ids); durable on return.
        Every point is checked first (`IndexPoint.check`): one invalid point (a non-finite
        vector, a payload that is not JSON, a backbone vector missing where the collection
        has one or of another size) raises InvalidPoint and nothing is written."""
        for point in points:
            point.check()
        if points:
            self._check_backbone(points)
            self._upsert(points)
            self._ef_counted = None

    def _check_backbone(self, points: list[IndexPoint]) -> None:
        size = self.schema().vectors().get(BACKBONE)
        for point in points:
            given = None if point.backbone is None else len(point.backbone)
            if given != size:
                raise InvalidPoint(
                    f"track {point.track_id}: collection '{self.collection}' "
                    + (f"keeps {size}-d backbone vectors, the point has "
                       f"{given or 'none'}" if size else "has no backbone vector"))

    def overwrite_payloads(self, payloads: list[dict]) -> None:
        """Replace the whole payload of existing points, vectors untouched; the point of each
        payload is `point_id(payload["track_id"])`. Checked like `upsert`; durable on return."""
        for payload in payloads:
            check_payload(payload)
        if payloads:
            self._overwrite_payloads(payloads)

    def delete(self, track_ids: Iterable[str]) -> None:
        """Remove the points of `track_ids` (absent ones are ignored); durable on return."""
        ids = [point_id(t) for t in dict.fromkeys(track_ids)]
        if ids and self.exists():
            self._delete(ids)
            self._ef_counted = None

    @abstractmethod
    def _upsert(self, points: list[IndexPoint]) -> None:
        """Write checked points."""

    @abstractmethod
    def _overwrite_payloads(self, payloads: list[dict]) -> None:
        """Write checked payloads over existing points."""

    @abstractmethod
    def _delete(self, ids: list[str]) -> None:
        """Delete points by point id."""

    # ---- reads ---------------------------------------------------------------------------
    @abstractmethod
    def _retrieve_payloads(self, ids: list[str]) -> list[dict]:
        """Payloads of the points among `ids` (point ids) that exist."""

    @abstractmethod
    def search(self, vector: np.ndarray, k: int, using: str = MUSIC,
               exclude_track_ids: list[str] | None = None,
               where: SearchFilter | None = None) -> list[StoredHit]:
        """Top-k by cosine (or MaxSim for `chunks`, where `vector` is (n, dim)), with payloads,
        among the points that pass `where` (index/filters.py translates it).
        Raises IndexNotFound if the collection does not exist."""

    @abstractmethod
    def search_fused(self, queries: dict[str, np.ndarray], k: int, fusion: str,
                     weights: dict[str, float] | None = None,
                     exclude_track_ids: list[str] | None = None,
                     where: SearchFilter | None = None) -> list[StoredHit]:
        """Top-k by Qdrant's fusion of one nearest query per named vector (`queries`:
        name → vector): "rrf", or "weighted" with `weights` by name (index/fused_search.py).
        Raises IndexNotFound if the collection does not exist."""

    def vector_names(self) -> set[str]:
        """The collection's named vectors; IndexNotFound if it does not exist."""
        schema = self.schema()
        if schema is None:
            raise IndexNotFound(self.collection, self.location)
        return set(schema.vectors())

    @abstractmethod
    def get_vector(self, track_id: str, using: str = MUSIC) -> np.ndarray | None:
        """The stored vector of a track ((dim,) or (n, dim) for `chunks`); None if absent."""

    def get_vectors(self, track_ids: Iterable[str], using: str = MUSIC) -> dict[str, np.ndarray]:
        """Stored vectors of many tracks in one request, by track id (absent ones left out).
        Back ends override this; the default asks one by one."""
        found = {}
        for track_id in dict.fromkeys(track_ids):
            vector = self.get_vector(track_id, using)
            if vector is not None:
                found[track_id] = vector
        return found

    def get_payloads(self, track_ids: Iterable[str]) -> dict[str, dict]:
        """Stored payloads of `track_ids`, by track id (absent ones left out), whatever model
        indexed them (`existing_payloads` keeps only the collection's model's)."""
        ids = [point_id(t) for t in dict.fromkeys(track_ids)]
        if not ids or not self.exists():
            return {}
        return {str(p.get("track_id")): dict(p) for p in self._retrieve_payloads(ids)}

    def iter_vectors(self, using: str = MUSIC,
                     page_size: int = 256) -> Iterator[tuple[dict, np.ndarray]]:
        """Every point's (payload, vector of `using`); points without that vector are skipped."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its vectors")

    @abstractmethod
    def count(self) -> int:
        """Number of points; 0 when the collection does not exist."""

    @abstractmethod
    def iter_payloads(self, page_size: int = 256) -> Iterator[dict]:
        """Every point's payload (nothing when the collection does not exist)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store (file locks, connections). Safe to call twice."""

    def optimize(self, progress: bool = False) -> bool:
        """Build the ANN index now where the back end needs to be told (a server builds
        its own); True if anything was built. Default: nothing."""
        return False

    # ---- shared helpers ------------------------------------------------------------------
    def existing_payloads(self, track_ids: Iterable[str], batch_size: int = 256) -> dict[str, dict]:
        """Stored payloads, by track id, of those of `track_ids` already indexed with the
        collection's model fingerprint."""
        if not self.exists():
            return {}
        wanted = self.model_fingerprint()
        ids = list(dict.fromkeys(str(t) for t in track_ids))
        asked = set(ids)
        found: dict[str, dict] = {}
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            for payload in self._retrieve_payloads([point_id(t) for t in batch]):
                track_id = str(payload.get("track_id"))
                if track_id in asked and (wanted is None
                                          or payload.get("model_fingerprint") == wanted):
                    found[track_id] = dict(payload)
        return found

    def existing_track_ids(self, track_ids: Iterable[str], batch_size: int = 256) -> set[str]:
        """Those of `track_ids` already indexed with the collection's model fingerprint
        (whether or not their catalog fields are current: see `payload_hash`)."""
        return set(self.existing_payloads(track_ids, batch_size))

    def __enter__(self) -> "QdrantStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(collection={self.collection!r}, location={self.location!r})"


def open_store(qdrant: str | os.PathLike | None = None, collection: str = DEFAULT_COLLECTION,
               api_key: str | None = None) -> QdrantStore:
    """Open the store that `--qdrant` names.

    - None: the embedded default (qdrant-edge) at `retrieval.paths.default_qdrant_path()`;
    - `http://…` / `https://…`: a Qdrant server through qdrant-client; the API key comes
      from `api_key` or the `QDRANT_API_KEY` environment variable;
    - ":memory:": qdrant-client local mode in memory (tests, throw-away runs);
    - any other string: a folder for the embedded store.

    Opening creates nothing; the collection is created by `create()` (ingestion does it).
    """
    check_collection_name(collection)
    if qdrant is None:
        from .edge_store import EdgeStore
        return EdgeStore(default_qdrant_path(), collection)
    location = os.fspath(qdrant)
    if not location.strip():  # an unset shell variable: never fall back to the working folder
        raise StoreError("empty Qdrant location: give a folder or an http(s):// URL")
    if location.startswith(("http://", "https://")):
        from .server_store import ClientStore
        return ClientStore(location, collection,
                           api_key=api_key if api_key is not None
                           else os.environ.get("QDRANT_API_KEY") or None)
    if location == ":memory:":
        from .server_store import ClientStore
        return ClientStore(location, collection)
    from .edge_store import EdgeStore
    return EdgeStore(Path(location).expanduser(), collection)
