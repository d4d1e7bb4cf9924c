"""Short-chunk CNN audio tower (Won et al. 2020): 3×3 convolutions with 2×2 max-pooling
on ~3.7 s log-mel chunks, seven blocks so 128 mel bands pool down to one, a dense layer
giving the backbone vector z, and a projection MLP into the joint space.

Channel widths are configurable: the paper's 128…512 trunk has ~13 M parameters; the
shipped default is narrower so it trains on a 2-core CPU and ships under 20 MB.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

__all__ = ["AudioTowerConfig", "ShortChunkCNN"]


@dataclass
class AudioTowerConfig:
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


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class ShortChunkCNN(nn.Module):
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
