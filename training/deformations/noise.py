"""Additive noise at a signal-to-noise ratio measured against the signal's own power."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._signal import mean_power
from .base import Deformation, register

__all__ = ["WhiteNoise", "PinkNoise"]


def add_at_snr(waveform: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`waveform` plus `noise` scaled so that P(signal) / P(noise) is exactly `snr_db`.

    The drawn noise's own power is measured (not assumed), so the ratio holds for every
    draw. Silence has no power to measure a ratio against and is returned unchanged. The
    sum is not clipped: at 0 dB it may pass full scale, and deformed copies are float WAV."""
    signal_power = mean_power(waveform)
    noise_power = mean_power(noise)
    if signal_power == 0.0 or noise_power == 0.0:
        return waveform.copy()
    scale = np.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return waveform + scale * noise


@dataclass(frozen=True)
class _AdditiveNoise(Deformation):
    """Noise of the subclass's colour, added at `snr_db`."""

    key_template = "snr{snr_db}"
    snr_db: float

    @property
    def uses_rng(self) -> bool:
        return True

    @staticmethod
    def noise(length: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def apply(self, waveform, sample_rate, rng):
        return add_at_snr(waveform, self.noise(waveform.size, rng), self.snr_db)


def pink(length: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power ∝ 1/f (−3 dB per octave): white noise shaped in the
    frequency domain by 1/√f, with no DC component."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(frequencies[1:])
    return np.fft.irfft(spectrum, n=length)


@register
@dataclass(frozen=True)
class WhiteNoise(_AdditiveNoise):
    """Gaussian white noise (flat spectrum) at `snr_db`."""

    type_name = "white_noise"

    @staticmethod
    def noise(length: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal(length)


@register
@dataclass(frozen=True)
class PinkNoise(_AdditiveNoise):
    """Pink (1/f) noise at `snr_db`."""

    type_name = "pink_noise"

    @staticmethod
    def noise(length: int, rng: np.random.Generator) -> np.ndarray:
        return pink(length, rng)
