"""Time and pitch: time stretch, pitch shift and excerpts."""
from __future__ import annotations

from dataclasses import dataclass

from ._signal import fit_length, resample_by, stretch
from .base import Deformation, register

__all__ = ["TimeStretch", "PitchShift", "Excerpt"]


@register
@dataclass(frozen=True)
class TimeStretch(Deformation):
    """Change the duration by `factor` (0.8: 20 % shorter) keeping pitch and level (WSOLA).
    The output has round(factor × input length) samples."""

    type_name = "time_stretch"
    key_template = "x{factor}"
    factor: float

    def check(self) -> None:
        # Beyond 4× either way the stretcher's repeated or skipped frames, not tempo,
        # dominate the result.
        if not 0.25 <= self.factor <= 4.0:
            raise self.fail(f"factor must be within [0.25, 4] (the output is factor × the "
                            f"input's length), not {self.factor:g}")

    def apply(self, waveform, sample_rate, rng):
        return stretch(waveform, sample_rate, self.factor)


@register
@dataclass(frozen=True)
class PitchShift(Deformation):
    """Shift the pitch by `semitones` keeping length and timing: time-stretch by
    2^(semitones/12), then resample back to the original length."""

    type_name = "pitch_shift"
    key_template = "{semitones}st"
    semitones: float

    def check(self) -> None:
        if abs(self.semitones) > 24:
            raise self.fail(f"semitones must be within ±24, not {self.semitones:g}")

    def apply(self, waveform, sample_rate, rng):
        ratio = 2.0 ** (self.semitones / 12.0)
        longer = stretch(waveform, sample_rate, ratio)
        return fit_length(resample_by(longer, 1.0 / ratio), waveform.size)


_POSITIONS = ("random", "center", "start")


@register
@dataclass(frozen=True)
class Excerpt(Deformation):
    """A `seconds`-long excerpt instead of the whole clip, taken at a seeded random offset,
    the center or the start. A clip no longer than that is returned whole."""

    type_name = "excerpt"
    key_template = "{seconds}s-{position}"
    seconds: float = 5.0
    position: str = "random"

    def check(self) -> None:
        if self.seconds <= 0:
            raise self.fail(f"seconds must be > 0, not {self.seconds:g}")
        if self.position not in _POSITIONS:
            raise self.fail(f"position must be one of {', '.join(_POSITIONS)}, "
                            f"not {self.position!r}")

    @property
    def uses_rng(self) -> bool:
        return self.position == "random"

    def apply(self, waveform, sample_rate, rng):
        length = round(self.seconds * sample_rate)
        spare = waveform.size - length
        if spare <= 0:
            return waveform.copy()
        if self.position == "random":
            offset = int(rng.integers(0, spare + 1))
        else:
            offset = spare // 2 if self.position == "center" else 0
        return waveform[offset:offset + length].copy()
