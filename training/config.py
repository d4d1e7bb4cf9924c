"""Typed training configuration, loaded from YAML (configs/*.yaml).

One dataclass per section; unknown keys and wrong types are errors that name the key, so
a typo in a config never silently falls back to a default. The `model` section is the
model's own config (retrieval.model_config.ModelConfig: front end, towers by kind and
type, max_chunks), read by the same loader as a bundle's; the tag vocabulary is not part
of it, since training derives it from the data.

Configs written before towers were registered (top-level frontend, audio, word,
word_vectors, max_chunks) are translated into a `model` section.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.model_config import LEGACY_KEYS, ModelConfig, from_legacy_layout
from retrieval.typed_config import ConfigError, from_mapping

from .caption_config import SentenceTrainingConfig
from .augment import AugmentConfig

__all__ = ["ConfigError", "DataConfig", "LossTermConfig", "ObjectiveConfig", "OptimConfig", "TrainConfig",
           "load_train_config", "from_mapping", "read_yaml_mapping", "raise_problems",
           "folder_problem", "translate_legacy_layout"]


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
    # extra renderings of the training tracks (training.crops): SoundFont names (see
    # training.corpus.soundfonts), .sf2 paths or rendered folders; FluidR3 is refused
    renderings: list[str] = field(default_factory=list)

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
        return problems + self._rendering_problems(prefix)

    def _rendering_problems(self, prefix: str) -> list[str]:
        from .corpus.soundfonts import SOUNDFONTS
        problems = [f"{prefix}.renderings: {name!r} is neither a SoundFont name "
                    f"({', '.join(SOUNDFONTS)}), an existing .sf2 file, nor a folder"
                    for name in self.renderings
                    if name.lower() not in SOUNDFONTS and not Path(name).expanduser().exists()]
        if len(set(map(str.lower, self.renderings))) < len(self.renderings):
            problems.append(f"{prefix}.renderings: a rendering is named twice")
        return problems


@dataclass
class LossTermConfig:
    """One weighted objective of `objective.losses`; unset parameters take the section's."""
    name: str = "triplet"                 # see training.objectives.OBJECTIVES
    weight: float = 1.0
    margin: float | None = None           # triplet
    negatives: str | None = None          # triplet: uniform | distance_weighted | similarity
    temperature: float | None = None      # contrastive


@dataclass
class ObjectiveConfig:
    """Either one objective (`loss`, the original layout) or a weighted sum (`losses`)."""
    loss: str | None = None               # one objective, weight 1; default: triplet
    margin: float = 0.4                   # Won's repository value
    sampler: str = "balanced_weighted"    # see training.samplers.SAMPLERS
    negatives: str | None = None          # see NEGATIVE_WEIGHTINGS; None: the sampler's
    temperature: float = 0.07             # contrastive (CLIP's initial value)
    losses: list[LossTermConfig] = field(default_factory=list)

    def term_configs(self) -> list[LossTermConfig]:
        return self.losses or [LossTermConfig(name=self.loss or "triplet")]

    def problems(self) -> list[str]:
        from .samplers import SAMPLERS
        checks = [
            (self.sampler in SAMPLERS,
             f"objective.sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}"),
            (not (self.loss and self.losses),
             "objective: give either loss (one objective) or losses (a weighted list), "
             "not both"),
            (not self.losses or sum(t.weight for t in self.losses if math.isfinite(t.weight)) > 0,
             "objective.losses: the weights must not all be 0"),
        ]
        problems = [message for ok, message in checks if not ok]
        problems += _term_problems("objective", LossTermConfig(
            self.loss or "triplet", 1.0, self.margin, self.negatives, self.temperature),
            check_use=False)
        for number, term in enumerate(self.losses):
            problems += _term_problems(f"objective.losses[{number}]", term)
        return problems

    def terms(self, sampler) -> list:
        """The objectives with their weights and keyword arguments; a triplet without a
        negative weighting takes the sampler's."""
        from .objectives import ObjectiveTerm, objective_params
        defaults = {"margin": self.margin, "temperature": self.temperature,
                    "negatives": self.negatives or sampler.negatives}
        out = []
        for term in self.term_configs():
            accepted = objective_params(term.name)
            params = {key: value if value is not None else defaults[key]
                      for key, value in _term_params(term).items() if key in accepted}
            out.append(ObjectiveTerm(term.name, term.weight, params))
        return out


def _term_params(term: LossTermConfig) -> dict:
    return {"margin": term.margin, "negatives": term.negatives, "temperature": term.temperature}


def _term_problems(prefix: str, term: LossTermConfig, check_use: bool = True) -> list[str]:
    """Unknown names, out-of-range values, and (in a list) parameters the objective lacks."""
    from .objectives import NEGATIVE_WEIGHTINGS, OBJECTIVES, objective_params
    name = "loss" if prefix == "objective" else "name"
    if term.name not in OBJECTIVES:
        return [f"{prefix}.{name} {term.name!r} is not one of {', '.join(OBJECTIVES)}"]
    checks = [
        (math.isfinite(term.weight) and term.weight >= 0,
         f"{prefix}.weight must be a finite number ≥ 0, got {term.weight}"),
        (term.negatives is None or term.negatives in NEGATIVE_WEIGHTINGS,
         f"{prefix}.negatives {term.negatives!r} is not one of {', '.join(NEGATIVE_WEIGHTINGS)}"),
        # cosine distances lie in [0, 2]: a margin outside (0, 2] never or always binds
        (term.margin is None or (math.isfinite(term.margin) and 0 < term.margin <= 2),
         f"{prefix}.margin must be in (0, 2], got {term.margin}"),
        (term.temperature is None or _positive(term.temperature),
         f"{prefix}.temperature must be a finite number > 0, got {term.temperature}"),
    ]
    problems = [message for ok, message in checks if not ok]
    if check_use:
        accepted = objective_params(term.name)
        problems += [f"{prefix}.{key} does not apply to {term.name}"
                     for key, value in _term_params(term).items()
                     if value is not None and key not in accepted]
    return problems


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
    threads: int | None = None            # torch intra-op threads; default: $OMP_NUM_THREADS, else 1
    init_from: str | None = None          # a bundle folder or "shipped": start from its weights
    # the global batch split into this many shards, each drawn from its own random stream
    # (training.distributed); None: one per process under torchrun, unsharded otherwise
    shards: int | None = None
    # auto: CUDA where available, else the CPU; under torchrun cuda:LOCAL_RANK (training.device)
    device: str = "auto"

    def problems(self) -> list[str]:
        shards = self.shards or 1
        checks = [
            (self.device in ("auto", "cpu", "cuda"),
             f"optim.device must be auto, cpu or cuda, got {self.device!r}"),
            (self.shards is None or self.shards >= 1,
             f"optim.shards must be ≥ 1 (or null), got {self.shards}"),
            (self.batch_size % shards == 0 and self.batch_size // shards >= 2,
             f"optim.batch_size {self.batch_size} must split into optim.shards {shards} "
             "equal shards of ≥ 2 songs"),
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
            (self.init_from in (None, "shipped") or Path(self.init_from).is_dir(),
             f"optim.init_from: no bundle folder at {self.init_from}"),
            (self.threads is None or self.threads >= 1,
             f"optim.threads must be ≥ 1 (or null), got {self.threads}"),
        ]
        return [message for ok, message in checks if not ok]


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sentences: SentenceTrainingConfig = field(default_factory=SentenceTrainingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)   # off by default
    out: str = "runs/demo"           # `sentences` applies when model.towers has a sentence tower

    @property
    def frontend(self):
        return self.model.frontend

    def to_dict(self) -> dict:
        return {"data": dataclasses.asdict(self.data), "model": self.model.to_dict(),
                "objective": dataclasses.asdict(self.objective),
                "optim": dataclasses.asdict(self.optim), "augment": self.augment.to_dict(),
                "sentences": dataclasses.asdict(self.sentences), "out": self.out}

    def model_config(self, tags: list[str] | None = None) -> ModelConfig:
        """The model this config trains, with the tag vocabulary training derived."""
        return dataclasses.replace(self.model, tags=list(tags or []))

    def validate(self, where: str = "config") -> "TrainConfig":
        """Check names, sizes and ranges now, not after minutes of feature extraction."""
        checks = [
            (not self.model.tags, "model.tags: the tag vocabulary comes from the training "
                                  "data (data.min_tag_tracks); remove it"),
            (bool(self.out), "out must name a run folder"),
            (self.sentences.branches != "three" or "sentence" in self.model.towers,
             "sentences.branches: three needs a sentence tower (model.towers.sentence)"),
            # augmentation transforms log-mels; a frozen backbone's features are cached once
            (not self.augment.enabled or self.model.audio_frontend is self.model.frontend,
             "augment: log-mel augmentation does not apply to the cached features of a "
             "frozen backbone (model.towers.audio.type "
             f"{getattr(self.model.towers.get('audio'), 'type', None)}); remove it"),
        ]
        problems = (self.data.problems() + self.objective.problems() + self.optim.problems()
                    + self.sentences.problems() + self.augment.problems()
                    + self.model.problems("model.")
                    + [message for ok, message in checks if not ok])
        problems += filter(None, [folder_problem(self.out, "out")])
        raise_problems(problems, where)
        return self


def translate_legacy_layout(data: dict, where: str = "config") -> dict:
    """A training mapping with the pre-tower top-level model sections moved into `model`."""
    legacy = [key for key in ("frontend", *LEGACY_KEYS, "max_chunks") if key in data]
    if not legacy:
        return data
    if "model" in data:
        raise ConfigError(f"{where}: {', '.join(legacy)} belong inside the model section "
                          "(model.frontend, model.towers, model.max_chunks)")
    out = {key: value for key, value in data.items() if key not in legacy}
    out["model"] = from_legacy_layout({key: data[key] for key in legacy}, where)
    return out


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file's top-level mapping, or a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (a config is YAML)") from None
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
    data = translate_legacy_layout(data, str(path))
    return from_mapping(TrainConfig, data, where=str(path)).validate(str(path))
