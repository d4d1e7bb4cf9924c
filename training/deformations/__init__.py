"""Declarative audio deformations for robustness evaluation (after mir_ref).

Indexed audio is deformed while queries stay clean, and the drop in retrieval quality is
reported per deformation. A deformation is configured from a spec,

    build_deformation({"type": "white_noise", "snr_db": 10})   # key "white_noise-snr10"

and called as a pure function `(waveform, sample_rate, rng) -> waveform`; `deform_file`
keeps a deformed copy of an audio file in a cache folder so it is computed once.
"""
from __future__ import annotations

from types import MappingProxyType

from .base import (DEFORMATIONS, Chain, Deformation, build_deformation, build_deformations,
                   load_deformations, register)
from .cache import CACHE_VERSION, deform_file, deformed_path
from .codecs import Mp3, OggVorbis
from .filters import Gain, LowPass
from .noise import PinkNoise, WhiteNoise
from .timing import Excerpt, PitchShift, TimeStretch

__all__ = ["DEFORMATIONS", "DEFAULT_ROBUSTNESS_SET", "Deformation", "Chain", "register",
           "build_deformation", "build_deformations", "load_deformations", "deform_file",
           "deformed_path", "CACHE_VERSION", "WhiteNoise", "PinkNoise", "Gain", "LowPass",
           "Mp3", "OggVorbis", "PitchShift", "TimeStretch", "Excerpt"]

# The robustness set of the evaluation issue; read-only, build with build_deformations.
DEFAULT_ROBUSTNESS_SET = tuple(MappingProxyType(spec) for spec in (
    *({"type": "white_noise", "snr_db": snr} for snr in (20, 10, 0)),
    *({"type": "pink_noise", "snr_db": snr} for snr in (20, 10, 0)),
    {"type": "gain", "gain_db": -12},
    {"type": "lowpass", "cutoff_hz": 4000},
    {"type": "mp3", "bitrate_kbps": 32},
    {"type": "ogg_vorbis", "quality": 0.0},
    {"type": "pitch_shift", "semitones": 1},
    {"type": "pitch_shift", "semitones": -1},
    {"type": "time_stretch", "factor": 0.8},
    {"type": "time_stretch", "factor": 1.25},
    {"type": "excerpt", "seconds": 5, "position": "random"},
))
