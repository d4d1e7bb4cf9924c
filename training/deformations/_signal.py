"""Small signal helpers shared by several deformations."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import correlate, resample_poly

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


def _frame_size(sample_rate: int) -> int:
    # ~64 ms frames: longer than the period of any musical fundamental worth keeping.
    return 2 ** round(math.log2(0.064 * sample_rate))


def stretch(waveform: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """WSOLA time stretch: round(factor × length) samples, pitch and level unchanged.

    Hann-windowed frames are overlap-added every half frame; each is read near its nominal
    input position, shifted (by at most a quarter frame) to where it best continues the
    frame before it, so overlapping frames add in phase. A plain phase vocoder keeps each
    bin's phase but not the phases between bins: measured, it lost up to 6 dB on a tone."""
    size = _frame_size(sample_rate)
    hop = size // 2                      # output hop; periodic Hann at 50 % sums to 1
    tolerance = size // 4
    window = np.hanning(size + 1)[:size]
    length = round(waveform.size * factor)
    frames = -(-length // hop) + 1       # enough frames to cover the output
    in_hop = hop / factor
    pad = size + tolerance               # silence around the input: frames may overrun
    padded = np.zeros(waveform.size + 2 * pad + size + int(frames * in_hop))
    padded[pad:pad + waveform.size] = waveform
    # Among equally good matches (a periodic signal offers one every period, silence
    # offers all) prefer the one nearest the nominal position: timing then stays within
    # about a period instead of wandering up to the tolerance.
    offsets = np.arange(-tolerance, tolerance + 1)
    preference = 1.0 - 0.1 * (offsets / tolerance) ** 2
    out = np.zeros(frames * hop + size)
    position = pad - size // 2           # frame j is centred on input j × in_hop
    for j in range(frames):
        if j:
            follower = padded[position + hop:position + hop + size]
            nominal = pad - size // 2 + round(j * in_hop) - tolerance
            region = padded[nominal:nominal + size + 2 * tolerance]
            similarity = correlate(region, follower, "valid")
            best = int(np.argmax(similarity * preference))
            if similarity[best] <= 0:    # nothing to continue (silence): stay nominal
                best = tolerance
            position = nominal + best
        out[j * hop:j * hop + size] += window * padded[position:position + size]
    return out[size // 2:size // 2 + length]
