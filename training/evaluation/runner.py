"""Run an experiment: every model × data set × condition (clean, each deformation and seed)
× task, song embeddings from the cache, results and a report under <out_dir>/<id>/.

    config.json     the resolved config, model fingerprints, catalogs
    metrics.json    one row per (model, data set, condition, seed, task, query mode):
                    summary metrics (the mode only for the text tasks, see query_modes.py)
    per_query.json  per tag (the queries of tag → music) for every row
    report.md       tables and plots (see report.py)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from retrieval import strict_json
from retrieval.bundle import load_bundle
from retrieval.paths import data_home, default_cache_dir

from ..config import ConfigError
from ..data import load_catalog_splits, resolve_catalog
from .embeddings import EmbeddingCache
from .experiment import ExperimentConfig
from .joint_map import plot_joint_map
from .probe import probe_tags
from .query_modes import QUERY_TASKS, example_modes, example_queries, query_encoder, usable_modes
from .query_tasks import text_retrieval, triplet_accuracy
from .sentences import check_tags, sentence_retrieval
from .tag_task import evaluate_song_vectors

__all__ = ["run_experiment", "Row"]


@dataclass
class Row:
    model: str
    dataset: str
    condition: str              # "clean" or a deformation key (without the seed)
    seed: int | None            # the seed of a deformation that draws random numbers
    task: str
    tracks: int
    summary: dict               # flat metric name → value
    per_query: dict             # group → query → metrics
    seconds: float = 0.0        # embedding this condition (0 when all came from the cache)
    mode: str | None = None     # the query path of a text task (word, sentence, auto)


def _flatten(result: dict) -> dict:
    """{group: {metric: value, per_category: {cat: {metric: value}}}} → "group/metric"."""
    flat = {}
    for group, values in result.items():
        for name, value in values.items():
            if isinstance(value, (int, float)):
                flat[f"{group}/{name}"] = value
        for category, values_ in values.get("per_category", {}).items():
            for name, value in values_.items():
                flat[f"{group}/{category}/{name}"] = value
    return flat


def _tag_retrieval(model, records, vectors,
                   config: ExperimentConfig, context: dict) -> tuple[dict, dict]:
    result = evaluate_song_vectors(model, records, vectors, k=config.k,
                                   min_positives=config.min_positives)
    per_query = {group: values["per_tag"] for group, values in result.items()}
    summary = _flatten(result)
    summary.update({f"{g}/excluded": len(v["excluded"]) for g, v in result.items()})
    return summary, per_query


def _text_retrieval(model, records, vectors,
                   config: ExperimentConfig, context: dict) -> tuple[dict, dict]:
    return text_retrieval(model, records, vectors, context["encode"])


def _sentences(model, records, vectors,
               config: ExperimentConfig, context: dict) -> tuple[dict, dict]:
    return sentence_retrieval(model, records, vectors, context["sentences"], context["encode"])


def _triplets(model, records, vectors,
                   config: ExperimentConfig, context: dict) -> tuple[dict, dict]:
    """Mean ± std of triplet accuracy over the run's seeds (each draws its own triplets)."""
    runs = [triplet_accuracy(records, vectors, seed)[0] for seed in config.seeds]
    if not runs[0]:
        return {}, {}
    accuracies = [run["triplets/accuracy"] for run in runs]
    return {**runs[0], "triplets/accuracy": float(np.mean(accuracies)),
            "triplets/accuracy_std": float(np.std(accuracies, ddof=1)) if len(runs) > 1 else 0.0,
            "triplets/seeds": len(runs)}, {}


def _probe(model, records, vectors,
                   config: ExperimentConfig, context: dict) -> tuple[dict, dict]:
    train_records, train_vectors = context["probe_train"]()
    return probe_tags(train_records, train_vectors, records, vectors, seeds=config.seeds,
                      k=config.k, min_positives=config.min_positives), {}


def _joint_map(model, records, vectors, config: ExperimentConfig, context: dict):
    path = plot_joint_map(model, records, vectors, context["run_dir"] / f"{context['stem']}.png",
                          f"joint space: {context['stem']} (t-SNE)")
    context["maps"].append(path.name)
    return {}, {}


TASK_FUNCTIONS = {"tag_retrieval": _tag_retrieval, "text_retrieval": _text_retrieval,
                  "sentences": _sentences,
                  "triplets": _triplets, "probe": _probe, "joint_map": _joint_map}
CLEAN_ONLY = {"probe", "joint_map"}   # they describe the embedding, not its robustness


def _conditions(config: ExperimentConfig, records, timbres: dict[str, list]):
    """(condition, deformation, seed, records): clean, each deformation (per seed when it
    draws random numbers) on the same records, then each timbre's re-rendered records."""
    yield "clean", None, None, records
    for deformation in config.built_deformations():
        for seed in (config.seeds if deformation.uses_rng else [None]):
            yield deformation.key, deformation, seed, records
    for name, timbre_records in timbres.items():
        yield name, None, None, timbre_records


def probe_train(cache: EmbeddingCache, dataset, progress: bool, info: dict):
    """(records, vectors) of the data set's probe_split, clean (from the cache)."""
    catalog = resolve_catalog(dataset.data, progress=progress)
    records = load_catalog_splits(catalog).get(dataset.probe_split, [])
    if not records:
        raise ConfigError(f"datasets.{dataset.name}: no tracks in probe_split "
                          f"{dataset.probe_split!r} to train the probes on")
    songs = cache.vectors([r.path for r in records],
                          progress=(lambda items: tqdm(items, desc="probe training split",
                                                       total=len(records), leave=False))
                          if progress else None)
    info["computed"] += songs.computed
    return [records[i] for i in songs.kept], songs.vectors


def _timbres(config: ExperimentConfig, catalog: Path, split: str, progress: bool) -> dict:
    from ..corpus.timbre import render_splits
    out = {}
    for soundfont in config.timbres:
        rendered = render_splits(catalog, soundfont, (split,), progress=progress)
        out[f"timbre-{Path(soundfont).stem}"] = load_catalog_splits(rendered).get(split, [])
    return out


def run_experiment(config: ExperimentConfig, progress: bool = True,
                   command: str = "musicsearch evaluate --config FILE") -> dict:
    """Run every combination; returns what metrics.json holds (plus the report's path).
    `command` is how to rerun it, written at the top of the report."""
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = Path(config.out_dir) / config.id
    cache_root = Path(config.cache_dir) if config.cache_dir else data_home() / "eval-cache"
    rows: list[Row] = []
    info = {"id": config.id, "command": command, "config": config.to_dict(), "models": {},
            "datasets": {}, "skipped": {}, "computed": 0, "maps": [], "notes": [],
            "examples": {}}
    models = {spec.name: load_bundle(spec.folder) for spec in config.models}
    encoders = {}   # model → {mode: encode}, memoised across conditions
    for name, model in models.items():
        modes, notes = usable_modes(model, config.query_modes, name)
        encoders[name] = {mode: query_encoder(model, mode) for mode in modes}
        info["models"][name] = {"bundle": str(model.bundle_path),
                                "fingerprint": model.fingerprint, "query_modes": modes}
        if any(task in QUERY_TASKS for task in config.tasks):
            info["notes"] += notes
    sentences = config.sentence_set() if "sentences" in config.tasks else None
    splits, timbres = {}, {}    # every data set resolved before any audio is encoded
    for dataset in config.datasets:
        catalog = resolve_catalog(dataset.data, progress=progress)
        every_split = load_catalog_splits(catalog)
        records = every_split.get(dataset.split, [])
        if not records:
            raise ConfigError(f"datasets.{dataset.name}: {catalog} has no tracks in split "
                              f"{dataset.split!r}")
        if sentences is not None:   # a tag no track carries is a typo: stop before the work
            check_tags(sentences, {t for split in every_split.values()
                                   for record in split for t in record.tags}, str(catalog))
        splits[dataset.name] = records
        timbres[dataset.name] = _timbres(config, catalog, dataset.split, progress)
        info["datasets"][dataset.name] = {"catalog": str(catalog), "split": dataset.split,
                                          "tracks": len(records)}
    run_dir.mkdir(parents=True, exist_ok=True)
    for dataset in config.datasets:
        for model_name, model in models.items():
            cache = EmbeddingCache(cache_root, model,
                                   dataset.data.cache_dir or default_cache_dir())
            for condition, deformation, seed, records in _conditions(
                    config, splits[dataset.name], timbres[dataset.name]):
                label = f"{model_name} / {dataset.name} / {condition}" + \
                    (f" (seed {seed})" if seed is not None else "")
                bar = (lambda items: tqdm(items, desc=label, unit="track", leave=False,
                                          total=len(records))) if progress else None
                clock = time.perf_counter()
                songs = cache.vectors([r.path for r in records], deformation, seed or 0, bar)
                seconds = round(time.perf_counter() - clock, 2)
                info["computed"] += songs.computed
                if songs.failed:
                    info["skipped"][label] = [list(f) for f in songs.failed]
                if not songs.kept:
                    raise ConfigError(f"datasets.{dataset.name}: no readable audio in split "
                                      f"{dataset.split!r} ({songs.failed[0][1]})")
                kept = [records[i] for i in songs.kept]
                if condition == "clean" and sentences is not None:
                    info["examples"].setdefault(model_name, {})[dataset.name] = example_queries(
                        model, kept, songs.vectors, sentences,
                        example_modes(model, config.query_modes, model_name))
                for task in config.tasks:
                    if task in CLEAN_ONLY and condition != "clean":
                        continue
                    for mode in (encoders[model_name] if task in QUERY_TASKS else [None]):
                        context = {"run_dir": run_dir, "maps": info["maps"],
                                   "stem": f"{model_name}-{dataset.name}-map",
                                   "sentences": sentences,
                                   "encode": encoders[model_name].get(mode),
                                   "probe_train": lambda: probe_train(cache, dataset, progress,
                                                                      info)}
                        summary, per_query = TASK_FUNCTIONS[task](model, kept, songs.vectors,
                                                                  config, context)
                        rows.append(Row(model_name, dataset.name, condition, seed, task,
                                        len(kept), summary, per_query, seconds, mode))
    info["elapsed_s"] = round(time.perf_counter() - started, 1)
    info["rows"] = [{k: v for k, v in row.__dict__.items() if k != "per_query"} for row in rows]
    _write(run_dir, config, info, rows)
    info["report"] = str(run_dir / "report.md")
    return info


def _write(run_dir: Path, config: ExperimentConfig, info: dict, rows: list[Row]) -> None:
    from .report import write_report
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = {k: info[k] for k in ("id", "command", "config", "models", "datasets")}
    (run_dir / "config.json").write_text(strict_json.dumps(resolved, indent=2) + "\n")
    (run_dir / "metrics.json").write_text(strict_json.dumps(info, indent=2) + "\n")
    per_query = [{"model": r.model, "dataset": r.dataset, "condition": r.condition,
                  "seed": r.seed, "task": r.task, "mode": r.mode, "queries": r.per_query}
                 for r in rows]
    (run_dir / "per_query.json").write_text(strict_json.dumps(per_query) + "\n")
    write_report(run_dir, config, info, rows)

