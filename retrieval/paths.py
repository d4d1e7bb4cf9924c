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


def default_corpus_dir() -> Path:
    return data_home() / "demo-corpus"
