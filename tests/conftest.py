"""Shared fixtures: a tiny audio folder with a catalog, and a tiny random-weight model bundle.

Everything is generated here: no downloads. The word vectors are the real GloVe package.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from index import open_store
from retrieval.bundle import load_bundle, save_bundle
from retrieval.catalog import TrackRecord, write_catalog
from retrieval.model import ModelConfig, MusicSearchModel
from retrieval.towers import AudioTowerConfig, WordTowerConfig

TINY_TAGS = ["piano", "violin", "fast", "slow", "happy", "sad"]
SAMPLE_RATE = 22050


def _tone(freq: float, seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (1 + seed % 3) * t)
    wave = np.sin(2 * np.pi * freq * t) * envelope + 0.05 * rng.standard_normal(t.size)
    return (0.3 * wave).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_audio(tmp_path_factory):
    """Eight 6-second WAV/FLAC clips with a catalog.jsonl; returns (folder, records)."""
    folder = tmp_path_factory.mktemp("tiny_audio")
    (folder / "audio").mkdir()
    records = []
    for i in range(8):
        extension = "flac" if i % 4 == 3 else "wav"
        path = folder / "audio" / f"clip{i}.{extension}"
        soundfile.write(path, _tone(220.0 * (1 + i % 4), 6.0, SAMPLE_RATE, i), SAMPLE_RATE)
        tags = [TINY_TAGS[i % 2], TINY_TAGS[2 + (i // 2) % 2], TINY_TAGS[4 + (i // 4) % 2]]
        records.append(TrackRecord(track_id=f"t{i}", path=f"audio/clip{i}.{extension}",
                                   title=f"Clip {i}", artist=f"Artist {i % 3}", album="Tiny",
                                   duration=6.0, tags=tags,
                                   split=["train", "train", "valid", "test"][i % 4]))
    write_catalog(records, folder / "catalog.jsonl")
    return folder, records


def tiny_model_config() -> ModelConfig:
    return ModelConfig(towers={"audio": AudioTowerConfig(channels=[4, 4, 8, 8, 8, 16, 16],
                                                         backbone_dim=32, joint_dim=32),
                               "word": WordTowerConfig(hidden_dim=32, joint_dim=32)},
                       tags=list(TINY_TAGS), max_chunks=4)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A saved bundle with random (seeded) weights; returns its folder."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_bundle")
    save_bundle(MusicSearchModel(tiny_model_config()), folder,
                training={"command": "tests/conftest.py (random weights)"})
    return folder


@pytest.fixture()
def tiny_model(tiny_bundle):
    return load_bundle(tiny_bundle)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    """A log-mel cache shared across tests: decoding is the slow part, and the cache is
    keyed by file content, so tests cannot see each other's features by mistake."""
    return tmp_path_factory.mktemp("features")


@pytest.fixture()
def store(tmp_path):
    """A fresh embedded Qdrant collection 'music' under the test's tmp_path."""
    opened = open_store(str(tmp_path / "qdrant"), "music")
    yield opened
    opened.close()
