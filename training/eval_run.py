"""`musicsearch evaluate`: a config names the model and the data; the report is JSON plus
an optional Markdown table (Won's protocol: macro MAP and P@10 over tags, next to the
random-ranking baseline, for seen and unseen tags)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval import strict_json
from retrieval.bundle import load_bundle, read_bundle_config

from .config import (ConfigError, DataConfig, folder_problem, from_mapping, raise_problems,
                     read_yaml_mapping)
from .data import load_catalog_splits, load_split, resolve_catalog
from .evaluation import evaluate_tags

__all__ = ["EvalConfig", "load_eval_config", "run_evaluation", "markdown_report"]


@dataclass
class EvalConfig:
    model: str | None = None          # a bundle folder; None = the shipped default model
    data: DataConfig = field(default_factory=DataConfig)
    split: str = "test"
    k: int = 10
    report: str | None = None         # write <report>.json and <report>.md here

    def validate(self, where: str = "config") -> "EvalConfig":
        """Every field checked before any work (the demo corpus alone takes minutes)."""
        problems = self.data.problems()
        if self.k < 1:
            problems.append(f"k must be ≥ 1 (precision at k songs), got {self.k}")
        if not self.split.strip():
            problems.append("split must name a split, e.g. test")
        if self.model is not None and not Path(self.model).is_dir():
            problems.append(f"model: no bundle folder at {self.model}")
        if self.report is not None:
            problems += filter(None, [folder_problem(Path(self.report).parent, "report")])
        raise_problems(problems, where)
        if self.model is not None:
            read_bundle_config(self.model)   # BundleError names what is missing
        return self


def load_eval_config(path: str | Path) -> EvalConfig:
    return from_mapping(EvalConfig, read_yaml_mapping(path), where=str(path)).validate(str(path))


def run_evaluation(config: EvalConfig, progress: bool = True) -> dict:
    started = time.perf_counter()
    model = load_bundle(config.model)
    catalog = resolve_catalog(config.data, progress=progress)
    records = load_catalog_splits(catalog).get(config.split, [])
    if not records:
        raise ConfigError(f"{catalog}: no tracks in split {config.split!r}")
    data = load_split(records, model.config.frontend, config.data.cache_dir,
                      f"features ({config.split})", progress)
    if not data.records:
        raise ConfigError(f"{catalog}: no readable audio in split {config.split!r}")
    results = evaluate_tags(model, data.records, data.mels, k=config.k)
    flat = {f"{group}/{name}": value for group, values in results.items()
            for name, value in values.items() if not isinstance(value, dict)}
    report = {"metrics": flat, "model": str(model.bundle_path), "fingerprint": model.fingerprint,
              "catalog": str(catalog), "split": config.split, "tracks": len(data.records),
              "skipped": [list(f) for f in data.failed],
              "per_tag": {g: v["per_tag"] for g, v in results.items()},
              "elapsed_s": round(time.perf_counter() - started, 1),
              "config": asdict(config)}
    if config.report:
        out = Path(config.report)   # a name prefix: <out>.json, <out>.md, <out>-<group>.png
        out.parent.mkdir(parents=True, exist_ok=True)
        from .eval_plot import plot_per_tag
        report["plots"] = [str(plot_per_tag(per_tag, f"{group} tags, {config.split} split "
                                            f"({report['tracks']} tracks)", f"{out}-{group}.png"))
                           for group, per_tag in report["per_tag"].items()]
        Path(f"{out}.json").write_text(strict_json.dumps(report, indent=2))
        Path(f"{out}.md").write_text(markdown_report(report, config.k))
    return report


def markdown_report(report: dict, k: int = 10) -> str:
    metrics = report["metrics"]
    lines = [f"# Tag-to-music evaluation ({report['split']} split, {report['tracks']} tracks)", "",
             f"Model `{report['model']}` (fingerprint `{report['fingerprint']}`), "
             f"catalog `{report['catalog']}`.", "",
             f"| tags | n | MAP | random MAP | P@{k} | random P@{k} | ROC-AUC |",
             "|---|---|---|---|---|---|---|"]
    for group in ("seen", "zero_shot", "below_min_tracks"):
        if f"{group}/map" not in metrics:
            continue
        m = lambda name: metrics[f"{group}/{name}"]  # noqa: E731
        lines.append(f"| {group} | {m('n_tags')} | {m('map'):.4f} | {m('random_map'):.4f} | "
                     f"{m(f'p@{k}'):.4f} | {m(f'random_p@{k}'):.4f} | {m('roc_auc'):.4f} |")
    lines += [f"![per-tag AP, {g} tags]({Path(p).name})" for g, p in
              zip(report["per_tag"], report.get("plots", []))]
    lines += ["", f"## Per tag (AP, P@{k}, positives)", "",
              f"| group | tag | AP | random AP | P@{k} | positives |", "|---|---|---|---|---|---|"]
    for group, tags in report["per_tag"].items():
        for tag, v in sorted(tags.items(), key=lambda item: -item[1]["ap"]):
            lines.append(f"| {group} | {tag} | {v['ap']:.3f} | {v['random_ap']:.3f} | "
                         f"{v[f'p@{k}']:.2f} | {v['positives']} |")
    return "\n".join(lines) + "\n"
