"""Word2Vec track vectors from playlists (Alonso-Jiménez, thesis §5 "Playlist W2V"):
playlists are sentences and track ids are words; CBOW, a context window covering the
whole playlist, learning rate 0.02, 20 epochs. The vector size is not stated in the
thesis, so it is a config field, as is the minimum count.

Whole-playlist window (the default, `window: null`): gensim's `window` is set to the
longest playlist and `shrink_windows=False`, since by default gensim draws each word's
effective window at random from 1..window, which would make the context
position-sensitive again.

Reproducible from a seed: one worker thread (several interleave updates in a
nondeterministic order) and the model seed. gensim 4.4 draws the initial vectors from
numpy's generator, so Python's per-process string-hash salt does not reach them (the
same vectors came out under PYTHONHASHSEED=1 and 2 with gensim's default `hashfxn`);
a fixed `hashfxn` (crc32) still replaces `hash` for the code paths that use it
(`seeded_vector`). The test trains in two processes with different salts.

Saved as one safetensors file (never pickle): tensor "vectors" (float32, one row per
track) with the track ids (JSON list, row order) and the config in its metadata — a
single file, ready to be a bundle side file (`save_bundle(..., side_files=...)`), and any
track id is safe in it (word2vec text format breaks on spaces).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from retrieval.catalog import Playlist
from retrieval.typed_config import ConfigError, from_mapping

__all__ = ["PlaylistWord2VecConfig", "TrackVectors", "train_track_vectors",
           "save_track_vectors", "load_track_vectors", "VECTORS_FILE", "fit_word2vec",
           "stable_hash"]

VECTORS_FILE = "playlist_word2vec.safetensors"


@dataclass
class PlaylistWord2VecConfig:
    vector_size: int = 64
    min_count: int = 1          # tracks seen in fewer playlists get no vector
    epochs: int = 20            # thesis
    alpha: float = 0.02         # thesis: learning rate 0.02
    min_alpha: float = 0.0001   # gensim's linear decay end point (thesis does not say)
    negative: int = 5
    sample: float = 0.001       # gensim's down-sampling of frequent (popular) tracks
    # None: the whole playlist (thesis: smaller, position-sensitive windows did worse)
    window: int | None = None
    seed: int = 0

    def problems(self) -> list[str]:
        found = [f"{name} must be at least 1" for name in ("vector_size", "min_count", "epochs")
                 if getattr(self, name) < 1]
        if not 0 < self.alpha <= 1 or not 0 <= self.min_alpha <= self.alpha:
            found.append("alpha must be in (0, 1] and min_alpha in [0, alpha]")
        if self.negative < 1:
            found.append("negative must be at least 1 (negative sampling)")
        if self.window is not None and self.window < 1:
            found.append("window must be at least 1 (or null: the whole playlist)")
        if self.sample < 0:
            found.append("sample must be >= 0")
        return found

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PlaylistWord2VecConfig":
        return from_mapping(cls, data, "playlist word2vec")


@dataclass
class TrackVectors:
    track_ids: list[str]
    vectors: np.ndarray          # (tracks, vector_size) float32, row i is track_ids[i]
    config: PlaylistWord2VecConfig

    def keyed_vectors(self):
        """As gensim KeyedVectors (most_similar, similarity)."""
        from gensim.models import KeyedVectors
        keyed = KeyedVectors(self.vectors.shape[1])
        keyed.add_vectors(self.track_ids, self.vectors)
        return keyed


def stable_hash(text: str) -> int:
    """gensim's per-word seed hash, the same in every process (Python's `hash` of a string
    changes with PYTHONHASHSEED)."""
    return zlib.crc32(text.encode("utf-8"))


def fit_word2vec(sentences: list[list[str]], *, epochs: int, empty: str, **settings):
    """A gensim Word2Vec trained reproducibly (one worker, `stable_hash`) on `sentences`;
    `empty` is the ConfigError message when no word reaches min_count. Returns the
    (words, float32 vectors) pair."""
    from gensim.models import Word2Vec
    model = Word2Vec(workers=1, hashfxn=stable_hash, **settings)
    model.build_vocab(sentences)
    if not model.wv.index_to_key:
        raise ConfigError(empty)
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    return list(model.wv.index_to_key), np.asarray(model.wv.vectors, dtype=np.float32)


def train_track_vectors(playlists: list[Playlist],
                        config: PlaylistWord2VecConfig) -> TrackVectors:
    """Train CBOW Word2Vec over the playlists (see the module docstring)."""
    problems = config.problems()
    if problems:
        raise ConfigError("playlist word2vec: " + "; ".join(problems))
    sentences = [[str(t) for t in p.tracks] for p in playlists if len(p.tracks) >= 2]
    if not sentences:
        raise ConfigError("playlist word2vec: no playlist has two tracks or more")
    words, vectors = fit_word2vec(
        sentences, epochs=config.epochs,
        empty=f"playlist word2vec: no track is in {config.min_count} playlists or more "
              "(lower min_count)",
        vector_size=config.vector_size, min_count=config.min_count, sg=0,
        window=config.window or max(len(s) for s in sentences),
        shrink_windows=config.window is not None, alpha=config.alpha,
        min_alpha=config.min_alpha, negative=config.negative, sample=config.sample,
        seed=config.seed)
    return TrackVectors(words, vectors, config)


def save_track_vectors(vectors: TrackVectors, path: str | Path) -> Path:
    from safetensors.numpy import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"vectors": np.ascontiguousarray(vectors.vectors)}, str(path),
              metadata={"track_ids": json.dumps(vectors.track_ids, ensure_ascii=False),
                        "config": json.dumps(vectors.config.to_dict())})
    return path


def load_track_vectors(path: str | Path) -> TrackVectors:
    from retrieval.track_vectors import read_track_vectors   # the one reader (torch-free)
    try:
        track_ids, vectors, metadata = read_track_vectors(path)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    try:
        config = PlaylistWord2VecConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, ValueError) as error:
        raise ConfigError(f"{path}: not a playlist vectors file ({error})") from None
    return TrackVectors(track_ids, vectors, config)
