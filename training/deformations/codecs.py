"""Lossy re-encoding (MP3, Ogg Vorbis) in memory through libsndfile, decoded back.

soundfile ≥ 0.13 with libsndfile ≥ 1.1 writes both formats; the quality knob it exposes is
`compression_level` in [0, 1], which libsndfile maps onto each codec's own setting.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile

from ..config import ConfigError
from ._signal import fit_length, resample_by
from .base import Deformation, register

__all__ = ["Mp3", "OggVorbis", "MP3_BITRATES_KBPS"]

# The MPEG audio layer III bit-rates: MPEG-1 (sample rates ≥ 32 kHz) uses 32–320, MPEG-2
# (16–24 kHz) 8–160, and libsndfile gives MPEG-2.5 (< 16 kHz) 8–64.
_MPEG1 = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2 = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
MP3_BITRATES_KBPS = tuple(sorted(set(_MPEG1) | set(_MPEG2)))
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

# Without a LAME gapless header (libsndfile omits it when the frames are too small to
# hold one, e.g. 32 kb/s at 16 kHz) the decoder returns LAME's 576-sample encoder delay
# plus mpg123's 529-sample decoder delay before the first real sample.
_MP3_DELAY = 576 + 529


def _mp3_bitrates(sample_rate: int) -> tuple[int, ...]:
    if sample_rate >= 32000:
        return _MPEG1
    return _MPEG2 if sample_rate >= 16000 else tuple(b for b in _MPEG2 if b <= 64)


def codec_roundtrip(waveform: np.ndarray, sample_rate: int, format: str, subtype: str,
                    **options) -> tuple[np.ndarray, int]:
    """Encode to an in-memory file and decode it again: (decoded samples, encoded bytes)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, sample_rate, format=format, subtype=subtype, **options)
    size = buffer.tell()
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    return decoded, size


def encoder_rate(sample_rate: int) -> int:
    """The MP3 sample rate to encode at: the input's if MP3 has it, else the next one up
    (so nothing the input holds is lost to the resampling), else 48 kHz."""
    return next((rate for rate in _MP3_RATES if rate >= sample_rate), _MP3_RATES[-1])


@register
@dataclass(frozen=True)
class Mp3(Deformation):
    """MP3 at a constant `bitrate_kbps`, aligned back onto the input's samples.

    Audio at a sample rate MP3 lacks is resampled to `encoder_rate` and back."""

    type_name = "mp3"
    key_template = "{bitrate_kbps}kbps"
    bitrate_kbps: int = 32

    def check(self) -> None:
        if self.bitrate_kbps not in MP3_BITRATES_KBPS:
            raise self.fail(f"bitrate_kbps must be an MP3 bit-rate "
                            f"({', '.join(map(str, MP3_BITRATES_KBPS))}), "
                            f"not {self.bitrate_kbps}")

    def compression_level(self, rate: int) -> float:
        """libsndfile's compression level for this bit-rate at `rate`, or a ConfigError."""
        allowed = _mp3_bitrates(rate)
        if self.bitrate_kbps not in allowed:
            raise ConfigError(f"deformation {self.key}: {self.bitrate_kbps} kbps is not an MP3 "
                              f"bit-rate at {rate} Hz ({', '.join(map(str, allowed))})")
        # libsndfile: kbps = int(high − level × (high − low)); aim half a kbps above the
        # target so that the truncation lands on it rather than one below.
        low, high = allowed[0], allowed[-1]
        return min(1.0, max(0.0, (high - self.bitrate_kbps - 0.5) / (high - low)))

    def apply(self, waveform, sample_rate, rng):
        rate = encoder_rate(sample_rate)
        level = self.compression_level(rate)
        signal = waveform if rate == sample_rate else resample_by(waveform, rate / sample_rate)
        decoded, _ = codec_roundtrip(signal.astype(np.float32), rate, "MP3", "MPEG_LAYER_III",
                                     compression_level=level, bitrate_mode="CONSTANT")
        if decoded.size > signal.size:  # no gapless header: skip the codec delay
            decoded = decoded[_MP3_DELAY:]
        if rate != sample_rate:
            decoded = resample_by(decoded, sample_rate / rate)
        return fit_length(decoded, waveform.size)


@register
@dataclass(frozen=True)
class OggVorbis(Deformation):
    """Ogg Vorbis at variable-bit-rate `quality` in [0, 1] (0: lowest; libsndfile passes
    1 − compression_level to the encoder). At 16 kHz mono, quality 0 measures ~35 kb/s."""

    type_name = "ogg_vorbis"
    key_template = "q{quality}"
    quality: float = 0.0

    def check(self) -> None:
        if not 0.0 <= self.quality <= 1.0:
            raise self.fail(f"quality must be within [0, 1], not {self.quality:g}")

    def apply(self, waveform, sample_rate, rng):
        decoded, _ = codec_roundtrip(waveform, sample_rate, "OGG", "VORBIS",
                                     compression_level=1.0 - self.quality)
        return fit_length(decoded, waveform.size)  # Ogg keeps the length; guard anyway
