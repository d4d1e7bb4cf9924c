"""Pictures of an evaluation: per-tag AP beside the random baseline, and robustness drops."""
from __future__ import annotations

from pathlib import Path

__all__ = ["plot_per_tag", "plot_robustness"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    return plt


def _save(figure, plt, out) -> Path:
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def plot_per_tag(per_tag: dict[str, dict], title: str, out: str | Path) -> Path:
    """Horizontal bars of AP per tag (sorted), with the exact expected AP of a random
    ranking marked on each bar."""
    plt = _pyplot()
    items = sorted(per_tag.items(), key=lambda item: item[1]["ap"])
    height = max(3.0, 0.18 * len(items) + 1.2)
    figure, axes = plt.subplots(figsize=(7.5, height))
    positions = range(len(items))
    axes.barh(positions, [v["ap"] for _, v in items], color="#6366f1", label="average precision")
    axes.scatter([v["random_ap"] for _, v in items], positions, color="#f97316", marker="|",
                 s=120, zorder=3, label="random ranking (exact E[AP])")
    axes.set_yticks(list(positions), [tag for tag, _ in items], fontsize=7)
    axes.set_xlim(0, 1)
    axes.set_xlabel("average precision")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, plt, out)


def plot_robustness(drops: dict[str, dict[str, float]], title: str, out: str | Path) -> Path:
    """Grouped horizontal bars: each metric's change from clean, per deformation."""
    plt = _pyplot()
    conditions = [c for c in drops if c != "clean"]
    metrics = sorted({m for values in drops.values() for m in values})
    rows = len(conditions) * max(1, len(metrics) / 2)
    figure, axes = plt.subplots(figsize=(7.5, max(3.0, 0.32 * rows + 1.2)))
    width = 0.8 / max(1, len(metrics))
    for i, metric in enumerate(metrics):
        axes.barh([c + i * width for c in range(len(conditions))],
                  [drops[c].get(metric, 0.0) for c in conditions], height=width, label=metric)
    axes.set_yticks([c + 0.4 - width / 2 for c in range(len(conditions))], conditions, fontsize=7)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel("change from clean audio")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower left", fontsize=7)
    return _save(figure, plt, out)
