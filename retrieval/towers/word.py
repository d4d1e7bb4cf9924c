"""Word tower (Won's tag branch): a pretrained word vector → MLP → joint space.

The tower sees only word vectors, never tag ids, so any word the vectors know, seen in
training or not, lands in the joint space (zero-shot words and tags). Its config owns the
word-vector settings, so the tower is complete on its own.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..fast_words import phrase_input
from ..word_vectors import GLOVE_PACKAGE, WordVectorsConfig, load_word_vectors
from .registry import register_tower

__all__ = ["WordTowerConfig", "WordTower"]


@dataclass
class WordTowerConfig:
    type: str = "word_mlp"
    vectors: WordVectorsConfig = field(default_factory=WordVectorsConfig)
    hidden_dim: int = 512
    joint_dim: int = 256
    dropout: float = 0.1

    @property
    def word_dim(self) -> int:
        return self.vectors.dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "WordTowerConfig":
        return cls(**{**data, "vectors": WordVectorsConfig.from_dict(data["vectors"])})

    def problems(self, prefix: str = "towers.word") -> list[str]:
        vectors = self.vectors
        checks = [
            (vectors.source in (GLOVE_PACKAGE, "file"),
             f"{prefix}.vectors.source must be {GLOVE_PACKAGE!r} or 'file', "
             f"got {vectors.source!r}"),
            (vectors.source != "file" or bool(vectors.path) and Path(vectors.path).is_file(),
             f"{prefix}.vectors.path not found: {vectors.path}"),
            (min(self.hidden_dim, self.joint_dim, vectors.dim) >= 1,
             f"{prefix}.hidden_dim, {prefix}.joint_dim and {prefix}.vectors.dim must be ≥ 1"),
            (math.isfinite(self.dropout) and 0 <= self.dropout < 1,
             f"{prefix}.dropout must be in [0, 1), got {self.dropout}"),
        ]
        return [message for ok, message in checks if not ok]


@register_tower("word", "word_mlp", default=True)
class WordTower(nn.Module):
    config_class = WordTowerConfig

    def __init__(self, config: WordTowerConfig):
        super().__init__()
        self.config = config
        self.mlp = nn.Sequential(nn.Linear(config.word_dim, config.hidden_dim),
                                 nn.BatchNorm1d(config.hidden_dim), nn.ReLU(inplace=True),
                                 nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden_dim, config.joint_dim))

    @property
    def word_vectors(self):
        """The pretrained word vectors, a memory-mapped `WordTable` (opened once per process)."""
        return load_word_vectors(self.config.vectors)

    def knows(self, word: str) -> bool:
        return word in self.word_vectors

    def phrase_vector(self, phrase: str) -> np.ndarray | None:
        """Mean of the unit word vectors of a phrase's known words; None if none known."""
        return phrase_input(phrase, self.word_vectors)

    def forward(self, word_vectors: torch.Tensor) -> torch.Tensor:
        """(batch, word_dim) unit-norm word vectors → (batch, joint_dim), not normalised."""
        return self.mlp(word_vectors)
