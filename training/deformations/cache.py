"""Deformed copies of audio files, computed once and kept in a cache folder.

A copy is keyed by the file's content (not its path: a moved file still hits, an edited
one misses), the deformation's key, the seed when the deformation draws random numbers,
and the sample rate when one is forced. Copies are float WAV, so noise at 0 dB SNR that
passes full scale is kept as it is rather than clipped.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from retrieval.feature_cache import file_digest
from retrieval.frontend import AudioDecodeError, load_audio

from ..config import ConfigError
from .base import Deformation, build_deformation

__all__ = ["deform_file", "deformed_path", "CACHE_VERSION"]

# Part of every cached path: bump it when a deformation's output changes for the same key.
CACHE_VERSION = 1


def deformed_path(cache_dir: str | Path, digest: str, deformation: Deformation, *,
                  seed: int = 0, sample_rate: int | None = None) -> Path:
    """Where the deformed copy of the file with content `digest` is (or will be) kept."""
    name = digest
    if sample_rate is not None:
        name += f"-r{sample_rate}"
    if deformation.uses_rng:
        name += f"-s{seed}"
    folder = deformation.key
    if len(folder) > 120:  # a long chain: keep the name readable and within file-name limits
        folder = f"{folder[:100]}-{hashlib.blake2b(folder.encode(), digest_size=8).hexdigest()}"
    return Path(cache_dir) / f"v{CACHE_VERSION}" / folder / f"{name}.wav"


def _native_rate(path: Path) -> int:
    try:
        return soundfile.info(str(path)).samplerate
    except Exception as error:  # libsndfile raises several types; all mean "unreadable"
        raise AudioDecodeError(f"cannot decode {path.name}: {error}") from None


def deform_file(path: str | Path, deformation, cache_dir: str | Path, *, seed: int = 0,
                sample_rate: int | None = None) -> Path:
    """The path of a deformed mono copy of audio file `path` (a WAV under `cache_dir`).

    `deformation` is a Deformation or a spec, checked before the file is read. The copy is
    made at `sample_rate` if given, else at the file's own rate. Its random numbers come
    from (`seed`, file content, deformation key), so each file gets its own noise and a
    rerun gets the same. A copy already in the cache is returned without recomputing.
    Raises ConfigError for a bad spec and AudioDecodeError for an unreadable file."""
    deformation = build_deformation(deformation)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"deformation seed must be a non-negative integer, not {seed!r}")
    if sample_rate is not None and (isinstance(sample_rate, bool)
                                    or not isinstance(sample_rate, int) or sample_rate <= 0):
        raise ConfigError(f"deformation sample_rate must be a positive integer, "
                          f"not {sample_rate!r}")
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"audio file not found: {path}")
    digest = file_digest(path)
    target = deformed_path(cache_dir, digest, deformation, seed=seed, sample_rate=sample_rate)
    if target.is_file():
        return target
    rate = sample_rate or _native_rate(path)
    key_number = int.from_bytes(hashlib.blake2b(deformation.key.encode(), digest_size=8)
                                .digest(), "big")
    rng = np.random.default_rng([seed, int(digest[:16], 16), key_number])
    deformed = deformation(load_audio(path, rate), rate, rng)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name, then an atomic rename: concurrent workers may make the same
    # copy, and a reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp.wav")
    try:
        with os.fdopen(handle, "wb") as stream:
            soundfile.write(stream, deformed, rate, format="WAV", subtype="FLOAT")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
