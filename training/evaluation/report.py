"""The Markdown report of a run: headline table with exact random baselines, per-category
table, robustness (drop per deformation, mean ± std over seeds) and per-tag table, with
plots next to it. The text tasks have one section per query mode ("sentences (auto)"), and
each model a table of example sentence queries with their top tracks per mode."""
from __future__ import annotations

from pathlib import Path

from ..eval_plot import plot_per_tag, plot_robustness
from .experiment import ExperimentConfig
from .query_modes import EXAMPLE_TOP, QUERY_TASKS, task_label

__all__ = ["write_report", "metric_key", "robustness_table"]

GROUP_TITLES = {"seen": "seen (in the model's vocabulary)",
                "zero_shot": "zero-shot (on no training track)",
                "below_min_tracks": "below min_tag_tracks (heard in training, not in vocabulary)"}
METRIC_TITLES = {"map": "MAP", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}


def metric_key(metric: str, k: int) -> str:
    return f"p@{k}" if metric == "p@k" else metric


def _random_key(key: str) -> str:
    return "random_map" if key == "map" else f"random_{key}"


def _title(key: str) -> str:
    return METRIC_TITLES.get(key, key.upper().replace("P@", "P@"))


def _mean_std(values: list[float]) -> tuple[float, float]:
    import numpy as np
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def headline_table(summary: dict, keys: list[str]) -> list[str]:
    head = "| tags | n | " + " | ".join(f"{_title(k)} (random)" for k in keys) + " |"
    lines = [head, "|---" * (len(keys) + 2) + "|"]
    for group, title in GROUP_TITLES.items():
        if f"{group}/n_tags" not in summary:
            continue
        cells = [f"{summary[f'{group}/{k}']:.3f} ({summary[f'{group}/{_random_key(k)}']:.3f})"
                 for k in keys]
        lines.append(f"| {title} | {summary[f'{group}/n_tags']} | " + " | ".join(cells) + " |")
    return lines


def category_table(summary: dict, keys: list[str], group: str = "seen") -> list[str]:
    prefix = f"{group}/"
    categories = sorted({name.split("/")[1] for name in summary
                         if name.startswith(prefix) and name.count("/") == 2})
    if not categories:
        return []
    lines = ["| category | tags | " + " | ".join(f"{_title(k)} (random)" for k in keys) + " |",
             "|---" * (len(keys) + 2) + "|"]
    for category in categories:
        value = lambda name: summary[f"{prefix}{category}/{name}"]  # noqa: E731
        cells = [f"{value(k):.3f} ({value(_random_key(k)):.3f})" for k in keys]
        lines.append(f"| {category} | {value('n_tags')} | " + " | ".join(cells) + " |")
    return lines


def paired_columns(summary: dict) -> list[str]:
    """Summary keys that have a random twin ("x/random_y" beside "x/y"), in order."""
    return [key for key in summary if "/random_" not in key
            and _random_twin(key) in summary]


def _random_twin(key: str) -> str:
    group, _, name = key.rpartition("/")
    return f"{group}/{_random_key(name)}"


def task_table(summary: dict) -> list[str]:
    lines = ["| metric | value | random |", "|---|---|---|"]
    for key in paired_columns(summary):
        std = summary.get(f"{key}_std")
        spread = f" ± {std:.3f}" if std else ""
        lines.append(f"| {key} | {summary[key]:.3f}{spread} | {summary[_random_twin(key)]:.3f} |")
    return lines


def robustness_table(rows, columns: list[str]) -> tuple[list[str], dict]:
    """Rows of one (model, data set, task): each condition's metrics `columns` (mean ± std
    over seeds) and their change from clean. Returns Markdown lines and {condition: drops}."""
    clean = next(row.summary for row in rows if row.condition == "clean")
    columns = [c for c in columns if c in clean]
    by_condition: dict[str, list] = {}
    for row in rows:
        by_condition.setdefault(row.condition, []).append(row.summary)
    head = "| condition | seeds | " + " | ".join(f"{c} | Δ" for c in columns) + " |"
    lines = [head, "|---" * (2 + 2 * len(columns)) + "|"]
    drops = {}
    for condition, summaries in by_condition.items():
        cells, drops[condition] = [], {}
        for column in columns:
            values = [s[column] for s in summaries if column in s]
            if not values:
                cells.append("– | –")
                continue
            mean, std = _mean_std(values)
            drops[condition][column] = mean - clean[column]
            spread = f" ± {std:.3f}" if len(values) > 1 else ""
            cells.append(f"{mean:.3f}{spread} | {mean - clean[column]:+.3f}")
        lines.append(f"| {condition} | {len(summaries)} | " + " | ".join(cells) + " |")
    return lines, drops


def per_tag_table(per_query: dict, k: int) -> list[str]:
    lines = [f"| group | tag | positives | AP | random AP | P@{k} | ROC-AUC |",
             "|---|---|---|---|---|---|---|"]
    for group, tags in per_query.items():
        for tag, v in sorted(tags.items(), key=lambda item: -item[1]["ap"]):
            lines.append(f"| {group} | {tag} | {v['positives']} | {v['ap']:.3f} | "
                         f"{v['random_ap']:.3f} | {v[f'p@{k}']:.2f} | {v['roc_auc']:.3f} |")
    return lines


def _tag_section(run_dir: Path, title: str, stem: str, clean, keys: list[str]) -> list[str]:
    lines = [*headline_table(clean.summary, keys), ""]
    categories = category_table(clean.summary, keys)
    if categories:
        lines += ["Seen tags by category:", "", *categories, ""]
    for group, per_tag in clean.per_query.items():
        plot = plot_per_tag(per_tag, f"{title}: {group} tags", run_dir / f"{stem}-{group}.png")
        lines += [f"![per-tag AP, {group}]({plot.name})", ""]
    return lines


def sentence_section(clean, captions) -> list[str]:
    """Per-sentence table (best AP first), the excluded sentences, and the same figures
    beside the caption task's when that ran (hit@K is what the caption task calls R@K)."""
    s = clean.summary
    lines = [f"Sentence file version {s['sentences/version']}. hit@K: at least one relevant "
             "track in the top K; recall@K: share of the relevant tracks in the top K. Ties "
             "count by their exact expectation.", ""]
    if captions is not None and captions.summary:
        c = captions.summary
        pairs = [("MRR", "mrr", "mrr"), ("median rank", "median_rank", "median_rank"),
                 *((f"hit@{k}", f"hit@{k}", f"r@{k}") for k in (1, 5, 10))]
        lines += ["| metric | sentences (random) | captions (random) |", "|---|---|---|"]
        for title, mine, theirs in pairs:
            lines.append(f"| {title} | {s[f'sentences/{mine}']:.3f} "
                         f"({s[f'sentences/random_{mine}']:.3f}) | {c[f'captions/{theirs}']:.3f}"
                         f" ({c[f'captions/random_{theirs}']:.3f}) |")
        lines.append("")
    lines += ["| sentence | tags (all) | relevant | rank (random) | hit@10 | recall@10 (random) "
              "| AP (random) |", "|---|---|---|---|---|---|---|"]
    for text, v in sorted(clean.per_query["sentences"].items(), key=lambda kv: -kv[1]["ap"]):
        lines.append(f"| {text} | {', '.join(v['tags'])} | {v['relevant']} | {v['rank']:.1f} "
                     f"({v['random_rank']:.1f}) | {v['hit@10']:.2f} | {v['recall@10']:.3f} "
                     f"({v['random_recall@10']:.3f}) | {v['ap']:.3f} ({v['random_ap']:.3f}) |")
    excluded = clean.per_query.get("excluded", {})
    if excluded:
        lines += ["", "Left out of the means: " + "; ".join(
            f"“{text}” ({why})" for text, why in excluded.items()) + "."]
    return lines + [""]


def _track_cell(track: dict, tags: int = 6) -> str:
    shown = ", ".join(track["tags"][:tags]) + (", …" if len(track["tags"]) > tags else "")
    return f"{'✓ ' if track['relevant'] else ''}{track['title']} ({shown})"


def examples_section(examples: dict) -> list[str]:
    """Each example sentence: its top tracks, one column per query mode (✓ = relevant)."""
    modes = examples["modes"]
    lines = [f"Top {EXAMPLE_TOP} tracks of the clean split per query mode (the word path is "
             "the model before a sentence tower); ✓ marks a track carrying all the "
             "sentence's tags.", ""]
    for sentence in examples["sentences"]:
        lines += [f"**{sentence['text']}** (relevant: {', '.join(sentence['tags'])})", "",
                  "| # | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
        longest = max(len(top) if isinstance(top, list) else 1
                      for top in sentence["top"].values())
        for place in range(min(EXAMPLE_TOP, longest)):
            cells = []
            for mode in modes:
                top = sentence["top"][mode]   # the tracks, or why the path took no query
                if isinstance(top, str):
                    cells.append(top if place == 0 else "")
                else:
                    cells.append(_track_cell(top[place]) if place < len(top) else "")
            lines.append(f"| {place + 1} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def modes_table(rows, modes: list[str]) -> list[str]:
    """Clean rows of the text tasks of one (model, data set): each metric beside its
    random value, one column per query mode."""
    clean = {(r.task, r.mode): r.summary for r in rows if r.condition == "clean" and r.mode}
    lines = ["| task | metric | random | " + " | ".join(modes) + " |",
             "|---" * (len(modes) + 3) + "|"]
    for task in dict.fromkeys(task for task, _ in clean):
        first = next(clean[(task, mode)] for mode in modes if (task, mode) in clean)
        for key in [k for k in paired_columns(first) if "@5" not in k]:
            cells = [f"{clean[(task, m)][key]:.3f}" if key in clean.get((task, m), {}) else "–"
                     for m in modes]
            lines.append(f"| {task} | {key} | {first[_random_twin(key)]:.3f} | "
                         + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def _model_comparison(info: dict, rows) -> list[str]:
    """The first model against each other one, query by query (paired tests)."""
    from .compare import compare_per_query, markdown
    models = list(info["models"])
    lines = []
    for other in models[1:]:
        def side(name):
            return [{"dataset": r.dataset, "condition": r.condition, "seed": r.seed,
                     "task": r.task, "mode": r.mode, "queries": r.per_query}
                    for r in rows if r.model == name]
        lines += [f"## {models[0]} against {other}", "",
                  markdown(compare_per_query(side(models[0]), side(other)), models[0], other)]
    return lines


def write_report(run_dir: Path, config: ExperimentConfig, info: dict, rows) -> Path:
    keys = [metric_key(m, config.k) for m in config.metrics]
    lines = [f"# Evaluation `{config.id}`", "",
             f"Regenerate: `{info['command']}` (resolved config in `config.json`). "
             f"{info['elapsed_s']:.0f} s, {info['computed']} embeddings computed (the rest "
             "from the cache).", "",
             f"A tag enters the means with at least {config.min_positives} positive songs and "
             "one negative. Random baselines in brackets are exact expectations for a uniformly "
             "random ranking (E[AP] by formula, E[PR-AUC] by enumeration or 1,000 "
             "permutations, E[P@k] = positives / songs, ROC-AUC 0.5). Zero-shot tags label no "
             "track of the model's training data.", ""]
    if any(task in QUERY_TASKS for task in config.tasks):
        lines += [f"Text queries (captions, sentences) are embedded by the query routing in "
                  f"each mode of {', '.join(config.query_modes)}, one section each.", ""]
        lines += [f"- {note}" for note in info.get("notes", [])] + \
            ([""] if info.get("notes") else [])
    for model, model_info in info["models"].items():
        for dataset, data_info in info["datasets"].items():
            for task, mode in [(t, m) for t in config.tasks for m in
                               (model_info.get("query_modes", []) if t in QUERY_TASKS
                                else [None])]:
                mine = [r for r in rows
                        if (r.model, r.dataset, r.task, r.mode) == (model, dataset, task, mode)]
                clean = next(r for r in mine if r.condition == "clean")
                if not clean.summary:      # e.g. the map, or no caption in this split
                    continue
                stem = f"{model}-{dataset}-{task}" + (f"-{mode}" if mode else "")
                lines += [f"## {model} on {dataset} ({data_info['split']} split, "
                          f"{clean.tracks} tracks): {task_label(task, mode)}", "",
                          f"Model fingerprint `{model_info['fingerprint']}`, catalog "
                          f"`{data_info['catalog']}`.", ""]
                if task == "tag_retrieval":
                    lines += _tag_section(run_dir, f"{model}, {dataset}", stem, clean, keys)
                    columns = [f"{g}/{k}" for g in ("seen", "zero_shot") for k in keys
                               if k in ("map", f"p@{config.k}")]
                else:
                    lines += [*task_table(clean.summary), ""]
                    columns = [c for c in paired_columns(clean.summary) if "@5" not in c]
                if len(mine) > 1:
                    table, drops = robustness_table(mine, columns)
                    plot = plot_robustness(drops, f"{model}, {dataset}, {task_label(task, mode)}: "
                                           "change from clean",
                                           run_dir / f"{stem}-robustness.png")
                    lines += ["### Robustness (indexed audio deformed, queries clean)", "",
                              *table, "", f"![robustness]({plot.name})", ""]
                if task == "sentences":
                    captions = next((r for r in rows if (r.model, r.dataset, r.task, r.mode,
                                                         r.condition)
                                     == (model, dataset, "text_retrieval", mode, "clean")), None)
                    lines += ["### Per sentence (clean)", "", *sentence_section(clean, captions)]
                if task == "tag_retrieval":
                    lines += ["### Per tag (clean)", "",
                              *per_tag_table(clean.per_query, config.k), ""]
            modes = model_info.get("query_modes", [])
            table = modes_table([r for r in rows if (r.model, r.dataset) == (model, dataset)],
                                modes)
            if len(modes) > 1 and table:
                lines += [f"## {model} on {dataset}: query modes side by side (clean)", "",
                          *table, ""]
            examples = info.get("examples", {}).get(model, {}).get(dataset)
            if examples:
                lines += [f"## {model} on {dataset}: example sentence queries", "",
                          *examples_section(examples)]
    if info.get("maps"):
        lines += ["## The joint space in 2-D", "",
                  "Songs (grey), the model's tags (blue) and captions (orange), laid out by "
                  "t-SNE on cosine distance.", "",
                  *(f"![joint space]({name})" for name in info["maps"]), ""]
    lines += _model_comparison(info, rows)
    out = run_dir / "report.md"
    out.write_text("\n".join(lines))
    if config.publish:   # the same report elsewhere, its pictures linked back to the run
        import os
        import re
        relative = Path(os.path.relpath(run_dir, Path(config.publish).parent)).as_posix()
        text = re.sub(r"\]\(([^)/]+\.png)\)", lambda m: f"]({relative}/{m.group(1)})",
                      "\n".join(lines))
        Path(config.publish).parent.mkdir(parents=True, exist_ok=True)
        Path(config.publish).write_text(text)
    return out
