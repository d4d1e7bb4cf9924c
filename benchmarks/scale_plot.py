"""Cost against size: the curves of `benchmarks/scale.py` runs, one line per storage setting.

    python benchmarks/scale_plot.py docs/scale/today/*.json --out docs/scale/curve.png

Four panels against the number of songs (log scale): ingest and index-build time, the
search process's RSS, store search latency (p50 and p99) next to NumPy's exact search, and
recall@10 against exact, all at the search ef the schema picks for the size (`ef=auto`).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from scale_tables import auto, storage   # benchmarks/ is this script's folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("scale-curve.png"))
    args = parser.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[dict]] = defaultdict(list)
    for path in args.reports:
        report = json.loads(path.read_text())
        series[storage(report)].append(report)
    figure, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    for name, reports in sorted(series.items()):
        reports.sort(key=lambda r: r["n"])
        n = [r["n"] for r in reports]
        rows = [auto(r) for r in reports]
        line = axes[0].plot(n, [r["ingest_s"] + r["build_s"] for r in reports], "o-",
                            label=f"{name}: ingest + build")[0]
        built = [r for r in reports if r.get("built")]    # below 20,000 songs: no build
        axes[0].plot([r["n"] for r in built], [r["build_s"] for r in built], "o--",
                     color=line.get_color(), label=f"{name}: index build")
        axes[1].plot(n, [r["search_process_rss_mb"] for r in reports], "o-", label=name)
        line = axes[2].plot(n, [r["store_search"]["p50_ms"] for r in rows], "o-",
                            label=f"{name}: p50")[0]
        axes[2].plot(n, [r["store_search"]["p99_ms"] for r in rows], "o--",
                     color=line.get_color(), label=f"{name}: p99")
        axes[3].plot(n, [r["recall@10"] for r in rows], "o-", label=name)
    exact = sorted({(r["n"], r["numpy_exact"]["p50_ms"])
                    for reports in series.values() for r in reports})
    axes[2].plot([e[0] for e in exact], [e[1] for e in exact], "k:", label="NumPy exact p50")
    axes[0].axhline(600, color="grey", lw=0.8)
    axes[1].axhline(1536, color="grey", lw=0.8)              # the goals at 1M: 1.5 GB,
    axes[1].axhline(614, color="grey", lw=0.8, ls="--")      # 0.6 GB int8 + on disk
    axes[3].axhline(0.99, color="grey", lw=0.8)
    titles = ["index time (s); goal at 1M: build ≤ 600 s", "search process RSS (MB); goals 1.5 / 0.6 GB",
              "store search (ms), ef by size", "recall@10 vs exact, ef by size"]
    for axis, title in zip(axes, titles):
        axis.set_xscale("log")
        axis.set_xlabel("songs")
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[2].set_yscale("log")
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
