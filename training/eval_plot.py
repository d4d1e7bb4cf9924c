"""A picture of an evaluation: per-tag average precision next to the random baseline."""
from __future__ import annotations

from pathlib import Path

__all__ = ["plot_per_tag"]


def plot_per_tag(per_tag: dict[str, dict], title: str, out: str | Path) -> Path:
    """Horizontal bars of AP per tag (sorted), with the exact expected AP of a random ranking marked."""
    import matplotlib
    matplotlib.use("Agg")   # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    items = sorted(per_tag.items(), key=lambda item: item[1]["ap"])
    names = [tag for tag, _ in items]
    height = max(3.0, 0.18 * len(items) + 1.2)
    figure, axes = plt.subplots(figsize=(7.5, height))
    positions = range(len(items))
    axes.barh(positions, [v["ap"] for _, v in items], color="#6366f1", label="average precision")
    axes.scatter([v["random_ap"] for _, v in items], positions, color="#f97316", marker="|",
                 s=120, zorder=3, label="random ranking (exact E[AP])")
    axes.set_yticks(list(positions), names, fontsize=7)
    axes.set_xlim(0, 1)
    axes.set_xlabel("average precision")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
