"""Song embeddings cached by (model fingerprint, track content, deformation, seed), so a
second run, or a run resumed after an interruption, encodes nothing twice.

    <root>/<fingerprint>/<condition>/<content digest>.npy

`condition` is "clean" or the deformation's key, with "-s<seed>" when the deformation draws
random numbers. Deformed audio goes through `deform_file` (its own cache of WAV copies).
"""
from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.feature_cache import FeatureCache, extract_features, file_digest
from retrieval.frontend import AudioDecodeError
from retrieval.model import MusicSearchModel

from ..deformations import Deformation, deform_file

__all__ = ["EmbeddingCache", "condition_name", "SongVectors"]


def condition_name(deformation: Deformation | None, seed: int = 0) -> str:
    if deformation is None:
        return "clean"
    return deformation.key + (f"-s{seed}" if deformation.uses_rng else "")


@dataclass
class SongVectors:
    vectors: np.ndarray                    # (n_readable, dim), aligned with `kept`
    kept: list[int]                        # indices of the input paths that were readable
    failed: list[tuple[str, str]] = field(default_factory=list)
    computed: int = 0                      # how many were encoded now (not read from cache)


class EmbeddingCache:
    def __init__(self, root: str | Path, model: MusicSearchModel, feature_dir: str | Path):
        self.model = model
        self.root = Path(root) / "embeddings" / model.fingerprint
        self.deformed_dir = Path(root) / "deformed"
        self.features = FeatureCache(feature_dir, model.config.audio_frontend)

    def _mel(self, path: Path, digest: str, deformation: Deformation | None, seed: int):
        if deformation is None:
            return self.features.mel(path, digest)
        copy = deform_file(path, deformation, self.deformed_dir, seed=seed,
                           sample_rate=self.model.config.audio_frontend.sample_rate)
        return extract_features(copy, self.model.config.audio_frontend)

    def _prepare(self, path: Path, folder: Path, deformation, seed: int):
        """(cached vector or None, log-mel or None, error or None) for one file; runs in a
        worker thread, so that decoding and deforming overlap with encoding."""
        try:
            digest = file_digest(path)
        except OSError as error:
            return None, None, None, f"cannot read {path.name}: {error.strerror}"
        target = folder / f"{digest}.npy"
        vector = _load(target)
        if vector is not None:
            return target, vector, None, None
        try:
            return target, None, self._mel(path, digest, deformation, seed), None
        except AudioDecodeError as error:
            return target, None, None, str(error)

    def vectors(self, paths: list[str | Path], deformation: Deformation | None = None,
                seed: int = 0, progress=None, workers: int = 2) -> SongVectors:
        """Embeddings of `paths` under `deformation`; unreadable files are listed in
        `failed`. `progress` wraps the iteration (e.g. tqdm) when given."""
        folder = self.root / condition_name(deformation, seed)
        rows, kept, failed, computed = [], [], [], 0
        with ThreadPoolExecutor(max_workers=workers) as pool:
            prepared = pool.map(lambda p: self._prepare(Path(p), folder, deformation, seed),
                                paths)
            items = enumerate(zip(paths, prepared))
            for index, (path, (target, vector, mel, error)) in \
                    (items if progress is None else progress(items)):
                if error is not None:
                    failed.append((str(path), error))
                    continue
                if vector is None:
                    vector = self.model.encode_mel(mel.astype(np.float32))[0]
                    _save(target, vector)
                    computed += 1
                rows.append(vector)
                kept.append(index)
        dim = self.model.config.joint_dim
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        return SongVectors(matrix, kept, failed, computed)

def _load(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        vector = np.load(path)
    except (ValueError, OSError):
        return None                     # a torn write: recompute
    return vector if np.isfinite(vector).all() else None


def _save(path: Path, vector: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique temporary name, then an atomic rename: an interrupted run leaves no torn file
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        np.save(out, vector)
    os.replace(temporary, path)
