"""Playlist tower (Won's cultural song branch, with Alonso's playlist Word2Vec as the
collaborative-filtering vector): a track's Word2Vec vector → MLP → joint space, plus a
cold-start predictor from the audio song vector to the same cultural vector.

The Word2Vec vectors are a bundle side file (`vectors_file`, the safetensors written by
`training.playlists.word2vec.save_track_vectors`: tensor "vectors", metadata "track_ids"),
so the fingerprint covers them and an altered file is refused on load. The tower is
trained against the model's frozen word tower (training/cultural.py), so a text query's
vector is also a query of the `cultural` named vector.

A track absent from the playlists has no Word2Vec vector; `predict` maps its audio song
vector (joint space) to a cultural vector instead, and the index marks it as predicted.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..track_vectors import read_track_vectors
from ..vectors import finite_output, l2_normalize
from .registry import register_tower

__all__ = ["PlaylistTowerConfig", "PlaylistTower", "PLAYLIST_VECTORS"]

PLAYLIST_VECTORS = "playlist_word2vec.safetensors"   # the side file's default name


def _mlp(inputs: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.BatchNorm1d(hidden),
                         nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, out))


@dataclass
class PlaylistTowerConfig:
    type: str = "playlist_mlp"
    vectors_file: str = PLAYLIST_VECTORS   # side-file name of the Word2Vec track vectors
    vector_dim: int = 64                   # Word2Vec vector size
    hidden_dim: int = 512                  # Won: 200 → 512 → 256
    joint_dim: int = 256
    dropout: float = 0.1
    cold_start_hidden: int = 256           # audio song vector → cultural vector MLP

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self, prefix: str = "towers.playlist") -> list[str]:
        checks = [
            (bool(self.vectors_file) and Path(self.vectors_file).name == self.vectors_file,
             f"{prefix}.vectors_file must be a plain file name, got {self.vectors_file!r}"),
            (min(self.vector_dim, self.hidden_dim, self.joint_dim, self.cold_start_hidden) >= 1,
             f"{prefix}.vector_dim, hidden_dim, joint_dim and cold_start_hidden must be ≥ 1"),
            (math.isfinite(self.dropout) and 0 <= self.dropout < 1,
             f"{prefix}.dropout must be in [0, 1), got {self.dropout}"),
        ]
        return [message for ok, message in checks if not ok]


@register_tower("playlist", "playlist_mlp", default=True)
class PlaylistTower(nn.Module):
    config_class = PlaylistTowerConfig

    def __init__(self, config: PlaylistTowerConfig):
        super().__init__()
        self.config = config
        self.mlp = _mlp(config.vector_dim, config.hidden_dim, config.joint_dim, config.dropout)
        self.cold_start = _mlp(config.joint_dim, config.cold_start_hidden, config.joint_dim,
                               config.dropout)
        self._path: Path | None = None
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, config.vector_dim), np.float32)

    # ---- the Word2Vec side file ----------------------------------------------------------
    def set_track_vectors(self, path: str | Path) -> None:
        track_ids, vectors, _ = read_track_vectors(path)
        if vectors.shape[1] != self.config.vector_dim:
            raise ValueError(f"{path}: vectors have {vectors.shape[1]} dimensions, the "
                             f"playlist tower expects {self.config.vector_dim}")
        self._path = Path(path)
        self._rows = {track_id: row for row, track_id in enumerate(track_ids)}
        self._vectors = l2_normalize(vectors).astype(np.float32)

    def side_files(self) -> dict[str, Path]:
        return {self.config.vectors_file: self._path} if self._path is not None else {}

    def use_side_files(self, files: dict[str, Path]) -> None:
        if self.config.vectors_file not in files:
            raise ValueError(f"the playlist tower's vectors ({self.config.vectors_file}) are "
                             "not among the bundle's side files")
        self.set_track_vectors(files[self.config.vectors_file])

    @property
    def track_ids(self) -> list[str]:
        return list(self._rows)

    def knows(self, track_id: str) -> bool:
        return track_id in self._rows

    def inputs(self, track_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(unit Word2Vec vectors of the known ones, (n,) bool mask of which are known)."""
        known = np.array([t in self._rows for t in track_ids], dtype=bool)
        rows = [self._rows[t] for t, k in zip(track_ids, known) if k]
        return self._vectors[rows], known

    # ---- encoding ------------------------------------------------------------------------
    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """(batch, vector_dim) unit Word2Vec vectors → (batch, joint_dim), not normalised."""
        return self.mlp(vectors)

    @torch.no_grad()
    def encode(self, track_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cultural vectors of the tracks that are in the playlists: ((known, joint_dim)
        unit vectors, (n,) known mask)."""
        self.eval()
        inputs, known = self.inputs(list(track_ids))
        if not len(inputs):
            return np.zeros((0, self.config.joint_dim), np.float32), known
        out = self.mlp(torch.from_numpy(inputs)).numpy()
        return l2_normalize(finite_output(out, "cultural vectors")).astype(np.float32), known

    @torch.no_grad()
    def predict(self, song_vectors: np.ndarray) -> np.ndarray:
        """Cold start: (n, joint_dim) audio song vectors → predicted unit cultural vectors."""
        self.eval()
        songs = np.atleast_2d(np.asarray(song_vectors, dtype=np.float32))
        out = self.cold_start(torch.from_numpy(songs)).numpy()
        return l2_normalize(finite_output(out, "predicted cultural vectors")).astype(np.float32)
