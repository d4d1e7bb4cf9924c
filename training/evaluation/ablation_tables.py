"""Markdown tables of an evaluation run's summary metrics, one row per model, with the
models that differ only by a seed suffix (`name-s0`, `name-s1`, …) pooled as mean ± std
(sample standard deviation over the seeds), and the random baseline of each column.

    python -m training.evaluation.ablation_tables runs/eval/ablations-tags \
        --task tag_retrieval --metrics seen/map,seen/p@10 --conditions clean,timbre-FluidR3_GM

Used for docs/results/objective-results.md; the numbers come from the run's metrics.json
as `musicsearch evaluate` wrote it.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np

from ..config import ConfigError

__all__ = ["seed_group", "collect", "markdown_table"]

_SEED = re.compile(r"^(?P<base>.+)-s(?P<seed>\d+)$")


def seed_group(model: str) -> str:
    """`triplet-s2` → `triplet`; a name without a seed suffix is its own group."""
    match = _SEED.match(model)
    return match["base"] if match else model


def _rows(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"no metrics.json in {run_dir} (run musicsearch evaluate first)")
    return json.loads(path.read_text())["rows"]


def collect(run_dir: Path, task: str, metrics: list[str], conditions: list[str],
            mode: str | None = None) -> dict[str, dict[str, list[float]]]:
    """{group: {"<condition> <metric>": [value per seed]}} in the run's model order, plus
    the random baseline as group "random", or as "random (<group>)" per group when the
    groups' baselines differ (a baseline depends on the tags, and so on the vocabulary)."""
    out: dict[str, dict[str, list[float]]] = {}
    baselines: dict[str, dict[str, list[float]]] = {}
    for row in _rows(run_dir):
        if row["task"] != task or row["condition"] not in conditions or row.get("seed"):
            continue
        if mode is not None and row.get("mode") != mode:
            continue
        summary = row["summary"]
        for metric in metrics:
            column = f"{row['condition']} {metric}"
            value = summary.get(metric)
            if value is not None:
                out.setdefault(seed_group(row["model"]), {}).setdefault(column, []).append(value)
            head, _, tail = metric.rpartition("/")
            baseline = summary.get(f"{head}/random_{tail}" if head else f"random_{tail}")
            if baseline is not None:
                baselines.setdefault(seed_group(row["model"]), {})[column] = [baseline]
    columns = {c for b in baselines.values() for c in b}
    if all(len({tuple(b[c]) for b in baselines.values() if c in b}) == 1 for c in columns):
        out["random"] = {c: next(b[c] for b in baselines.values() if c in b) for c in columns}
    elif baselines:
        out.update({f"random ({group})": b for group, b in baselines.items()})
    return out


def _cell(values: list[float]) -> str:
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} (n={len(values)})"


def markdown_table(table: dict[str, dict[str, list[float]]], columns: list[str]) -> str:
    lines = ["| model | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    randoms = [g for g in table if g.startswith("random")]
    groups = [g for g in table if g not in randoms] + randoms
    for group in groups:
        lines.append(f"| {group} | " + " | ".join(_cell(table[group].get(c, []))
                                                for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--task", required=True)
    parser.add_argument("--metrics", required=True, help="comma-separated summary keys")
    parser.add_argument("--conditions", default="clean")
    parser.add_argument("--mode", default=None, help="query mode of a text task")
    args = parser.parse_args(argv)
    metrics = args.metrics.split(",")
    conditions = args.conditions.split(",")
    try:
        table = collect(args.run_dir, args.task, metrics, conditions, args.mode)
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    if not table:
        parser.exit(2, f"error: no {args.task} rows for {', '.join(conditions)} in "
                       f"{args.run_dir}\n")
    print(markdown_table(table, [f"{c} {m}" for c in conditions for m in metrics]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
