"""Reading a playlist vectors file (torch-free): the safetensors that
`training.playlists.word2vec.save_track_vectors` writes — tensor "vectors" (float32, one
row per track) with metadata "track_ids" (JSON list, row order) and "config"."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["read_track_vectors"]


def read_track_vectors(path: str | Path) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """(track ids, (n, dim) float32 vectors, the file's metadata); ValueError (one line)
    if the file is missing or not a playlist vectors file."""
    from safetensors import SafetensorError, safe_open
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"playlist vectors not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
            vectors = np.asarray(handle.get_tensor("vectors"), dtype=np.float32)
        track_ids = json.loads(metadata["track_ids"])
    except (OSError, KeyError, ValueError, SafetensorError) as error:
        raise ValueError(f"{path}: not a playlist vectors file ({error})") from None
    if vectors.ndim != 2 or not isinstance(track_ids, list) or len(track_ids) != len(vectors):
        raise ValueError(f"{path}: {len(track_ids)} track ids for vectors of shape "
                         f"{vectors.shape}")
    return [str(t) for t in track_ids], vectors, metadata
