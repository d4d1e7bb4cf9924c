"""Model bundle round trip, text encoding (multi-word tags, unknown words), audio encoding."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.model import NonFiniteOutput
from retrieval.query import QueryError, parse_query


def test_save_load_round_trip_gives_identical_encodings(tiny_model, tiny_audio, tmp_path):
    folder, records = tiny_audio
    save_bundle(tiny_model, tmp_path / "copy")
    again = load_bundle(tmp_path / "copy")
    assert again.fingerprint == tiny_model.fingerprint
    path = folder / records[0].path
    np.testing.assert_array_equal(again.encode_audio(path), tiny_model.encode_audio(path))
    np.testing.assert_array_equal(again.encode_text("fast violin")[0],
                                  tiny_model.encode_text("fast violin")[0])
    assert {p.name for p in (tmp_path / "copy").iterdir()} == {"config.json", "model.safetensors",
                                                           "README.md"}
    assert "musicsearch model" in (tmp_path / "copy" / "README.md").read_text()


def test_fingerprint_changes_with_weights(tiny_model, tmp_path):
    with torch.no_grad():
        tiny_model.word_tower.mlp[0].weight.add_(0.01)
    save_bundle(tiny_model, tmp_path / "changed")
    assert load_bundle(tmp_path / "changed").fingerprint != tiny_model.fingerprint


def test_not_a_bundle_and_mismatched_weights(tiny_bundle, tmp_path):
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    config = json.loads((tiny_bundle / "config.json").read_text())
    config["model"]["towers"]["audio"]["channels"] = [8] * 7
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "model.safetensors").write_bytes((tiny_bundle / "model.safetensors").read_bytes())
    with pytest.raises(BundleError, match="do not match"):
        load_bundle(broken)


def test_vectors_are_unit_norm_and_audio_song_vector_is_mean_of_chunks(tiny_model, tiny_audio):
    folder, records = tiny_audio
    from retrieval.frontend import audio_to_mel
    mel = audio_to_mel(folder / records[1].path, tiny_model.config.frontend)
    song, chunks = tiny_model.encode_mel(mel)
    assert np.linalg.norm(song) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(chunks, axis=1), 1.0, atol=1e-5)
    mean = chunks.mean(axis=0)
    np.testing.assert_allclose(song, mean / np.linalg.norm(mean), atol=1e-5)


def test_text_queries_handle_multiword_tags_and_unknown_words(tiny_model):
    tiny_model.config.tags = ["string quartet", "fast"]
    vector, parsed = tiny_model.encode_text("A fast string quartet, zzqxv!")
    assert parsed.terms == ["fast", "string quartet"] and parsed.unknown == ["zzqxv"]
    assert vector.shape == (32,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    # a word never seen in training still lands in the joint space (zero-shot)
    assert tiny_model.encode_text("banjo")[1].terms == ["banjo"]
    with pytest.raises(QueryError, match="no known words"):
        tiny_model.encode_text("zzqxv qqwwee")
    with pytest.raises(QueryError, match="empty query"):
        tiny_model.encode_text("   ")


def test_parse_query_drops_stop_words():
    parsed = parse_query("some music with a fiddle", set(), lambda w: True)
    assert parsed.terms == ["fiddle"]


# ---- never a NaN vector: broken weights raise instead (hardening issue) ---------------------

def _break(model, value: float) -> None:
    """Overwrite the last layer of both towers, as a diverged training run leaves them."""
    with torch.no_grad():
        model.audio_tower.projection[-1].weight.fill_(value)
        model.word_tower.mlp[-1].weight.fill_(value)


@pytest.mark.parametrize("value", [float("nan"), 3e38])   # NaN, and finite but overflowing
def test_encoders_raise_instead_of_returning_non_finite_vectors(tiny_model, tiny_audio, value):
    folder, records = tiny_audio
    _break(tiny_model, value)
    with pytest.raises(NonFiniteOutput, match=records[0].path.split("/")[-1]):
        tiny_model.encode_audio(folder / records[0].path)
    with pytest.raises(NonFiniteOutput, match="NaN or infinite"):
        tiny_model.encode_text("fast violin")


def test_huge_but_finite_vectors_still_normalise_to_unit_length():
    from retrieval.model import l2_normalize
    vector = np.full(8, 1e25, dtype=np.float32)     # its float32 square overflows
    assert np.linalg.norm(l2_normalize(vector)) == pytest.approx(1.0, abs=1e-6)


def test_a_bundle_with_nan_weights_is_refused_at_load(tiny_model, tmp_path):
    _break(tiny_model, float("nan"))
    save_bundle(tiny_model, tmp_path / "diverged")
    with pytest.raises(BundleError, match="NaN or infinite weights"):
        load_bundle(tmp_path / "diverged")


def test_non_finite_log_mel_is_refused(tiny_model):
    from retrieval.frontend import AudioDecodeError
    mel = np.zeros((128, 300), dtype=np.float32)
    mel[3, 7] = np.inf                                # e.g. a cache written by an old version
    with pytest.raises(AudioDecodeError, match="NaN or infinite"):
        tiny_model.encode_mel(mel)
    with pytest.raises(AudioDecodeError, match=r"expected a \(128, frames\) log-mel"):
        tiny_model.encode_mel(np.zeros((64, 300), dtype=np.float32))


@pytest.mark.parametrize("section, key, value, message", [
    (None, "max_chunks", 0, "max_chunks must be ≥ 1"),
    ("frontend", "chunk_frames", 10, "frontend.n_mels and frontend.chunk_frames must be ≥ 128"),
    ("frontend", "hop_length", 0, "hop_length must be ≥ 1"),
])
def test_a_bundle_config_that_cannot_encode_is_refused_at_load(tiny_bundle, tmp_path, section,
                                                               key, value, message):
    broken = tmp_path / "broken"
    broken.mkdir()
    config = json.loads((tiny_bundle / "config.json").read_text())
    (config["model"] if section is None else config["model"][section])[key] = value
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "model.safetensors").write_bytes((tiny_bundle / "model.safetensors").read_bytes())
    with pytest.raises(BundleError, match=re.escape(message)):
        load_bundle(broken)
