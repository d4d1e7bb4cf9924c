"""MusiCNN port: the converted weights against the original TensorFlow model, and the torch
front end against librosa. The references in tests/data/musicnn/reference.npz were computed by
the original musicnn 0.1.0 code (tests/data/musicnn/make_reference.py, TensorFlow 2.15.1,
librosa 0.11.0), once, in a throwaway environment."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from retrieval.frontend import AudioDecodeError
from retrieval.musicnn_frontend import (MusiCNNFrontendConfig, audio_to_musicnn_patches,
                                        musicnn_log_mel, musicnn_patches, slaney_mel_filters)
from retrieval.towers.musicnn import (WEIGHTS_DIR, MusiCNN, MusiCNNVGG, MusiCNNWeightsError,
                                     load_musicnn)

REFERENCE = Path(__file__).parent / "data" / "musicnn" / "reference.npz"
FLOAT16_STEP = np.log10(1 + 2.0 ** -10)   # one float16 rounding step of a mel energy, in log10


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return dict(data)


def _signal(reference) -> np.ndarray:
    return reference["signal"].astype(np.float32) / 32768


@pytest.mark.parametrize("weights, layers", [
    ("msd", ["penultimate", "mean_pool", "max_pool"]),
    ("mtt", ["penultimate", "mean_pool", "max_pool"]),
    ("msd_vgg", ["penultimate", "pool3"]),
    ("mtt_vgg", ["penultimate", "pool3"])])
def test_port_reproduces_tensorflow(reference, weights, layers):
    model = load_musicnn(weights)
    with torch.no_grad():
        out = model.features(torch.from_numpy(reference["patches"]))
    probabilities = out["probabilities"].numpy()
    expected = reference[f"{weights}_probabilities"]
    assert np.abs(probabilities - expected).max() < 1e-4
    # the references are informative: tags vary across patches and span a real range
    assert np.ptp(expected, axis=0).max() > 0.1 and expected.max() > 0.3
    for name in layers:   # layer by layer: relative error of each patch's whole output
        got = out[name].numpy().reshape(3, -1)
        want = reference[f"{weights}_{name}"].reshape(3, -1)
        relative = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
        assert relative.max() < 1e-3, (name, relative.max())
    assert len(model.tags) == 50 and not any(p.requires_grad for p in model.parameters())


def test_untrained_or_other_weights_do_not_pass(reference):
    """The parity check distinguishes weights: MTT's weights do not reproduce MSD's outputs."""
    model = load_musicnn("mtt")
    with torch.no_grad():
        probabilities, _ = model(torch.from_numpy(reference["patches"]))
    assert np.abs(probabilities.numpy() - reference["msd_probabilities"]).max() > 1e-2


def test_frontend_matches_librosa(reference):
    mel = musicnn_log_mel(_signal(reference))
    assert mel.shape == reference["log_mel"].shape == (376, 96)
    # float16 storage of the mel energies: at most one rounding step apart from librosa's
    assert np.abs(mel - reference["log_mel"]).max() <= FLOAT16_STEP
    exact = musicnn_log_mel(_signal(reference), MusiCNNFrontendConfig(round_to_float16=False))
    assert np.abs(exact - reference["log_mel"]).max() <= FLOAT16_STEP


def test_mel_filters_have_slaney_area_and_cover_the_band():
    filters = slaney_mel_filters(16000, 512, 96).astype(np.float64)
    hz = np.linspace(0, 8000, 257)
    areas = np.trapezoid(filters, hz, axis=1)
    # unit area up to sampling on 31.25 Hz bins (a peak between two bins is cut off)
    assert np.allclose(areas, 1.0, atol=0.1)
    assert np.allclose(areas[:30], 1.0, atol=1e-3)   # wide linear-scale bands: exact
    assert (filters.argmax(axis=1)[1:] >= filters.argmax(axis=1)[:-1]).all()


def test_patches_from_a_file_end_to_end(reference, tmp_path):
    """A stereo WAV file decodes, downmixes and patches like the in-memory signal."""
    signal = _signal(reference)
    path = tmp_path / "test.wav"
    soundfile.write(path, np.stack([signal, signal], axis=1), 16000)
    patches = audio_to_musicnn_patches(path)
    assert patches.shape == (2, 187, 96)
    assert np.abs(patches - reference["patches"][:2]).max() <= FLOAT16_STEP
    with torch.no_grad():   # audio → torch front end → port, against librosa → TensorFlow
        probabilities, _ = load_musicnn("msd")(torch.from_numpy(patches))
    assert np.abs(probabilities.numpy() - reference["msd_probabilities"][:2]).max() < 1e-4
    overlapping = musicnn_patches(reference["log_mel"], hop_frames=94)
    assert overlapping.shape == (3, 187, 96)
    assert np.array_equal(overlapping[1], reference["log_mel"][94:281])


def test_short_input_is_repeated_to_one_patch():
    mel = np.arange(100 * 96, dtype=np.float32).reshape(100, 96)
    patches = musicnn_patches(mel)
    assert patches.shape == (1, 187, 96)
    assert np.array_equal(patches[0, 100:], mel[:87])


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(AudioDecodeError, match="too short"):
        musicnn_log_mel(np.zeros(100, dtype=np.float32))
    with pytest.raises(AudioDecodeError, match="NaN"):
        musicnn_log_mel(np.full(1000, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(batch, frames, 96\)"):
        MusiCNN()(torch.zeros(1, 187, 128))
    with pytest.raises(ValueError, match=r"\(batch, 187, 96\)"):
        MusiCNNVGG()(torch.zeros(1, 180, 96))
    with pytest.raises(MusiCNNWeightsError, match="known: msd, mtt, msd_vgg, mtt_vgg"):
        load_musicnn("fma")
    with pytest.raises(MusiCNNWeightsError, match="cannot read"):
        load_musicnn("msd", tmp_path)
    tampered = tmp_path / "musicnn"
    shutil.copytree(WEIGHTS_DIR, tampered)
    data = bytearray((tampered / "msd.safetensors").read_bytes())
    data[-1] ^= 1
    (tampered / "msd.safetensors").write_bytes(bytes(data))
    with pytest.raises(MusiCNNWeightsError, match="sha256"):
        load_musicnn("msd", tampered)


def test_fast_eval_path_matches_tensorflow_layer_order():
    """The eval shortcut (max over frequency before ReLU and BN) against the plain layers, on
    random weights with BN scales of both signs; training always uses the plain layers."""
    torch.manual_seed(0)
    model = MusiCNN()
    for block in [*model.timbral, *model.temporal]:
        block.bn.weight.data.normal_()              # about half the channels decreasing
        block.bn.running_mean.data.normal_(0, 0.1)
        block.bn.running_var.data.uniform_(0.5, 2)
    assert min((b.bn.weight < 0).float().mean() for b in model.timbral) > 0.3
    patches = torch.randn(2, 187, 96)
    model.eval()
    with torch.no_grad():
        fast = model.features(patches)
        model.fast_eval = False
        plain = model.features(patches)
    for name in ("timbral", "temporal", "penultimate", "probabilities"):
        assert torch.allclose(fast[name], plain[name], atol=1e-5, rtol=1e-5), name
    model.fast_eval = True
    before = model.timbral[0].bn.running_mean.clone()
    model.train()
    model.features(patches)   # the plain layers: batch statistics, running stats updated
    assert not torch.equal(model.timbral[0].bn.running_mean, before)
