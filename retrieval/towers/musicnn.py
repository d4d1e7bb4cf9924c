"""MusiCNN (Pons & Serra 2019) in PyTorch: the tagger behind the `musicnn` package, ported so
its MSD and MTT weights (converted once from TensorFlow, see
training/backbones/convert_musicnn.py) run without TensorFlow.

Input: log-mel patches (batch, frames, 96 bands), frames = 187 for the trained 3 s patches.
  front end  timbral filters (7 frames × 38 and × 67 bands, max over frequency) and temporal
             filters (128, 64, 32 frames × 1 band, max over frequency) → 561 channels per frame
  mid end    three 1-d convolutions of 7 frames with residual connections (64 channels each)
  back end   max and mean over time of the 753 front+mid channels → dense 200 (the
             penultimate embedding) → 50 tag logits

TensorFlow conventions kept so converted weights give the same numbers: every convolution is
conv → ReLU → batch norm (in that order), batch-norm epsilon is 1e-3, even kernels pad 'same'
with the extra frame at the end, and the back end flattens (channel, [max, mean]) pairs
interleaved. MusiCNNVGG is the package's VGG baseline on the same patches.

Pretrained weights: load_musicnn('msd' | 'mtt' | 'msd_vgg' | 'mtt_vgg'), shipped in
retrieval/backbone_weights/musicnn/ (see its README.md). The audio towers `musicnn_msd` and
`musicnn_mtt` wrap it frozen, with a trainable head (retrieval/towers/musicnn_tower.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MusiCNNConfig", "MusiCNN", "MusiCNNVGG", "BN_EPS", "MUSICNN_WEIGHTS",
           "MusiCNNWeightsError", "load_musicnn"]

BN_EPS = 1e-3   # tf.compat.v1.layers.batch_normalization's default
# converted once from the musicnn 0.1.0 wheel (11 MB in all): shipped, never downloaded
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "backbone_weights" / "musicnn"


class MusiCNNWeightsError(ValueError):
    """Pretrained MusiCNN weights that are missing, unknown or not the converted files."""


@dataclass
class MusiCNNConfig:
    n_mels: int = 96
    timbral_filters: int = 204     # int(1.6 · 128) per timbral kernel
    temporal_filters: int = 51     # int(1.6 · 32) per temporal kernel
    midend_filters: int = 64
    backend_units: int = 200
    n_classes: int = 50

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MusiCNNConfig":
        return cls(**data)

    @property
    def timbral_bands(self) -> tuple[int, int]:
        return int(0.4 * self.n_mels), int(0.7 * self.n_mels)

    @property
    def frontend_channels(self) -> int:
        return 2 * self.timbral_filters + 3 * self.temporal_filters

    @property
    def midend_channels(self) -> int:
        return self.frontend_channels + 3 * self.midend_filters


def _same_time_pad(kernel: int) -> tuple[int, int]:
    """TF 'same' padding along time: the odd frame of an even kernel goes at the end."""
    total = kernel - 1
    return total // 2, total - total // 2


def _max_then_relu_bn(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """conv → ReLU → frozen BN → max over frequency, computed as conv → max → ReLU → BN.

    ReLU and a frozen BN are monotone per channel (increasing where the BN scale is ≥ 0, else
    decreasing), so the max over frequency can go first and the ReLU and BN run on the (B, C, T)
    maximum instead of the (B, C, T, F) map. A decreasing channel needs the minimum, i.e. the
    maximum of the negated filter: the sign is folded into the conv."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    sign = torch.where(scale < 0, -1.0, 1.0)
    peak = F.conv2d(x, conv.weight * sign[:, None, None, None], conv.bias * sign).amax(dim=3)
    return torch.addcmul(shift[:, None], F.relu(peak * sign[:, None]), scale[:, None])


class _FrontBlock(nn.Module):
    """conv → ReLU → BN, then max over the remaining frequency bins: (B, 1, T, F) → (B, C, T)."""

    def __init__(self, filters: int, kernel: tuple[int, int], time_pad: tuple[int, int]):
        super().__init__()
        self.time_pad = time_pad
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """fast (frozen BN only): _max_then_relu_bn; else the layer as TensorFlow computes it."""
        x = F.pad(x, (0, 0, *self.time_pad))
        if not fast:
            return self.bn(F.relu(self.conv(x))).amax(dim=3)
        # one patch per conv: its (C, T, F) map (~9 MB for 3 s) stays in cache; whole batches
        # ran ~2× slower (benchmarks/backbone_speed.py)
        return torch.cat([_max_then_relu_bn(patch, self.conv, self.bn) for patch in x.split(1)])


class _MidBlock(nn.Module):
    """A 7-frame convolution across all channels: conv → ReLU → BN, (B, C_in, T) → (B, C, T)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 7, padding=3)
        self.bn = nn.BatchNorm1d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class MusiCNN(nn.Module):
    def __init__(self, config: MusiCNNConfig | None = None):
        super().__init__()
        self.config = config = config or MusiCNNConfig()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        # timbral: the input is padded 3 frames each side, then 'valid' over frequency
        self.timbral = nn.ModuleList(
            _FrontBlock(config.timbral_filters, (7, bands), (3, 3))
            for bands in config.timbral_bands)
        self.temporal = nn.ModuleList(
            _FrontBlock(config.temporal_filters, (frames, 1), _same_time_pad(frames))
            for frames in (128, 64, 32))
        self.midend = nn.ModuleList([
            _MidBlock(config.frontend_channels, config.midend_filters),
            _MidBlock(config.midend_filters, config.midend_filters),
            _MidBlock(config.midend_filters, config.midend_filters)])
        self.pool_bn = nn.BatchNorm1d(2 * config.midend_channels, eps=BN_EPS)
        self.dense = nn.Linear(2 * config.midend_channels, config.backend_units)
        self.dense_bn = nn.BatchNorm1d(config.backend_units, eps=BN_EPS)
        self.classifier = nn.Linear(config.backend_units, config.n_classes)
        # in eval, front-end convs one patch at a time with max over frequency before ReLU and
        # BN (same outputs to float rounding, faster: benchmarks/backbone_speed.py); False:
        # TensorFlow's layer order on the whole batch
        self.fast_eval = True

    def features(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named layer output of the original extractor, plus logits and probabilities.

        patches: (B, frames, n_mels). Returned time-major like the original: timbral (B, T, 408),
        temporal (B, T, 153), cnn1..3 (B, T, 64), mean_pool and max_pool (B, 753),
        penultimate (B, 200), logits and probabilities (B, 50).
        """
        if patches.dim() != 3 or patches.shape[2] != self.config.n_mels:
            raise ValueError(f"MusiCNN expects (batch, frames, {self.config.n_mels}) log-mel "
                             f"patches, got shape {tuple(patches.shape)}")
        x = self.input_bn(patches.unsqueeze(1))
        fast = self.fast_eval and not self.training
        timbral = [block(x, fast) for block in self.timbral]
        temporal = [block(x, fast) for block in self.temporal]
        front = torch.cat(timbral + temporal, dim=1)                   # (B, 561, T)
        cnn1 = self.midend[0](front)
        cnn2 = self.midend[1](cnn1) + cnn1
        cnn3 = self.midend[2](cnn2) + cnn2
        mid = torch.cat([front, cnn1, cnn2, cnn3], dim=1)             # (B, 753, T)
        max_pool, mean_pool = mid.amax(dim=2), mid.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's interleaved order
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        logits = self.classifier(penultimate)
        time_major = lambda t: t.transpose(1, 2)   # noqa: E731
        return {
            "timbral": time_major(torch.cat(timbral, dim=1)),
            "temporal": time_major(torch.cat(temporal, dim=1)),
            "cnn1": time_major(cnn1), "cnn2": time_major(cnn2), "cnn3": time_major(cnn3),
            "mean_pool": mean_pool, "max_pool": max_pool, "penultimate": penultimate,
            "logits": logits, "probabilities": torch.sigmoid(logits),
        }

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(tag probabilities (B, 50), penultimate embedding (B, 200))."""
        out = self.features(patches)
        return out["probabilities"], out["penultimate"]


class MusiCNNVGG(nn.Module):
    """The package's VGG baseline: five 3×3 conv → ReLU → BN blocks of 128 channels with
    max-pooling (4×1 stride 2, then 2×2 three times, then 4×4), 50 logits from the flattened
    last pool (2 frames × 1 band × 128 channels, flattened time, band, channel as TF does).
    Needs exactly 187-frame, 96-band patches."""

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
             ((4, 4), (4, 4)))

    def __init__(self, filters: int = 128, n_classes: int = 50, n_mels: int = 96):
        super().__init__()
        self.n_mels = n_mels
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1)
                                   for i in range(5))
        self.bns = nn.ModuleList(nn.BatchNorm2d(filters, eps=BN_EPS) for _ in range(5))
        self.classifier = nn.Linear(2 * filters, n_classes)

    def features(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """pool1..pool5 channels-last like the original, 'penultimate' the flattened pool5
        (B, 256), logits and probabilities (B, 50)."""
        if patches.dim() != 3 or patches.shape[1:] != (187, self.n_mels):
            raise ValueError(f"MusiCNN VGG expects (batch, 187, {self.n_mels}) log-mel patches, "
                             f"got shape {tuple(patches.shape)}")
        x = self.input_bn(patches.unsqueeze(1))
        out = {}
        for i, (conv, bn, (kernel, stride)) in enumerate(zip(self.convs, self.bns, self.POOLS)):
            x = F.max_pool2d(bn(F.relu(conv(x))), kernel, stride)
            out[f"pool{i + 1}"] = x.permute(0, 2, 3, 1)
        out["penultimate"] = out["pool5"].flatten(1)
        out["logits"] = self.classifier(out["penultimate"])
        out["probabilities"] = torch.sigmoid(out["logits"])
        return out

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(tag probabilities (B, 50), flattened last pool (B, 256))."""
        out = self.features(patches)
        return out["probabilities"], out["penultimate"]


# weight file name → architecture; 'msd'/'mtt': Million Song Dataset / MagnaTagATune tags
MUSICNN_WEIGHTS = {"msd": MusiCNN, "mtt": MusiCNN, "msd_vgg": MusiCNNVGG, "mtt_vgg": MusiCNNVGG}


def load_musicnn(name: str = "msd", weights_dir: str | Path | None = None) -> nn.Module:
    """A pretrained model (see MUSICNN_WEIGHTS) in eval mode with gradients off, its 50 tag
    names as `model.tags`. The weight file must match the sha256 recorded in PROVENANCE.json
    at conversion."""
    from safetensors.torch import load as load_safetensors

    if name not in MUSICNN_WEIGHTS:
        raise MusiCNNWeightsError(f"unknown MusiCNN weights {name!r}; known: "
                                  f"{', '.join(MUSICNN_WEIGHTS)}")
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    path = folder / f"{name}.safetensors"
    try:
        provenance = json.loads((folder / "PROVENANCE.json").read_text())
        tags = json.loads((folder / "tags.json").read_text())[name.split("_")[0]]
        data = path.read_bytes()
    except (OSError, ValueError, KeyError) as error:
        raise MusiCNNWeightsError(f"cannot read the MusiCNN {name} weights in {folder}: "
                                  f"{error}") from None
    expected = provenance.get("files", {}).get(path.name, {}).get("sha256")
    if hashlib.sha256(data).hexdigest() != expected:
        raise MusiCNNWeightsError(f"{path} does not match the sha256 in PROVENANCE.json: "
                                  "re-run training/backbones/convert_musicnn.py")
    model = MUSICNN_WEIGHTS[name]()
    model.load_state_dict(load_safetensors(data), strict=True)   # the bytes just hashed
    model.tags = tuple(tags)
    return model.eval().requires_grad_(False)
