"""Towers by registry, model configs checked before any work, bundle side files and
external models, and the shipped format-1 bundle loading through the translation."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.model import MissingTower, ModelConfig, MusicSearchModel
from retrieval.towers import (TOWER_TYPES, AudioTowerConfig, ShortChunkCNN, WordTower,
                              WordTowerConfig, build_tower, register_tower, tower_config_from_dict)
from retrieval.typed_config import ConfigError
from tests.conftest import tiny_model_config

# ---- registry ------------------------------------------------------------------------------


def test_towers_are_built_by_kind_and_type():
    config = tower_config_from_dict("audio", {"type": "short_chunk_cnn", "joint_dim": 8,
                                              "channels": [2] * 7})
    assert isinstance(config, AudioTowerConfig) and config.joint_dim == 8
    assert isinstance(build_tower("audio", config), ShortChunkCNN)
    word = tower_config_from_dict("word", {"type": "word_mlp", "hidden_dim": 8,
                                           "vectors": {"dim": 50}})
    assert isinstance(build_tower("word", word), WordTower) and word.to_dict()["type"] == "word_mlp"
    assert TOWER_TYPES["audio"]["short_chunk_cnn"] is ShortChunkCNN


@pytest.mark.parametrize("kind, data, message", [
    ("audio", {"type": "transformer"},
     "towers.audio.type: unknown audio tower type 'transformer' "
     "(known: musicnn_msd, musicnn_mtt, short_chunk_cnn)"),
    ("word", {"type": "short_chunk_cnn"},
     "towers.word.type: unknown word tower type 'short_chunk_cnn' (known: word_mlp)"),
    ("lyrics", {"type": "x"}, "towers.lyrics: unknown tower kind 'lyrics' (known: audio, word"),
    ("word", {"type": "word_mlp", "hiden_dim": 3}, "towers.word: unknown key(s) hiden_dim"),
    ("audio", {"type": "short_chunk_cnn", "channels": "wide"}, "towers.audio.channels: "
                                                                 "expected a list"),
])
def test_bad_tower_sections_fail_in_one_line_naming_the_key(kind, data, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        tower_config_from_dict(kind, data)
    assert "\n" not in str(caught.value)


def test_a_type_name_cannot_be_taken_twice():
    with pytest.raises(ValueError, match="already registered by ShortChunkCNN"):
        register_tower("audio", "short_chunk_cnn")(type("Other", (nn.Module,), {}))


def test_mismatched_joint_dims_fail_in_one_line_before_anything_is_built(monkeypatch, tmp_path,
                                                                         tiny_bundle):
    built = []
    monkeypatch.setattr(ShortChunkCNN, "__init__", lambda *a: built.append(a))
    config = tiny_model_config()
    config.towers["word"] = dataclasses.replace(config.towers["word"], joint_dim=16)
    with pytest.raises(ValueError, match=re.escape(
            "towers must share one joint_dim, got towers.audio.joint_dim 32, "
            "towers.word.joint_dim 16")) as caught:
        MusicSearchModel(config)
    assert "\n" not in str(caught.value) and built == []
    # the same from a bundle: refused at load, naming the keys
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    saved = json.loads((broken / "config.json").read_text())
    saved["model"]["towers"]["word"]["joint_dim"] = 16
    (broken / "config.json").write_text(json.dumps(saved))
    with pytest.raises(BundleError, match="towers.word.joint_dim 16") as caught:
        load_bundle(broken)
    assert "\n" not in str(caught.value) and built == []


def test_a_model_needs_audio_and_a_text_tower():
    audio = AudioTowerConfig(channels=[2] * 7, backbone_dim=4, joint_dim=4)
    assert ModelConfig(towers={"audio": audio}).problems() == [
        "towers needs a text tower (word or sentence)"]
    assert ModelConfig(towers={"word": WordTowerConfig(joint_dim=4)}).problems() == [
        "towers.audio is missing (every model encodes audio)"]


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_conv_blocks_pool_before_relu_exactly_as_won_s_relu_then_pool(channels_last):
    """The short-chunk CNN pools before its ReLU (a quarter of the work): outputs and every
    gradient are bit-identical to Won's conv → BN → ReLU → pool, and so are the weights."""
    torch.manual_seed(0)
    tower = ShortChunkCNN(AudioTowerConfig(channels=[4, 4, 8, 8, 8, 8, 16], backbone_dim=8,
                                           joint_dim=8))
    won = ShortChunkCNN(tower.config)
    won.load_state_dict(tower.state_dict())
    for block in won.blocks:   # the published order: conv, BN, ReLU, pool
        conv, norm = block[0], block[1]
        block[2], block[3] = nn.ReLU(inplace=True), nn.MaxPool2d(2)
        assert (block[0], block[1]) == (conv, norm)
    assert [type(m) for m in tower.blocks[0]][2:] == [nn.MaxPool2d, nn.ReLU]
    if channels_last:
        tower, won = (m.to(memory_format=torch.channels_last) for m in (tower, won))
    mels = torch.randn(6, 128, 232) * 20 - 40
    outputs = []
    for model in (tower, won):
        torch.manual_seed(1)   # same dropout mask
        out = model(mels)
        out.square().sum().backward()
        outputs.append(out)
    assert torch.equal(outputs[0], outputs[1])
    assert all(torch.equal(a.grad, b.grad) and a.grad.abs().sum() > 0
               for a, b in zip(tower.parameters(), won.parameters()))


# ---- a sentence tower the model can carry (a stand-in for the real one) ---------------------

FAKE_PACKAGE = {"version": "1.0", "sha256": "a" * 64}


@dataclass
class FakeSentenceConfig:
    type: str = "test_hashing"
    joint_dim: int = 32

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def problems(self, prefix: str = "towers.sentence") -> list[str]:
        return [] if self.joint_dim >= 1 else [f"{prefix}.joint_dim must be ≥ 1"]


class FakeSentenceTower(nn.Module):
    """Character counts → linear map: enough to check the model's plumbing."""
    config_class = FakeSentenceConfig

    def __init__(self, config: FakeSentenceConfig):
        super().__init__()
        self.config = config
        self.linear = nn.Linear(26, config.joint_dim)

    def external_refs(self) -> dict:
        return {"text_model": {"package": "fake-text-model", **FAKE_PACKAGE}}

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        counts = torch.tensor([[t.lower().count(chr(97 + i)) for i in range(26)] for t in texts],
                              dtype=torch.float32)
        return self.linear(counts).numpy()


@pytest.fixture()
def sentence_model(monkeypatch):
    monkeypatch.setitem(TOWER_TYPES["sentence"], "test_hashing", FakeSentenceTower)
    config = tiny_model_config()
    config.towers["sentence"] = FakeSentenceConfig()
    torch.manual_seed(0)
    return MusicSearchModel(config)


def test_encode_sentences_uses_the_sentence_tower_or_says_there_is_none(sentence_model,
                                                                        tiny_model):
    vectors = sentence_model.encode_sentences(["a pub session in Dublin", "a slow air"])
    assert vectors.shape == (2, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    assert sentence_model.has_tower("sentence") and not tiny_model.has_tower("sentence")
    with pytest.raises(MissingTower, match=r"no sentence tower \(it has: audio, word\)"):
        tiny_model.encode_sentences(["a pub session"])


def test_a_changed_external_model_is_refused_and_changes_the_fingerprint(sentence_model,
                                                                         tmp_path, monkeypatch):
    fingerprint = save_bundle(sentence_model, tmp_path / "model")
    recorded = json.loads((tmp_path / "model" / "config.json").read_text())["external"]
    assert recorded == {"sentence.text_model": {"package": "fake-text-model", **FAKE_PACKAGE}}
    loaded = load_bundle(tmp_path / "model")
    assert loaded.fingerprint == fingerprint
    np.testing.assert_array_equal(loaded.encode_sentences(["jig"]),
                                  sentence_model.encode_sentences(["jig"]))
    monkeypatch.setitem(FAKE_PACKAGE, "sha256", "b" * 64)   # its weights changed on disk
    message = r"external model sentence.text_model changed since the bundle was saved " \
              r"\(sha256 'a+' → 'b+'\)"
    with pytest.raises(BundleError, match=message) as caught:
        load_bundle(tmp_path / "model")
    assert "\n" not in str(caught.value)
    assert save_bundle(sentence_model, tmp_path / "other") != fingerprint


# ---- side files -----------------------------------------------------------------------------

def test_side_files_are_carried_checked_and_fingerprinted(tiny_model, tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("fiddle 0.1 0.2\n")
    plain = save_bundle(tiny_model, tmp_path / "plain")
    fingerprint = save_bundle(tiny_model, tmp_path / "model", side_files={"vectors.txt": vectors})
    assert fingerprint != plain
    saved = json.loads((tmp_path / "model" / "config.json").read_text())["side_files"]
    assert set(saved) == {"vectors.txt"} and len(saved["vectors.txt"]) == 64
    loaded = load_bundle(tmp_path / "model")
    assert loaded.fingerprint == fingerprint
    assert loaded.bundle_side_files["vectors.txt"].read_text() == "fiddle 0.1 0.2\n"
    # saving a loaded model again keeps its side files (the old folder is replaced)
    assert save_bundle(loaded, tmp_path / "model") == fingerprint
    assert load_bundle(tmp_path / "model").bundle_side_files["vectors.txt"].is_file()

    (tmp_path / "model" / "files" / "vectors.txt").write_text("fiddle 0.1 0.3\n")
    with pytest.raises(BundleError, match="side file files/vectors.txt changed since the "
                                          "bundle was saved") as caught:
        load_bundle(tmp_path / "model")
    assert "\n" not in str(caught.value)
    (tmp_path / "model" / "files" / "vectors.txt").unlink()
    with pytest.raises(BundleError, match="side file files/vectors.txt is missing"):
        load_bundle(tmp_path / "model")
    with pytest.raises(BundleError, match="must be a plain file name"):
        save_bundle(tiny_model, tmp_path / "bad", side_files={"../x": vectors})


# ---- a format-1 bundle: the first shipped default -------------------------------------------
# models/tag-demo-v1 shipped until 2026-12; its users' collections recorded its fingerprint.
FORMAT_1 = Path(__file__).resolve().parent.parent / "models" / "tag-demo-v1"


def test_the_first_default_a_format_1_bundle_loads_with_its_recorded_fingerprint_and_vectors(
        tmp_path):
    folder = FORMAT_1
    raw = json.loads((folder / "config.json").read_text())
    assert raw["format_version"] == 1 and "audio" in raw["model"]   # the old layout
    model = load_bundle(folder)
    # the fingerprint its collections recorded (the bundle's model card, written at save)
    recorded = re.search(r"model `([0-9a-f]{16})`", (folder / "README.md").read_text())[1]
    assert model.fingerprint == recorded
    # the same numbers as towers built straight from the format-1 files, without translation
    weights = load_file(str(folder / "model.safetensors"))
    audio = ShortChunkCNN(AudioTowerConfig(**raw["model"]["audio"])).eval()
    audio.load_state_dict({k[len("audio_tower."):]: v for k, v in weights.items()
                           if k.startswith("audio_tower.")})
    word_config = {k: v for k, v in raw["model"]["word"].items() if k != "word_dim"}
    word = WordTower(WordTowerConfig(**word_config)).eval()
    word.load_state_dict({k[len("word_tower."):]: v for k, v in weights.items()
                          if k.startswith("word_tower.")})
    chunks = np.random.default_rng(0).normal(-30, 10, (3, 128, 232)).astype(np.float32)
    with torch.no_grad():
        direct = audio(torch.from_numpy(chunks)).numpy()
        tag = word(torch.from_numpy(model.phrase_vector("fiddle")[None])).numpy()
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    np.testing.assert_allclose(model.encode_chunks(chunks), direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.encode_words(["fiddle"])[0], tag[0] / np.linalg.norm(tag),
                               rtol=1e-5, atol=1e-6)
    # saved again it is a format-2 bundle with the same vectors
    save_bundle(model, tmp_path / "v2")
    again = load_bundle(tmp_path / "v2")
    assert json.loads((tmp_path / "v2" / "config.json").read_text())["format_version"] == 2
    np.testing.assert_array_equal(again.encode_chunks(chunks), model.encode_chunks(chunks))
    np.testing.assert_array_equal(again.encode_text("fast fiddle jig")[0],
                                  model.encode_text("fast fiddle jig")[0])


def test_a_format_1_bundle_whose_word_dims_disagree_is_refused(tmp_path):
    broken = tmp_path / "old"
    shutil.copytree(FORMAT_1, broken)
    config = json.loads((broken / "config.json").read_text())
    config["model"]["word_vectors"]["dim"] = 300
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=re.escape("word.word_dim (50) must equal "
                                                    "word_vectors.dim (300)")):
        load_bundle(broken)
