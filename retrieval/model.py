"""MusicSearchModel: the towers plus everything needed to encode at inference time.

`encode_audio`, `encode_mel` and `encode_text` are the single entry points: they batch,
run in eval mode without gradients, L2-normalise and return float32 NumPy. They never
return NaN or infinite values: such output means broken weights, and raises
NonFiniteOutput instead of reaching an index or a ranking.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .fast_words import encode_phrases, query_vector
from .feature_cache import extract_features
from .frontend import AudioDecodeError, chunk_mel
from .model_config import ModelConfig
from .query import ParsedQuery, QueryError, parse_query
from .towers import build_tower
from .vectors import NonFiniteOutput, finite_output as _finite, l2_normalize

__all__ = ["ModelConfig", "MusicSearchModel", "NonFiniteOutput", "MissingTower", "l2_normalize"]


class MissingTower(QueryError):
    """A query that needs a tower this model does not have (e.g. a sentence query on a
    word-only model)."""


class MusicSearchModel(nn.Module):
    """The towers a config names (`self.towers[kind]`), plus the encoders that use them."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.config = config
        self.towers = nn.ModuleDict({kind: build_tower(kind, tower)
                                     for kind, tower in config.towers.items()})
        self.eval()

    def has_tower(self, kind: str) -> bool:
        return kind in self.towers

    def tower(self, kind: str) -> nn.Module:
        """towers[kind], or MissingTower naming the towers this model has."""
        if kind not in self.towers:
            raise MissingTower(f"this model has no {kind} tower (it has: "
                               f"{', '.join(self.towers)})")
        return self.towers[kind]

    @property
    def audio_tower(self) -> nn.Module:
        return self.tower("audio")

    @property
    def word_tower(self) -> nn.Module:
        return self.tower("word")

    # ---- word side -------------------------------------------------------------------
    @property
    def word_vectors(self):
        return self.word_tower.word_vectors

    def phrase_vector(self, phrase: str) -> np.ndarray | None:
        """Mean of the unit word vectors of a phrase's known words; None if none known."""
        return self.word_tower.phrase_vector(phrase)

    @torch.no_grad()
    def encode_words(self, phrases: list[str]) -> np.ndarray:
        """Phrases (tags or words) → (n, joint_dim) unit vectors. Unknown phrases raise."""
        self.eval()
        return encode_phrases(phrases, self.phrase_vector,
                              lambda inputs: self.word_tower(torch.from_numpy(inputs)).numpy())

    def parse(self, text: str) -> ParsedQuery:
        return parse_query(text, self.config.tags, self.word_tower.knows)

    def encode_text(self, text: str) -> tuple[np.ndarray, ParsedQuery]:
        """A free-text or tag query → (joint_dim,) unit vector, with how it was parsed.

        Each known tag or word is embedded by the word tower; the query vector is the
        normalised mean (Won's multi-tag retrieval). Raises QueryError if nothing is known.
        """
        parsed = self.parse(text)
        return query_vector(self.encode_words(parsed.terms)), parsed

    # ---- sentence side ---------------------------------------------------------------
    @torch.no_grad()
    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Sentences → (n, joint_dim) unit vectors through the sentence tower; MissingTower
        if the model has none."""
        tower = self.tower("sentence")
        self.eval()
        out = np.asarray(tower.encode_sentences(list(texts)), dtype=np.float32)
        return l2_normalize(_finite(out, ", ".join(repr(t) for t in texts))).astype(np.float32)

    # ---- cultural side (playlist tower) ------------------------------------------------
    def encode_cultural(self, track_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cultural vectors of the tracks in the playlists: ((known, joint_dim) unit
        vectors, (n,) bool mask of the known ones); MissingTower without a playlist tower."""
        return self.tower("playlist").encode(list(track_ids))

    def predict_cultural(self, song_vectors: np.ndarray) -> np.ndarray:
        """Cold start: audio song vectors (n, joint_dim) → predicted cultural vectors."""
        return self.tower("playlist").predict(song_vectors)

    # ---- audio side ------------------------------------------------------------------
    @torch.no_grad()
    def encode_chunks(self, chunks: np.ndarray, batch_size: int = 64,
                      what: str = "this audio") -> np.ndarray:
        """(n, n_mels, frames) log-mel chunks → (n, joint_dim) unit vectors."""
        self.eval()
        outputs = [self.audio_tower(torch.from_numpy(chunks[i:i + batch_size])).numpy()
                   for i in range(0, len(chunks), batch_size)]
        return l2_normalize(_finite(np.concatenate(outputs), what)).astype(np.float32)

    def encode_mel(self, mel: np.ndarray, what: str = "this audio") -> tuple[np.ndarray, np.ndarray]:
        """A song's full log-mel → (song vector, per-chunk vectors).

        The song vector is the normalised mean of the L2-normalised chunk embeddings.
        Raises AudioDecodeError for a log-mel of the wrong shape or with NaN/inf values
        (e.g. a stale feature cache), NonFiniteOutput if the model produces them.
        """
        mel = np.asarray(mel, dtype=np.float32)
        frontend = self.config.audio_frontend   # log-mels, or a frozen backbone's features
        n_mels = frontend.n_mels
        if mel.ndim != 2 or mel.shape[0] != n_mels or mel.shape[1] == 0:
            raise AudioDecodeError(f"{what}: expected a ({n_mels}, frames) log-mel, "
                                   f"got shape {mel.shape}")
        if not np.isfinite(mel).all():
            raise AudioDecodeError(f"{what}: the log-mel has NaN or infinite values")
        chunks = chunk_mel(mel, frontend.chunk_frames, self.config.max_chunks)
        chunk_vectors = self.encode_chunks(chunks, what=what)
        return l2_normalize(chunk_vectors.mean(axis=0)).astype(np.float32), chunk_vectors

    def encode_audio(self, path: str | Path) -> np.ndarray:
        """An audio file → (joint_dim,) song vector. Raises AudioDecodeError if unusable."""
        features = extract_features(path, self.config.audio_frontend)
        return self.encode_mel(features, Path(path).name)[0]
