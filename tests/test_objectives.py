"""Objectives against hand-computed values, their weighted combination, the negative
weightings' distributions, the training text modes, and configs that must be refused."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import yaml

from retrieval.catalog import TrackRecord
from training.alignment import AlignmentPair, PairBatch, pair_loss, step_loss
from training.caption_config import CaptionConfig, SentenceTrainingConfig
from training.config import ConfigError, load_train_config
from training.objectives import (ObjectiveTerm, contrastive, negative_weights, pick_negatives,
                                 triplet, weighted_objective)
from training.samplers import BalancedSampler, BalancedWeightedSampler, RandomSampler, TagTrackIndex
from training.sentence_pair import caption_bank, tag_caption_pair
from training.trainer import train

TINY_TOWERS = {"audio": {"type": "short_chunk_cnn", "channels": [4, 4, 8, 8, 8, 16, 16],
                         "backbone_dim": 16, "joint_dim": 16},
               "word": {"type": "word_mlp", "hidden_dim": 16, "joint_dim": 16}}


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# ---- losses against hand-computed values ---------------------------------------------------
@pytest.mark.parametrize("negatives", ["uniform", "distance_weighted", "similarity"])
def test_triplet_with_each_weighting_matches_the_hand_value(negatives):
    # anchor 0: positive cos 0.6 (d 0.4), only negative cos 0 (d 1) → [0.4 − 1 + 0.8]_+ = 0.2
    # anchor 1: positive cos 1 (d 0), only negative cos 0.6 (d 0.4) → [0 − 0.4 + 0.8]_+ = 0.4
    text = torch.tensor([[1.0, 0.0], [0.0, 2.0]])          # lengths do not matter: cosines
    audio = torch.tensor([[0.6, 0.8], [0.0, 1.0], [0.0, 3.0], [0.8, 0.6]])
    relevant = torch.tensor([[True, True, False, True], [True, True, True, False]])
    loss = triplet(text, audio, relevant, margin=0.8, negatives=negatives)
    assert loss.item() == pytest.approx((0.2 + 0.4) / 2, abs=1e-6)


def test_negative_weightings_have_their_hand_values_and_draw_by_them():
    distances = torch.tensor([[0.0, 0.5, 1.0, 2.0]])
    assert negative_weights(distances, "uniform").tolist() == [[1.0, 1.0, 1.0, 1.0]]
    # 1/d clipped at 0.05; TTMR's (cos + 1)/2 = 1 − d/2
    assert negative_weights(distances, "distance_weighted")[0].tolist() == pytest.approx(
        [20.0, 2.0, 1.0, 0.5])
    assert negative_weights(distances, "similarity")[0].tolist() == pytest.approx(
        [1.0, 0.75, 0.5, 0.0])
    # column 0 is relevant: never drawn; columns 1 and 2 in the ratio of their weights
    relevant = torch.tensor([[True, False, False]])
    close_far = torch.tensor([[0.0, 0.5, 1.0]])
    torch.manual_seed(0)
    for negatives, share in [("uniform", 0.5), ("distance_weighted", 2 / 3),
                             ("similarity", 0.6)]:
        picks = pick_negatives(close_far.expand(4000, 3), relevant.expand(4000, 3), negatives)
        assert 0 not in picks.tolist()
        assert (picks == 1).float().mean().item() == pytest.approx(share, abs=0.025), negatives


def test_contrastive_with_several_positives_matches_the_hand_value():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # audio 2 carries anchor 0's tag too: a second positive of text 0, never its negative
    relevant = torch.tensor([[True, False, True], [False, True, False]])
    tau = 0.5
    # cos/τ: text 0 → [2, 0, 1.2]; text 1 → [0, 2, 1.6]
    text_to_audio = ((_softplus(0 - 2) + _softplus(0 - 1.2)) / 2            # 2 positives, neg 1
                     + _softplus(math.log(math.exp(0) + math.exp(1.6)) - 2)) / 2
    audio_to_text = (_softplus(0 - 2) + _softplus(0 - 2) + _softplus(1.6 - 1.2)) / 3
    expected = (text_to_audio + audio_to_text) / 2
    loss = contrastive(text, audio, relevant, temperature=tau)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # single-positive (CLIP) InfoNCE would push audio 2 away from text 0: a different value
    scores = text @ torch.nn.functional.normalize(audio, dim=-1).T / tau
    clip = (torch.nn.functional.cross_entropy(scores, torch.arange(2))
            + torch.nn.functional.cross_entropy(scores[:, :2].T, torch.arange(2))) / 2
    assert abs(clip.item() - expected) > 0.05
    # and its gradient pulls the shared-tag clip towards text 0
    audio = audio.clone().requires_grad_(True)
    contrastive(text, audio, relevant, temperature=tau).backward()
    assert (-audio.grad[2] @ text[0]).item() > 0


def test_contrastive_without_negatives_teaches_nothing_and_checks_its_inputs():
    text, audio = torch.eye(2), torch.eye(2)
    assert contrastive(text, audio, torch.ones(2, 2, dtype=torch.bool)) is None
    with pytest.raises(ValueError, match="relevant"):
        contrastive(text, audio, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="temperature"):
        contrastive(text, audio, torch.eye(2, dtype=torch.bool), temperature=0.0)


def test_the_combination_is_the_weighted_sum_and_pairs_use_it():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    audio = torch.tensor([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]])
    # one negative each, so the triplet is deterministic
    relevant = torch.tensor([[True, True, False], [True, True, False]])
    one = triplet(text, audio, relevant, margin=0.4)
    two = contrastive(text, audio, relevant, temperature=0.1)
    terms = [ObjectiveTerm("triplet", 0.3, {"margin": 0.4}),
             ObjectiveTerm("contrastive", 0.7, {"temperature": 0.1})]
    total, parts = weighted_objective(terms, text, audio, relevant)
    assert total.item() == pytest.approx(0.3 * one.item() + 0.7 * two.item(), rel=1e-6)
    assert parts == pytest.approx({"triplet": one.item(), "contrastive": two.item()})
    # a zero weight drops its term; a term with nothing to learn is skipped, not NaN
    total, parts = weighted_objective([terms[0], ObjectiveTerm("contrastive", 0.0)],
                                      text, audio, relevant)
    assert total.item() == pytest.approx(0.3 * one.item()) and list(parts) == ["triplet"]
    assert weighted_objective(terms, text, audio, torch.ones(2, 3, dtype=torch.bool))[0] is None
    pair = AlignmentPair("tags", lambda rng: None, terms, weight=2.0)
    value = pair_loss(pair, PairBatch(text, audio, relevant)).item()
    assert value == pytest.approx(2.0 * (0.3 * one.item() + 0.7 * two.item()), rel=1e-6)
    # a step logs the pair (unweighted by the pair) and each of its objectives
    pair.draw = lambda rng: PairBatch(text, audio, relevant)
    total, parts = step_loss([pair], np.random.default_rng(0))
    assert total.item() == pytest.approx(value, rel=1e-6)
    assert parts == pytest.approx({"tags": value / 2.0, "tags/triplet": one.item(),
                                   "tags/contrastive": two.item()}, rel=1e-6)


# ---- samplers ------------------------------------------------------------------------------
def _index(seed: int = 0) -> TagTrackIndex:
    rng = np.random.default_rng(seed)
    popularity = [0.7, 0.4, 0.15, 0.05, 0.3]   # skewed, so uniform draws are not an accident
    track_tags = [[t for t, p in zip("abcde", popularity) if rng.random() < p] or ["a"]
                  for _ in range(300)]
    return TagTrackIndex.from_track_tags(track_tags, list("abcde"))


@pytest.mark.parametrize("cls", [BalancedSampler, BalancedWeightedSampler])
def test_balanced_samplers_draw_anchor_tags_uniformly(cls):
    index, rng = _index(), np.random.default_rng(5)
    draws = 10000
    counts = np.bincount(cls(index).sample(rng, draws).anchor_tags, minlength=5)
    expected = draws / 5
    # every tag within 4σ of a uniform draw (σ = √(n p (1 − p))), unlike the popularity
    assert np.all(np.abs(counts - expected) < 4 * math.sqrt(draws * 0.2 * 0.8)), counts
    song_first = np.bincount(RandomSampler(index).sample(rng, draws).anchor_tags, minlength=5)
    assert np.any(np.abs(song_first - expected) > 10 * math.sqrt(draws * 0.2 * 0.8))


@pytest.mark.parametrize("cls", [BalancedSampler, BalancedWeightedSampler, RandomSampler])
@pytest.mark.parametrize("negatives", ["uniform", "distance_weighted", "similarity"])
def test_no_negative_carries_the_anchor_tag(cls, negatives):
    index, rng = _index(1), np.random.default_rng(2)
    sampler = cls(index)
    torch.manual_seed(0)
    for _ in range(30):
        batch = sampler.sample(rng, 16)
        relevant = torch.from_numpy(index.relevant(batch))
        chosen = pick_negatives(torch.rand(relevant.shape) * 2, relevant, negatives)
        for anchor, j in zip(batch.anchor_tags, chosen.tolist()):
            assert j == -1 or not index.has_tag[batch.tracks[j], anchor]


# ---- training text -------------------------------------------------------------------------
def _records():
    tags = [["fast", "happy", "piano"], ["slow", "sad", "violin"], ["fast", "irish", "fiddle"],
            ["calm", "organ", "sacred", "major"]]
    return [TrackRecord(track_id=f"t{i}", path=f"t{i}.wav", tags=t,
                        caption=f"a recording of {t[0]} music") for i, t in enumerate(tags)]


def _bank(text: str, seed: int = 0):
    config = SentenceTrainingConfig(text=text, captions=CaptionConfig(per_track=6, seed=seed))
    return caption_bank(_records(), config.caption_config())


def _bank_of(records):
    return caption_bank(records, CaptionConfig(per_track=6))


def _is_tag_list(text: str, tags: list[str]) -> bool:
    return set(re.split(", | ", text)) <= {w for t in tags for w in t.split()}


def test_text_modes_make_tag_lists_captions_or_both_reproducibly():
    records = _records()
    def lists(bank):
        return [_is_tag_list(text, records[owner].tags)
                for text, owner in zip(bank.texts, bank.track)]
    assert all(lists(_bank("tags")))
    assert not any(lists(_bank("captions")))
    mixed = lists(_bank("stochastic"))
    assert any(mixed) and not all(mixed)
    # the same seed makes the same texts; another seed other ones
    assert _bank("stochastic").texts == _bank("stochastic").texts
    assert _bank("stochastic", seed=1).texts != _bank("stochastic").texts
    assert _bank("tags", seed=1).texts != _bank("tags").texts


# ---- three branches ------------------------------------------------------------------------
def test_three_branches_sum_with_the_reference_weights():
    def fixed(audio):   # one anchor [1, 0], its positive, then its only negative
        batch = PairBatch(torch.tensor([[1.0, 0.0]]), torch.tensor(audio),
                          torch.tensor([[True, False]]))
        return lambda rng: batch
    terms = [ObjectiveTerm("triplet", 1.0, {"margin": 0.8})]
    weights = SentenceTrainingConfig(branches="three").pair_weights()
    # [d_p − d_n + 0.8]_+: 0.4 − 1 + 0.8 = 0.2; 0 − 0.4 + 0.8 = 0.4; 1 − 0 + 0.8 = 1.8
    pairs = [AlignmentPair(name, fixed(audio), terms, weights[name]) for name, audio in [
        ("tags", [[0.6, 0.8], [0.0, 1.0]]), ("tag_captions", [[1.0, 0.0], [0.6, 0.8]]),
        ("captions", [[0.0, 1.0], [1.0, 0.0]])]]
    total, parts = step_loss(pairs, np.random.default_rng(0))
    assert total.item() == pytest.approx(0.3 * 0.2 + 0.3 * 0.4 + 0.4 * 1.8, abs=1e-6)
    assert parts == pytest.approx({"tags": 0.2, "tag_captions": 0.4, "captions": 1.8})
    assert SentenceTrainingConfig(weight=0.5).pair_weights() == {"tags": 1.0, "captions": 0.5}


@pytest.mark.parametrize("cls", [BalancedSampler, RandomSampler])
def test_tag_caption_batches_say_the_anchor_tag_and_never_hold_false_negatives(cls):
    records = _records() + [TrackRecord(track_id="bare", path="bare.wav", tags=[])]
    bank = _bank_of(records)
    tags = sorted({t for r in records for t in r.tags})
    index = TagTrackIndex.from_track_tags([r.tags for r in records], tags)
    tower = type("Model", (), {"towers": {"word": lambda x: x}})()   # one-hot tags back
    pair = tag_caption_pair(tower, cls(index), index, torch.eye(len(tags)), bank,
                            lambda rows: torch.as_tensor(rows, dtype=torch.float32)[:, None],
                            6, [ObjectiveTerm("triplet")], 0.3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = pair.draw(rng)
        anchors = batch.text.argmax(dim=1).tolist()
        rows = batch.audio[:, 0].long().tolist()
        for i, tag in enumerate(anchors):
            owner = bank.track[rows[i]]
            assert index.has_tag[owner, tag]
            if any(tags[tag] in bank.said[r] for r in bank.by_track[owner]):
                assert tags[tag] in bank.said[rows[i]]
            for j, row in enumerate(rows):   # relevant exactly when the track has the tag
                assert batch.relevant[i, j].item() == index.has_tag[bank.track[row], tag]


# ---- configs -------------------------------------------------------------------------------
def _write(tmp_path, objective: dict, sentences: dict | None = None, **sections):
    path = tmp_path / "config.yaml"
    data = {"data": {"corpus": "demo"}, "model": {"towers": TINY_TOWERS},
            "objective": objective, **sections}
    if sentences:
        data["sentences"] = sentences
    path.write_text(yaml.safe_dump(data))
    return path


def test_single_and_weighted_objective_layouts_load(tmp_path):
    sampler = BalancedWeightedSampler   # its negative weighting is the default
    config = load_train_config(_write(tmp_path, {"margin": 0.3, "sampler": "balanced"}))
    assert [(t.name, t.weight, t.params) for t in config.objective.terms(BalancedSampler)] == \
        [("triplet", 1.0, {"margin": 0.3, "negatives": "uniform"})]
    config = load_train_config(_write(tmp_path, {"loss": "contrastive", "temperature": 0.1}))
    assert [(t.name, t.params) for t in config.objective.terms(sampler)] == \
        [("contrastive", {"temperature": 0.1})]
    config = load_train_config(_write(tmp_path, {"negatives": "similarity", "losses": [
        {"name": "triplet", "weight": 0.5, "margin": 0.2},
        {"name": "contrastive", "weight": 0.5, "temperature": 0.05}]}))
    assert [(t.name, t.weight, t.params) for t in config.objective.terms(sampler)] == [
        ("triplet", 0.5, {"margin": 0.2, "negatives": "similarity"}),
        ("contrastive", 0.5, {"temperature": 0.05})]


@pytest.mark.parametrize("objective, sentences, message", [
    ({"loss": "hinge"}, None, "objective.loss 'hinge' is not one of triplet, contrastive"),
    ({"losses": [{"name": "hinge"}]}, None,
     "objective.losses[0].name 'hinge' is not one of triplet, contrastive"),
    ({"losses": [{"name": "triplet", "weight": -0.5}, {"name": "contrastive"}]}, None,
     "objective.losses[0].weight must be a finite number ≥ 0, got -0.5"),
    ({"losses": [{"name": "triplet", "weight": 0.0}, {"name": "contrastive", "weight": 0.0}]},
     None, "objective.losses: the weights must not all be 0"),
    ({"loss": "triplet", "losses": [{"name": "contrastive"}]}, None, "not both"),
    ({"losses": [{"name": "triplet", "temperature": 0.1}]}, None,
     "objective.losses[0].temperature does not apply to triplet"),
    ({"losses": [{"name": "contrastive", "temperature": 0.0}]}, None,
     "objective.losses[0].temperature must be a finite number > 0"),
    ({"negatives": "hardest"}, None, "objective.negatives 'hardest' is not one of uniform, "
                                     "distance_weighted, similarity"),
    ({}, {"text": "poems"}, "sentences.text 'poems' is not one of tags, captions, stochastic"),
    ({}, {"branches": "four"}, "sentences.branches 'four' is not one of two, three"),
    ({}, {"branches": "three", "weight": 0.5}, "sentences.weight applies to two branches"),
    ({}, {"branches": "three"}, "sentences.branches: three needs a sentence tower"),
])
def test_bad_objective_and_text_configs_are_one_line(tmp_path, objective, sentences, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_train_config(_write(tmp_path, objective, sentences))
    assert "\n" not in str(caught.value)


def test_a_tiny_run_trains_on_the_weighted_objectives(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    path = _write(tmp_path, {"sampler": "random", "losses": [
        {"name": "triplet", "weight": 0.5, "negatives": "similarity"},
        {"name": "contrastive", "weight": 0.5, "temperature": 0.1}]},
        data={"corpus": str(folder), "min_tag_tracks": 1, "cache_dir": str(tmp_path / "c")},
        optim={"batch_size": 4, "steps_per_epoch": 2, "epochs": 1})
    messages = []
    result = train(load_train_config(path), tmp_path / "run", progress=False,
                   log=messages.append)
    assert result.best_epoch == 1 and math.isfinite(result.valid_map)
    found = re.search(r"epoch 1: loss ([0-9.]+), tags ([0-9.]+), tags/triplet ([0-9.]+), "
                      r"tags/contrastive ([0-9.]+), valid MAP", " ".join(messages))
    loss, tags, one, two = map(float, found.groups())
    assert loss > 0 and tags == pytest.approx(loss, abs=1e-4)
    # each step's loss is 0.5 triplet + 0.5 contrastive, so the epoch means are too
    assert loss == pytest.approx(0.5 * one + 0.5 * two, abs=2e-4)


def test_a_tiny_three_branch_run_trains_every_tower(tiny_audio, tmp_path):
    from test_sentence import sentence_model_config
    folder, _ = tiny_audio
    towers = {kind: tower.to_dict() for kind, tower in sentence_model_config().towers.items()}
    path = _write(tmp_path, {"sampler": "random"}, {"branches": "three", "text": "stochastic",
                                                     "captions": {"per_track": 3}},
                  data={"corpus": str(folder), "min_tag_tracks": 1,
                        "cache_dir": str(tmp_path / "c")},
                  model={"towers": towers, "max_chunks": 2},
                  optim={"batch_size": 4, "steps_per_epoch": 2, "epochs": 1})
    messages = []
    result = train(load_train_config(path), tmp_path / "run", progress=False,
                   log=messages.append)
    assert any("three branches" in m and "'tag_captions': 0.3" in m for m in messages)
    assert result.best_epoch == 1 and math.isfinite(result.valid_map)


def test_resume_equals_an_uninterrupted_run_of_the_same_steps(tiny_audio, tmp_path):
    from safetensors.torch import load_file
    folder, _ = tiny_audio
    path = _write(tmp_path, {"sampler": "balanced_weighted", "losses": [
        {"name": "triplet", "weight": 0.5, "negatives": "similarity"},
        {"name": "contrastive", "weight": 0.5}]},
        data={"corpus": str(folder), "min_tag_tracks": 1, "cache_dir": str(tmp_path / "c")},
        # a constant lr: a cosine schedule would follow `epochs` of the interrupted run
        optim={"batch_size": 4, "steps_per_epoch": 3, "epochs": 2, "cosine_decay": False})
    config = load_train_config(path)
    quiet = {"progress": False, "log": lambda m: None}
    train(config, tmp_path / "straight", **quiet)
    config.optim.epochs = 1
    train(config, tmp_path / "split", **quiet)
    config.optim.epochs = 2
    train(config, tmp_path / "split", resume=True, **quiet)
    straight, split = (load_file(str(tmp_path / run / "checkpoint" / "model.safetensors"))
                       for run in ("straight", "split"))
    assert straight.keys() == split.keys()
    for name in straight:
        assert torch.equal(straight[name], split[name]), name
