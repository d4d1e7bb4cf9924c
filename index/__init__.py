"""Ingestion (audio → song vectors → Qdrant), the vector-store interface and its Qdrant
back ends. Builds on `retrieval`.

Names are imported on first use (PEP 562): `from index import open_store` must not pay for
ingestion's imports (the audio front end, torch) in a text search.
"""
from importlib import import_module

__all__ = ["open_store", "QdrantStore", "IndexNotFound", "StoreError", "StoreLocked",
           "index_tracks", "IngestSummary", "Skipped", "InvalidPoint", "point_id",
           "CollectionSchema", "HnswSettings", "Quantization", "SchemaError"]

_HOMES = {"index_tracks": ".ingest", "IngestSummary": ".ingest", "InvalidPoint": ".points",
          "point_id": ".points", "open_store": ".store", "QdrantStore": ".store",
          "IndexNotFound": ".store", "StoreError": ".store", "StoreLocked": ".store",
          "Skipped": ".summary", "CollectionSchema": ".schema", "HnswSettings": ".schema",
          "Quantization": ".schema", "SchemaError": ".schema"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
