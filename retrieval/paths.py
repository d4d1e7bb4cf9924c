"""Where musicsearch keeps its data by default: $MUSICSEARCH_HOME, else ~/.cache/musicsearch."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_home", "default_qdrant_path", "default_cache_dir", "default_corpus_dir"]


def data_home() -> Path:
    return Path(os.environ.get("MUSICSEARCH_HOME", Path.home() / ".cache" / "musicsearch"))


def default_qdrant_path() -> Path:
    return data_home() / "qdrant"


def default_cache_dir() -> Path:
    return data_home() / "features"


def default_corpus_dir(n_tracks: int, seed: int = 0) -> Path:
    """One folder per corpus size and seed, so the small demo never overwrites the
    1,600-track corpus that training and evaluation use."""
    suffix = "" if seed == 0 else f"-seed{seed}"
    return data_home() / f"demo-corpus-{n_tracks}{suffix}"
