"""Point ids and payloads: how one catalog track becomes one Qdrant point (DESIGN.md §3.3).

An `IndexPoint` checks itself (`check()`): finite, non-zero vectors of one dimension and a
payload that is valid JSON. The stores call it on every point before writing anything, so
no code path can store a vector that never matches or a payload the engine rejects.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.catalog import TrackRecord, json_problem, path_to_text

__all__ = ["TRACK_NAMESPACE", "point_id", "build_payload", "payload_hash", "check_payload",
           "IndexPoint", "InvalidPoint", "FileState", "FILE_STATE_KEYS", "DERIVED_KEYS",
           "BACKBONE_KEYS"]

# Fixed forever: changing it would give every track a new id and break idempotent re-indexing.
TRACK_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-5b8e-9a41-6d7573696373")


class InvalidPoint(ValueError):
    """A point that must not be stored (non-finite or zero vector, payload not JSON)."""


def point_id(track_id: str) -> str:
    """The Qdrant point id of a track: UUIDv5 of its `track_id` in the project namespace.

    Deterministic, so upserting the same track twice overwrites instead of duplicating.
    Equal to `uuid.uuid5(TRACK_NAMESPACE, track_id)`; hashed from the id's bytes with
    surrogate escapes kept, so no string (not even one holding undecodable file-name bytes)
    makes it raise, and distinct strings stay distinct.
    """
    name = str(track_id).encode("utf-8", "surrogateescape")
    digest = hashlib.sha1(TRACK_NAMESPACE.bytes + name).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


@dataclass(frozen=True)
class FileState:
    """What the change check compares: size and mtime (cheap, from stat) and a content hash
    (the feature cache's key, read only when size or mtime moved)."""
    size: int
    mtime_ns: int
    content_hash: str

    def to_payload(self) -> dict:
        return {"file_size": self.size, "file_mtime_ns": self.mtime_ns,
                "content_hash": self.content_hash}


FILE_STATE_KEYS = ("file_size", "file_mtime_ns", "content_hash")
# What a backbone says about the audio (retrieval/backbone.py).
BACKBONE_KEYS = ("backbone", "backbone_tags", "backbone_p")
# Payload keys the model derives (not catalog fields): kept when a payload is refreshed.
# `cultural_predicted`: the track's cultural vector was predicted from its audio (it is in
# no playlist the model's playlist tower knows).
DERIVED_KEYS = ("cultural_predicted", *BACKBONE_KEYS)
# Payload keys that are not catalog fields, so not part of `payload_hash`.
_NOT_HASHED = ("model_fingerprint", "payload_hash", *FILE_STATE_KEYS, *DERIVED_KEYS)


def payload_hash(payload: dict) -> str:
    """A short, stable hash of a payload's catalog fields (everything but the fingerprint,
    the file state and the hash itself): re-indexing compares it to see whether the catalog
    changed."""
    fields = {k: v for k, v in payload.items() if k not in _NOT_HASHED}
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def build_payload(record: TrackRecord, model_fingerprint: str,
                  state: FileState | None = None) -> dict:
    """Catalog fields + `model_fingerprint` + `payload_hash` (of the catalog fields) + the
    audio file's state, with `path` absolute (the UI plays it) and as text (`path_to_text`)."""
    payload = record.to_dict()
    payload["path"] = path_to_text(Path(record.path).expanduser().resolve())
    payload["model_fingerprint"] = model_fingerprint
    payload["payload_hash"] = payload_hash(payload)
    if state is not None:
        payload.update(state.to_payload())
    return payload


def check_payload(payload: dict) -> None:
    """Raise InvalidPoint unless `payload` is valid JSON with a string `track_id`."""
    problem = json_problem(payload, "payload")
    if problem:
        raise InvalidPoint(problem)
    if not isinstance(payload.get("track_id"), str):
        raise InvalidPoint("payload has no string 'track_id'")


def _check_vectors(name: str, vectors: np.ndarray, ndim: int) -> None:
    if vectors.ndim != ndim or vectors.size == 0:
        raise InvalidPoint(f"{name} vector has shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise InvalidPoint(f"the model gave a non-finite {name} vector (NaN or infinity): "
                           "the audio is probably damaged or extreme")
    if not (np.linalg.norm(vectors, axis=-1) > 0).all():
        raise InvalidPoint(f"the model gave a zero {name} vector, which matches nothing")


@dataclass
class IndexPoint:
    """One track ready for upsert: its song vector, optional per-chunk vectors, optional
    cultural vector and payload. Construction checks it (InvalidPoint); stores check again
    before writing."""
    track_id: str
    music: np.ndarray                    # (dim,) song vector in the joint space
    chunks: np.ndarray | None            # (n_chunks, dim) for the MaxSim multivector, or None
    payload: dict
    cultural: np.ndarray | None = None   # (dim,) playlist-modality vector, or None
    backbone: np.ndarray | None = None   # (backbone_dim,) a backbone's song embedding, or None

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        music = np.asarray(self.music, dtype=np.float32)
        _check_vectors("song", music, 1)
        if self.chunks is not None and len(self.chunks):
            chunks = np.asarray(self.chunks, dtype=np.float32)
            _check_vectors("chunk", chunks, 2)
            if chunks.shape[1] != music.shape[0]:
                raise InvalidPoint(f"chunk vectors have dim {chunks.shape[1]}, the song "
                                   f"vector {music.shape[0]}")
        if self.cultural is not None:
            cultural = np.asarray(self.cultural, dtype=np.float32)
            _check_vectors("cultural", cultural, 1)
            if cultural.shape != music.shape:
                raise InvalidPoint(f"cultural vector has dim {cultural.shape}, the song "
                                   f"vector {music.shape[0]}")
        if self.backbone is not None:
            _check_vectors("backbone", np.asarray(self.backbone, dtype=np.float32), 1)
        check_payload(self.payload)
        if self.payload["track_id"] != self.track_id:
            raise InvalidPoint(f"payload track_id {self.payload['track_id']!r} is not the "
                               f"point's {self.track_id!r}")

    @property
    def id(self) -> str:
        return point_id(self.track_id)
