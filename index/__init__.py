"""Ingestion (audio → song vectors → Qdrant), the vector-store interface and its Qdrant
back ends. Builds on `retrieval`."""
from .ingest import IngestSummary, index_tracks
from .points import InvalidPoint, point_id
from .schema import CollectionSchema, HnswSettings, Quantization, SchemaError
from .store import IndexNotFound, QdrantStore, StoreError, StoreLocked, open_store
from .summary import Skipped

__all__ = ["open_store", "QdrantStore", "IndexNotFound", "StoreError", "StoreLocked",
           "index_tracks", "IngestSummary", "Skipped", "InvalidPoint", "point_id",
           "CollectionSchema", "HnswSettings", "Quantization", "SchemaError"]
