"""Training the playlist (cultural) tower and its cold-start predictor on a trained model.

Won's cultural model (thesis §5.2, Table 5.3): a collaborative-filtering song vector →
MLP → the joint space, trained with the tag objective against the tag branch. Here the
song vector is the playlist Word2Vec vector and the tag branch is the model's own word
tower, FROZEN: the cultural vectors land in the space text queries already live in, so
one query vector searches both the `music` and the `cultural` named vectors.

Batches are tag-balanced (Won's balanced sampling): anchors are tags drawn uniformly
among those with a training track in the playlists, each with one random positive track;
the objective is any of `training.objectives.OBJECTIVES` (default: the multi-positive
contrastive, whose other rows are the negatives).

Cold start: a small MLP from the audio song vector to the trained cultural vector, with
a cosine loss, on the training tracks that have both; it gives a cultural vector to a
track the playlists never saw (the index marks it `cultural_predicted`).

Only training-split tracks are learned from, so test tracks stay unseen by both MLPs
(their Word2Vec vectors come from playlists, which never mix splits: sessions.py rule 6).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from retrieval.catalog import TrackRecord
from retrieval.model import MusicSearchModel
from retrieval.towers.playlist import PlaylistTower, PlaylistTowerConfig
from retrieval.track_vectors import read_track_vectors
from retrieval.typed_config import ConfigError

from .objectives import OBJECTIVES, objective_params

__all__ = ["CulturalConfig", "CulturalReport", "fit_playlist_tower", "add_playlist_tower"]


@dataclass
class CulturalConfig:
    hidden_dim: int = 512
    dropout: float = 0.1
    objective: str = "contrastive"
    objective_params: dict | None = None   # e.g. {"temperature": 0.1} or {"margin": 0.4}
    steps: int = 600                       # tag-balanced batches
    batch_size: int = 64                   # anchors (tags) per batch
    lr: float = 1e-3
    weight_decay: float = 1e-4
    predictor_steps: int = 600             # cold-start MLP, batches of `batch_size` tracks
    split: str = "train"                   # the tracks learned from
    seed: int = 0

    def problems(self) -> list[str]:
        found = [f"{name} must be at least 1" for name in
                 ("hidden_dim", "steps", "batch_size", "predictor_steps")
                 if getattr(self, name) < 1]
        if self.objective not in OBJECTIVES:
            found.append(f"unknown objective {self.objective!r} (known: "
                         f"{', '.join(sorted(OBJECTIVES))})")
        else:
            unknown = set(self.objective_params or {}) - set(objective_params(self.objective))
            if unknown:
                found.append(f"objective {self.objective} has no parameter(s) "
                             f"{', '.join(sorted(unknown))}")
        if not 0 <= self.dropout < 1 or not self.lr > 0 or self.weight_decay < 0:
            found.append("dropout must be in [0, 1), lr > 0 and weight_decay ≥ 0")
        return found

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CulturalReport:
    tracks: int                # training tracks with a Word2Vec vector and a known tag
    tags: int                  # anchor tags
    final_loss: float
    predictor_tracks: int      # tracks the cold-start MLP learned from
    predictor_cosine: float    # its mean cosine to the targets at the end (training data)

    def to_dict(self) -> dict:
        return asdict(self)


def _targets(model: MusicSearchModel, tower: PlaylistTower, records: list[TrackRecord],
             split: str) -> tuple[list[TrackRecord], np.ndarray, list[str]]:
    tags = [t for t in model.config.tags if model.phrase_vector(t) is not None]
    column = {t: i for i, t in enumerate(tags)}
    kept = [r for r in records if r.split == split and tower.knows(r.track_id)
            and any(t in column for t in r.tags)]
    labels = np.zeros((len(kept), len(tags)), dtype=bool)
    for row, record in enumerate(kept):
        labels[row, [column[t] for t in record.tags if t in column]] = True
    return kept, labels, tags


def fit_playlist_tower(model: MusicSearchModel, vectors_path, records: list[TrackRecord],
                       song_vectors: dict[str, np.ndarray] | None,
                       config: CulturalConfig) -> tuple[PlaylistTower, CulturalReport]:
    """A playlist tower for `model`, trained as the module docstring says. `song_vectors`
    (track id → the model's audio song vector) trains the cold-start predictor; None leaves
    it untrained (then predicted vectors are noise: only for tests of other parts)."""
    problems = config.problems()
    if problems:
        raise ConfigError("cultural tower: " + "; ".join(problems))
    vectors = read_track_vectors(vectors_path)[1]
    tower = PlaylistTower(PlaylistTowerConfig(vector_dim=vectors.shape[1],
                                              hidden_dim=config.hidden_dim,
                                              joint_dim=model.config.joint_dim,
                                              dropout=config.dropout))
    tower.set_track_vectors(vectors_path)
    kept, labels, tags = _targets(model, tower, records, config.split)
    if len(kept) < 2:
        raise ConfigError(f"cultural tower: only {len(kept)} {config.split} tracks are in the "
                          "playlists with a tag the model knows; need at least 2")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    tag_vectors = torch.from_numpy(model.encode_words(tags))    # frozen word tower
    inputs = torch.from_numpy(tower.inputs([r.track_id for r in kept])[0])
    positives = [np.flatnonzero(labels[:, c]) for c in range(len(tags))]
    anchors = np.array([c for c in range(len(tags)) if len(positives[c])])
    labels_t = torch.from_numpy(labels)
    params = dict(config.objective_params or {})
    objective = OBJECTIVES[config.objective]
    optimizer = torch.optim.Adam(tower.mlp.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    tower.train()
    loss_value = float("nan")
    for _ in range(config.steps):
        chosen = rng.choice(anchors, size=config.batch_size, replace=len(anchors) < config.batch_size)
        tracks = np.array([rng.choice(positives[c]) for c in chosen])
        relevant = labels_t[tracks][:, chosen].T          # (anchors, tracks)
        loss = objective(tag_vectors[chosen], tower.mlp(inputs[tracks]), relevant, **params)
        if loss is None:
            continue
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
    tower.eval()
    predictor_tracks, cosine = _fit_cold_start(tower, kept, song_vectors, config, rng)
    return tower, CulturalReport(len(kept), int(len(anchors)), loss_value, predictor_tracks,
                                 cosine)


def _fit_cold_start(tower: PlaylistTower, kept: list[TrackRecord],
                    song_vectors: dict[str, np.ndarray] | None, config: CulturalConfig,
                    rng: np.random.Generator) -> tuple[int, float]:
    pairs = [r.track_id for r in kept if song_vectors and r.track_id in song_vectors]
    if len(pairs) < 2:
        return len(pairs), float("nan")
    targets, _ = tower.encode(pairs)
    audio = torch.from_numpy(np.stack([song_vectors[t] for t in pairs]).astype(np.float32))
    targets_t = torch.from_numpy(targets)
    optimizer = torch.optim.Adam(tower.cold_start.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    tower.train()
    for _ in range(config.predictor_steps):
        batch = rng.choice(len(pairs), size=min(config.batch_size, len(pairs)), replace=False)
        predicted = tower.cold_start(audio[batch])
        loss = (1 - F.cosine_similarity(predicted, targets_t[batch])).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tower.eval()
    cosine = float((tower.predict(audio.numpy()) * targets).sum(axis=1).mean())
    return len(pairs), cosine


def add_playlist_tower(model: MusicSearchModel, tower: PlaylistTower) -> MusicSearchModel:
    """`model` with `tower` as towers["playlist"] (config and weights; in place)."""
    if tower.config.joint_dim != model.config.joint_dim:
        raise ConfigError(f"playlist tower joint_dim {tower.config.joint_dim} ≠ the model's "
                          f"{model.config.joint_dim}")
    model.config.towers["playlist"] = tower.config
    model.towers["playlist"] = tower
    model.eval()
    return model
