"""Point ids and payloads: how one catalog track becomes one Qdrant point (DESIGN.md §3.3)."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.catalog import TrackRecord

__all__ = ["TRACK_NAMESPACE", "point_id", "build_payload", "payload_hash", "IndexPoint"]

# Fixed forever: changing it would give every track a new id and break idempotent re-indexing.
TRACK_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-5b8e-9a41-6d7573696373")


def point_id(track_id: str) -> str:
    """The Qdrant point id of a track: UUIDv5 of its `track_id` in the project namespace.

    Deterministic, so upserting the same track twice overwrites instead of duplicating.
    """
    return str(uuid.uuid5(TRACK_NAMESPACE, str(track_id)))


# Payload keys that are not catalog fields, so not part of `payload_hash`.
_NOT_HASHED = ("model_fingerprint", "payload_hash")


def payload_hash(payload: dict) -> str:
    """A short, stable hash of a payload's catalog fields (everything but the fingerprint
    and the hash itself): re-indexing compares it to see whether the catalog changed."""
    fields = {k: v for k, v in payload.items() if k not in _NOT_HASHED}
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_payload(record: TrackRecord, model_fingerprint: str) -> dict:
    """Catalog fields + `model_fingerprint` + `payload_hash` (of the catalog fields), with
    `path` made absolute (the UI plays it)."""
    payload = record.to_dict()
    payload["path"] = str(Path(record.path).expanduser().resolve())
    payload["model_fingerprint"] = model_fingerprint
    payload["payload_hash"] = payload_hash(payload)
    return payload


@dataclass
class IndexPoint:
    """One track ready for upsert: its song vector, optional per-chunk vectors and payload."""
    track_id: str
    music: np.ndarray                    # (dim,) song vector in the joint space
    chunks: np.ndarray | None            # (n_chunks, dim) for the MaxSim multivector, or None
    payload: dict

    @property
    def id(self) -> str:
        return point_id(self.track_id)
