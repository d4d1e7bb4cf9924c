"""Training learns: a short run on a tiny generated corpus ranks songs for tags far better
than a random ranking (its exact expected AP, training.random_baseline)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile
import torch
import yaml

from retrieval.catalog import TrackRecord, write_catalog
from training.config import load_train_config
from training.random_baseline import expected_random_ap
from training.trainer import train

RATE = 16000
# two audible facts per clip, each named by a tag the word vectors know
PITCH = {"low": (110.0, 220.0), "high": (1200.0, 2400.0)}
TIMBRE = ("pure", "bright")


def _clip(rng: np.random.Generator, pitch: str, timbre: str, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = np.zeros_like(t)
    for _ in range(3):   # a few notes of the band, so no two clips are alike
        freq = rng.uniform(*PITCH[pitch])
        harmonics = range(1, 2) if timbre == "pure" else range(1, 9)
        for h in harmonics:
            if freq * h < RATE / 2:
                wave += np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 6.3)) / h
    wave += 0.02 * rng.standard_normal(t.size)
    return (0.2 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="module")
def learnable_corpus(tmp_path_factory):
    """48 clips: each pitch × timbre combination 12 times, split 32 / 8 / 8."""
    folder = tmp_path_factory.mktemp("learnable")
    (folder / "audio").mkdir()
    rng = np.random.default_rng(0)
    records = []
    combos = [(p, t) for p in PITCH for t in TIMBRE]
    for i in range(48):
        pitch, timbre = combos[i % 4]
        path = folder / "audio" / f"c{i}.wav"
        soundfile.write(path, _clip(rng, pitch, timbre), RATE)
        split = "train" if i < 32 else "valid" if i < 40 else "test"
        records.append(TrackRecord(track_id=f"c{i}", path=f"audio/c{i}.wav", title=f"c{i}",
                                   artist="gen", album="gen", duration=4.0,
                                   tags=[pitch, timbre], split=split))
    write_catalog(records, folder / "catalog.jsonl")
    return folder


@pytest.mark.parametrize("objective", [
    {},   # the default: triplet, balanced-weighted sampling
    {"loss": "contrastive", "temperature": 0.1},
    {"negatives": "similarity", "losses": [{"name": "triplet", "weight": 0.5},
                                           {"name": "contrastive", "weight": 0.5}]},
], ids=["triplet", "contrastive", "triplet+contrastive"])
def test_a_short_training_run_beats_random_ranking(learnable_corpus, tmp_path, objective):
    torch.set_num_threads(1)
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump({
        "objective": objective,
        "data": {"corpus": str(learnable_corpus), "min_tag_tracks": 1,
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"towers": {"audio": {"channels": [4, 4, 8, 8, 8, 16, 16], "backbone_dim": 32,
                                       "joint_dim": 32},
                             "word": {"hidden_dim": 32, "joint_dim": 32}},
                  "max_chunks": 2},
        "optim": {"batch_size": 16, "steps_per_epoch": 12, "epochs": 4, "lr": 0.003,
                  "seed": 0, "threads": 1}}))
    started = time.perf_counter()
    result = train(load_train_config(path), tmp_path / "run", progress=False, log=lambda m: None)
    elapsed = time.perf_counter() - started
    test = result.test_metrics["seen"]
    # 8 test clips, each tag on 4 of them: a random ranking's expected AP, exactly
    chance = expected_random_ap(8, 4)
    assert test["random_map"] == pytest.approx(chance)
    assert test["map"] > chance + 0.25, (test["map"], chance)
    assert result.valid_map > chance + 0.25, (result.valid_map, chance)
    assert elapsed < 60
