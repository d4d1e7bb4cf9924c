"""Audio augmentation of training crops, in the log-mel domain: gain, noise, EQ, pitch.

The crops are the front end's log-mels (retrieval.frontend.log_mel: 10·log10 of mel-band
power, floored at 1e-10 = −100 dB, no top_db), so each augmentation is a cheap operation
on a (batch, n_mels, frames) array instead of a second pass through the STFT:

- gain (exact): a level change of g dB adds g to every band above the floor; a cut that
  pushes a band below the floor stops there, as the front end would; floor bins are digital
  silence and stay there. (Clipping at full scale after a boost is not modelled.)
- noise (close): white or pink Gaussian noise added in the power domain. Its expected
  power per band is the band's filter weight summed over FFT bins (× 1/f for pink), drawn
  per frame from a Gamma law with that mean and the variance of a weighted sum of χ²
  bins. The SNR is measured against the crop's own mel power, which is the waveform's
  power within f_min–f_max (the triangular filters sum to one there).
- EQ (close): a smooth random curve over the mel bands (a few random cosines across the
  band axis), at most `max_db` in magnitude, added in dB: exact for a filter whose gain is
  constant over each band, close for a smooth one.
- pitch (approximate): a shift by s semitones reads each band's value at its centre
  frequency / 2^(s/12), interpolated in dB between the neighbouring band centres; the
  frame axis is untouched (a pitch shift, not a resampling of time). A harmonic's peak
  moves to the band whose centre is nearest its shifted frequency.

Each augmentation is applied to each crop independently with its probability `p`; all
draws come from the numpy generator passed in, so a seed gives the same batch.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torchaudio

from retrieval.frontend import FrontendConfig

__all__ = ["GainAugment", "NoiseAugment", "EqAugment", "PitchAugment", "AugmentConfig",
           "MelAugmenter", "FLOOR_DB", "band_centres"]

FLOOR_DB = -100.0           # 10·log10(1e-10), the front end's floor
_AT_FLOOR = FLOOR_DB + 0.01  # float16 caches keep −100 exactly; a margin for safety


@dataclass
class GainAugment:
    p: float = 0.0
    min_db: float = -12.0
    max_db: float = 6.0


@dataclass
class NoiseAugment:
    p: float = 0.0
    min_snr_db: float = 10.0
    max_snr_db: float = 40.0
    pink: float = 0.5               # share of noisy crops that get pink rather than white


@dataclass
class EqAugment:
    p: float = 0.0
    max_db: float = 6.0             # the curve's largest |gain| over all bands
    components: int = 3             # cosines over the band axis: more = a bumpier curve


@dataclass
class PitchAugment:
    p: float = 0.0
    max_semitones: float = 1.0      # shifts drawn uniformly in ±max_semitones


@dataclass
class AugmentConfig:
    """The `augment:` section of a training config; every p is 0 (off) by default."""
    gain: GainAugment = field(default_factory=GainAugment)
    noise: NoiseAugment = field(default_factory=NoiseAugment)
    eq: EqAugment = field(default_factory=EqAugment)
    pitch: PitchAugment = field(default_factory=PitchAugment)

    @property
    def enabled(self) -> bool:
        return any(part.p > 0 for part in (self.gain, self.noise, self.eq, self.pitch))

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self, prefix: str = "augment") -> list[str]:
        finite = all(math.isfinite(v) for part in asdict(self).values() for v in part.values())
        checks = [(finite, f"{prefix}: every value must be a finite number")] + [
            (0.0 <= getattr(self, name).p <= 1.0, f"{prefix}.{name}.p must be in [0, 1]")
            for name in ("gain", "noise", "eq", "pitch")] + [
            (self.gain.min_db <= self.gain.max_db, f"{prefix}.gain: need min_db ≤ max_db"),
            (self.noise.min_snr_db <= self.noise.max_snr_db,
             f"{prefix}.noise: need min_snr_db ≤ max_snr_db"),
            (0.0 <= self.noise.pink <= 1.0, f"{prefix}.noise.pink must be in [0, 1]"),
            (self.eq.max_db >= 0, f"{prefix}.eq.max_db must be ≥ 0"),
            (self.eq.components >= 1, f"{prefix}.eq.components must be ≥ 1"),
            (0.0 <= self.pitch.max_semitones <= 12.0,
             f"{prefix}.pitch.max_semitones must be in [0, 12]"),
        ]
        return [message for ok, message in checks if not ok]


def band_centres(frontend: FrontendConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel band: torchaudio's HTK mel scale, n_mels + 2
    points evenly spaced in mel from f_min to f_max, the inner ones being centres."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)
    points = np.linspace(mel(frontend.f_min), mel(frontend.f_max), frontend.n_mels + 2)
    return 700.0 * (10.0 ** (points[1:-1] / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def _filterbank(frontend: FrontendConfig) -> np.ndarray:
    return torchaudio.functional.melscale_fbanks(
        frontend.n_fft // 2 + 1, frontend.f_min, frontend.f_max, frontend.n_mels,
        frontend.sample_rate).numpy().astype(np.float64)       # (n_freqs, n_mels)


class MelAugmenter:
    """Applies an AugmentConfig to batches of log-mel crops of one front end."""

    def __init__(self, config: AugmentConfig, frontend: FrontendConfig):
        self.config = config
        fb = _filterbank(frontend)
        bins = np.fft.rfftfreq(frontend.n_fft, 1.0 / frontend.sample_rate)
        self.live = fb.sum(axis=0) > 0         # bands that catch at least one FFT bin
        centres = band_centres(frontend)
        self._centres, self._live_centres = centres, centres[self.live]
        self._live_index = np.flatnonzero(self.live)
        pink = np.zeros_like(bins)
        pink[1:] = 1.0 / bins[1:]
        # expected noise power per band (per unit bin power), and Gamma shapes matching
        # the variance of a weighted sum of independent exponential bins
        self._weights = {"white": fb.sum(axis=0), "pink": (fb * pink[:, None]).sum(axis=0)}
        self._shape = {k: np.where(w > 0, w ** 2 / np.maximum(
            ((fb * (pink[:, None] if k == "pink" else 1.0)) ** 2).sum(axis=0), 1e-300), 1.0)
            for k, w in self._weights.items()}

    def __call__(self, crops: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Augmented copy of `crops` (batch, n_mels, frames) float32 log-mel dB."""
        if not self.config.enabled:
            return crops
        out = crops.numpy().copy()
        floor = out <= _AT_FLOOR
        c, n = self.config, len(out)
        for i in np.flatnonzero(rng.random(n) < c.pitch.p):
            out[i] = self.pitch_shift(out[i], rng.uniform(-c.pitch.max_semitones,
                                                          c.pitch.max_semitones))
            floor[i] = out[i] <= _AT_FLOOR
        for i in np.flatnonzero(rng.random(n) < c.eq.p):
            out[i] += self.eq_curve(rng)[:, None]
        for i in np.flatnonzero(rng.random(n) < c.gain.p):
            out[i] += rng.uniform(c.gain.min_db, c.gain.max_db)
        out[floor] = FLOOR_DB                   # silence stays silence under EQ and gain
        for i in np.flatnonzero(rng.random(n) < c.noise.p):
            colour = "pink" if rng.random() < c.noise.pink else "white"
            out[i] = self.add_noise(out[i], rng.uniform(c.noise.min_snr_db, c.noise.max_snr_db),
                                    colour, rng)
        np.maximum(out, FLOOR_DB, out=out)
        return torch.from_numpy(out)

    def eq_curve(self, rng: np.random.Generator) -> np.ndarray:
        """(n_mels,) dB: a random smooth curve whose largest |value| is ≤ max_db."""
        x = np.linspace(0.0, 1.0, len(self.live))[:, None]
        k = np.arange(1, self.config.eq.components + 1)[None, :]
        curve = (rng.uniform(-1, 1, k.shape) * np.cos(np.pi * k * x
                                                      + rng.uniform(0, 2 * np.pi, k.shape))).sum(1)
        peak = np.abs(curve).max()
        return (curve / peak * rng.uniform(0.0, self.config.eq.max_db) if peak > 0
                else curve).astype(np.float32)

    def pitch_shift(self, mel: np.ndarray, semitones: float) -> np.ndarray:
        """(n_mels, frames) → the same shifted by `semitones` along the band axis."""
        source = self._centres[self.live] / 2.0 ** (semitones / 12.0)
        position = np.interp(source, self._live_centres, np.arange(len(self._live_centres)))
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, len(self._live_centres) - 1)
        frac = (position - low)[:, None].astype(np.float32)
        live = mel[self._live_index]
        out = np.full_like(mel, FLOOR_DB)
        out[self._live_index] = live[low] * (1.0 - frac) + live[high] * frac
        return out

    def add_noise(self, mel: np.ndarray, snr_db: float, colour: str,
                  rng: np.random.Generator) -> np.ndarray:
        """(n_mels, frames) with `colour` noise at `snr_db` below the crop's mel power."""
        power = 10.0 ** (mel.astype(np.float64) / 10.0)
        signal = power.sum(axis=0).mean()
        weights = self._weights[colour]
        if signal <= 1e-10 * len(mel) * 1.01:   # all silence: no level to measure against
            return mel
        level = signal / (10.0 ** (snr_db / 10.0) * weights.sum())
        shape = self._shape[colour][:, None]
        draws = rng.gamma(np.broadcast_to(shape, mel.shape)) / shape
        noisy = power + level * weights[:, None] * draws
        return (10.0 * np.log10(np.maximum(noisy, 1e-10))).astype(np.float32)
