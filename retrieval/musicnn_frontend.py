"""The log-mel front end MusiCNN was trained on, in torch (no librosa at run time).

As the `musicnn` 0.1.0 extractor computes it: 16 kHz mono, 512-sample Hann frames (periodic),
hop 256, centred frames with zero padding (librosa ≥ 0.10's default), power spectrum, 96 mel
bands with Slaney's mel scale and area-normalised filters (librosa's defaults), the mel energies
rounded to float16 (the extractor stores them so) and then log10(1 + 10000·x); 187-frame (3 s)
patches. Decoding and resampling are the project's (retrieval.frontend.load_audio), not
librosa's, so whole-file tags can differ slightly from the original package's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .frontend import checked_waveform, load_audio

__all__ = ["MusiCNNFrontendConfig", "slaney_mel_filters", "musicnn_log_mel", "musicnn_patches",
           "audio_to_musicnn_patches"]


@dataclass(frozen=True)
class MusiCNNFrontendConfig:
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    patch_frames: int = 187          # librosa.time_to_frames(3 s) + 1, as the extractor
    round_to_float16: bool = True    # the extractor's float16 storage step
    max_seconds: float = 600.0

    def to_dict(self) -> dict:
        return asdict(self)


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4)."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz < 1000.0, hz * 3.0 / 200.0,
                    15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step)


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    log_step = np.log(6.4) / 27.0
    return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(log_step * (mel - 15.0)))


@lru_cache(maxsize=4)
def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters from 0 Hz to Nyquist, each scaled by
    2 / its width in Hz so every band has the same area."""
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _slaney_mel_to_hz(np.linspace(0.0, float(_hz_to_slaney_mel(sample_rate / 2.0)),
                                          n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_hz - lower) / (centre - lower)
    falling = (upper - fft_hz) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))
    return filters.astype(np.float32)


def musicnn_log_mel(waveform: np.ndarray, config: MusiCNNFrontendConfig | None = None,
                    name: str = "the audio") -> np.ndarray:
    """Mono float waveform at config.sample_rate → (frames, n_mels) float32, time-major like
    the original. Raises AudioDecodeError for non-mono, too-short or non-finite input."""
    config = config or MusiCNNFrontendConfig()
    waveform = checked_waveform(waveform, config.n_fft, config.sample_rate, name)
    filters = torch.from_numpy(slaney_mel_filters(config.sample_rate, config.n_fft,
                                                  config.n_mels))
    with torch.no_grad():
        spectrum = torch.stft(torch.from_numpy(waveform), config.n_fft, config.hop_length,
                              window=torch.hann_window(config.n_fft), center=True,
                              pad_mode="constant", return_complex=True)
        mel = filters @ spectrum.abs().square()                      # (n_mels, frames)
        if config.round_to_float16:
            mel = mel.half().float()
        return torch.log10(1.0 + 10000.0 * mel).T.contiguous().numpy()


def musicnn_patches(log_mel: np.ndarray, patch_frames: int = 187,
                    hop_frames: int | None = None) -> np.ndarray:
    """(frames, n_mels) → (n, patch_frames, n_mels): patches from frame 0 every hop_frames
    (default: back to back, as the extractor), dropping an incomplete tail. Input shorter than
    one patch is repeated to fill it (the models were trained with repeat-padding)."""
    if log_mel.ndim != 2 or len(log_mel) == 0:
        raise ValueError(f"expected a (frames, bands) log-mel, got shape {log_mel.shape}")
    hop_frames = hop_frames or patch_frames
    if len(log_mel) < patch_frames:
        log_mel = np.tile(log_mel, (-(-patch_frames // len(log_mel)), 1))[:patch_frames]
    starts = range(0, len(log_mel) - patch_frames + 1, hop_frames)
    return np.stack([log_mel[s:s + patch_frames] for s in starts]).astype(np.float32)


def audio_to_musicnn_patches(path: str | Path, config: MusiCNNFrontendConfig | None = None,
                             hop_frames: int | None = None) -> np.ndarray:
    """Decode one file (any supported rate, resampled to 16 kHz) to its MusiCNN patches."""
    config = config or MusiCNNFrontendConfig()
    waveform = load_audio(path, config.sample_rate, config.max_seconds,
                          config.n_fft / config.sample_rate)
    mel = musicnn_log_mel(waveform, config, Path(path).name)
    return musicnn_patches(mel, config.patch_frames, hop_frames)
