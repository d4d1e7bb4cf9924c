"""Audio front end: decode → mono → resample → log-mel → fixed-length chunks.

Decoding is soundfile (wav, flac, ogg, mp3 through libsndfile); resampling and the mel
filterbank are torchaudio. Won's short-chunk models use 16 kHz, a 512-point FFT with 50 %
overlap and 128 mel bands up to 8 kHz; chunks of ~3.7 s (research/seed-001 §1.3).

Every input a user can hand in is checked here, before torch sees it: files are read
block by block (at most `max_seconds`, downmixed as they arrive, so neither a 3-hour file
nor a 64-channel one is held whole), sample rates outside 1–768 kHz, NaN/inf samples and
audio shorter than one FFT frame raise AudioDecodeError, and float audio louder than
full scale is scaled down to a peak of 1 (a logged warning when it was far above).
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile
import torch
import torchaudio

from .resample import StreamResampler
from .sections import chunk_offsets

__all__ = ["FrontendConfig", "AudioDecodeError", "AudioTooShort", "load_audio", "log_mel",
           "chunk_mel", "audio_to_mel", "waveform_to_mel", "to_mono_resampled",
           "AUDIO_EXTENSIONS", "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MIN_SAMPLE_RATE = 1_000      # below this no music survives (Nyquist 500 Hz)
MAX_SAMPLE_RATE = 768_000    # the highest PCM rate of audio hardware
BLOCK_SAMPLES = 1 << 20      # samples (all channels together) decoded per block
OVERSHOOT = 2.0              # peaks up to this are lossy-decoder overshoot, not a wrong scale
SAFE_PEAK = 1e30             # resampling sums ≤ ~1,000 taps of this in float32 (max 3.4e38)

log = logging.getLogger(__name__)


class AudioDecodeError(ValueError):
    """Audio that cannot be used: missing, corrupt, empty, too short, non-finite or
    unsupported."""


class AudioTooShort(AudioDecodeError):
    """Audio that decodes but is shorter than one analysis frame: the format is fine, so
    callers should not suggest another one."""


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

    def __post_init__(self):
        checks = [
            (MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE,
             f"sample_rate {self.sample_rate} is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz"),
            (self.n_fft >= 2, f"n_fft must be ≥ 2, got {self.n_fft}"),
            (self.hop_length >= 1, f"hop_length must be ≥ 1, got {self.hop_length}"),
            (self.n_mels >= 1, f"n_mels must be ≥ 1, got {self.n_mels}"),
            (0.0 <= self.f_min < self.f_max <= self.sample_rate / 2,
             f"need 0 ≤ f_min < f_max ≤ sample_rate / 2 = {self.sample_rate / 2:g} Hz, got "
             f"f_min {self.f_min:g} and f_max {self.f_max:g}"),
            (self.chunk_frames >= 1, f"chunk_frames must be ≥ 1, got {self.chunk_frames}"),
            (math.isfinite(self.max_seconds) and self.max_seconds >= self.min_seconds,
             f"max_seconds must be a finite number ≥ {self.min_seconds:g} (one FFT frame), "
             f"got {self.max_seconds:g}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FrontendConfig":
        return cls(**data)

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_frames * self.hop_length / self.sample_rate

    @property
    def min_seconds(self) -> float:
        """The shortest usable audio: one FFT frame."""
        return self.n_fft / max(self.sample_rate, 1)   # max: also while validating rate 0


def _too_short(seconds: float, min_seconds: float, name: str) -> AudioTooShort:
    return AudioTooShort(f"{name} is too short ({seconds * 1000:.3g} ms, "
                            f"need ≥ {min_seconds * 1000:.3g} ms)")


def _read_blocks(handle: soundfile.SoundFile, frames: int, name: str) -> Iterator[np.ndarray]:
    """(frames, channels) float blocks, stopping early where a damaged file ends.

    64-bit float files are read as float64, so that values beyond float32's range (1e300)
    stay finite and can be scaled; soundfile's own `blocks` would pad a short read with
    stale memory.
    """
    dtype = "float64" if handle.subtype == "DOUBLE" else "float32"
    size = max(4096, BLOCK_SAMPLES // handle.channels)
    first = True
    while frames > 0:
        try:
            if first:   # a second pass (see _to_full_scale) starts over
                handle.seek(0)
                first = False
            block = handle.read(min(size, frames), dtype=dtype, always_2d=True)
        except Exception as error:  # libsndfile raises several types; all mean "unreadable"
            raise AudioDecodeError(f"cannot decode {name}: {error}") from None
        if len(block) == 0:
            return
        yield block
        frames -= len(block)


def _resampled_mono(blocks: Iterator[np.ndarray], source_rate: int, sample_rate: int,
                    name: str, scale: float = 1.0) -> tuple[np.ndarray | None, float, int]:
    """(mono at `sample_rate`, peak of the scaled input, frames read).

    The mono output is None when the peak is too large for float32 arithmetic: the caller
    then reads again with a scale, since it only knows the peak at the end.
    """
    resampler, parts, peak, frames = StreamResampler(source_rate, sample_rate), [], 0.0, 0
    for block in blocks:
        frames += len(block)
        block_peak = float(np.abs(block).max()) * scale   # NaN and inf propagate into it
        if not math.isfinite(block_peak):
            raise AudioDecodeError(f"{name} contains NaN or infinite samples")
        peak = max(peak, block_peak)
        if peak <= SAFE_PEAK:
            if scale != 1.0:
                block = block * scale
            parts.append(resampler.push(block[:, 0] if block.shape[1] == 1
                                        else block.mean(axis=1)))
    if peak > SAFE_PEAK:
        return None, peak, frames
    parts.append(resampler.finish())
    return np.concatenate(parts).astype(np.float32, copy=False), peak, frames


def _to_full_scale(decode, name: str) -> tuple[np.ndarray, int]:
    """Run `decode(scale)` and bring a peak above 1 (float audio only) down to 1.

    Normalised rather than clipped: clipping a float file written at the wrong scale
    (e.g. ±32768) would leave a square wave. Resampling is linear, so scaling its output
    equals scaling its input, and only absurd peaks cost a second decode.
    """
    mono, peak, frames = decode(1.0)
    if peak > 1.0:
        # Lossy decoders overshoot full scale a little on loud masters: normal, so quiet;
        # far above it the file's scale is wrong, and the user should hear about it.
        level = logging.WARNING if peak > OVERSHOOT else logging.DEBUG
        log.log(level, "%s: peak %.3g is above full scale; scaled to a peak of 1", name, peak)
        mono = decode(1.0 / peak)[0] if mono is None else mono / np.float32(peak)
    return mono, frames


def load_audio(path: str | Path, sample_rate: int, max_seconds: float | None = None,
               min_seconds: float = 0.0) -> np.ndarray:
    """Decode a file to mono float32 at `sample_rate`, at most `max_seconds` of it.

    Raises AudioDecodeError on any failure, including audio shorter than `min_seconds`.
    Float audio with a peak above 1 is scaled to a peak of 1 (logged).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"audio file not found: {path}")
    if path.stat().st_size == 0:  # libsndfile's message for this one is misleading
        raise AudioDecodeError(f"cannot decode {path.name}: the file is empty")
    try:
        # bytes: soundfile encodes a str path strictly, which fails on non-UTF-8 file names
        handle = soundfile.SoundFile(os.fsencode(path))
    except Exception as error:  # libsndfile raises several types; all mean "unreadable"
        raise AudioDecodeError(f"cannot decode {path.name}: {error}") from None
    with handle:
        rate = handle.samplerate
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise AudioDecodeError(f"cannot use {path.name}: sample rate {rate} Hz is outside "
                                   f"the supported {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz")
        frames = handle.frames
        if max_seconds is not None:
            frames = min(frames, math.ceil(max_seconds * rate))
        if frames == 0:
            raise AudioDecodeError(f"no audio samples in {path.name}")
        if frames < min_seconds * rate:   # known from the header: nothing decoded yet
            raise _too_short(frames / rate, min_seconds, path.name)
        mono, read = _to_full_scale(lambda scale: _resampled_mono(
            _read_blocks(handle, frames, path.name), rate, sample_rate, path.name, scale),
            str(path))
    if read == 0:                         # a damaged file can end before its header says
        raise AudioDecodeError(f"no audio samples in {path.name}")
    if read < min_seconds * rate:
        raise _too_short(read / rate, min_seconds, path.name)
    return mono


def to_mono_resampled(data: np.ndarray, source_rate: int, sample_rate: int,
                      name: str = "the waveform") -> np.ndarray:
    """(frames, channels) or (frames,) array → mono float32 at `sample_rate`, with the
    same checks and scaling as files get."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim not in (1, 2) or data.size == 0:
        raise AudioDecodeError(f"{name}: expected a non-empty (frames,) or (frames, channels) "
                               f"array, got shape {data.shape}")
    if not MIN_SAMPLE_RATE <= source_rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(f"{name}: sample rate {source_rate} Hz is outside the "
                               f"supported {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz")
    data = data.reshape(len(data), -1)
    return _to_full_scale(lambda scale: _resampled_mono(iter([data]), source_rate, sample_rate,
                                                        name, scale), name)[0]


# Won's 512-point FFT with 128 bands leaves a few of the lowest bands without an FFT bin;
# that is the published setting, so torchaudio's warning about it is silenced (by message,
# process-wide: a catch_warnings block is not thread-safe and feature threads race on it).
warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")


@lru_cache(maxsize=4)
def _mel_transform(config: FrontendConfig) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
        n_mels=config.n_mels, f_min=config.f_min, f_max=config.f_max, power=2.0)


def checked_waveform(waveform: np.ndarray, n_fft: int, sample_rate: int,
                     name: str = "the audio") -> np.ndarray:
    """Contiguous mono float32 of at least one FFT frame with finite samples, else
    AudioDecodeError."""
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise AudioDecodeError(f"{name}: expected a mono waveform, got shape {waveform.shape}")
    if len(waveform) < n_fft:
        raise _too_short(len(waveform) / sample_rate, n_fft / sample_rate, name)
    if not np.isfinite(waveform).all():
        raise AudioDecodeError(f"{name} contains NaN or infinite samples")
    return waveform


def log_mel(waveform: np.ndarray, config: FrontendConfig, name: str = "the audio") -> np.ndarray:
    """Mono waveform at config.sample_rate → (n_mels, frames) float32 log-mel in dB
    (10·log10, floored at 1e-10). Raises AudioDecodeError for a waveform shorter than one
    FFT frame or with NaN/inf samples."""
    waveform = checked_waveform(waveform, config.n_fft, config.sample_rate, name)
    with torch.no_grad():
        mel = _mel_transform(config)(torch.from_numpy(waveform))
        return (10.0 * torch.log10(mel.clamp_min(1e-10))).numpy().astype(np.float32)


def chunk_mel(mel: np.ndarray, chunk_frames: int, max_chunks: int | None = None) -> np.ndarray:
    """(n_mels, T) → (n_chunks, n_mels, chunk_frames), evenly spread over the file.

    Short inputs are padded by repetition so every file gives at least one chunk. With
    `max_chunks`, chunks are taken at evenly spaced offsets (Won averages 8 per song).
    """
    n_mels, total = mel.shape
    if total == 0 or chunk_frames < 1 or (max_chunks is not None and max_chunks < 1):
        raise ValueError(f"cannot chunk a log-mel of {total} frames into {chunk_frames}-frame "
                         f"chunks (max_chunks {max_chunks})")
    if total < chunk_frames:
        repeats = int(np.ceil(chunk_frames / total))
        mel = np.tile(mel, (1, repeats))[:, :chunk_frames]
        total = chunk_frames
    starts = chunk_offsets(total, chunk_frames, max_chunks)
    return np.stack([mel[:, s:s + chunk_frames] for s in starts]).astype(np.float32)


def audio_to_mel(path: str | Path, config: FrontendConfig) -> np.ndarray:
    """Decode and transform one file to its full log-mel (n_mels, frames)."""
    waveform = load_audio(path, config.sample_rate, config.max_seconds, config.min_seconds)
    return log_mel(waveform, config, Path(path).name)


def waveform_to_mel(data: np.ndarray, source_rate: int, config: FrontendConfig,
                    name: str = "the waveform") -> np.ndarray:
    """An in-memory waveform ((frames,) or (frames, channels), any supported rate) → its
    full log-mel, through the same checks as a file."""
    return log_mel(to_mono_resampled(data, source_rate, config.sample_rate, name), config, name)
