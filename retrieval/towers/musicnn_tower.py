"""Frozen MusiCNN audio towers (`musicnn_msd`, `musicnn_mtt`): the pretrained backbone as the
tower's own front end, and a trainable alignment head into the joint space.

The backbone is frozen, so everything it computes is a function of the audio alone: its
outputs are the "features" this tower reads, computed once per file by `BackboneFeatures`
(the MusiCNN log-mel front end, 3 s patches, the backbone) and cached on disk like log-mels
(retrieval.feature_cache, keyed by backbone, weights and audio content). Training then only
runs the head, on cached features: minutes, not hours. Per patch the cache keeps every
backbone output a head may read (`BACKBONE_ROWS`), so trying another `feature` re-extracts
nothing.

    features  (rows, patches) per file: penultimate 200 | mean_pool 753 | max_pool 753 | logits 50
    chunk     `patches` consecutive patches (training crops them like log-mel frames)
    tower     chosen rows → pooled over the chunk's patches → BN → Linear, BN, ReLU, Dropout,
              Linear → joint_dim

The backbone weights are not copied into bundles: they ship with the package
(retrieval/backbone_weights/musicnn, 3 MB each), and a bundle records the weight file's
sha256 as an external reference (like the sentence encoder), refusing to load if it changed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..musicnn_frontend import MusiCNNFrontendConfig, audio_to_musicnn_patches
from .musicnn import WEIGHTS_DIR, load_musicnn
from .registry import register_tower

__all__ = ["BACKBONE_ROWS", "FEATURES", "BackboneFeatures", "MusiCNNTowerConfig",
           "MusiCNNTower", "backbone_tag_names", "shared_backbone"]

# backbone outputs cached per patch, in this row order (MusiCNN: 200-d penultimate embedding,
# mean and max over time of the 753 front+mid channels, 50 tag logits)
BACKBONE_ROWS = (("penultimate", 200), ("mean_pool", 753), ("max_pool", 753), ("logits", 50))
_STARTS = dict(zip([name for name, _ in BACKBONE_ROWS],
                   np.cumsum([0] + [size for _, size in BACKBONE_ROWS])[:-1].tolist()))
_SIZES = dict(BACKBONE_ROWS)
# what a head may read: one output, or several side by side
FEATURES = {"penultimate": ("penultimate",), "mean_pool": ("mean_pool",),
            "max_pool": ("max_pool",), "pooled": ("mean_pool", "max_pool"),
            "logits": ("logits",), "penultimate+pooled": ("penultimate", "mean_pool", "max_pool")}
POOLINGS = ("mean", "max", "mean_max")
FEATURES_VERSION = 1   # bump when what `extract` stores changes


def feature_rows(feature: str) -> list[int]:
    """Row indices of a FEATURES entry in the cached (rows, patches) matrix."""
    return [row for name in FEATURES[feature]
            for row in range(_STARTS[name], _STARTS[name] + _SIZES[name])]


@lru_cache(maxsize=4)
def shared_backbone(name: str) -> nn.Module:
    """One frozen, eval-mode backbone per process (load_musicnn checks its sha256)."""
    return load_musicnn(name)


def backbone_tag_names(name: str) -> tuple[str, ...]:
    return shared_backbone(name).tags


@dataclass(frozen=True)
class BackboneFeatures:
    """A frozen backbone as an audio front end: file → (rows, patches) float32 features.

    Stands where a FrontendConfig stands for log-mel towers: `to_dict()` keys the feature
    cache, `extract(path)` computes, `n_mels` (rows) and `chunk_frames` (patches per chunk)
    shape what the model chunks, `sample_rate` is what deformed copies are written at.
    """
    backbone: str = "msd"
    chunk_frames: int = 1
    batch_patches: int = 16

    @property
    def n_mels(self) -> int:
        return sum(size for _, size in BACKBONE_ROWS)

    @property
    def sample_rate(self) -> int:
        return MusiCNNFrontendConfig().sample_rate

    def to_dict(self) -> dict:
        """What decides the cached values (not the chunking): backbone, weights, front end."""
        from ..bundle import file_sha256
        return {"backbone": f"musicnn_{self.backbone}",
                "weights_sha256": file_sha256(WEIGHTS_DIR / f"{self.backbone}.safetensors"),
                "frontend": asdict(MusiCNNFrontendConfig()), "rows": list(BACKBONE_ROWS),
                "version": FEATURES_VERSION}

    @torch.no_grad()
    def extract_patches(self, patches: np.ndarray) -> np.ndarray:
        """(n, 187, 96) log-mel patches → (rows, n) backbone outputs."""
        model = shared_backbone(self.backbone)
        parts = []
        for start in range(0, len(patches), self.batch_patches):
            out = model.features(torch.from_numpy(patches[start:start + self.batch_patches]))
            parts.append(torch.cat([out[name] for name, _ in BACKBONE_ROWS], dim=1))
        return torch.cat(parts).T.contiguous().numpy().astype(np.float32)

    def extract(self, path: str | Path) -> np.ndarray:
        """Decode one file → its MusiCNN patches → (rows, patches). AudioDecodeError if
        unusable."""
        return self.extract_patches(audio_to_musicnn_patches(path))


@dataclass
class MusiCNNTowerConfig:
    type: str = "musicnn_msd"
    feature: str = "penultimate"   # which backbone output the head reads (FEATURES)
    pooling: str = "mean"          # over the patches of a chunk (POOLINGS)
    patches: int = 1               # 3 s patches per chunk: training crop and inference chunk
    hidden_dim: int = 512
    joint_dim: int = 256
    dropout: float = 0.1

    @property
    def backbone(self) -> str:
        return self.type.removeprefix("musicnn_")

    @property
    def audio_frontend(self) -> BackboneFeatures:
        """This tower's own front end: the model reads cached backbone features, not
        model.frontend's log-mels (retrieval.model_config.ModelConfig.audio_frontend)."""
        return BackboneFeatures(self.backbone, self.patches)

    @property
    def input_dim(self) -> int:
        width = len(feature_rows(self.feature))
        return 2 * width if self.pooling == "mean_max" else width

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self, prefix: str = "towers.audio") -> list[str]:
        checks = [
            (self.feature in FEATURES, f"{prefix}.feature: unknown {self.feature!r} "
                                       f"(known: {', '.join(FEATURES)})"),
            (self.pooling in POOLINGS, f"{prefix}.pooling: unknown {self.pooling!r} "
                                       f"(known: {', '.join(POOLINGS)})"),
            (self.patches >= 1, f"{prefix}.patches must be ≥ 1, got {self.patches}"),
            (min(self.hidden_dim, self.joint_dim) >= 1,
             f"{prefix}.hidden_dim and {prefix}.joint_dim must be ≥ 1"),
            (math.isfinite(self.dropout) and 0 <= self.dropout < 1,
             f"{prefix}.dropout must be in [0, 1), got {self.dropout}"),
        ]
        return [message for ok, message in checks if not ok]


class MusiCNNTower(nn.Module):
    """Alignment head on a frozen MusiCNN. Only the head is a submodule (trained, saved);
    the backbone is shared, frozen and outside the module tree (`self.backbone`)."""
    config_class = MusiCNNTowerConfig

    def __init__(self, config: MusiCNNTowerConfig):
        super().__init__()
        self.config = config
        self.register_buffer("rows", torch.tensor(feature_rows(config.feature)),
                             persistent=False)
        self.head = nn.Sequential(nn.BatchNorm1d(config.input_dim),   # features' own scales
                                  nn.Linear(config.input_dim, config.hidden_dim),
                                  nn.BatchNorm1d(config.hidden_dim), nn.ReLU(inplace=True),
                                  nn.Dropout(config.dropout),
                                  nn.Linear(config.hidden_dim, config.joint_dim))

    @property
    def backbone(self) -> nn.Module:
        return shared_backbone(self.config.backbone)

    def external_refs(self) -> dict[str, dict]:
        """The frozen backbone's weights, recorded in (and checked by) bundles."""
        features = self.config.audio_frontend.to_dict()
        return {"backbone": {"package": "musicsearch", "version": features["backbone"],
                             "sha256": features["weights_sha256"]}}

    def pool(self, chunks: torch.Tensor) -> torch.Tensor:
        """(batch, rows, patches) cached features → (batch, input_dim)."""
        x = chunks.index_select(1, self.rows)
        if self.config.pooling == "mean":
            return x.mean(dim=2)
        if self.config.pooling == "max":
            return x.amax(dim=2)
        return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)

    def forward(self, chunks: torch.Tensor) -> torch.Tensor:
        """(batch, rows, patches) cached backbone features → (batch, joint_dim), not
        normalised."""
        return self.head(self.pool(chunks))

    def encode_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """(batch, patches, 187, 96) log-mel patches → (batch, joint_dim) through the frozen
        backbone and the head (what cached features stand for; gradients reach the head
        only)."""
        batch, count = patches.shape[:2]
        with torch.no_grad():
            out = self.backbone.features(patches.flatten(0, 1))
            rows = torch.cat([out[name] for name, _ in BACKBONE_ROWS], dim=1)
        return self.forward(rows.view(batch, count, -1).transpose(1, 2))


@register_tower("audio", "musicnn_msd")
class MusiCNNMSDTower(MusiCNNTower):
    """MusiCNN trained on the Million Song Dataset's top-50 Last.fm tags."""


@register_tower("audio", "musicnn_mtt")
class MusiCNNMTTTower(MusiCNNTower):
    """MusiCNN trained on MagnaTagATune's top-50 tags."""
