"""Audio front end: decode → mono → resample → log-mel → fixed-length chunks.

Decoding is soundfile (wav, flac, ogg, mp3 through libsndfile); resampling and the mel
filterbank are torchaudio. Won's short-chunk models use 16 kHz, a 512-point FFT with 50 %
overlap and 128 mel bands up to 8 kHz; chunks of ~3.7 s (research/seed-001 §1.3).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

__all__ = ["FrontendConfig", "AudioDecodeError", "load_audio", "log_mel", "chunk_mel",
           "audio_to_mel", "AUDIO_EXTENSIONS"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


class AudioDecodeError(ValueError):
    """A file that cannot be decoded as audio (missing, corrupt, empty or unsupported)."""


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 8000.0
    chunk_frames: int = 232          # ≈ 3.7 s at 16 kHz / hop 256
    max_seconds: float = 600.0       # longer files are truncated: a song vector needs no more

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FrontendConfig":
        return cls(**data)

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_frames * self.hop_length / self.sample_rate


def load_audio(path: str | Path, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Decode a file to mono float32 at `sample_rate`. Raises AudioDecodeError on any failure."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"audio file not found: {path}")
    if path.stat().st_size == 0:  # libsndfile's message for this one is misleading
        raise AudioDecodeError(f"cannot decode {path.name}: the file is empty")
    try:
        info = soundfile.info(str(path))
        frames = -1 if max_seconds is None else int(max_seconds * info.samplerate)
        data, source_rate = soundfile.read(str(path), frames=frames, dtype="float32",
                                           always_2d=True)
    except Exception as error:  # libsndfile raises several types; all mean "unreadable"
        raise AudioDecodeError(f"cannot decode {path.name}: {error}") from None
    if data.size == 0:
        raise AudioDecodeError(f"no audio samples in {path.name}")
    return to_mono_resampled(data, source_rate, sample_rate)


def to_mono_resampled(data: np.ndarray, source_rate: int, sample_rate: int) -> np.ndarray:
    """(frames, channels) or (frames,) float array → mono float32 at `sample_rate`."""
    mono = data.mean(axis=1) if data.ndim == 2 else data
    if not np.isfinite(mono).all():
        raise AudioDecodeError("audio contains NaN or infinite samples")
    if source_rate != sample_rate:
        tensor = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
        mono = torchaudio.functional.resample(tensor, source_rate, sample_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


# Won's 512-point FFT with 128 bands leaves a few of the lowest bands without an FFT bin;
# that is the published setting, so torchaudio's warning about it is silenced (by message,
# process-wide: a catch_warnings block is not thread-safe and feature threads race on it).
warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")


@lru_cache(maxsize=4)
def _mel_transform(config: FrontendConfig) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
        n_mels=config.n_mels, f_min=config.f_min, f_max=config.f_max, power=2.0)


def log_mel(waveform: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Mono waveform → (n_mels, frames) float32 log-mel in dB (10·log10, floored at 1e-10)."""
    with torch.no_grad():
        mel = _mel_transform(config)(torch.from_numpy(waveform))
        return (10.0 * torch.log10(mel.clamp_min(1e-10))).numpy().astype(np.float32)


def chunk_mel(mel: np.ndarray, chunk_frames: int, max_chunks: int | None = None) -> np.ndarray:
    """(n_mels, T) → (n_chunks, n_mels, chunk_frames), evenly spread over the file.

    Short inputs are padded by repetition so every file gives at least one chunk. With
    `max_chunks`, chunks are taken at evenly spaced offsets (Won averages 8 per song).
    """
    n_mels, total = mel.shape
    if total < chunk_frames:
        repeats = int(np.ceil(chunk_frames / max(total, 1)))
        mel = np.tile(mel, (1, repeats))[:, :chunk_frames]
        total = chunk_frames
    n_chunks = total // chunk_frames
    if max_chunks is not None and n_chunks > max_chunks:
        starts = np.linspace(0, total - chunk_frames, max_chunks).astype(int)
    else:
        starts = np.arange(n_chunks) * chunk_frames
    return np.stack([mel[:, s:s + chunk_frames] for s in starts]).astype(np.float32)


def audio_to_mel(path: str | Path, config: FrontendConfig) -> np.ndarray:
    """Decode and transform one file to its full log-mel (n_mels, frames)."""
    return log_mel(load_audio(path, config.sample_rate, config.max_seconds), config)
