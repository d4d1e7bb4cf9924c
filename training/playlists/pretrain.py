"""Audio aligned to playlists (Alonso-Jiménez, thesis §5): the `playlists` section of a
training config and the data it needs, prepared before any audio is read.

The audio tower is trained contrastively (NT-Xent, τ = 0.1: the `contrastive` objective)
against playlist information through separate projectors with one hidden layer (128 →
128, discarded after training: training.alignment.playlist_pair). What a positive is:

- `pairs`: own | co | tco (training.playlists.pairs) — which track pairs with which;
- `target`: word2vec | audio — what the positive track is represented by: its frozen
  Word2Vec track vector (thesis "Playlist W2V" with `own`) or its audio through the same
  tower and projector (thesis "Playlist CO/TCO", SimCLR-style). `own` needs word2vec.

Playlists come from `playlists` (JSONL, tracks mapped to the catalog) or, when it is
null, are simulated listening sessions (training.playlists.sessions) over the TRAINING
split only; Word2Vec vectors come from `vectors` or are trained on those playlists
(training.playlists.word2vec). Only training tracks take part either way.

`weight` > 0 switches the playlist pair on; `tag_weight` scales the tag pair, and 0
leaves it out: pre-training only (then each epoch's model is kept, since a validation
tag MAP through an untrained word tower selects nothing). Fine-tune afterwards with
`optim.init_from: <the pre-training run>/model`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.catalog import TrackRecord
from retrieval.typed_config import ConfigError

from .pairs import PAIR_STRATEGIES, PairStream

__all__ = ["PlaylistTrainingConfig", "PlaylistData", "PLAYLIST_TARGETS", "prepare_playlists"]

PLAYLIST_TARGETS = ("word2vec", "audio")


@dataclass
class PlaylistTrainingConfig:
    weight: float = 0.0               # the playlist pair's weight; 0: off
    tag_weight: float = 1.0           # the tag pair's; 0: pre-training on playlists only
    pairs: str = "own"                # own | co | tco
    target: str = "word2vec"          # word2vec | audio
    top: int = 10                     # tco: candidates per anchor (thesis: 10)
    temperature: float = 0.1          # NT-Xent τ (thesis: fixed 0.1)
    projector_hidden: int = 128       # thesis: one hidden layer of 128 units, ReLU
    projector_dim: int = 128          # thesis: D′ = 128
    batch_size: int | None = None     # pairs per step; default optim.batch_size
    playlists: str | None = None      # playlist JSONL; null: simulate sessions (train split)
    vectors: str | None = None        # playlist_word2vec.safetensors; null: train on playlists
    listeners: int = 200              # simulated sessions: listeners × sessions
    sessions: int = 10
    vector_size: int = 64             # Word2Vec trained here
    seed: int = 0                     # sessions and Word2Vec

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def problems(self, prefix: str = "playlists") -> list[str]:
        if self.pairs not in PAIR_STRATEGIES:   # the one line a typo deserves
            return [f"{prefix}.pairs {self.pairs!r} is not one of {', '.join(PAIR_STRATEGIES)}"]
        if self.target not in PLAYLIST_TARGETS:
            return [f"{prefix}.target {self.target!r} is not one of {', '.join(PLAYLIST_TARGETS)}"]
        checks = [
            (math.isfinite(self.weight) and self.weight >= 0, f"{prefix}.weight must be ≥ 0"),
            (math.isfinite(self.tag_weight) and self.tag_weight >= 0,
             f"{prefix}.tag_weight must be ≥ 0"),
            (self.tag_weight > 0 or self.weight > 0,
             f"{prefix}.tag_weight 0 needs {prefix}.weight > 0 (nothing would be trained)"),
            (not (self.pairs == "own" and self.target == "audio"),
             f"{prefix}.pairs own needs target word2vec (a track against itself teaches nothing)"),
            (self.top >= 1, f"{prefix}.top must be ≥ 1"),
            (math.isfinite(self.temperature) and self.temperature > 0,
             f"{prefix}.temperature must be > 0"),
            (min(self.projector_hidden, self.projector_dim, self.listeners, self.sessions,
                 self.vector_size) >= 1,
             f"{prefix}: projector sizes, listeners, sessions and vector_size must be ≥ 1"),
            (self.batch_size is None or self.batch_size >= 2, f"{prefix}.batch_size must be ≥ 2"),
            (self.playlists is None or Path(self.playlists).is_file(),
             f"{prefix}.playlists not found: {self.playlists}"),
            (self.vectors is None or Path(self.vectors).is_file(),
             f"{prefix}.vectors not found: {self.vectors}"),
        ]
        return [message for ok, message in checks if not ok]


@dataclass
class PlaylistData:
    track_ids: list[str]               # the training tracks, in the order rows refer to
    playlists: list[np.ndarray]        # rows of track_ids
    vectors: np.ndarray | None         # (tracks, size) float32 for target word2vec
    has_vector: np.ndarray             # (tracks,) bool
    source: str                        # for the log and the bundle's training record

    def stream(self, config: PlaylistTrainingConfig, rows: list[int]) -> PairStream:
        """Pairs over `rows` (indices into track_ids) renumbered 0..len(rows)-1, e.g. the
        training tracks whose audio could be read."""
        renumber = np.full(len(self.track_ids), -1)
        renumber[rows] = np.arange(len(rows))
        playlists = [renumber[p][renumber[p] >= 0] for p in self.playlists]
        eligible = (self.has_vector[rows] if config.target == "word2vec"
                    else np.ones(len(rows), bool))
        return PairStream(config.pairs, playlists, len(rows), eligible, config.top)


def prepare_playlists(config: PlaylistTrainingConfig, train: list[TrackRecord],
                      log=print) -> PlaylistData:
    """Playlists (read or simulated) and Word2Vec vectors (read or trained) over the
    training records; ConfigError (one line) when they give nothing to pair."""
    from .readers import PlaylistError, read_playlist_jsonl
    from .sessions import SessionConfig, simulate_sessions
    from .word2vec import PlaylistWord2VecConfig, load_track_vectors, train_track_vectors
    ids = [r.track_id for r in train]
    row = {track_id: i for i, track_id in enumerate(ids)}
    if config.playlists:
        try:
            playlists, report = read_playlist_jsonl(config.playlists, train)
        except PlaylistError as error:
            raise ConfigError(f"playlists.playlists: {error}") from None
        source = f"{config.playlists} ({report.summary()})"
    else:
        sessions = SessionConfig(listeners=config.listeners, sessions=config.sessions,
                                 seed=config.seed)
        playlists = simulate_sessions(train, sessions)
        source = (f"{len(playlists)} simulated sessions ({config.listeners} listeners × "
                  f"{config.sessions}, seed {config.seed}) over {len(train)} training tracks")
    indexed = [np.array([row[t] for t in p.tracks if t in row], np.int64) for p in playlists]
    indexed = [p for p in indexed if len(p) >= 2]
    if not indexed:
        raise ConfigError("playlists: no playlist has two training tracks")
    vectors, has_vector = None, np.zeros(len(ids), bool)
    if config.target == "word2vec":
        trained = (load_track_vectors(config.vectors) if config.vectors else
                   train_track_vectors(playlists, PlaylistWord2VecConfig(
                       vector_size=config.vector_size, seed=config.seed)))
        vectors = np.zeros((len(ids), trained.vectors.shape[1]), np.float32)
        for track_id, vector in zip(trained.track_ids, trained.vectors):
            if track_id in row:
                vectors[row[track_id]], has_vector[row[track_id]] = vector, True
        if has_vector.sum() < 2:
            raise ConfigError("playlists.vectors: fewer than two training tracks have a vector")
        source += (f"; Word2Vec {config.vectors or 'trained here'}: "
                   f"{int(has_vector.sum())} of {len(ids)} training tracks have a vector")
    log(f"playlists: {source}")
    return PlaylistData(ids, indexed, vectors, has_vector, source)
