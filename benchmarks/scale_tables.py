"""The tables of docs/SCALE.md from `benchmarks/scale.py` reports, so no figure is copied
by hand.

    python benchmarks/scale_tables.py docs/scale/today/*.json

Prints three Markdown tables: one row per run at the search ef the schema picks for the
size (`ef=auto`), the ef sweep of every run, and filtered-search recall and latency at
that ef (from the sweep's later, warm measurement of the same ef where there is one; the
first pass after the store opened is shown by its p99).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def storage(report: dict) -> str:
    if report["int8"]:
        return "int8 + originals on disk" if report["on_disk"] else "int8"
    return "float32 in RAM"


def songs(report: dict) -> str:
    return f"{report['n']:,}"


def sweep(report: dict) -> list[tuple[str, dict]]:
    return [(label, row) for label, row in report.items() if label.startswith("ef=")]


def auto(report: dict) -> dict:
    return next(row for label, row in sweep(report) if label.startswith("ef=auto"))


def ms(part: dict) -> str:
    return f"{part['p50_ms']:.1f} / {part['p99_ms']:.1f}"


def headline(reports: list[dict]) -> list[str]:
    lines = ["| songs | storage | ingest | index build | disk | search process RSS "
             "(model + store) | search ef | text query p50 / p99 | store search p50 / p99 "
             "| recall@10 | NumPy exact p50 | vs NumPy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        row = auto(r)
        build = f"{r['build_s']:.0f} s" if r.get("built") else "none (exact scan)"
        lines.append(
            f"| {songs(r)} | {storage(r)} | {r['ingest_s']:.0f} s | {build} | "
            f"{r['disk_mb']:,.0f} MB | {r['search_process_rss_mb']:,.0f} MB "
            f"({r['rss_model_only_mb']:.0f} + {r['rss_store_mb']:.0f}) | {row['ef_used']} | "
            f"{ms(row['text_query'])} ms | {ms(row['store_search'])} ms | "
            f"{row['recall@10']:.4g} | {r['numpy_exact']['p50_ms']:.1f} ms | "
            f"{row['speedup_vs_numpy']:.2g}× |")
    return lines


def ef_sweep(reports: list[dict]) -> list[str]:
    lines = ["| songs | storage | search ef | recall@10 | store search p50 / p99 | "
             "text query p50 / p99 |", "|---|---|---|---|---|---|"]
    for r in reports:
        for label, row in sweep(r):
            ef = f"{row['ef_used']} (by size)" if label.startswith("ef=auto") else row["ef_used"]
            lines.append(f"| {songs(r)} | {storage(r)} | {ef} | {row['recall@10']:.4g} | "
                         f"{ms(row['store_search'])} ms | {ms(row['text_query'])} ms |")
    return lines


def warm(report: dict) -> dict:
    """The sweep entry with the same ef as `auto` but measured later in the run (the store
    warm), else `auto` itself."""
    first = auto(report)
    return next((row for label, row in sweep(report) if not label.startswith("ef=auto")
                 and row["ef_used"] == first["ef_used"]), first)


def filtered(reports: list[dict]) -> list[str]:
    lines = ["| songs | storage | filter | songs passing | recall@10 | p50 / p99 | first pass "
             "p99 | recall@10 without ACORN | p50 / p99 |", "|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        first, row = auto(r), warm(r)
        if "filtered" not in row:
            continue
        plain = row.get("filtered_acorn_off", {})
        for name, result in row["filtered"].items():
            share = r["filters"][name]["share"]
            off = plain.get(name)
            lines.append(
                f"| {songs(r)} | {storage(r)} | {name} | {share:.1%} | "
                f"{result['recall@10']:.3g} | {ms(result)} ms | "
                f"{first['filtered'][name]['p99_ms']:.0f} ms | "
                + (f"{off['recall@10']:.3g} | {ms(off)} ms |" if off else "— | — |"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--filtered-n", default="", help="song counts whose filtered searches "
                        "to list, e.g. 100000,1000000 (default: all)")
    args = parser.parse_args()
    reports = sorted((json.loads(p.read_text()) for p in args.reports),
                     key=lambda r: (r["n"], r["int8"]))
    for title, table in (("At the search ef chosen by size", headline(reports)),
                         ("Search ef sweep", ef_sweep(reports)),
                         ("Filtered search (ef by size)", filtered(
                             [r for r in reports if not args.filtered_n
                              or str(r["n"]) in args.filtered_n.split(",")]))):
        print(f"### {title}\n")
        print("\n".join(table))
        print()


if __name__ == "__main__":
    main()
