"""Two models (or two runs) compared query by query: a paired sign-flip permutation test,
a bootstrap interval of the mean difference, and the queries that moved most.

The per-query value is AP for a tag query and reciprocal rank for a caption query; two
results are paired on the queries both have (same data set, condition, seed, task, query
mode, group). A row without a mode (a run from before the query modes) went through the
word tower: it pairs with the word mode.
"""
from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .query_modes import QUERY_TASKS, task_label

__all__ = ["paired_permutation_p", "bootstrap_interval", "compare_queries", "compare_runs",
           "PER_QUERY_VALUE"]

PER_QUERY_VALUE = {"tag_retrieval": "ap", "text_retrieval": "rr", "sentences": "ap"}


def paired_permutation_p(a, b, n_permutations: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of "mean(a − b) = 0" by flipping the sign of each paired
    difference: exact (all 2^n sign patterns) for n ≤ 16, else `n_permutations` random
    patterns with the observed one counted, p = (hits + 1) / (n_permutations + 1)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0:
        return float("nan")
    observed = abs(diff.mean())
    if diff.size <= 16:
        signs = np.array(list(product((1.0, -1.0), repeat=diff.size)))
        return float(np.mean(np.abs(signs @ diff) / diff.size >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(n_permutations, diff.size))
    hits = int(np.sum(np.abs(signs @ diff) / diff.size >= observed - 1e-12))
    return (hits + 1) / (n_permutations + 1)


def bootstrap_interval(a, b, n_resamples: int = 10_000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a − b), resampling queries with replacement."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def compare_queries(a: dict[str, dict], b: dict[str, dict], value: str, top: int = 5) -> dict:
    """Paired comparison of two {query: metrics} maps on their common queries."""
    common = sorted(set(a) & set(b))
    x = np.array([a[q][value] for q in common])
    y = np.array([b[q][value] for q in common])
    moves = sorted(zip(common, (x - y).tolist()), key=lambda item: item[1])
    return {"queries": len(common), "mean_a": float(x.mean()) if common else float("nan"),
            "mean_b": float(y.mean()) if common else float("nan"),
            "difference": float((x - y).mean()) if common else float("nan"),
            "p_value": paired_permutation_p(x, y), "interval": bootstrap_interval(x, y),
            "better": [m for m in reversed(moves) if m[1] > 0][:top],
            "worse": [m for m in moves if m[1] < 0][:top]}


def _index(rows: list[dict]) -> dict[tuple, dict]:
    return {(r["dataset"], r["condition"], r["seed"], r["task"],
             r.get("mode") or ("word" if r["task"] in QUERY_TASKS else None), group): queries
            for r in rows if r["task"] in PER_QUERY_VALUE
            for group, queries in r["queries"].items()
            if all(isinstance(v, dict) for v in queries.values())}   # not a list of notes


def compare_per_query(rows_a: list[dict], rows_b: list[dict]) -> list[dict]:
    """One comparison per (data set, condition, seed, task, mode, group) both sides have."""
    a, b = _index(rows_a), _index(rows_b)
    out = []
    for key in [k for k in a if k in b]:
        result = compare_queries(a[key], b[key], PER_QUERY_VALUE[key[3]])
        if result["queries"]:
            out.append({"dataset": key[0], "condition": key[1], "seed": key[2],
                        "task": task_label(key[3], key[4]), "group": key[5], **result})
    return out


def markdown(comparisons: list[dict], name_a: str, name_b: str) -> str:
    lines = [f"| data set | condition | task | group | queries | {name_a} | {name_b} | "
             "difference [95% CI] | p (paired permutation) | most better / most worse |",
             "|---" * 10 + "|"]
    for c in comparisons:
        condition = c["condition"] + (f" (seed {c['seed']})" if c["seed"] is not None else "")
        moved = ", ".join(f"{q} {d:+.2f}" for q, d in c["better"][:3]) + " / " + \
            ", ".join(f"{q} {d:+.2f}" for q, d in c["worse"][:3])
        lines.append(f"| {c['dataset']} | {condition} | {c['task']} | {c['group']} | "
                     f"{c['queries']} | {c['mean_a']:.3f} | {c['mean_b']:.3f} | "
                     f"{c['difference']:+.3f} [{c['interval'][0]:+.3f}, {c['interval'][1]:+.3f}]"
                     f" | {c['p_value']:.4f} | {moved} |")
    return "\n".join(lines) + "\n"


def _rows(run: Path, model: str | None) -> tuple[str, list[dict]]:
    path = Path(run) / "per_query.json"
    if not path.is_file():
        raise ConfigError(f"compare: {run} is not an evaluation run (no per_query.json)")
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"compare: {path}: invalid JSON ({error.msg})") from None
    models = sorted({r["model"] for r in rows})
    if model is None and len(models) > 1:
        raise ConfigError(f"compare: {run} holds models {', '.join(models)}; "
                          f"name one as {run}:MODEL")
    model = model or models[0]
    if model not in models:
        raise ConfigError(f"compare: {run} has no model {model!r} (it has {', '.join(models)})")
    return f"{Path(run).name}:{model}", [r for r in rows if r["model"] == model]


def compare_runs(run_a: str, run_b: str) -> str:
    """Markdown comparison of two runs, each given as RUN_DIR or RUN_DIR:MODEL."""
    sides = []
    for run in (run_a, run_b):
        folder, _, model = run.partition(":") if not Path(run).exists() else (run, "", "")
        sides.append(_rows(Path(folder), model or None))
    (name_a, rows_a), (name_b, rows_b) = sides
    comparisons = compare_per_query(rows_a, rows_b)
    if not comparisons:
        raise ConfigError(f"compare: {run_a} and {run_b} share no data set, condition and "
                          "task with per-query results")
    return f"# {name_a} against {name_b}\n\n" + markdown(comparisons, name_a, name_b)
