"""Short-chunk CNN audio tower (Won et al. 2020): 3×3 convolutions with 2×2 max-pooling
on ~3.7 s log-mel chunks, seven blocks so 128 mel bands pool down to one, a dense layer
giving the backbone vector z, and a projection MLP into the joint space.

Channel widths are configurable: the paper's 128…512 trunk has ~13 M parameters; the
shipped default is narrower so it trains on a 2-core CPU and ships under 20 MB.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .registry import register_tower

__all__ = ["AudioTowerConfig", "ShortChunkCNN"]


@dataclass
class AudioTowerConfig:
    type: str = "short_chunk_cnn"
    n_mels: int = 128
    channels: list[int] = field(default_factory=lambda: [16, 16, 32, 32, 64, 64, 128])
    backbone_dim: int = 256
    joint_dim: int = 256
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AudioTowerConfig":
        return cls(**data)

    @property
    def pooling_blocks(self) -> int:
        return len(self.channels)

    def problems(self, prefix: str = "towers.audio") -> list[str]:
        checks = [
            (len(self.channels) == 7,
             f"{prefix}.channels needs 7 widths (128 mels pool to 1), got {len(self.channels)}"),
            (all(width >= 1 for width in self.channels), f"{prefix}.channels must all be ≥ 1"),
            (min(self.backbone_dim, self.joint_dim) >= 1,
             f"{prefix}.backbone_dim and {prefix}.joint_dim must be ≥ 1"),
            (math.isfinite(self.dropout) and 0 <= self.dropout < 1,
             f"{prefix}.dropout must be in [0, 1), got {self.dropout}"),
        ]
        return [message for ok, message in checks if not ok]

    def frontend_problems(self, frontend, prefix: str = "towers.audio",
                          frontend_prefix: str = "frontend") -> list[str]:
        """What makes this tower unusable on the front end's log-mel chunks."""
        pooled = 2 ** len(self.channels)   # each block halves frequency and time
        checks = [
            (self.n_mels == frontend.n_mels,
             f"{prefix}.n_mels ({self.n_mels}) must equal {frontend_prefix}.n_mels "
             f"({frontend.n_mels})"),
            (frontend.n_mels >= pooled and frontend.chunk_frames >= pooled,
             f"{frontend_prefix}.n_mels and {frontend_prefix}.chunk_frames must be ≥ {pooled} "
             f"({len(self.channels)} pooling blocks), got {frontend.n_mels} and "
             f"{frontend.chunk_frames}"),
        ]
        return [message for ok, message in checks if not ok]


class _ConvBlock(nn.Sequential):
    """conv → BN → ReLU → 2×2 max-pool, with the ReLU applied after the pooling: ReLU is
    monotonic, so values and gradients are bit-identical, on a quarter of the elements
    (~3% of a CPU training step of the tower). The ReLU and pool have no weights: state-dict keys as ever."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                         nn.MaxPool2d(2), nn.ReLU(inplace=True))


@register_tower("audio", "short_chunk_cnn", default=True)
class ShortChunkCNN(nn.Module):
    config_class = AudioTowerConfig

    def __init__(self, config: AudioTowerConfig):
        super().__init__()
        self.config = config
        self.input_norm = nn.BatchNorm2d(1)   # learns the scale of dB-valued log-mels
        widths = [1, *config.channels]
        self.blocks = nn.Sequential(*[_ConvBlock(a, b) for a, b in zip(widths, widths[1:])])
        self.dense = nn.Sequential(nn.Linear(config.channels[-1], config.backbone_dim),
                                   nn.BatchNorm1d(config.backbone_dim), nn.ReLU(inplace=True))
        self.projection = nn.Sequential(nn.Dropout(config.dropout),
                                        nn.Linear(config.backbone_dim, config.joint_dim * 2),
                                        nn.ReLU(inplace=True),
                                        nn.Linear(config.joint_dim * 2, config.joint_dim))

    def backbone(self, mel_chunks: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) log-mel chunks → (batch, backbone_dim) z."""
        x = self.blocks(self.input_norm(mel_chunks.unsqueeze(1)))
        x = x.amax(dim=(2, 3))  # global max over whatever frequency/time is left
        return self.dense(x)

    def forward(self, mel_chunks: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) → (batch, joint_dim), not normalised."""
        return self.projection(self.backbone(mel_chunks))
