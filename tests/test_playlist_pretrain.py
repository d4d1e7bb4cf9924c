"""Audio aligned to playlists: pair strategies on hand-built playlists, NT-Xent by hand,
a tiny pre-training run whose audio tower a tag run then starts from, one-line errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from retrieval.bundle import load_bundle
from retrieval.model import MusicSearchModel
from training.checkpoint import ResumeError
from training.config import ConfigError, load_train_config
from training.objectives import contrastive
from training.playlists.pairs import (PairStream, co_pairs, own_pairs, shared_track_mask,
                                      tco_pairs, top_cooccurring)
from training.trainer import train
from ui.cli import main

TINY_TOWERS = {"audio": {"type": "short_chunk_cnn", "channels": [4, 4, 8, 8, 8, 16, 16],
                         "backbone_dim": 16, "joint_dim": 16},
               "word": {"type": "word_mlp", "hidden_dim": 16, "joint_dim": 16}}


def _lists(*playlists):
    return [np.array(p) for p in playlists]


def test_co_pairs_come_from_one_playlist_each_track_once_floor_half_per_playlist():
    playlists = _lists([0, 1, 2, 3], [4, 5, 6], [7, 8])
    member = {t: i for i, p in enumerate(playlists) for t in p.tolist()}
    seen = set()
    for seed in range(20):
        pairs = co_pairs(playlists, np.random.default_rng(seed))
        assert len(pairs) == 2 + 1 + 1                     # ⌊|p|/2⌋ per playlist
        assert len(set(pairs.ravel().tolist())) == pairs.size   # each track used once
        assert all(member[a] == member[b] for a, b in pairs.tolist())
        seen |= {frozenset(p) for p in pairs.tolist()}
    assert len(seen) > 4                                    # new pairs in other epochs
    # a track in two playlists is still used once per epoch
    overlapping = co_pairs(_lists([0, 1], [0, 2], [1, 2]), np.random.default_rng(0))
    assert len(overlapping) == 1 and len(set(overlapping.ravel().tolist())) == 2


def test_tco_pairs_each_anchor_with_one_of_its_top_cooccurring_tracks():
    playlists = _lists([0, 1], [0, 1], [0, 1], [0, 2], [0, 2], [0, 3], [4, 5], [4, 5, 5])
    top = top_cooccurring(playlists, 6, top=10)
    assert top[0].tolist() == [1, 2, 3]        # by count 3, 2, 1
    assert top[3].tolist() == [0] and top[5].tolist() == [4]   # a repeat counts once
    assert top_cooccurring(playlists, 6, top=1)[0].tolist() == [1]
    candidates = top_cooccurring(playlists, 6, top=1)
    for seed in range(10):
        pairs = tco_pairs(candidates, np.random.default_rng(seed))
        assert len(set(pairs.ravel().tolist())) == pairs.size
        assert all(b in candidates[a] for a, b in pairs.tolist())
        assert any({4, 5} == set(p) for p in pairs.tolist())   # 4 and 5 only have each other


def test_own_pairs_and_the_stream_keep_to_eligible_tracks_across_epochs():
    pairs = own_pairs(np.array([2, 5, 7]), np.random.default_rng(0))
    assert sorted(pairs[:, 0].tolist()) == [2, 5, 7] and (pairs[:, 0] == pairs[:, 1]).all()
    eligible = np.array([True, True, False, True, True])
    stream = PairStream("co", _lists([0, 1, 2], [3, 4]), 5, eligible)
    batch = stream.next(np.random.default_rng(0), 5)   # 2 pairs per epoch: three epochs
    assert batch.shape == (5, 2) and stream.epochs == 3 and 2 not in batch
    with pytest.raises(ValueError, match="not one of own, co, tco"):
        PairStream("ico", [], 3)


def test_shared_track_mask_marks_pairs_with_a_track_in_common():
    mask = shared_track_mask(np.array([[0, 1], [2, 3], [1, 4], [5, 5]]))
    expected = np.eye(4, dtype=bool)
    expected[0, 2] = expected[2, 0] = True
    assert (mask == expected).all()


def test_nt_xent_matches_a_hand_computed_value():
    # two pairs; cosines [[1, .6], [0, .8]]; τ = 0.1 → logits [[10, 6], [0, 8]]
    text = torch.tensor([[1.0, 0.0], [0.0, 2.0]])          # not unit: cosines are used
    audio = torch.tensor([[3.0, 0.0], [0.6, 0.8]])
    loss = contrastive(text, audio, torch.eye(2, dtype=torch.bool), temperature=0.1)
    rows = (math.log1p(math.exp(-4)) + math.log1p(math.exp(-8))) / 2      # text → audio
    columns = (math.log1p(math.exp(-10)) + math.log1p(math.exp(-2))) / 2  # audio → text
    assert loss.item() == pytest.approx((rows + columns) / 2, rel=1e-5)


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def _pretrain_config(tiny_audio, tmp_path, disjoint: bool = False, **playlists):
    folder, records = tiny_audio
    train_ids = [r.track_id for r in records if r.split == "train"]    # t0 t1 t4 t5
    lists = [train_ids[:2], train_ids[2:]] + ([] if disjoint else [train_ids[::2],
                                                                 train_ids[1:3]])
    sessions = tmp_path / "sessions.jsonl"
    sessions.write_text("".join(json.dumps({"playlist_id": f"p{i}", "tracks": tracks}) + "\n"
                                for i, tracks in enumerate(lists)))
    return {"data": {"corpus": str(folder), "min_tag_tracks": 1,
                     "cache_dir": str(tmp_path / "cache")},
            "model": {"towers": TINY_TOWERS, "max_chunks": 2},
            "objective": {"sampler": "random"},
            "optim": {"batch_size": 2, "steps_per_epoch": 2, "epochs": 1},
            "playlists": {"weight": 1.0, "tag_weight": 0, "playlists": str(sessions),
                          "vector_size": 8, **playlists}}


def test_pretrain_on_playlists_then_fine_tune_from_it(tiny_audio, tmp_path):
    logs = []
    config = load_train_config(_write(tmp_path / "pre.yaml", _pretrain_config(
        tiny_audio, tmp_path, pairs="co")))
    torch.manual_seed(0)
    pre = train(config, tmp_path / "pre", command="test", progress=False, log=logs.append)
    assert any(m.startswith("playlists: ") and "4 of 4 training tracks have a vector" in m
               for m in logs)
    # only the playlist pair trained, and its projectors are checkpointed beside the model
    state = json.loads((tmp_path / "pre" / "checkpoint" / "state.json").read_text())["state"]
    assert list(state["history"][0]["terms"]) == ["playlists"]
    heads = load_file(str(tmp_path / "pre" / "checkpoint" / "heads.safetensors"))
    assert {tuple(v.shape) for k, v in heads.items() if k.endswith("0.weight")} == \
        {(128, 16), (128, 8)}                               # audio and Word2Vec projectors
    pre_weights = load_bundle(pre.bundle).state_dict()
    assert all(name.startswith("towers.") for name in pre_weights)   # no projector in it
    # the audio tower moved away from the initialisation the run started from
    torch.manual_seed(config.optim.seed)
    init = MusicSearchModel(config.model_config(load_bundle(pre.bundle).config.tags)).state_dict()
    assert any(not torch.equal(value, init[name]) for name, value in pre_weights.items()
               if name.startswith("towers.audio.") and value.is_floating_point())
    config.optim.epochs = 2                                  # resume restores the projectors
    train(config, tmp_path / "pre", resume=True, progress=False, log=logs.append)
    assert any("resumed from epoch 1" in m for m in logs)

    # fine-tune for tags from the pre-trained bundle (playlists off)
    tune = {**_pretrain_config(tiny_audio, tmp_path), "playlists": {}}
    tune["optim"] = {**tune["optim"], "init_from": str(pre.bundle)}
    tuned = train(load_train_config(_write(tmp_path / "tune.yaml", tune)), tmp_path / "tune",
                  command="test", progress=False, log=logs.append)
    record = json.loads((tuned.bundle / "config.json").read_text())["training"]
    assert record["init_from"]["fingerprint"] == load_bundle(pre.bundle).fingerprint
    assert "audio" in record["init_from"]["towers"] and record["playlists"] is None
    assert any(m.startswith("initialised audio") for m in logs)
    tuned_terms = json.loads((tmp_path / "tune" / "checkpoint" / "state.json").read_text())
    assert list(tuned_terms["state"]["history"][0]["terms"]) == ["tags"]
    # a tag-only run's checkpoint cannot be resumed with the playlist pair switched on
    tune["playlists"] = _pretrain_config(tiny_audio, tmp_path)["playlists"]
    with pytest.raises(ResumeError, match="trained without the projectors"):
        train(load_train_config(_write(tmp_path / "tune.yaml", tune)), tmp_path / "tune",
              resume=True, progress=False, log=logs.append)


def test_tco_against_co_occurring_audio_trains(tiny_audio, tmp_path):
    # two disjoint playlists: every epoch pairs t0-t1 and t4-t5, so each batch has negatives
    data = _pretrain_config(tiny_audio, tmp_path, disjoint=True, pairs="tco", target="audio")
    data["optim"]["steps_per_epoch"] = 1
    logs = []
    train(load_train_config(_write(tmp_path / "tco.yaml", data)), tmp_path / "tco",
          progress=False, log=logs.append)
    assert any(m.startswith("epoch 1: loss") for m in logs)
    heads = load_file(str(tmp_path / "tco" / "checkpoint" / "heads.safetensors"))
    assert len(heads) == 4          # one projector (2 layers × weight, bias), shared by both sides


@pytest.mark.parametrize("section, message", [
    ({"pairs": "ico"}, "playlists.pairs 'ico' is not one of own, co, tco"),
    ({"target": "text"}, "playlists.target 'text' is not one of word2vec, audio"),
    ({"pairs": "own", "target": "audio"}, "pairs own needs target word2vec"),
    ({"weight": 0}, "tag_weight 0 needs playlists.weight > 0"),
])
def test_bad_playlist_settings_fail_in_one_line_before_any_work(tiny_audio, tmp_path, capsys,
                                                               section, message):
    data = _pretrain_config(tiny_audio, tmp_path)
    data["playlists"].update(section)
    config = _write(tmp_path / "bad.yaml", data)
    with pytest.raises(ConfigError, match=message):
        load_train_config(config)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
