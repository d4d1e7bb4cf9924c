"""Audio front end on real files: decoding formats, mono, resampling, log-mel, chunks, cache."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from retrieval.feature_cache import FeatureCache
from retrieval.frontend import (AudioDecodeError, FrontendConfig, audio_to_mel, chunk_mel,
                                load_audio)

CONFIG = FrontendConfig()


def _stereo(seconds=3.0, rate=44100):
    t = np.arange(int(seconds * rate)) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([left, 0.25 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32), rate


@pytest.mark.parametrize("extension, fmt", [("wav", "WAV"), ("flac", "FLAC"), ("ogg", "OGG"),
                                            ("mp3", "MP3")])
def test_decode_formats_to_mono_16k(tmp_path, extension, fmt):
    data, rate = _stereo()
    path = tmp_path / f"tone.{extension}"
    soundfile.write(path, data, rate, format=fmt)
    audio = load_audio(path, 16000)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert abs(len(audio) - 3.0 * 16000) < 0.05 * 16000   # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(audio[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 2              # resampled, pitch preserved


def test_log_mel_shape_and_chunks(tmp_path):
    data, rate = _stereo(seconds=10.0)
    path = tmp_path / "tone.wav"
    soundfile.write(path, data, rate)
    mel = audio_to_mel(path, CONFIG)
    assert mel.shape[0] == 128 and abs(mel.shape[1] - 10 * 16000 / 256) < 3
    chunks = chunk_mel(mel, CONFIG.chunk_frames)
    assert chunks.shape == (mel.shape[1] // CONFIG.chunk_frames, 128, CONFIG.chunk_frames)
    assert chunk_mel(mel, CONFIG.chunk_frames, max_chunks=2).shape[0] == 2
    short = chunk_mel(mel[:, :50], CONFIG.chunk_frames)         # padded by repetition
    assert short.shape == (1, 128, CONFIG.chunk_frames)


@pytest.mark.parametrize("content", [b"RIFF\x00\x00garbage" * 10, bytes(range(256)) * 40])
def test_corrupt_audio_raises_one_clear_error(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match="broken.wav"):
        load_audio(path, 16000)
    with pytest.raises(AudioDecodeError, match="not found"):
        load_audio(tmp_path / "missing.wav", 16000)


def test_feature_cache_is_keyed_by_content_and_params(tmp_path):
    data, rate = _stereo()
    first, moved = tmp_path / "a.wav", tmp_path / "b.wav"
    soundfile.write(first, data, rate)
    moved.write_bytes(first.read_bytes())
    cache = FeatureCache(tmp_path / "cache", CONFIG)
    mel = cache.mel(first)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1
    np.testing.assert_allclose(cache.mel(moved), mel, atol=0.05)   # same content: a hit
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1
    other = FeatureCache(tmp_path / "cache", FrontendConfig(n_mels=64))
    assert other.mel(first).shape[0] == 64                         # other params: a miss
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


def test_empty_file_says_so(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty.mp3: the file is empty"):
        load_audio(path, 16000)
