"""Word tower (Won's tag branch): a pretrained word vector → MLP → joint space.

The tower sees only word vectors, never tag ids, so any word the vectors know, seen in
training or not, lands in the joint space (zero-shot words and tags).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["WordTowerConfig", "WordTower"]


@dataclass
class WordTowerConfig:
    word_dim: int = 50
    hidden_dim: int = 512
    joint_dim: int = 256
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "WordTowerConfig":
        return cls(**data)


class WordTower(nn.Module):
    def __init__(self, config: WordTowerConfig):
        super().__init__()
        self.config = config
        self.mlp = nn.Sequential(nn.Linear(config.word_dim, config.hidden_dim),
                                 nn.BatchNorm1d(config.hidden_dim), nn.ReLU(inplace=True),
                                 nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden_dim, config.joint_dim))

    def forward(self, word_vectors: torch.Tensor) -> torch.Tensor:
        """(batch, word_dim) unit-norm word vectors → (batch, joint_dim), not normalised."""
        return self.mlp(word_vectors)
