"""On-disk log-mel cache keyed by file content and front-end parameters (also used for a
frozen backbone's features, keyed by the backbone and its weights).

Keyed by content (not path or mtime) so a moved file hits the cache and an edited file
misses it; keyed by the front-end config so changing mel parameters never reuses stale
features; keyed by DECODER_VERSION so a change in how audio is decoded (e.g. scaling of
over-full-scale float audio) is not mixed with features computed before it. Stored as
float16 .npy: half the disk, and log-mel dB values need no more.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .frontend import FrontendConfig, audio_to_mel

__all__ = ["FeatureCache", "file_digest", "extract_features", "DECODER_VERSION"]

# 2: block-wise decoding, bounded resampling ratios, float audio scaled to full scale.
DECODER_VERSION = 2


def extract_features(audio_path: str | Path, config) -> np.ndarray:
    """A file's features as an audio tower reads them: the log-mel of a FrontendConfig, or
    what a tower's own front end computes (`config.extract`, e.g. a frozen backbone's
    outputs, retrieval.towers.musicnn_tower.BackboneFeatures)."""
    extract = getattr(config, "extract", None)
    return extract(audio_path) if extract is not None else audio_to_mel(audio_path, config)


def file_digest(path: str | Path, block_size: int = 1 << 20) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    def __init__(self, root: str | Path, config: FrontendConfig):
        """`config`: a FrontendConfig, or an audio tower's own front end (anything with
        `to_dict()` and `extract(path)`; see extract_features)."""
        self.config = config
        params = json.dumps({**config.to_dict(), "decoder": DECODER_VERSION},
                            sort_keys=True).encode()
        self.params_key = hashlib.blake2b(params, digest_size=8).hexdigest()
        self.root = Path(root) / self.params_key

    def _path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}.npy"

    def mel(self, audio_path: str | Path, digest: str | None = None) -> np.ndarray:
        """Log-mel of a file, computed once and then read from disk."""
        digest = digest or file_digest(audio_path)
        cached = self._path_for(digest)
        if cached.is_file():
            try:
                mel = np.load(cached).astype(np.float32)
            except (ValueError, OSError):
                mel = None                      # a torn write: recompute
            if mel is not None and np.isfinite(mel).all():
                return mel
            cached.unlink(missing_ok=True)      # torn, or written by a buggy version
        mel = extract_features(audio_path, self.config).astype(np.float16)
        cached.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name: threads or processes may compute the same file at once.
        handle, temporary = tempfile.mkstemp(dir=cached.parent, suffix=".tmp.npy")
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, mel)
        os.replace(temporary, cached)  # atomic: concurrent readers never see half a file
        return mel.astype(np.float32)  # the same values a cache hit returns
