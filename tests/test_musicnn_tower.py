"""The frozen MusiCNN audio towers (musicnn_msd, musicnn_mtt): config, frozen backbone and
trainable head, cached backbone features, bundles. Real weights, generated audio."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.feature_cache import FeatureCache
from retrieval.model import ModelConfig, MusicSearchModel
from retrieval.musicnn_frontend import audio_to_musicnn_patches
from retrieval.towers import TowerConfigError, tower_config_from_dict
from retrieval.towers.musicnn import MusiCNNWeightsError, load_musicnn
from retrieval.towers.musicnn_tower import BACKBONE_ROWS, BackboneFeatures, MusiCNNTowerConfig
from training.config import ConfigError, load_train_config

ROWS = sum(size for _, size in BACKBONE_ROWS)


def _model(type_name: str = "musicnn_msd", **audio) -> MusicSearchModel:
    return MusicSearchModel(ModelConfig.from_mapping({
        "towers": {"audio": {"type": type_name, "hidden_dim": 32, "joint_dim": 16, **audio},
                   "word": {"type": "word_mlp", "hidden_dim": 32, "joint_dim": 16}},
        "tags": ["piano", "violin"], "max_chunks": 4}))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 7 s generated 22.05 kHz stereo WAV (two 3 s patches after resampling to 16 kHz)."""
    rate = 22050
    t = np.arange(7 * rate) / rate
    rng = np.random.default_rng(3)
    wave = 0.3 * np.sin(2 * np.pi * 330 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    stereo = np.stack([wave, wave + 0.01 * rng.standard_normal(t.size)], axis=1)
    path = tmp_path_factory.mktemp("musicnn_clip") / "clip.wav"
    soundfile.write(path, stereo.astype(np.float32), rate)
    return path


def test_the_tower_builds_from_its_config_and_reads_its_own_front_end():
    model = _model("musicnn_mtt", feature="pooled", pooling="mean_max", patches=2)
    tower = model.towers["audio"]
    assert tower.config.backbone == "mtt" and tower.config.input_dim == 2 * 1506
    assert model.config.audio_frontend == BackboneFeatures("mtt", chunk_frames=2)
    chunks = torch.randn(3, ROWS, 2)
    assert tower(chunks).shape == (3, 16)
    # a log-mel model keeps its own front end: the default path is unchanged
    default = ModelConfig()
    assert default.audio_frontend is default.frontend
    problems = MusiCNNTowerConfig(feature="mfcc", pooling="median", patches=0).problems()
    assert len(problems) == 3 and all(p.startswith("towers.audio.") for p in problems)


def test_an_unknown_backbone_is_one_line_naming_the_known_ones():
    with pytest.raises(TowerConfigError) as error:
        tower_config_from_dict("audio", {"type": "musicnn_xyz"})
    message = str(error.value)
    assert "\n" not in message and "musicnn_msd" in message and "musicnn_mtt" in message
    with pytest.raises(MusiCNNWeightsError) as error:
        load_musicnn("xyz")
    assert "\n" not in str(error.value) and "msd" in str(error.value)


def test_a_training_step_moves_the_head_and_never_the_frozen_backbone():
    torch.manual_seed(0)
    model = _model(patches=2)
    tower = model.towers["audio"]
    backbone_before = {k: v.clone() for k, v in tower.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in tower.head.state_dict().items()}
    # the backbone is not a parameter of the model (nor saved with it)
    assert not any(name.startswith("towers.audio.backbone") for name in model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    patches = torch.randn(4, 2, 187, 96).abs()   # log10(1 + 10000·x) is ≥ 0
    out = tower.encode_patches(patches)
    loss = (1 - torch.nn.functional.cosine_similarity(out[:2], out[2:])).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert all(torch.equal(v, tower.backbone.state_dict()[k]) for k, v in backbone_before.items())
    assert not tower.backbone.training
    changed = [k for k, v in head_before.items()
               if v.is_floating_point() and not torch.equal(v, tower.head.state_dict()[k])]
    assert any(k.endswith("weight") for k in changed)


def test_backbone_features_are_extracted_once_per_clip_and_backbone(clip, tmp_path,
                                                                    monkeypatch):
    calls = []
    original = BackboneFeatures.extract

    def counting(self, path):
        calls.append((self.backbone, path))
        return original(self, path)

    monkeypatch.setattr(BackboneFeatures, "extract", counting)
    msd = FeatureCache(tmp_path, BackboneFeatures("msd"))
    first = msd.mel(clip)
    again = FeatureCache(tmp_path, BackboneFeatures("msd", chunk_frames=3)).mel(clip)
    assert len(calls) == 1                      # chunking does not change what is cached
    assert first.shape == (ROWS, 2) and np.array_equal(first, again)
    mtt = FeatureCache(tmp_path, BackboneFeatures("mtt")).mel(clip)
    assert len(calls) == 2 and mtt.shape == first.shape and not np.allclose(mtt, first)
    # what the cache holds is the backbone's output on the file (to float16 storage)
    probabilities, embedding = load_musicnn("msd")(torch.from_numpy(
        audio_to_musicnn_patches(clip)))
    np.testing.assert_allclose(first[:200].T, embedding.numpy(), rtol=2e-3, atol=2e-3)
    logits = first[-50:].T
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), probabilities.numpy(), atol=2e-3)


def test_a_bundle_with_a_musicnn_tower_round_trips_and_embeds_a_file(clip, tmp_path):
    torch.manual_seed(1)
    model = _model(feature="penultimate+pooled", patches=1)
    before = model.encode_audio(clip)
    save_bundle(model, tmp_path / "bundle")
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    reference = config["external"]["audio.backbone"]
    assert reference["version"] == "musicnn_msd" and len(reference["sha256"]) == 64
    loaded = load_bundle(tmp_path / "bundle")
    vector = loaded.encode_audio(clip)
    assert vector.shape == (16,) and vector.dtype == np.float32
    assert abs(np.linalg.norm(vector) - 1) < 1e-5
    np.testing.assert_allclose(vector, before, atol=1e-5)
    # other weights than the bundle was trained on: refused in one line
    reference["sha256"] = "0" * 64
    (tmp_path / "bundle" / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="external model audio.backbone changed"):
        load_bundle(tmp_path / "bundle")


def test_augmentation_is_refused_for_cached_backbone_features(tmp_path):
    with pytest.raises(ConfigError, match="augment: log-mel augmentation does not apply"):
        load_train_config("configs/musicnn_msd.yaml",
                          {"augment.gain.p": 0.5, "out": str(tmp_path / "run")})
    config = load_train_config("configs/musicnn_mtt.yaml", {"out": str(tmp_path / "run")})
    assert config.model.towers["audio"].type == "musicnn_mtt"


def test_the_classification_baseline_ranks_by_backbone_tags_next_to_a_model(
        tiny_audio, tiny_model, tmp_path):
    from training.evaluation.backbone_tags import (backbone_scores, compare_on_mapped_tags,
                                                   load_tag_map)
    from training.random_baseline import expected_random_ap
    from retrieval.catalog import read_catalog

    bad = tmp_path / "bad.yaml"
    bad.write_text("mtt:\n  same:\n    piano: [pianoforte]\n")
    with pytest.raises(ValueError, match="pianoforte is not one of the mtt backbone's tags"):
        load_tag_map(bad)
    good = tmp_path / "map.yaml"
    good.write_text("mtt:\n  same:\n    piano: [piano]\n    slow: [slow]\n"
                    "  near:\n    violin: [violin, strings]\n")
    mapping = load_tag_map(good)
    assert mapping == {"mtt": {"piano": ["piano"], "slow": ["slow"],
                               "violin": ["violin", "strings"]}}
    records = read_catalog(tiny_audio[0] / "catalog.jsonl")
    scores = backbone_scores(records[:2], "mtt", mapping["mtt"], tmp_path / "features")
    backbone = load_musicnn("mtt")
    probabilities = backbone(torch.from_numpy(audio_to_musicnn_patches(records[0].path)))[0]
    mean = probabilities.mean(dim=0).numpy()
    tags = backbone.tags
    expected = [mean[tags.index("piano")], mean[tags.index("slow")],
                max(mean[tags.index("violin")], mean[tags.index("strings")])]
    np.testing.assert_allclose(scores[0], expected, atol=2e-3)
    result = compare_on_mapped_tags(records, mapping, {"tiny": tiny_model},
                                    tmp_path / "features", min_positives=2)["mtt"]
    assert set(result["map"]) == {"musicnn_mtt tags", "tiny"}
    for tag, info in result["tags"].items():
        positives = sum(tag in r.tags for r in records)
        assert info["positives"] == positives
        assert info["random_ap"] == pytest.approx(expected_random_ap(len(records), positives))
        assert all(0 <= result["ap"][row][tag] <= 1 for row in result["ap"])


def test_a_tiny_training_run_trains_a_head_on_cached_backbone_features(tiny_audio, tmp_path,
                                                                       monkeypatch):
    import yaml
    from training.trainer import train

    folder, records = tiny_audio
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({
        "data": {"corpus": str(folder), "min_tag_tracks": 1, "cache_dir": str(tmp_path / "c")},
        "model": {"towers": {"audio": {"type": "musicnn_mtt", "hidden_dim": 32, "joint_dim": 16},
                             "word": {"type": "word_mlp", "hidden_dim": 32, "joint_dim": 16}},
                  "max_chunks": 2},
        "objective": {"sampler": "random"},
        "optim": {"batch_size": 4, "steps_per_epoch": 2, "epochs": 2}}))
    calls = []
    original = BackboneFeatures.extract
    monkeypatch.setattr(BackboneFeatures, "extract",
                        lambda self, path: calls.append(path) or original(self, path))
    result = train(load_train_config(config_path), tmp_path / "run", progress=False,
                   log=lambda m: None)
    assert len(calls) == len(records)           # each clip once, for all epochs and the test
    model = load_bundle(result.bundle)
    assert model.config.towers["audio"].type == "musicnn_mtt"
    vector = model.encode_audio(folder / records[0].path)
    assert vector.shape == (16,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_a_musicnn_model_indexes_a_folder_through_its_own_front_end(tiny_audio, store, tmp_path):
    from index import index_tracks
    from retrieval.search import Searcher

    folder, records = tiny_audio
    torch.manual_seed(2)
    save_bundle(_model("musicnn_msd", feature="pooled"), tmp_path / "bundle")
    model = load_bundle(tmp_path / "bundle")
    summary = index_tracks(model, folder / "catalog.jsonl", store,
                           cache_dir=tmp_path / "features", progress=False)
    assert (summary.indexed, summary.failed) == (8, [])
    # the index holds the same vectors the model gives each file on its own
    path = folder / records[5].path
    np.testing.assert_allclose(store.get_vector(records[5].track_id),
                               model.encode_audio(path), atol=1e-3)
    hits = Searcher(model, store).search(audio=path, k=3).hits
    assert hits[0].track_id == records[5].track_id
