"""Audio deformations: each changes the audio by the stated, measured amount; specs fail in
one line; deformed copies of files are computed once."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile
from scipy.signal import welch

from retrieval.frontend import AudioDecodeError
from training.config import ConfigError
from training.deformations import (DEFAULT_ROBUSTNESS_SET, Gain, Mp3, WhiteNoise,
                                   build_deformation, build_deformations, deform_file,
                                   load_deformations)
from training.deformations.codecs import codec_roundtrip

RATE = 16000


def _tone(freq: float, seconds: float = 2.0, rate: int = RATE, amplitude: float = 0.3):
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _music(seconds: float = 2.0, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Inharmonic partials with tremolo, a chirp and a little noise: nothing periodic, so a
    misaligned copy would not correlate."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    partials = ((196.0, 1.3), (523.3, 2.9), (1187.0, 0.7), (2950.0, 4.1))  # (Hz, tremolo Hz)
    wave = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
               * (0.6 + 0.4 * np.sin(2 * np.pi * m * t)) for f, m in partials)
    wave += np.sin(2 * np.pi * (300 * t + 400 * t ** 2))
    wave += 0.3 * rng.standard_normal(t.size)
    return (0.15 * wave).astype(np.float32)


def _db(ratio: float) -> float:
    return 10 * np.log10(ratio)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def _peak_frequency(x: np.ndarray, rate: int = RATE) -> float:
    """The strongest frequency of the middle half, to a small fraction of a bin."""
    middle = x[x.size // 4: 3 * x.size // 4].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size), n=8 * middle.size))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1: k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (8 * middle.size)


def _burst(freq: float = 440.0) -> np.ndarray:
    """A 2 s clip with a tone from 0.25 s to 1.25 s and silence around it."""
    clip = _tone(freq)
    clip[: RATE // 4] = 0
    clip[5 * RATE // 4:] = 0
    return clip


def _energy_centre_seconds(x: np.ndarray, rate: int = RATE) -> float:
    """When the clip's energy is, on average: moves with the content, not its length."""
    energy = np.square(x, dtype=np.float64)
    return float(np.sum(np.arange(x.size) * energy) / np.sum(energy) / rate)


def _slope_db_per_octave(noise: np.ndarray, rate: int = RATE) -> float:
    freqs, psd = welch(noise, fs=rate, nperseg=1024)
    band = (freqs >= 50) & (freqs <= 6000)
    return float(np.polyfit(np.log2(freqs[band]), 10 * np.log10(psd[band]), 1)[0])


def _run(spec, x, rate=RATE, seed=0):
    return build_deformation(spec)(x, rate, np.random.default_rng(seed))


def test_default_set_builds_with_stable_unique_keys():
    built = build_deformations(DEFAULT_ROBUSTNESS_SET)
    assert [d.key for d in built] == [
        "white_noise-snr20", "white_noise-snr10", "white_noise-snr0", "pink_noise-snr20",
        "pink_noise-snr10", "pink_noise-snr0", "gain-m12db", "lowpass-4000hz", "mp3-32kbps",
        "ogg_vorbis-q0", "pitch_shift-1st", "pitch_shift-m1st", "time_stretch-x0.8",
        "time_stretch-x1.25", "excerpt-5s-random"]
    assert [build_deformation(d.to_spec()) for d in built] == built  # specs round-trip


@pytest.mark.parametrize("kind", ["white_noise", "pink_noise"])
@pytest.mark.parametrize("snr_db", [20, 10, 0])
def test_noise_is_added_at_the_stated_snr(kind, snr_db):
    clean = _music()
    noisy = _run({"type": kind, "snr_db": snr_db}, clean)
    measured = _db(_power(clean) / _power(noisy - clean))
    assert abs(measured - snr_db) < 0.5, measured


@pytest.mark.parametrize("kind, slope", [("white_noise", 0.0), ("pink_noise", -3.0)])
def test_noise_spectral_slope(kind, slope):
    clean = _tone(440, seconds=3.0)
    noise = _run({"type": kind, "snr_db": 0}, clean) - clean
    assert abs(_slope_db_per_octave(noise) - slope) < 0.5


def test_noise_leaves_silence_alone():
    silence = np.zeros(RATE, dtype=np.float32)
    assert np.array_equal(_run({"type": "white_noise", "snr_db": 0}, silence), silence)


def test_gain_scales_exactly_and_clips_only_past_full_scale():
    clean = _music()
    quieter = _run({"type": "gain", "gain_db": -12}, clean)
    assert abs(_db(_power(quieter) / _power(clean)) + 12) < 0.1
    louder = _run({"type": "gain", "gain_db": 12}, _tone(440, amplitude=0.5))
    assert louder.max() == pytest.approx(1.0) and louder.min() == pytest.approx(-1.0)
    inside = np.abs(louder) < 1.0
    assert np.allclose(louder[inside], 10 ** 0.6 * _tone(440, amplitude=0.5)[inside], atol=1e-6)


def test_lowpass_removes_the_top_and_keeps_1khz():
    noise = np.random.default_rng(0).standard_normal(2 * RATE).astype(np.float32) * 0.1
    spectrum_in = np.abs(np.fft.rfft(noise)) ** 2
    spectrum_out = np.abs(np.fft.rfft(_run({"type": "lowpass", "cutoff_hz": 4000}, noise))) ** 2
    freqs = np.fft.rfftfreq(noise.size, 1 / RATE)
    for low in range(5000, 8000, 500):  # every band above 5 kHz, not just the total
        band = (freqs >= low) & (freqs < low + 500)
        assert _db(spectrum_out[band].sum() / spectrum_in[band].sum()) <= -30, low
    tone = _tone(1000)
    assert abs(_db(_power(_run({"type": "lowpass", "cutoff_hz": 4000}, tone)) / _power(tone))) < 1
    # at 8 kHz nothing lies above a 4 kHz cut-off: unchanged rather than a filter error
    assert np.array_equal(_run({"type": "lowpass"}, tone[:8000], rate=8000), tone[:8000])


@pytest.mark.parametrize("spec, rate", [
    ({"type": "mp3", "bitrate_kbps": 32}, RATE),    # no gapless header: delay removed here
    ({"type": "mp3", "bitrate_kbps": 64}, RATE),    # gapless header: the decoder trims
    ({"type": "mp3", "bitrate_kbps": 32}, 20000),   # a rate MP3 lacks: resampled and back
    ({"type": "ogg_vorbis", "quality": 0.0}, RATE),
])
def test_codecs_keep_length_and_alignment_but_change_the_audio(spec, rate):
    clean = _music(rate=rate)
    coded = _run(spec, clean, rate=rate)
    assert coded.shape == clean.shape
    correlation = np.corrcoef(clean, coded)[0, 1]
    assert 0.9 < correlation < 0.9999, correlation
    assert np.abs(coded - clean).max() > 1e-3


@pytest.mark.parametrize("kbps", [32, 64])
def test_mp3_encodes_at_the_stated_bitrate(kbps):
    level = Mp3(kbps).compression_level(RATE)
    _, size = codec_roundtrip(_music(seconds=3.0), RATE, "MP3", "MPEG_LAYER_III",
                              compression_level=level, bitrate_mode="CONSTANT")
    assert abs(size * 8 / 3.0 / 1000 / kbps - 1) < 0.06  # frame headers and the last frame


def test_mp3_bitrate_impossible_at_the_sample_rate_is_a_config_error():
    with pytest.raises(ConfigError, match="mp3-320kbps: 320 kbps is not an MP3 bit-rate at 16000 Hz"):
        _run({"type": "mp3", "bitrate_kbps": 320}, _music())


@pytest.mark.parametrize("semitones", [1, -1])
def test_pitch_shift_moves_a_tone_by_the_interval(semitones):
    tone = _burst()
    shifted = _run({"type": "pitch_shift", "semitones": semitones}, tone)
    assert shifted.shape == tone.shape
    ratio = _peak_frequency(shifted) / _peak_frequency(tone)
    assert abs(ratio / 2 ** (semitones / 12) - 1) < 0.01, ratio
    assert abs(_db(_power(shifted) / _power(tone))) < 0.5  # the level is kept
    assert abs(_energy_centre_seconds(shifted) - 0.75) < 0.02  # and the timing


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_time_stretch_changes_length_not_pitch(factor):
    tone = _burst()
    stretched = _run({"type": "time_stretch", "factor": factor}, tone)
    assert abs(stretched.size / (tone.size * factor) - 1) < 0.01
    assert abs(_peak_frequency(stretched) / _peak_frequency(tone) - 1) < 0.01
    assert abs(_db(_power(stretched) / _power(tone))) < 0.5  # the level is kept
    # the content itself moves: the burst centred at 0.75 s is now centred at 0.75 × factor
    # (WSOLA may shift a frame by up to 16 ms to keep overlapping frames in phase)
    assert abs(_energy_centre_seconds(stretched) - 0.75 * factor) < 0.02


def test_excerpt_is_exactly_five_seconds_of_the_clip():
    clip = _music(seconds=8.0)
    for position in ("random", "center", "start"):
        excerpt = _run({"type": "excerpt", "seconds": 5, "position": position}, clip, seed=3)
        assert excerpt.size == 5 * RATE
        offsets = [o for o in range(clip.size - excerpt.size + 1)
                   if clip[o] == excerpt[0] and np.array_equal(clip[o:o + excerpt.size], excerpt)]
        assert offsets, position
        if position == "center":
            assert offsets == [(clip.size - excerpt.size) // 2]
    short = _music(seconds=3.0)
    assert np.array_equal(_run({"type": "excerpt"}, short), short)


def test_every_default_deformation_is_deterministic_and_pure():
    clip = _music(seconds=6.0)
    before = clip.copy()
    for deformation in build_deformations(DEFAULT_ROBUSTNESS_SET):
        first = deformation(clip, RATE, np.random.default_rng(7))
        again = deformation(clip, RATE, np.random.default_rng(7))
        other = deformation(clip, RATE, np.random.default_rng(8))
        assert first.dtype == np.float32 and np.array_equal(first, again), deformation.key
        assert np.array_equal(first, other) != deformation.uses_rng, deformation.key
        assert np.array_equal(clip, before), deformation.key


@pytest.mark.parametrize("rate", [7000, 22050, 96000])
@pytest.mark.parametrize("seconds", [1 / 7000, 0.01, 0.5])
def test_every_default_deformation_takes_short_clips_at_any_rate(rate, seconds):
    clip = _music(seconds=seconds, rate=rate)
    for deformation in build_deformations(DEFAULT_ROBUSTNESS_SET):
        out = deformation(clip, rate, np.random.default_rng(0))
        expected = {"time_stretch": round(clip.size * getattr(deformation, "factor", 1)),
                    "excerpt": min(clip.size, 5 * rate)}.get(deformation.type_name, clip.size)
        assert out.size == expected and np.isfinite(out).all(), deformation.key


def test_numpy_numbers_are_accepted_as_parameters():
    spec = {"type": "mp3", "bitrate_kbps": np.int64(32)}
    assert build_deformation(spec) == build_deformation({"type": "mp3", "bitrate_kbps": 32})
    assert build_deformation({"type": "gain", "gain_db": np.float32(-12)}).key == "gain-m12db"


def test_a_list_of_specs_is_a_chain():
    clip = _music(seconds=6.0)
    chain = build_deformation([{"type": "gain", "gain_db": -6},
                               {"type": "excerpt", "position": "start"}])
    assert chain.key == "gain-m6db+excerpt-5s-start"
    expected = Gain(-6)(clip, RATE, None)[:5 * RATE]
    assert np.array_equal(chain(clip, RATE, np.random.default_rng(0)), expected)


BAD_SPECS = [
    ({"type": "reverb"}, "unknown type 'reverb' (known: excerpt, gain, lowpass, mp3"),
    ({"snr_db": 10}, "has no 'type' key"),
    ({"type": ["white_noise"]}, "unknown type ['white_noise']"),
    ({"type": "white_noise"}, "missing key(s) snr_db"),
    ({"type": "white_noise", "snr_db": 10, "snr": 5},
     "unknown key(s) snr (known for white_noise: snr_db)"),
    ({"type": "white_noise", "snr_db": float("nan")}, "snr_db must be a finite number, not nan"),
    ({"type": "pink_noise", "snr_db": float("-inf")}, "snr_db must be a finite number, not -inf"),
    ({"type": "white_noise", "snr_db": "10"}, "snr_db must be a finite number, not '10'"),
    ({"type": "gain", "gain_db": True}, "gain_db must be a finite number, not True"),
    ({"type": "mp3", "bitrate_kbps": -32}, "bitrate_kbps must be an MP3 bit-rate (8, 16,"),
    ({"type": "mp3", "bitrate_kbps": 33}, "not 33"),
    ({"type": "mp3", "bitrate_kbps": 32.0}, "bitrate_kbps must be an integer, not 32.0"),
    ({"type": "ogg_vorbis", "quality": 1.5}, "quality must be within [0, 1], not 1.5"),
    ({"type": "lowpass", "cutoff_hz": 0}, "cutoff_hz must be > 0, not 0"),
    ({"type": "time_stretch", "factor": 0}, "factor must be within [0.25, 4]"),
    ({"type": "time_stretch", "factor": -1.25}, "not -1.25"),
    ({"type": "pitch_shift", "semitones": 30}, "semitones must be within ±24, not 30"),
    ({"type": "excerpt", "seconds": -5}, "seconds must be > 0, not -5"),
    ({"type": "excerpt", "position": "middle"}, "position must be one of random, center, start"),
    ("white_noise", "expected a mapping with a 'type' key"),
    ([], "an empty list of deformations"),
    ([{"type": "gain", "gain_db": -6}, {"type": "gain"}],
     "deformation[1] {'type': 'gain'}: missing"),
]


@pytest.mark.parametrize("spec, problem", BAD_SPECS)
def test_bad_specs_fail_in_one_line_naming_the_spec(spec, problem):
    with pytest.raises(ConfigError) as caught:
        build_deformation(spec)
    message = str(caught.value)
    assert "\n" not in message and problem in message
    assert message.startswith("deformation")


def test_a_list_with_the_same_deformation_twice_is_an_error():
    with pytest.raises(ConfigError, match=r"deformations\[1\].*same deformation as "
                                          r"deformations\[0\] \(gain-m12db\)"):
        build_deformations([{"type": "gain", "gain_db": -12}, {"type": "gain", "gain_db": -12.0}])


def test_yaml_specs_build_the_same_deformations(tmp_path):
    config = tmp_path / "robustness.yaml"
    config.write_text("deformations:\n  - {type: white_noise, snr_db: 10}\n"
                      "  - - {type: mp3, bitrate_kbps: 32}\n    - {type: gain, gain_db: -12}\n")
    assert [d.key for d in load_deformations(config)] == ["white_noise-snr10",
                                                          "mp3-32kbps+gain-m12db"]
    config.write_text("deformations:\n  - {type: time_stretch, factor: 0}\n")
    with pytest.raises(ConfigError, match=r"robustness.yaml: deformations\[0\] .*factor"):
        load_deformations(config)


@pytest.fixture()
def clip_file(tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(path, _music(seconds=3.0), RATE)
    return path


def test_deformed_copies_are_computed_once(clip_file, tmp_path, monkeypatch):
    calls = []
    original = WhiteNoise.apply
    monkeypatch.setattr(WhiteNoise, "apply", lambda self, *a: calls.append(1) or original(self, *a))
    cache = tmp_path / "cache"
    spec = {"type": "white_noise", "snr_db": 10}
    first = deform_file(clip_file, spec, cache, seed=0)
    assert first.is_file() and "white_noise-snr10" in first.parts and len(calls) == 1
    assert deform_file(clip_file, spec, cache, seed=0) == first and len(calls) == 1
    moved = clip_file.rename(clip_file.with_name("moved.wav"))  # content, not path, is the key
    assert deform_file(moved, spec, cache, seed=0) == first and len(calls) == 1
    reseeded = deform_file(moved, spec, cache, seed=1)
    assert reseeded != first and len(calls) == 2
    clean, _ = soundfile.read(moved, dtype="float32")
    noisy, rate = soundfile.read(first, dtype="float32")
    assert rate == RATE and abs(_db(_power(clean) / _power(noisy - clean)) - 10) < 0.5
    assert not np.array_equal(noisy, soundfile.read(reseeded, dtype="float32")[0])


def test_deterministic_copies_ignore_the_seed_and_follow_the_content(clip_file, tmp_path):
    cache = tmp_path / "cache"
    spec = {"type": "gain", "gain_db": -12}
    first = deform_file(clip_file, spec, cache, seed=0)
    assert deform_file(clip_file, spec, cache, seed=5) == first
    resampled = deform_file(clip_file, spec, cache, sample_rate=8000)
    assert resampled != first and soundfile.info(resampled).samplerate == 8000
    soundfile.write(clip_file, _music(seconds=3.0, seed=1), RATE)  # edited in place
    assert deform_file(clip_file, spec, cache) != first
    long_chain = [{"type": "gain", "gain_db": -0.5 - i} for i in range(30)]
    copy = deform_file(clip_file, long_chain, cache)  # a key too long for one file name
    assert len(copy.parent.name) <= 120 and copy.is_file()


def test_deform_file_checks_the_spec_before_the_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown type 'echo'"):
        deform_file(tmp_path / "missing.wav", {"type": "echo"}, tmp_path / "cache")
    with pytest.raises(AudioDecodeError, match="audio file not found"):
        deform_file(tmp_path / "missing.wav", {"type": "gain", "gain_db": -12}, tmp_path)
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioDecodeError, match="cannot decode junk.wav"):
        deform_file(tmp_path / "junk.wav", {"type": "gain", "gain_db": -12}, tmp_path)
    assert not (tmp_path / "cache").exists()
