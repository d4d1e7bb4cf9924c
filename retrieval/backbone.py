"""A song through a pretrained MusiCNN backbone: its 200-d embedding and its 50 tag
probabilities, for the collection's `backbone` vector and payload (issue 11, item 5).

Per song: the file is decoded at 16 kHz, cut into back-to-back 3 s patches (the original
extractor's), and run through MusiCNN (`load_musicnn`, MSD or MTT weights). The song's
embedding is the mean of the patches' penultimate (200-d) outputs, unit-normalised; its
tag probabilities are the mean of the patches' sigmoid outputs (what the `musicnn`
package's `top_tags` averages). The model loads on first use (torch); the tag names are
read without torch (`backbone_tags`), so a backbone-tags text query stays light.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["BACKBONES", "BACKBONE_DIM", "TOP_TAGS", "BackboneSong", "MusiCNNBackbone",
           "backbone_tags", "check_backbone", "load_backbone", "top_tags", "BackboneError"]

BACKBONES = ("msd", "mtt")       # MusiCNN trained on Million Song Dataset / MagnaTagATune tags
BACKBONE_DIM = 200               # the penultimate (dense) layer
TOP_TAGS = 5                     # tags kept in a payload's `backbone_tags`
PATCHES_PER_BATCH = 32           # bounds memory on a 10-minute file (200 patches)
# the converted weights and their tag names (retrieval/towers/musicnn.py's WEIGHTS_DIR)
_TAGS_FILE = Path(__file__).resolve().parent / "backbone_weights" / "musicnn" / "tags.json"


class BackboneError(ValueError):
    """An unknown backbone name, or unreadable backbone files (one line)."""


def check_backbone(name: str) -> str:
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    return name


@lru_cache(maxsize=len(BACKBONES))
def backbone_tags(name: str) -> tuple[str, ...]:
    """The backbone's 50 tag names, in output order (no torch)."""
    check_backbone(name)
    try:
        return tuple(json.loads(_TAGS_FILE.read_text(encoding="utf-8"))[name])
    except (OSError, ValueError, KeyError) as error:
        raise BackboneError(f"cannot read the MusiCNN tag names in {_TAGS_FILE}: "
                            f"{error}") from None


def top_tags(probabilities: np.ndarray, tags: tuple[str, ...], n: int = TOP_TAGS) -> list[dict]:
    """The n most probable tags as [{"tag", "p"}], p rounded to 3 places."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")[:n]
    return [{"tag": tags[i], "p": round(float(probabilities[i]), 3)} for i in order]


@dataclass(frozen=True)
class BackboneSong:
    vector: np.ndarray            # (200,) unit-normalised mean penultimate embedding
    probabilities: np.ndarray     # (50,) mean tag probabilities, in `tags` order

    def payload(self, name: str) -> dict:
        """The payload fields a backbone adds to a point (index/points.py BACKBONE_KEYS)."""
        tags = backbone_tags(name)
        return {"backbone": name, "backbone_tags": top_tags(self.probabilities, tags),
                "backbone_p": [round(float(p), 4) for p in self.probabilities]}


class MusiCNNBackbone:
    """A frozen MusiCNN (MSD or MTT) that turns audio files into `BackboneSong`s."""

    def __init__(self, name: str = "msd"):
        from .towers.musicnn import load_musicnn
        self.name = check_backbone(name)
        self.model = load_musicnn(name)
        self.tags = backbone_tags(name)

    def encode_patches(self, patches: np.ndarray) -> BackboneSong:
        """(n, 187, 96) log-mel patches → the song's embedding and tag probabilities."""
        import torch
        probabilities, embeddings = [], []
        with torch.no_grad():
            for start in range(0, len(patches), PATCHES_PER_BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(
                    patches[start:start + PATCHES_PER_BATCH], dtype=np.float32))
                p, e = self.model(batch)
                probabilities.append(p.numpy())
                embeddings.append(e.numpy())
        mean = np.concatenate(embeddings).mean(axis=0).astype(np.float64)
        vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return BackboneSong(vector, np.concatenate(probabilities).mean(axis=0)
                            .astype(np.float32))

    def encode_file(self, path: str | Path) -> BackboneSong:
        """Decode a file (AudioDecodeError if it cannot be) and encode it."""
        from .musicnn_frontend import audio_to_musicnn_patches
        return self.encode_patches(audio_to_musicnn_patches(path))


@lru_cache(maxsize=len(BACKBONES))
def load_backbone(name: str) -> MusiCNNBackbone:
    """The backbone `name`, loaded once per process (weights checked by sha256)."""
    return MusiCNNBackbone(name)
