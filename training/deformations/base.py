"""The deformation contract, the type registry and spec parsing.

A configured deformation is a frozen dataclass whose fields are its typed parameters;
calling it is a pure function `(waveform, sample_rate, rng) -> waveform`. Specs are plain
mappings, `{"type": "white_noise", "snr_db": 10}` (JSON or YAML alike); a list of specs is a
chain applied in order, as mir_ref's deformation scenarios are. Every spec is checked
completely when it is built, so a typo fails in one line before any audio is touched.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..config import ConfigError, read_yaml_mapping

__all__ = ["Deformation", "Chain", "DEFORMATIONS", "register", "build_deformation",
           "build_deformations", "load_deformations"]

DEFORMATIONS: dict[str, type["Deformation"]] = {}


class _ParameterError(ConfigError):
    """A bad parameter; `problem` is the message without the deformation's name."""

    def __init__(self, type_name: str, problem: str):
        super().__init__(f"{type_name}: {problem}")
        self.problem = problem


def register(cls: type["Deformation"]) -> type["Deformation"]:
    """Class decorator: make `cls` buildable from specs by its `type_name`."""
    DEFORMATIONS[cls.type_name] = cls
    return cls


def _key_number(value) -> str:
    # Short, exact and file-name safe: 10.0 → "10", -12.0 → "m12", 0.8 → "0.8".
    text = f"{value:.12g}" if isinstance(value, float) else str(value)
    return text.replace("-", "m")


@dataclass(frozen=True)
class Deformation:
    """Base of all deformations. Subclasses set `type_name` and `key_template`, declare
    their parameters as fields, implement `apply` and may add checks in `check`."""

    type_name: ClassVar[str] = ""
    key_template: ClassVar[str] = ""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = hints[field.name]
            # NumPy scalars are accepted and stored as Python numbers; booleans never are.
            if expected is float:
                if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                        or not math.isfinite(value):
                    raise _ParameterError(self.type_name,
                                          f"{field.name} must be a finite number, not {value!r}")
                object.__setattr__(self, field.name, float(value))
            elif expected is int:
                if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                    raise _ParameterError(self.type_name,
                                          f"{field.name} must be an integer, not {value!r}")
                object.__setattr__(self, field.name, int(value))
            elif expected is str and not isinstance(value, str):
                raise _ParameterError(self.type_name, f"{field.name} must be a string, "
                                                      f"not {value!r}")
        self.check()

    def check(self) -> None:
        """Raise `self.fail(...)` for parameter values this deformation cannot use."""

    def fail(self, problem: str) -> ConfigError:
        return _ParameterError(self.type_name, problem)

    @property
    def key(self) -> str:
        """A stable short name of this configured deformation, usable in cache keys."""
        values = {f.name: _key_number(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return f"{self.type_name}-{self.key_template.format(**values)}"

    @property
    def uses_rng(self) -> bool:
        """Whether the output depends on the generator (so caches must key on the seed)."""
        return False

    def to_spec(self) -> dict:
        return {"type": self.type_name, **dataclasses.asdict(self)}

    def __call__(self, waveform: np.ndarray, sample_rate: int,
                 rng: np.random.Generator) -> np.ndarray:
        """Deform mono `waveform` at `sample_rate`; a new float32 array, the input untouched."""
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 1:
            raise ValueError(f"{self.key}: expects a mono (1-D) waveform, got shape "
                             f"{waveform.shape}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
                or sample_rate <= 0:
            raise ValueError(f"{self.key}: sample_rate must be a positive integer, "
                             f"not {sample_rate!r}")
        if waveform.size == 0:  # nothing to deform; every deformation maps empty to empty
            return waveform.copy()
        out = self.apply(waveform, int(sample_rate), rng)
        return np.ascontiguousarray(out, dtype=np.float32)

    def apply(self, waveform: np.ndarray, sample_rate: int,
              rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Chain(Deformation):
    """Several deformations applied in order (a spec that is a list of specs)."""

    type_name: ClassVar[str] = "chain"
    steps: tuple[Deformation, ...] = ()

    def check(self) -> None:
        if not self.steps:
            raise self.fail("a chain needs at least one step")

    @property
    def key(self) -> str:
        return "+".join(step.key for step in self.steps)

    @property
    def uses_rng(self) -> bool:
        return any(step.uses_rng for step in self.steps)

    def to_spec(self) -> list:  # type: ignore[override]
        return [step.to_spec() for step in self.steps]

    def apply(self, waveform, sample_rate, rng):
        for step in self.steps:
            waveform = step(waveform, sample_rate, rng)
        return waveform


def _show(spec) -> str:
    text = repr(dict(spec) if isinstance(spec, Mapping) else spec)
    return text if len(text) <= 160 else text[:157] + "..."


def build_deformation(spec, where: str = "deformation") -> Deformation:
    """A configured deformation from a spec mapping (or a list of them, for a chain).

    Raises ConfigError, one line naming `where` and the spec, for an unknown type, unknown
    or missing keys, or a bad value."""
    if isinstance(spec, Deformation):
        return spec
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        if not spec:
            raise ConfigError(f"{where} {_show(spec)}: an empty list of deformations")
        return Chain(tuple(build_deformation(step, f"{where}[{i}]")
                           for i, step in enumerate(spec)))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} {_show(spec)}: expected a mapping with a 'type' key")
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in DEFORMATIONS:
        problem = "has no 'type' key" if kind is None else f"unknown type {kind!r}"
        raise ConfigError(f"{where} {_show(spec)}: {problem} "
                          f"(known: {', '.join(sorted(DEFORMATIONS))})")
    cls = DEFORMATIONS[kind]
    params = {k: v for k, v in spec.items() if k != "type"}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(params) - set(fields)))
    if unknown:
        raise ConfigError(f"{where} {_show(spec)}: unknown key(s) {', '.join(unknown)} "
                          f"(known for {kind}: {', '.join(fields) or 'none'})")
    missing = [name for name, f in fields.items() if name not in params
               and f.default is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where} {_show(spec)}: missing key(s) {', '.join(missing)}")
    try:
        return cls(**params)
    except _ParameterError as error:
        raise ConfigError(f"{where} {_show(spec)}: {error.problem}") from None


def build_deformations(specs, where: str = "deformations") -> list[Deformation]:
    """Build a list of specs; two that configure the same deformation are an error too."""
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Sequence):
        raise ConfigError(f"{where}: expected a list of deformation specs, not {_show(specs)}")
    built, seen = [], {}
    for i, spec in enumerate(specs):
        deformation = build_deformation(spec, f"{where}[{i}]")
        if deformation.key in seen:
            raise ConfigError(f"{where}[{i}] {_show(spec)}: the same deformation as "
                              f"{where}[{seen[deformation.key]}] ({deformation.key})")
        seen[deformation.key] = i
        built.append(deformation)
    return built


def load_deformations(path: str | Path, section: str = "deformations") -> list[Deformation]:
    """The deformations listed under `section` in a YAML file."""
    data = read_yaml_mapping(path)
    if section not in data:
        raise ConfigError(f"{path}: no {section!r} section")
    return build_deformations(data[section], f"{path}: {section}")
