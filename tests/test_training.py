"""Loss, samplers, metrics, config loading, and a real (tiny) training run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from retrieval.bundle import load_bundle
from training.config import ConfigError, load_train_config
from training.losses import triplet_loss
from training.metrics import tag_retrieval_metrics
from training.samplers import (BalancedSampler, BalancedWeightedSampler, RandomSampler,
                               TagTrackIndex)
from training.trainer import train


def test_triplet_loss_zero_when_margin_satisfied_and_positive_otherwise():
    anchor = torch.tensor([[1.0, 0.0]])
    close, far = torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]])
    assert triplet_loss(anchor, close, far, margin=0.4).item() == pytest.approx(0.0)
    # swapped: distance(a,p)=2, distance(a,n)=0 → 2 + margin
    assert triplet_loss(anchor, far, close, margin=0.4).item() == pytest.approx(2.4)
    orthogonal = torch.tensor([[0.0, 1.0]])
    # d(a,p)=0, d(a,n)=1: inside margin 1.5 → 0.5
    assert triplet_loss(anchor, close, orthogonal, margin=1.5).item() == pytest.approx(0.5)


def _index():
    rng = np.random.default_rng(0)
    track_tags = [[t for t in ("a", "b", "c", "d") if rng.random() < 0.4] or ["a"]
                  for _ in range(200)]
    return TagTrackIndex.from_track_tags(track_tags, ["a", "b", "c", "d"])


@pytest.mark.parametrize("cls", [BalancedSampler, BalancedWeightedSampler])
def test_in_batch_negatives_never_carry_the_anchor_tag(cls):
    index, rng = _index(), np.random.default_rng(1)
    sampler = cls(index)
    for _ in range(20):
        tags, tracks = sampler.sample_anchors(rng, 16)
        assert all(index.has_tag[t, g] for g, t in zip(tags, tracks))
        chosen = sampler.choose_negatives(rng, tags, tracks, rng.random((16, 16)))
        for anchor, j in zip(tags, chosen):
            if j >= 0:
                assert not index.has_tag[tracks[j], anchor]


def test_balanced_anchors_are_uniform_over_tags_random_follow_popularity():
    index, rng = _index(), np.random.default_rng(2)
    balanced = np.bincount(BalancedSampler(index).sample_anchors(rng, 8000)[0], minlength=4)
    assert balanced.min() / balanced.max() > 0.9
    tags, tracks = RandomSampler(index).sample_anchors(rng, 64)
    negatives = RandomSampler(index).sample_negatives(rng, tags)
    assert all(not index.has_tag[n, t] for t, n in zip(tags, negatives))


def test_weighted_sampler_prefers_close_negatives():
    index = TagTrackIndex.from_track_tags([["a"], ["b"], ["b"]], ["a", "b"])
    sampler, rng = BalancedWeightedSampler(index), np.random.default_rng(3)
    distances = np.array([[0.0, 0.1, 1.9]] * 3)   # anchor tag a; songs 1 (close) and 2 (far)
    picks = [sampler.choose_negatives(rng, np.array([0]), np.array([0, 1, 2]), distances[:1])[0]
             for _ in range(500)]
    assert picks.count(1) > 3 * picks.count(2) and 0 not in picks


def test_metrics_perfect_and_baseline():
    relevance = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    result = tag_retrieval_metrics(relevance.astype(float), relevance, ["x", "y"], k=2)
    assert result["map"] == pytest.approx(1.0)
    assert result["random_map"] == pytest.approx((0.5 + 0.25) / 2)
    assert result["p@2"] == pytest.approx((1.0 + 0.5) / 2)


def test_config_rejects_unknown_keys_and_bad_types(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"optim": {"learning_rate": 0.1}}))
    with pytest.raises(ConfigError, match="learning_rate"):
        load_train_config(bad)
    bad.write_text(yaml.safe_dump({"optim": {"epochs": "many"}}))
    with pytest.raises(ConfigError, match="optim.epochs"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "missing.yaml")


def test_tiny_training_run_writes_a_loadable_bundle_and_resumes(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({
        "data": {"corpus": str(folder), "min_tag_tracks": 1, "cache_dir": str(tmp_path / "cache")},
        "audio": {"channels": [4, 4, 8, 8, 8, 16, 16], "backbone_dim": 16, "joint_dim": 16},
        "word": {"hidden_dim": 16, "joint_dim": 16},
        "optim": {"batch_size": 4, "steps_per_epoch": 2, "epochs": 1},
        "max_chunks": 2}))
    config = load_train_config(config_path)
    result = train(config, tmp_path / "run", command="test", progress=False, log=lambda m: None)
    model = load_bundle(result.bundle)
    assert model.fingerprint == result.fingerprint
    # the vocabulary is the training split's tags (tracks 0, 1, 4, 5 of the fixture)
    assert set(model.config.tags) == {"piano", "violin", "fast", "happy", "sad"}
    assert "seen" in result.test_metrics
    # resume: a second epoch continues from the checkpoint of the first
    import json
    from safetensors.torch import load_file
    checkpoint = tmp_path / "run" / "checkpoint"
    assert json.loads((checkpoint / "state.json").read_text())["state"]["epoch"] == 1
    assert load_file(str(checkpoint / "optimizer.safetensors"))["0.step"].item() == 2
    config.optim.epochs = 2
    messages = []
    train(config, tmp_path / "run", resume=True, progress=False, log=messages.append)
    assert any("resumed from epoch 1" in m for m in messages)
    assert any(m.startswith("epoch 2:") for m in messages)
    state = json.loads((checkpoint / "state.json").read_text())["state"]
    assert [h["epoch"] for h in state["history"]] == [1, 2]    # history carried over
    assert load_file(str(checkpoint / "optimizer.safetensors"))["0.step"].item() == 4


def test_cosine_learning_rate_schedule():
    from training.config import OptimConfig
    from training.trainer import _learning_rate
    optim = OptimConfig(lr=1e-3, epochs=2, steps_per_epoch=10)
    rates = [_learning_rate(optim, step) for step in range(21)]
    assert rates[0] == pytest.approx(1e-3) and rates[10] == pytest.approx(5e-4)
    assert rates[20] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert _learning_rate(OptimConfig(lr=1e-3, cosine_decay=False), 50) == 1e-3
