"""Typed training configuration, loaded from YAML (configs/*.yaml).

One dataclass per section; unknown keys and wrong types are errors that name the key, so
a typo in a config never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.frontend import FrontendConfig
from retrieval.towers import AudioTowerConfig, WordTowerConfig
from retrieval.word_vectors import GLOVE_PACKAGE, WordVectorsConfig

__all__ = ["ConfigError", "DataConfig", "ObjectiveConfig", "OptimConfig", "TrainConfig",
           "load_train_config", "from_mapping", "read_yaml_mapping", "raise_problems",
           "folder_problem"]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and key."""


def _positive(value) -> bool:
    return math.isfinite(value) and value > 0


def folder_problem(path: str | Path, what: str) -> str | None:
    """Why `path` cannot become a folder (a file is in the way), or None."""
    for candidate in (Path(path), *Path(path).parents):
        if candidate.exists():
            return None if candidate.is_dir() else f"{what}: {candidate} is a file, not a folder"
    return None


def raise_problems(problems: list[str], where: str) -> None:
    """One ConfigError naming every problem at once, so one edit fixes the config."""
    if problems:
        raise ConfigError(f"{where}: {'; '.join(problems)}")


@dataclass
class DataConfig:
    corpus: str = "demo"          # a corpus folder with catalog.jsonl, or "demo" (the default)
    catalog: str | None = None    # an explicit catalog file instead of <corpus>/catalog.jsonl
    corpus_tracks: int = 1600     # size of the demo corpus to build if `corpus` is "demo"
    min_tag_tracks: int = 10      # tags on fewer training tracks are left out of the vocabulary
    cache_dir: str | None = None  # feature cache; default: the musicsearch data home

    def problems(self, prefix: str = "data") -> list[str]:
        checks = [
            (bool(self.corpus), f"{prefix}.corpus must name a folder or 'demo'"),
            (self.corpus_tracks >= 1, f"{prefix}.corpus_tracks must be ≥ 1"),
            (self.min_tag_tracks >= 1, f"{prefix}.min_tag_tracks must be ≥ 1"),
            (self.catalog is None or Path(self.catalog).is_file(),
             f"{prefix}.catalog not found: {self.catalog}"),
            (self.catalog is not None or self.corpus == "demo"
             or (Path(self.corpus) / "catalog.jsonl").is_file(),
             f"{prefix}.corpus: no catalog.jsonl in {self.corpus}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if self.cache_dir is not None:
            problems += filter(None, [folder_problem(self.cache_dir, f"{prefix}.cache_dir")])
        return problems


@dataclass
class ObjectiveConfig:
    loss: str = "triplet"                 # see training.losses.LOSSES
    margin: float = 0.4                   # Won's repository value
    sampler: str = "balanced_weighted"    # see training.samplers.SAMPLERS

    def problems(self) -> list[str]:
        from .losses import LOSSES
        from .samplers import SAMPLERS
        checks = [
            (self.loss in LOSSES, f"objective.loss {self.loss!r} is not one of {', '.join(LOSSES)}"),
            (self.sampler in SAMPLERS,
             f"objective.sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}"),
            # cosine distances lie in [0, 2]: a margin outside (0, 2] never or always binds
            (math.isfinite(self.margin) and 0 < self.margin <= 2,
             f"objective.margin must be in (0, 2], got {self.margin}"),
        ]
        return [message for ok, message in checks if not ok]


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

    def problems(self) -> list[str]:
        checks = [
            (_positive(self.lr), f"optim.lr must be a finite number > 0, got {self.lr}"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             f"optim.weight_decay must be a finite number ≥ 0, got {self.weight_decay}"),
            (self.batch_size >= 2, f"optim.batch_size must be ≥ 2 (a triplet needs another "
                                   f"song of the batch), got {self.batch_size}"),
            (self.steps_per_epoch >= 1,
             f"optim.steps_per_epoch must be ≥ 1, got {self.steps_per_epoch}"),
            (self.epochs >= 1, f"optim.epochs must be ≥ 1, got {self.epochs}"),
            (self.max_minutes is None or _positive(self.max_minutes),
             f"optim.max_minutes must be > 0 (or null), got {self.max_minutes}"),
            (self.seed >= 0, f"optim.seed must be ≥ 0, got {self.seed}"),
            (self.threads is None or self.threads >= 1,
             f"optim.threads must be ≥ 1 (or null), got {self.threads}"),
        ]
        return [message for ok, message in checks if not ok]


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
        """Check names, sizes and ranges now, not after minutes of feature extraction."""
        # each of the audio tower's blocks halves frequency and time (2×2 max-pooling)
        pooled = 2 ** len(self.audio.channels)
        checks = [
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
            (all(width >= 1 for width in self.audio.channels), "audio.channels must all be ≥ 1"),
            (self.frontend.n_mels >= pooled and self.frontend.chunk_frames >= pooled,
             f"frontend.n_mels and frontend.chunk_frames must be ≥ {pooled} "
             f"({len(self.audio.channels)} pooling blocks), got {self.frontend.n_mels} and "
             f"{self.frontend.chunk_frames}"),
            (min(self.audio.backbone_dim, self.audio.joint_dim, self.word.hidden_dim,
                 self.word_vectors.dim) >= 1,
             "audio.backbone_dim, audio.joint_dim, word.hidden_dim and word_vectors.dim "
             "must be ≥ 1"),
            (0 <= self.audio.dropout < 1 and 0 <= self.word.dropout < 1,
             "audio.dropout and word.dropout must be in [0, 1)"),
            (self.max_chunks >= 1, f"max_chunks must be ≥ 1, got {self.max_chunks}"),
            (bool(self.out), "out must name a run folder"),
        ]
        problems = (self.data.problems() + self.objective.problems() + self.optim.problems()
                    + [message for ok, message in checks if not ok])
        problems += filter(None, [folder_problem(self.out, "out")])
        raise_problems(problems, where)
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
    if annotation is float:
        # YAML 1.1 reads 1e-3 (no dot) as a string: accept what float() accepts
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    # bool is an int in Python: `epochs: true` must not mean one epoch
    if annotation in (int, str, bool) and (not isinstance(value, annotation)
                                           or annotation is int and isinstance(value, bool)):
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
    values = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as error:   # a section that checks itself (e.g. FrontendConfig)
        raise ConfigError(f"{where}: {error}") from None


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
