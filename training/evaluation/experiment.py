"""An evaluation experiment from one YAML file: models × data sets × deformations × tasks.

    id: demo-shipped                # the run folder: <out_dir>/<id>/
    models: [{name: shipped}]       # bundle: a folder; none = the shipped model
    datasets: [{name: demo-test, split: test, data: {corpus: demo}}]
    deformations: [default]         # "default" = the issue's robustness set; or specs
    tasks: [tag_retrieval]
    sentences: configs/queries/sentences.yaml   # the `sentences` task's queries (this default)
    query_modes: [word, sentence, auto]   # text tasks' query paths, one row each (default [auto])
    seeds: [0, 1, 2]                # for deformations that draw random numbers

Every field is checked, and every problem named in one line, before any audio is read.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval.bundle import default_bundle_path, read_bundle_config
from retrieval.routing import MODES

from ..config import (ConfigError, DataConfig, folder_problem, from_mapping, raise_problems,
                      read_yaml_mapping)
from ..corpus.timbre import soundfont_sha256
from ..deformations import DEFAULT_ROBUSTNESS_SET, Deformation, build_deformations
from .sentences import DEFAULT_SENTENCES, SentenceSet, load_sentences

__all__ = ["ModelSpec", "DatasetSpec", "ExperimentConfig", "load_experiment", "TASKS",
           "METRICS"]

# Task name → what it measures; the runner has one function per name.
TASKS = {"tag_retrieval": "tag → music: songs ranked by each tag's embedding",
         "text_retrieval": "caption → music: R@1/5/10, MRR, median rank",
         "sentences": "natural sentence → music: hit@K, recall@K, MRR, MAP, median rank",
         "triplets": "similar by example: triplet accuracy by shared tags",
         "probe": "linear and one-hidden-layer MLP probes on frozen song vectors",
         "joint_map": "2-D t-SNE map of songs, tags and captions"}
METRICS = ("map", "p@k", "roc_auc", "pr_auc")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class ModelSpec:
    name: str = "shipped"
    bundle: str | None = None       # a bundle folder; None = the model shipped in the package

    @property
    def folder(self) -> Path:
        return Path(self.bundle) if self.bundle else default_bundle_path()


@dataclass
class DatasetSpec:
    name: str = "demo-test"
    data: DataConfig = field(default_factory=DataConfig)
    split: str = "test"
    probe_split: str = "train"      # the probes are trained on this split's song vectors


@dataclass
class ExperimentConfig:
    id: str | None = None           # default: the config file's name
    out_dir: str = "runs/eval"
    models: list[ModelSpec] = field(default_factory=lambda: [ModelSpec()])
    datasets: list[DatasetSpec] = field(default_factory=lambda: [DatasetSpec()])
    deformations: list = field(default_factory=list)   # specs, or "default"
    timbres: list[str] = field(default_factory=list)   # SoundFonts to render each split with
    tasks: list[str] = field(default_factory=lambda: ["tag_retrieval"])
    sentences: str = DEFAULT_SENTENCES  # the sentence file of the `sentences` task
    # text_retrieval and sentences run once per mode (retrieval.routing); a mode needing a
    # sentence tower is skipped, with a note, for a model without one
    query_modes: list[str] = field(default_factory=lambda: ["auto"])
    metrics: list[str] = field(default_factory=lambda: list(METRICS))
    k: int = 10
    min_positives: int = 5          # a tag enters the means with this many positive songs
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    cache_dir: str | None = None    # embeddings and deformed audio; default: the data home
    threads: int | None = 1         # torch threads (1 is fastest on a shared 2-core machine)
    publish: str | None = None      # also write the report here (e.g. docs/EVALUATION.md)

    def to_dict(self) -> dict:
        return asdict(self)

    def built_deformations(self, where: str = "deformations") -> list[Deformation]:
        specs = []
        for spec in self.deformations:
            specs += [dict(s) for s in DEFAULT_ROBUSTNESS_SET] if spec == "default" else [spec]
        return build_deformations(specs, where)

    def sentence_set(self) -> SentenceSet:
        """The sentence file, read and checked (its tags are checked against each catalog
        by the runner, once the catalogs are resolved)."""
        return load_sentences(self.sentences)

    def problems(self) -> list[str]:
        problems = []
        if self.id is not None and not _NAME.fullmatch(self.id):
            problems.append(f"id must be a plain name (letters, digits, . _ -), got {self.id!r}")
        problems += filter(None, [folder_problem(self.out_dir, "out_dir")])
        if self.publish is not None:
            problems += filter(None, [folder_problem(Path(self.publish).parent, "publish")])
            if Path(self.publish).is_dir():
                problems.append(f"publish: {self.publish} is a folder, not a file name")
        if self.cache_dir is not None:
            problems += filter(None, [folder_problem(self.cache_dir, "cache_dir")])
        for what, items in (("models", self.models), ("datasets", self.datasets)):
            names = [item.name for item in items]
            if not items:
                problems.append(f"{what}: name at least one")
            problems += [f"{what}: {n!r} is not a plain name" for n in names
                         if not _NAME.fullmatch(n)]
            problems += [f"{what}: {n!r} is named twice" for n in sorted(set(names))
                         if names.count(n) > 1]
        for model in self.models:
            if not model.folder.is_dir():
                problems.append(f"models.{model.name}: no bundle folder at {model.folder}")
        for dataset in self.datasets:
            problems += dataset.data.problems(f"datasets.{dataset.name}.data")
            if not dataset.split.strip():
                problems.append(f"datasets.{dataset.name}.split must name a split, e.g. test")
        for soundfont in self.timbres:
            if not Path(soundfont).is_file():
                problems.append(f"timbres: no SoundFont file at {soundfont}")
        if "sentences" in self.tasks and not Path(self.sentences).is_file():
            problems.append(f"sentences: no sentence file at {self.sentences}")
        problems += _choice_problems("tasks", self.tasks, TASKS)
        problems += _choice_problems("query_modes", self.query_modes, MODES)
        if len(set(self.query_modes)) < len(self.query_modes):
            problems.append(f"query_modes: a mode is named twice in {self.query_modes}")
        problems += _choice_problems("metrics", self.metrics, METRICS, required=False)
        if self.k < 1:
            problems.append(f"k must be ≥ 1 (precision at k songs), got {self.k}")
        if self.min_positives < 1:
            problems.append(f"min_positives must be ≥ 1, got {self.min_positives}")
        if not self.seeds or min(self.seeds) < 0 or len(set(self.seeds)) < len(self.seeds):
            problems.append(f"seeds must be distinct non-negative integers, got {self.seeds}")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be ≥ 1, got {self.threads}")
        return problems

    def validate(self, where: str = "config") -> "ExperimentConfig":
        if not isinstance(self.deformations, list):
            raise ConfigError(f"{where}: deformations: expected a list of specs or 'default'")
        raise_problems(self.problems(), where)
        self.built_deformations(f"{where}: deformations")   # names the bad spec
        if "sentences" in self.tasks:
            self.sentence_set()                              # names the bad entry
        trained_on = {}
        for model in self.models:
            config = read_bundle_config(model.folder)   # BundleError names what is missing
            training = config.get("training") or {}
            # the corpus's SoundFont and those of any extra training renderings
            fonts = [(training.get("corpus") or {}).get("soundfont", {})] + [
                (r or {}).get("soundfont") for r in training.get("renderings") or []]
            for font in fonts:
                if isinstance(font, dict) and font.get("sha256"):
                    trained_on[font["sha256"]] = model.name
        for soundfont in self.timbres:
            try:
                sha = soundfont_sha256(soundfont)
            except ConfigError as error:
                raise ConfigError(f"{where}: timbres: {error}") from None
            if sha in trained_on:   # an "unseen" timbre must really be unseen
                raise ConfigError(f"{where}: timbres: {soundfont} is the SoundFont model "
                                  f"{trained_on[sha]!r} was trained on")
        return self


def _choice_problems(name: str, given: list, known, required: bool = True) -> list[str]:
    """A list field whose items must come from `known`: the unknown ones, or none given."""
    unknown = [item for item in given if item not in known]
    if unknown:
        return [f"{name}: unknown {', '.join(map(repr, unknown))} (known: {', '.join(known)})"]
    return [f"{name}: name one"] if required and not given else []


def load_experiment(path: str | Path) -> ExperimentConfig:
    config = from_mapping(ExperimentConfig, read_yaml_mapping(path), where=str(path))
    if config.id is None:
        config.id = Path(path).stem
    return config.validate(str(path))
