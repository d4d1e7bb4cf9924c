"""Typed training configuration, loaded from YAML (configs/*.yaml).

One dataclass per section; unknown keys and wrong types are errors that name the key, so
a typo in a config never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.frontend import FrontendConfig
from retrieval.towers import AudioTowerConfig, WordTowerConfig
from retrieval.word_vectors import GLOVE_PACKAGE, WordVectorsConfig

__all__ = ["ConfigError", "DataConfig", "ObjectiveConfig", "OptimConfig", "TrainConfig",
           "load_train_config", "from_mapping", "read_yaml_mapping"]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and key."""


@dataclass
class DataConfig:
    corpus: str = "demo"          # a corpus folder with catalog.jsonl, or "demo" (the default)
    catalog: str | None = None    # an explicit catalog file instead of <corpus>/catalog.jsonl
    corpus_tracks: int = 1600     # size of the demo corpus to build if `corpus` is "demo"
    min_tag_tracks: int = 10      # tags on fewer training tracks are left out of the vocabulary
    cache_dir: str | None = None  # feature cache; default: the musicsearch data home


@dataclass
class ObjectiveConfig:
    loss: str = "triplet"                 # see training.losses.LOSSES
    margin: float = 0.4                   # Won's repository value
    sampler: str = "balanced_weighted"    # see training.samplers.SAMPLERS


@dataclass
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    steps_per_epoch: int = 100
    epochs: int = 20
    cosine_decay: bool = True             # lr follows a cosine from `lr` to 0 over all steps
    max_minutes: float | None = None      # stop early (keeping the best epoch) past this
    seed: int = 0
    threads: int | None = None            # torch intra-op threads; default: all cores


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    audio: AudioTowerConfig = field(default_factory=AudioTowerConfig)
    word: WordTowerConfig = field(default_factory=WordTowerConfig)
    word_vectors: WordVectorsConfig = field(default_factory=WordVectorsConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    max_chunks: int = 8
    out: str = "runs/demo"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self, where: str = "config") -> "TrainConfig":
        """Check names and sizes now, not after minutes of feature extraction."""
        from .losses import LOSSES
        from .samplers import SAMPLERS
        checks = [
            (self.objective.loss in LOSSES,
             f"objective.loss {self.objective.loss!r} is not one of {', '.join(LOSSES)}"),
            (self.objective.sampler in SAMPLERS,
             f"objective.sampler {self.objective.sampler!r} is not one of {', '.join(SAMPLERS)}"),
            (self.word_vectors.source in (GLOVE_PACKAGE, "file"),
             f"word_vectors.source must be {GLOVE_PACKAGE!r} or 'file'"),
            (self.word_vectors.source != "file" or bool(self.word_vectors.path)
             and Path(self.word_vectors.path).is_file(),
             f"word_vectors.path not found: {self.word_vectors.path}"),
            (self.word.word_dim == self.word_vectors.dim,
             f"word.word_dim ({self.word.word_dim}) must equal word_vectors.dim "
             f"({self.word_vectors.dim})"),
            (self.audio.joint_dim == self.word.joint_dim,
             f"audio.joint_dim ({self.audio.joint_dim}) must equal word.joint_dim "
             f"({self.word.joint_dim})"),
            (self.audio.n_mels == self.frontend.n_mels,
             f"audio.n_mels ({self.audio.n_mels}) must equal frontend.n_mels "
             f"({self.frontend.n_mels})"),
            (len(self.audio.channels) == 7, "audio.channels needs 7 widths (128 mels pool to 1)"),
            (self.optim.batch_size >= 2 and self.optim.epochs >= 1
             and self.optim.steps_per_epoch >= 1,
             "optim.batch_size must be ≥ 2, epochs and steps_per_epoch ≥ 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{where}: {message}")
        return self


def _coerce(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return from_mapping(annotation, value, where)
    if origin is typing.Union or (origin is not None and type(None) in args):
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return [_coerce(v, args[0], where) for v in value]
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool) and not isinstance(value, annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def from_mapping(cls, data: dict, where: str = "config"):
    """Build dataclass `cls` from a mapping, checking keys and types recursively."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(names))})")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file's top-level mapping, or a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_train_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    data = read_yaml_mapping(path)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return from_mapping(TrainConfig, data, where=str(path)).validate(str(path))
