"""Loss, samplers, metrics, config loading, and a real (tiny) training run."""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch
import yaml

from retrieval.bundle import load_bundle
from retrieval.catalog import write_catalog
from training.checkpoint import ResumeError
from training.config import ConfigError, load_train_config
from training.losses import triplet_loss
from training.metrics import NonFiniteScores, tag_retrieval_metrics
from training.objectives import pick_negatives, triplet
from training.samplers import (BalancedSampler, BalancedWeightedSampler, RandomSampler,
                               TagTrackIndex)
from training.trainer import TrainingDiverged, train


TINY_TOWERS = {"audio": {"type": "short_chunk_cnn", "channels": [4, 4, 8, 8, 8, 16, 16],
                         "backbone_dim": 16, "joint_dim": 16},
               "word": {"type": "word_mlp", "hidden_dim": 16, "joint_dim": 16}}


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


@pytest.mark.parametrize("cls", [BalancedSampler, BalancedWeightedSampler, RandomSampler])
def test_negatives_never_carry_the_anchor_tag(cls):
    index, rng = _index(), np.random.default_rng(1)
    sampler = cls(index)
    torch.manual_seed(0)
    for _ in range(20):
        batch = sampler.sample(rng, 16)
        tags, tracks = batch.anchor_tags, batch.tracks
        assert all(index.has_tag[t, g] for g, t in zip(tags, tracks))   # positives first
        assert len(tracks) == (32 if cls is RandomSampler else 16)     # random adds negatives
        relevant = index.relevant(batch)
        chosen = pick_negatives(torch.rand(16, len(tracks)), torch.from_numpy(relevant),
                                sampler.negatives)
        for anchor, j in zip(tags, chosen.tolist()):
            if j >= 0:
                assert not index.has_tag[tracks[j], anchor]
        if cls is RandomSampler:   # each extra negative lacks its own anchor's tag
            assert all(not index.has_tag[n, t] for t, n in zip(tags, tracks[16:]))


def test_balanced_anchors_are_uniform_over_tags_random_follow_popularity():
    index, rng = _index(), np.random.default_rng(2)
    balanced = np.bincount(BalancedSampler(index).sample(rng, 8000).anchor_tags, minlength=4)
    assert balanced.min() / balanced.max() > 0.9
    by_track = np.bincount(RandomSampler(index).sample(rng, 8000).anchor_tags, minlength=4)
    popularity = index.has_tag.sum(axis=0)
    assert np.argmax(by_track) == np.argmax(popularity)


def test_distance_weighting_prefers_close_negatives():
    relevant = torch.tensor([[True, False, False]])    # song 0 carries the anchor's tag
    distances = torch.tensor([[0.0, 0.1, 1.9]])        # song 1 close, song 2 far
    torch.manual_seed(3)
    picks = [pick_negatives(distances, relevant, "distance_weighted").item() for _ in range(500)]
    assert picks.count(1) > 3 * picks.count(2) and 0 not in picks
    uniform = [pick_negatives(distances, relevant, "uniform").item() for _ in range(500)]
    assert 0.7 < uniform.count(1) / uniform.count(2) < 1.4 and 0 not in uniform


def test_triplet_objective_matches_the_triplet_loss_and_skips_anchors_without_negatives():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # anchor 0: only audio 2 is a negative; anchor 1: every song is relevant
    relevant = torch.tensor([[True, True, False], [True, True, True]])
    loss = triplet(text, audio, relevant, margin=0.4)
    assert loss.item() == pytest.approx(triplet_loss(text[:1], audio[:1], audio[2:], 0.4).item())
    assert triplet(text, audio, torch.ones(2, 3, dtype=torch.bool)) is None
    with pytest.raises(ValueError, match="relevant"):
        triplet(text, audio, torch.ones(2, 2, dtype=torch.bool))


def test_metrics_perfect_and_baseline():
    relevance = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    result = tag_retrieval_metrics(relevance.astype(float), relevance, ["x", "y"], k=2,
                                   min_positives=1)
    assert result["map"] == pytest.approx(1.0)
    # exact E[AP] of a random ranking (not the prevalence): 2 of 4 → 49/72, 1 of 4 → H_4/4
    assert result["random_map"] == pytest.approx((49 / 72 + 25 / 48) / 2)
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
        "model": {"towers": TINY_TOWERS, "max_chunks": 2},
        # random: every anchor gets a negative from the whole set, so no step is skipped
        "objective": {"sampler": "random"},
        "optim": {"batch_size": 4, "steps_per_epoch": 2, "epochs": 1}}))
    config = load_train_config(config_path)
    result = train(config, tmp_path / "run", command="test", progress=False, log=lambda m: None)
    model = load_bundle(result.bundle)
    assert model.fingerprint == result.fingerprint
    # the vocabulary is the training split's tags (tracks 0, 1, 4, 5 of the fixture)
    assert set(model.config.tags) == {"piano", "violin", "fast", "happy", "sad"}
    # the 2 test clips give no tag 2 positives, so no tag enters a mean (a single positive
    # is the reciprocal rank of one song, not a tag's retrieval quality)
    assert result.test_metrics == {}
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

    # a checkpoint written before towers were registered (old config layout and weight
    # names) resumes too
    from safetensors.torch import save_file
    meta = json.loads((checkpoint / "state.json").read_text())
    towers = meta["model_config"].pop("towers")
    word = {k: v for k, v in towers["word"].items() if k not in ("type", "vectors")}
    meta["model_config"].update(
        audio={k: v for k, v in towers["audio"].items() if k != "type"},
        word={**word, "word_dim": towers["word"]["vectors"]["dim"]},
        word_vectors=towers["word"]["vectors"])
    (checkpoint / "state.json").write_text(json.dumps(meta))
    weights = load_file(str(checkpoint / "model.safetensors"))
    save_file({k.replace("towers.audio.", "audio_tower.").replace("towers.word.", "word_tower."): v
               for k, v in weights.items()}, str(checkpoint / "model.safetensors"))
    config.optim.epochs = 3
    train(config, tmp_path / "run", resume=True, progress=False, log=messages.append)
    assert any("resumed from epoch 2" in m for m in messages)
    assert load_file(str(checkpoint / "model.safetensors")).keys() == weights.keys()


def test_cosine_learning_rate_schedule():
    from training.config import OptimConfig
    from training.trainer import _learning_rate
    optim = OptimConfig(lr=1e-3, epochs=2, steps_per_epoch=10)
    rates = [_learning_rate(optim, step) for step in range(21)]
    assert rates[0] == pytest.approx(1e-3) and rates[10] == pytest.approx(5e-4)
    assert rates[20] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert _learning_rate(OptimConfig(lr=1e-3, cosine_decay=False), 50) == 1e-3


# ---- guards: empty batches, divergence, resume under another config (hardening issue) -------

def test_triplet_loss_refuses_an_empty_batch_instead_of_returning_nan():
    empty = torch.zeros((0, 4))
    with pytest.raises(ValueError, match="at least one triplet"):
        triplet_loss(empty, empty, empty)


def test_a_tag_on_every_track_never_anchors():
    index = TagTrackIndex.from_track_tags([["a", "b"], ["a"], ["a", "b"]], ["a", "b"])
    rng = np.random.default_rng(0)
    for cls in (BalancedSampler, RandomSampler):
        tags = cls(index).sample(rng, 64).anchor_tags
        assert set(tags) == {1}                         # only "b" has a negative (track 1)
    with pytest.raises(ValueError, match="no triplet has a negative"):
        BalancedSampler(TagTrackIndex.from_track_tags([["a"], ["a"]], ["a"]))


def test_nan_scores_are_never_a_metric():
    scores = np.array([[0.1], [np.nan], [0.3]])
    relevance = np.array([[True], [False], [True]])
    with pytest.raises(NonFiniteScores):
        tag_retrieval_metrics(scores, relevance, ["x"])


def test_evaluation_does_not_swallow_a_diverged_model(tiny_model, tiny_audio):
    from retrieval.frontend import audio_to_mel
    from retrieval.model import NonFiniteOutput
    from training.evaluation import evaluate_tags
    folder, records = tiny_audio
    mels = [audio_to_mel(folder / r.path, tiny_model.config.frontend) for r in records[:4]]
    assert "seen" in evaluate_tags(tiny_model, records[:4], mels)
    with torch.no_grad():
        tiny_model.audio_tower.projection[-1].bias.fill_(float("nan"))
    with pytest.raises(NonFiniteOutput):                # before: {} — read as "MAP 0"
        evaluate_tags(tiny_model, records[:4], mels)


BASE = {"model": {"towers": TINY_TOWERS},
        "optim": {"batch_size": 4, "steps_per_epoch": 2, "epochs": 1}}


@pytest.mark.parametrize("section, key, value, message", [
    ("optim", "lr", -0.001, "optim.lr must be a finite number > 0"),
    ("optim", "lr", float("nan"), "optim.lr must be a finite number > 0"),
    ("optim", "weight_decay", -1.0, "optim.weight_decay must be a finite number ≥ 0"),
    ("optim", "epochs", 0, "optim.epochs must be ≥ 1"),
    ("optim", "epochs", True, "optim.epochs: expected int, got True"),
    ("optim", "batch_size", 0, "optim.batch_size must be ≥ 2"),
    ("optim", "threads", 0, "optim.threads must be ≥ 1"),
    ("optim", "max_minutes", -5.0, "optim.max_minutes must be > 0"),
    ("optim", "seed", -1, "optim.seed must be ≥ 0"),
    ("objective", "margin", -1.0, "objective.margin must be in (0, 2]"),
    ("model.towers.audio", "dropout", 2.0, "model.towers.audio.dropout must be in [0, 1)"),
    ("model.towers.word", "dropout", -0.1, "model.towers.word.dropout must be in [0, 1)"),
    ("model.frontend", "hop_length", 0, "model.frontend: hop_length must be ≥ 1"),
    ("model.frontend", "n_fft", 0, "n_fft must be ≥ 2"),
    ("model.frontend", "sample_rate", 0, "sample_rate 0 is outside"),
    ("model.frontend", "f_max", 20000.0, "f_max ≤ sample_rate / 2 = 8000 Hz"),
    ("model.frontend", "max_seconds", -1.0, "max_seconds must be a finite number ≥ 0.032"),
    ("model.frontend", "chunk_frames", 10,
     "model.frontend.n_mels and model.frontend.chunk_frames must be ≥ 128"),
    ("data", "min_tag_tracks", 0, "data.min_tag_tracks must be ≥ 1"),
    ("model", "max_chunks", 0, "model.max_chunks must be ≥ 1"),
    # towers: an unknown type names the known ones; dimensions that cannot meet are named
    ("model.towers.audio", "type", "resnet9000",
     "model.towers.audio.type: unknown audio tower type 'resnet9000' "
     "(known: musicnn_msd, musicnn_mtt, short_chunk_cnn)"),
    ("model.towers.word", "joint_dim", 24, "towers must share one joint_dim, got "
     "model.towers.audio.joint_dim 16, model.towers.word.joint_dim 24"),
    ("model.towers.word", "vectors", {"dim": 0}, "model.towers.word.hidden_dim, "
     "model.towers.word.joint_dim and model.towers.word.vectors.dim must be ≥ 1"),
    ("model.towers.audio", "n_mels", 64,
     "model.towers.audio.n_mels (64) must equal model.frontend.n_mels (128)"),
    ("model.towers", "video", {"type": "x"}, "model.towers.video: unknown tower kind 'video'"),
    ("model", "tags", ["piano"], "model.tags: the tag vocabulary comes from the training data"),
])
def test_config_rejects_nonsense_values(tmp_path, section, key, value, message):
    config = json.loads(json.dumps({**BASE, "data": {"corpus": "demo"}}))
    node = config
    for part in section.split("."):
        node = node.setdefault(part, {})
    node[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_train_config(path)
    assert "\n" not in str(caught.value)


def test_old_layout_configs_still_load_and_match_the_new_layout(tmp_path):
    """Top-level frontend/audio/word/word_vectors (before towers were registered)."""
    old = {"audio": TINY_TOWERS["audio"] | {"dropout": 0.2}, "frontend": {"n_mels": 128},
           "word": {"word_dim": 50, "hidden_dim": 16, "joint_dim": 16},
           "word_vectors": {"dim": 50}, "max_chunks": 3}
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    model = load_train_config(path).model
    assert model.towers["audio"].dropout == 0.2 and model.towers["word"].hidden_dim == 16
    assert model.max_chunks == 3 and model.towers["word"].vectors.dim == 50
    path.write_text(yaml.safe_dump({**old, "word_vectors": {"dim": 300}}))
    with pytest.raises(ConfigError, match=re.escape("word.word_dim (50) must equal "
                                                    "word_vectors.dim (300)")):
        load_train_config(path)
    path.write_text(yaml.safe_dump({**old, "model": {"max_chunks": 2}}))
    with pytest.raises(ConfigError, match="belong inside the model section"):
        load_train_config(path)


def test_shipped_training_configs_describe_the_shipped_models():
    """configs/multimodal.yaml made the shipped default; configs/demo.yaml made the first
    default (models/tag-demo-v1), the model that recipe starts from."""
    from retrieval.bundle import bundle_model_config, default_bundle_path, read_bundle_config
    for config, bundle in (("configs/multimodal.yaml", default_bundle_path()),
                           ("configs/demo.yaml", "models/tag-demo-v1")):
        shipped = bundle_model_config(read_bundle_config(bundle))
        assert load_train_config(config).model_config(shipped.tags) == shipped, config


def test_config_reads_exponent_notation_yaml_leaves_as_a_string(tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("optim:\n  lr: 1e-3\n")            # YAML 1.1: the string '1e-3'
    assert load_train_config(path).optim.lr == 0.001


def _two_tag_catalog(tiny_audio, path, extra_tag: str | None = None):
    """The tiny clips with two tags, each on half the training tracks: with batches of two,
    both anchors often share a tag and the batch holds no negative at all."""
    folder, records = tiny_audio
    tagged = []
    for i, record in enumerate(records):
        tags = ["piano" if i % 2 == 0 else "violin"]
        if extra_tag and i in (0, 1):
            tags.append(extra_tag)
        tagged.append(dataclasses.replace(record, path=str(folder / record.path), tags=tags))
    write_catalog(tagged, path)
    return path


def test_training_skips_batches_without_negatives_and_stops_on_divergence(tiny_audio, tmp_path):
    catalog = _two_tag_catalog(tiny_audio, tmp_path / "catalog.jsonl")
    path = tmp_path / "run.yaml"
    config = {**BASE, "optim": {"batch_size": 2, "steps_per_epoch": 6, "epochs": 1},
              "data": {"catalog": str(catalog), "min_tag_tracks": 1,
                       "cache_dir": str(tmp_path / "cache")}}
    path.write_text(yaml.safe_dump(config))
    messages, run = [], tmp_path / "run"
    train(load_train_config(path), run, progress=False, log=messages.append)
    state = json.loads((run / "checkpoint" / "state.json").read_text())["state"]
    assert any("batches in which no anchor had a negative song" in m for m in messages)
    assert np.isfinite(state["history"][0]["loss"])     # before: the NaN mean of nothing
    checkpoint = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    bundle = (run / "model" / "model.safetensors").read_bytes()

    # resuming under another model config or tag vocabulary is refused, naming it
    other = json.loads(json.dumps(config))
    other["model"]["towers"]["audio"]["channels"] = [4, 4, 8, 8, 8, 16, 8]
    path.write_text(yaml.safe_dump(other))
    with pytest.raises(ResumeError, match=re.escape("audio.channels [4, 4, 8, 8, 8, 16, 16] → "
                                                    "[4, 4, 8, 8, 8, 16, 8]")):
        train(load_train_config(path), run, resume=True, progress=False, log=messages.append)
    more_tags = {**config, "data": {**config["data"], "catalog": str(_two_tag_catalog(
        tiny_audio, tmp_path / "more.jsonl", extra_tag="fast"))}}
    path.write_text(yaml.safe_dump(more_tags))
    with pytest.raises(ResumeError, match=r"tag vocabulary \(added fast\)"):
        train(load_train_config(path), run, resume=True, progress=False, log=messages.append)

    # a learning rate that blows the weights up stops the run; epoch 1 is kept untouched
    diverging = {**config, "optim": {**config["optim"], "epochs": 2, "lr": 1e30}}
    path.write_text(yaml.safe_dump(diverging))
    with pytest.raises(TrainingDiverged, match="keeps epoch 1 .* lower optim.lr"):
        train(load_train_config(path), run, resume=True, progress=False, log=messages.append)
    assert {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()} == checkpoint
    assert (run / "model" / "model.safetensors").read_bytes() == bundle
