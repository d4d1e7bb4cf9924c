"""Level and spectrum: gain and low-pass filtering."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .base import Deformation, register

__all__ = ["Gain", "LowPass"]


@register
@dataclass(frozen=True)
class Gain(Deformation):
    """Multiply by 10^(gain_db / 20).

    Clipped to [-1, 1] only if needed: when the scaled signal passes full scale (a boost,
    or an input already beyond it), as a fixed-point playback chain would; otherwise the
    output is exactly the scaled input."""

    type_name = "gain"
    key_template = "{gain_db}db"
    gain_db: float

    def apply(self, waveform, sample_rate, rng):
        scaled = waveform * np.float32(10.0 ** (self.gain_db / 20.0))
        if np.abs(scaled).max() > 1.0:
            scaled = np.clip(scaled, -1.0, 1.0)
        return scaled


# Order 8, run forward and backward (zero phase): a 16th-order magnitude response. For a
# 4 kHz cut-off at 16 kHz it measures −0.0 dB at 1–3 kHz and ≤ −56 dB from 5 kHz up.
_LOWPASS_ORDER = 8


@register
@dataclass(frozen=True)
class LowPass(Deformation):
    """Zero-phase Butterworth low-pass at `cutoff_hz` (−6 dB there).

    A cut-off at or above the Nyquist frequency removes nothing, so the input is returned
    unchanged (a 4 kHz low-pass of 8 kHz audio, for instance)."""

    type_name = "lowpass"
    key_template = "{cutoff_hz}hz"
    cutoff_hz: float = 4000.0

    def check(self) -> None:
        if self.cutoff_hz <= 0:
            raise self.fail(f"cutoff_hz must be > 0, not {self.cutoff_hz:g}")

    def apply(self, waveform, sample_rate, rng):
        if self.cutoff_hz >= sample_rate / 2:
            return waveform.copy()
        sos = butter(_LOWPASS_ORDER, self.cutoff_hz, fs=sample_rate, output="sos")
        # scipy's default edge padding needs a longer signal than a very short clip
        padlen = min(3 * (2 * len(sos) + 1), waveform.size - 1)
        return sosfiltfilt(sos, waveform.astype(np.float64), padlen=padlen)
