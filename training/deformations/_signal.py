"""Small signal helpers shared by several deformations."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
from scipy.signal import resample_poly

__all__ = ["fit_length", "mean_power", "resample_by", "stretch"]


def fit_length(waveform: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad the end so that exactly `length` samples remain."""
    if waveform.size >= length:
        return waveform[:length]
    return np.pad(waveform, (0, length - waveform.size))


def mean_power(waveform: np.ndarray) -> float:
    return float(np.mean(np.square(waveform, dtype=np.float64)))


def resample_by(waveform: np.ndarray, ratio: float) -> np.ndarray:
    """Resample to `ratio` × as many samples (polyphase, anti-aliased).

    The ratio is taken as the nearest fraction with a denominator ≤ 1000 (relative error
    below 1e-6 for the ratios used here), which keeps the polyphase filter small."""
    fraction = Fraction(ratio).limit_denominator(1000)
    return resample_poly(waveform.astype(np.float64), fraction.numerator,
                         fraction.denominator)


def _fft_size(sample_rate: int) -> int:
    # ~64 ms frames: fine enough in frequency to keep tones clean at any sample rate.
    return 2 ** round(math.log2(0.064 * sample_rate))


def stretch(waveform: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Phase-vocoder time stretch: round(factor × length) samples, pitch unchanged."""
    import torchaudio.functional as F

    n_fft = _fft_size(sample_rate)
    hop = n_fft // 4
    # float64: the vocoder accumulates phase over every frame, float32 would drift audibly
    signal = torch.from_numpy(waveform.astype(np.float64))
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(signal, n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * hop, n_fft // 2 + 1, dtype=torch.float64)[:, None]
    stretched = F.phase_vocoder(spec, rate=1.0 / factor, phase_advance=advance)
    length = round(waveform.size * factor)
    return torch.istft(stretched, n_fft, hop, window=window, length=length).numpy()
