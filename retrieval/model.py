"""MusicSearchModel: the towers plus everything needed to encode at inference time.

`encode_audio`, `encode_mel` and `encode_text` are the single entry points: they batch,
run in eval mode without gradients, L2-normalise and return float32 NumPy. They never
return NaN or infinite values: such output means broken weights, and raises
NonFiniteOutput instead of reaching an index or a ranking.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .frontend import AudioDecodeError, FrontendConfig, audio_to_mel, chunk_mel
from .query import ParsedQuery, parse_query, phrase_words
from .towers import AudioTowerConfig, ShortChunkCNN, WordTower, WordTowerConfig
from .word_vectors import WordVectorsConfig, load_word_vectors

__all__ = ["ModelConfig", "MusicSearchModel", "NonFiniteOutput", "l2_normalize"]


class NonFiniteOutput(FloatingPointError):
    """The model turned finite input into NaN or infinity: its weights are unusable
    (typically a diverged training run)."""


def _finite(vectors: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(vectors).all():
        raise NonFiniteOutput(f"the model produced NaN or infinite values for {what}; its "
                              "weights are unusable (a diverged training run?)")
    return vectors


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    # the norm in float64: float32 squares overflow from |x| ≈ 1e19, which would give 0
    norm = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=axis, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.result_type(x, np.float32), copy=False)


@dataclass
class ModelConfig:
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    audio: AudioTowerConfig = field(default_factory=AudioTowerConfig)
    word: WordTowerConfig = field(default_factory=WordTowerConfig)
    word_vectors: WordVectorsConfig = field(default_factory=WordVectorsConfig)
    tags: list[str] = field(default_factory=list)      # tag vocabulary seen in training
    max_chunks: int = 8                                # chunks averaged per song (Won: 8)

    @property
    def joint_dim(self) -> int:
        return self.audio.joint_dim

    def to_dict(self) -> dict:
        return {"frontend": self.frontend.to_dict(), "audio": self.audio.to_dict(),
                "word": self.word.to_dict(), "word_vectors": self.word_vectors.to_dict(),
                "tags": list(self.tags), "max_chunks": self.max_chunks}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return cls(frontend=FrontendConfig.from_dict(data["frontend"]),
                   audio=AudioTowerConfig.from_dict(data["audio"]),
                   word=WordTowerConfig.from_dict(data["word"]),
                   word_vectors=WordVectorsConfig.from_dict(data["word_vectors"]),
                   tags=list(data.get("tags", [])), max_chunks=int(data.get("max_chunks", 8)))


class MusicSearchModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.audio.joint_dim != config.word.joint_dim:
            raise ValueError("audio and word towers must share the joint dimension")
        if config.audio.n_mels != config.frontend.n_mels:
            raise ValueError("audio tower n_mels must match the front end")
        self.config = config
        self.audio_tower = ShortChunkCNN(config.audio)
        self.word_tower = WordTower(config.word)
        self.eval()

    # ---- word side -------------------------------------------------------------------
    @property
    def word_vectors(self):
        return load_word_vectors(self.config.word_vectors)

    def phrase_vector(self, phrase: str) -> np.ndarray | None:
        """Mean of the unit word vectors of a phrase's known words; None if none known."""
        keyed = self.word_vectors
        vectors = [keyed[w] / max(np.linalg.norm(keyed[w]), 1e-12)
                   for w in phrase_words(phrase, keyed.key_to_index.__contains__)]
        if not vectors:
            return None
        return l2_normalize(np.mean(vectors, axis=0)).astype(np.float32)

    @torch.no_grad()
    def encode_words(self, phrases: list[str]) -> np.ndarray:
        """Phrases (tags or words) → (n, joint_dim) unit vectors. Unknown phrases raise."""
        inputs = []
        for phrase in phrases:
            vector = self.phrase_vector(phrase)
            if vector is None:
                raise KeyError(f"no word of {phrase!r} is in the word vectors")
            inputs.append(vector)
        self.eval()
        out = _finite(self.word_tower(torch.from_numpy(np.stack(inputs))).numpy(),
                      ", ".join(repr(p) for p in phrases))
        return l2_normalize(out).astype(np.float32)

    def parse(self, text: str) -> ParsedQuery:
        keyed = self.word_vectors
        return parse_query(text, self.config.tags, keyed.key_to_index.__contains__)

    def encode_text(self, text: str) -> tuple[np.ndarray, ParsedQuery]:
        """A free-text or tag query → (joint_dim,) unit vector, with how it was parsed.

        Each known tag or word is embedded by the word tower; the query vector is the
        normalised mean (Won's multi-tag retrieval). Raises QueryError if nothing is known.
        """
        parsed = self.parse(text)
        vector = l2_normalize(self.encode_words(parsed.terms).mean(axis=0))
        return vector.astype(np.float32), parsed

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
        n_mels = self.config.frontend.n_mels
        if mel.ndim != 2 or mel.shape[0] != n_mels or mel.shape[1] == 0:
            raise AudioDecodeError(f"{what}: expected a ({n_mels}, frames) log-mel, "
                                   f"got shape {mel.shape}")
        if not np.isfinite(mel).all():
            raise AudioDecodeError(f"{what}: the log-mel has NaN or infinite values")
        chunks = chunk_mel(mel, self.config.frontend.chunk_frames, self.config.max_chunks)
        chunk_vectors = self.encode_chunks(chunks, what=what)
        return l2_normalize(chunk_vectors.mean(axis=0)).astype(np.float32), chunk_vectors

    def encode_audio(self, path: str | Path) -> np.ndarray:
        """An audio file → (joint_dim,) song vector. Raises AudioDecodeError if unusable."""
        return self.encode_mel(audio_to_mel(path, self.config.frontend), Path(path).name)[0]
