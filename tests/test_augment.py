"""Log-mel augmentation measured against the real front end: gain is exact, noise lands at
the SNR asked for (as the waveform noise deformation does), the EQ curve is bounded and
smooth, a pitch shift moves a harmonic's peak band where a really shifted tone peaks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval.frontend import FrontendConfig, log_mel
from training.augment import (FLOOR_DB, AugmentConfig, EqAugment, GainAugment, MelAugmenter,
                              NoiseAugment, PitchAugment, band_centres)
from training.deformations import build_deformation

FRONTEND = FrontendConfig()
RATE = FRONTEND.sample_rate


def _tone(freq, seconds=2.0, harmonics=(1.0, 0.5, 0.25), hiss=1e-3):
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    return (0.2 * wave + hiss * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def _crop(waveform, frames=FRONTEND.chunk_frames // 2):
    mel = log_mel(waveform, FRONTEND)[:, :frames]
    return torch.from_numpy(mel[None].copy())


def test_gain_is_the_front_ends_own_level_change_where_unclamped():
    wave = _tone(440.0)
    augmenter = MelAugmenter(AugmentConfig(gain=GainAugment(p=1.0, min_db=-9.0, max_db=-9.0)),
                             FRONTEND)
    out = augmenter(_crop(wave), np.random.default_rng(0))[0].numpy()
    real = _crop(wave * np.float32(10 ** (-9.0 / 20)))[0].numpy()
    above = real > FLOOR_DB + 1.0          # bins the real cut did not push into the floor
    assert above[1:].all()                 # (band 0 catches no FFT bin: always the floor)
    assert np.abs(out[above] - real[above]).max() < 0.01    # float32 STFT rounding
    assert (out >= FLOOR_DB).all()


def test_a_deep_cut_stops_at_the_floor_and_silence_stays_silent():
    crop = _crop(_tone(440.0))
    crop[0, :, :5] = FLOOR_DB                          # five frames of digital silence
    augmenter = MelAugmenter(AugmentConfig(gain=GainAugment(p=1.0, min_db=6.0, max_db=6.0),
                                           eq=EqAugment(p=1.0, max_db=6.0)), FRONTEND)
    out = augmenter(crop, np.random.default_rng(1))[0].numpy()
    assert (out[:, :5] == FLOOR_DB).all()
    cut = MelAugmenter(AugmentConfig(gain=GainAugment(p=1.0, min_db=-200.0, max_db=-200.0)),
                       FRONTEND)(crop, np.random.default_rng(1))
    assert (cut.numpy() == FLOOR_DB).all()


def _noise_gap(colour, deformation, snr):
    """Per band where the noise dominates (≥ 6 dB above the clean tone): our noisy crop's
    mean level minus the waveform deformation's."""
    wave = _tone(330.0, seconds=4.0)
    augmenter = MelAugmenter(AugmentConfig(), FRONTEND)
    clean = _crop(wave, None)[0].numpy()
    ours = augmenter.add_noise(clean, snr, colour, np.random.default_rng(2))
    noisy = build_deformation({"type": deformation, "snr_db": snr})(
        wave, RATE, np.random.default_rng(2))
    real = _crop(np.asarray(noisy, dtype=np.float32), None)[0].numpy()
    noise_bands = augmenter.live & (real.mean(axis=1) > clean.mean(axis=1) + 6.0)
    noise_bands &= band_centres(FRONTEND) > 100.0   # sub-100 Hz: see the pink test
    assert noise_bands.sum() > 60
    return (ours.mean(axis=1) - real.mean(axis=1))[noise_bands]


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_white_noise_matches_the_waveform_deformation_at_the_same_snr(snr):
    # a band's mean over 250 frames of one noise draw still varies by ~0.5 dB
    gap = np.abs(_noise_gap("white", "white_noise", snr))
    assert np.median(gap) < 0.5 and gap.max() < 2.0


def test_pink_noise_has_the_deformations_shape_and_a_known_level_offset():
    # The deformation's pink noise puts much of its power below the first FFT bin (31 Hz),
    # where no mel band hears it; ours counts only f_min–f_max, so it is louder in the
    # bands by a near-constant offset (measured 2.7 dB at 3 s, 3.4 dB at 4 s: it grows with length).
    gap = _noise_gap("pink", "pink_noise", 10.0)
    offset = np.median(gap)
    assert 1.5 < offset < 4.5
    assert np.median(np.abs(gap - offset)) < 0.5 and np.abs(gap - offset).max() < 2.0


def test_eq_curve_is_bounded_smooth_and_not_flat():
    augmenter = MelAugmenter(AugmentConfig(eq=EqAugment(p=1.0, max_db=4.0, components=3)),
                             FRONTEND)
    rng = np.random.default_rng(3)
    curves = np.stack([augmenter.eq_curve(rng) for _ in range(200)])
    assert np.abs(curves).max() <= 4.0 + 1e-5
    assert np.abs(curves).max(axis=1).mean() > 1.0            # it does something
    # smooth: neighbouring bands differ by at most a tenth of the range (a white random
    # curve would jump by several dB)
    assert np.abs(np.diff(curves, axis=1)).max() <= 0.1 * 4.0


@pytest.mark.parametrize("semitones", [1.0, -1.0, 2.0])
def test_pitch_shift_moves_a_harmonics_peak_band_like_a_real_shift(semitones):
    base = 700.0
    augmenter = MelAugmenter(AugmentConfig(), FRONTEND)
    shifted = augmenter.pitch_shift(_crop(_tone(base, harmonics=(1.0,)))[0].numpy(), semitones)
    real = _crop(_tone(base * 2 ** (semitones / 12), harmonics=(1.0,)))[0].numpy()
    ours_peak = int(np.argmax(shifted.mean(axis=1)))
    real_peak = int(np.argmax(real.mean(axis=1)))
    base_peak = int(np.argmax(_crop(_tone(base, harmonics=(1.0,)))[0].numpy().mean(axis=1)))
    assert abs(ours_peak - real_peak) <= 1
    assert ours_peak != base_peak
    centres = band_centres(FRONTEND)
    assert abs(centres[ours_peak] - base * 2 ** (semitones / 12)) < 2 * np.diff(centres)[ours_peak]


def test_band_centres_are_the_filterbanks_peaks():
    from training.augment import _filterbank
    fb = _filterbank(FRONTEND)
    bins = np.fft.rfftfreq(FRONTEND.n_fft, 1 / RATE)
    centres = band_centres(FRONTEND)
    live = fb.sum(axis=0) > 0
    peak = bins[np.argmax(fb, axis=0)]
    assert np.abs(peak - centres)[live].max() <= bins[1]   # within one FFT bin


def test_same_seed_same_batch_and_p_zero_is_identity():
    crops = torch.cat([_crop(_tone(f)) for f in (220.0, 440.0, 880.0)])
    config = AugmentConfig(gain=GainAugment(p=0.5), noise=NoiseAugment(p=0.5),
                           eq=EqAugment(p=0.5), pitch=PitchAugment(p=0.5))
    augmenter = MelAugmenter(config, FRONTEND)
    a = augmenter(crops, np.random.default_rng(7))
    b = augmenter(crops, np.random.default_rng(7))
    c = augmenter(crops, np.random.default_rng(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, crops)                        # the input is not modified
    assert MelAugmenter(AugmentConfig(), FRONTEND)(crops, np.random.default_rng(7)) is crops


def test_augment_config_names_each_bad_value():
    config = AugmentConfig(gain=GainAugment(p=1.5, min_db=3.0, max_db=-3.0),
                           pitch=PitchAugment(max_semitones=20.0))
    problems = config.problems()
    assert any("augment.gain.p" in p for p in problems)
    assert any("min_db ≤ max_db" in p for p in problems)
    assert any("max_semitones" in p for p in problems)
    assert AugmentConfig().problems() == []
