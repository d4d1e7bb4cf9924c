"""Real recordings (issue 11, item 6): game soundtracks from Debian packages, indexed with
both MusiCNN backbones, and what text and by-example queries return (docs/REAL_RECORDINGS.md).

Needs, once (root): apt-get install -y wesnoth-music supertuxkart-data frozen-bubble-data

    python benchmarks/real_recordings.py collect   # symlinks + catalog.jsonl (nothing copied)
    python benchmarks/real_recordings.py index     # collections real-msd, real-mtt
    python benchmarks/real_recordings.py queries   # top 5 per query and route → results.json
    python benchmarks/real_recordings.py queries --extra-model models/musicnn-msd-heads
    python benchmarks/real_recordings.py report    # results.json → markdown tables (stdout)
    python benchmarks/real_recordings.py neighbours  # same-soundtrack share of top-5 neighbours

Everything lives under ~/.cache/musicsearch/real-recordings/ (its own embedded store).
Titles and composers come from the packages' own metadata (SuperTuxKart's .music files);
otherwise the file name. No catalog tags are given: every route hears only the audio.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# package → (music folder, licence as its /usr/share/doc/<package>/copyright states it)
SOURCES = {
    "wesnoth": (Path("/usr/share/games/wesnoth/1.16/data/core/music"),
                "GPL-2+ (wesnoth-1.16-music, via wesnoth-music)"),
    "supertuxkart": (Path("/usr/share/games/supertuxkart/data/music"),
                     "CC-BY-SA-3.0 / CC-BY-SA-4.0 / CC0 per file (supertuxkart-data)"),
    "frozen-bubble": (Path("/usr/share/games/frozen-bubble/snd"), "GPL-2 (frozen-bubble-data)"),
}
FROZEN_BUBBLE_MUSIC = ("frozen-mainzik-1p", "frozen-mainzik-2p", "introzik")
# SuperTuxKart ships fast variants of some tracks (the last lap): the same music, left out
FAST = re.compile(r"(_fast|_f)$")
BACKBONES = ("msd", "mtt")
TEXT_QUERIES = ("epic orchestral battle", "calm ambient", "rock", "electronic dance", "piano",
                "flute melody", "happy", "sad", "celtic folk", "slow strings")
EXAMPLES = ("wesnoth/battle-epic", "supertuxkart/celtic", "supertuxkart/xeon6")
K = 5


def home() -> Path:
    from retrieval.paths import data_home
    return data_home() / "real-recordings"


def _stk_title(ogg: Path) -> tuple[str, str]:
    """(title, composer) from the .music file naming `ogg`, else the file name."""
    for meta in ogg.parent.glob("*.music"):
        text = meta.read_text(encoding="utf-8", errors="replace")
        if re.search(rf'file\s*=\s*"{re.escape(ogg.name)}"', text):
            title = re.search(r'title\s*=\s*"([^"]*)"', text)
            composer = re.search(r'composer\s*=\s*"([^"]*)"', text)
            return (html.unescape(title.group(1)) if title else ogg.stem,
                    html.unescape(composer.group(1)) if composer else "")
    return ogg.stem, ""


def collect() -> Path:
    """Symlink the music tracks into home()/audio/<package>/ and write catalog.jsonl."""
    import soundfile

    from retrieval.catalog import TrackRecord, write_catalog
    records = []
    for package, (folder, licence) in SOURCES.items():
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing: apt-get install -y wesnoth-music "
                             "supertuxkart-data frozen-bubble-data")
        files = sorted(folder.glob("*.ogg"))
        if package == "frozen-bubble":
            files = [f for f in files if f.stem in FROZEN_BUBBLE_MUSIC]
        files = [f for f in files if not FAST.search(f.stem)]
        target = home() / "audio" / package
        target.mkdir(parents=True, exist_ok=True)
        for ogg in files:
            link = target / ogg.name
            if not link.is_symlink():
                link.symlink_to(ogg)
            title, composer = (_stk_title(ogg) if package == "supertuxkart"
                               else (ogg.stem.replace("_", " ").replace("-", " "), ""))
            records.append(TrackRecord(
                track_id=f"{package}/{ogg.stem}", path=str(link), title=title, artist=composer,
                album=package, duration=round(soundfile.info(str(ogg)).duration, 1),
                split="test", meta={"collection": package, "license": licence,
                                    "source": str(ogg)}))
    catalog = home() / "catalog.jsonl"
    write_catalog(records, catalog)
    hours = sum(r.duration for r in records) / 3600
    print(f"{len(records)} tracks ({hours:.2f} h) → {catalog}")
    return catalog


def _store(collection: str):
    from index import open_store
    return open_store(str(home() / "qdrant"), collection)


def index(model_dir: str | None) -> None:
    import torch
    torch.set_num_threads(1)
    from index import index_tracks
    from retrieval.bundle import load_bundle
    model = load_bundle(model_dir)
    for backbone in BACKBONES:
        store = _store(f"real-{backbone}")
        try:
            started = time.perf_counter()
            summary = index_tracks(model, home() / "catalog.jsonl", store, backbone=backbone)
            print(summary.describe(), f"[{time.perf_counter() - started:.0f} s]")
        finally:
            store.close()


def _rows(result) -> list[dict]:
    return [{"track_id": h.track_id, "title": h.title, "score": h.score, "why": h.why}
            for h in result.hits]


def _ask(searcher, **query) -> dict:
    from retrieval.query import QueryError
    try:
        result = searcher.search(k=K, **query)
        return {"hits": _rows(result), "notes": result.notes,
                "path": result.query.get("path")}
    except QueryError as error:
        return {"error": str(error)}


def queries(model_dir: str | None, extra_model: str | None) -> None:
    import torch
    torch.set_num_threads(1)
    from index import index_tracks
    from retrieval.bundle import load_bundle
    from retrieval.search import Searcher
    model = load_bundle(model_dir)
    out: dict = {"text": {}, "examples": {}}
    for backbone in BACKBONES:
        store = _store(f"real-{backbone}")
        try:
            searcher = Searcher(model, store)
            for text in TEXT_QUERIES:
                row = out["text"].setdefault(text, {})
                if backbone == BACKBONES[0]:
                    row["default"] = _ask(searcher, text=text)
                row[f"tags-{backbone}"] = _ask(searcher, text=text, mode="backbone-tags")
            for track in EXAMPLES:
                row = out["examples"].setdefault(track, {})
                if backbone == BACKBONES[0]:
                    row["music"] = _ask(searcher, track_id=track)
                row[f"backbone-{backbone}"] = _ask(searcher, track_id=track, vector="backbone")
        finally:
            store.close()
    if extra_model:
        other = load_bundle(extra_model)
        store = _store("real-extra")
        try:
            index_tracks(other, home() / "catalog.jsonl", store)
            searcher = Searcher(other, store)
            for text in TEXT_QUERIES:
                out["text"][text]["extra"] = _ask(searcher, text=text)
            out["extra_model"] = extra_model
        finally:
            store.close()
    path = home() / "results.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"→ {path}")


def _cell(hit: dict) -> str:
    name = hit["track_id"].replace("supertuxkart/", "stk/").replace("frozen-bubble/", "fb/")
    stem = hit["track_id"].rsplit("/", 1)[-1].replace("_", " ").replace("-", " ")
    title = "" if hit["title"].casefold() == stem.casefold() else f" “{hit['title']}”"
    return f"{name}{title} {hit['score']:.2f}"


def _table(columns: dict[str, dict]) -> list[str]:
    """One markdown table: a column per route, K rows; an error fills its column."""
    names = list(columns)
    lines = ["| # | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for rank in range(K):
        cells = []
        for name in names:
            answer = columns[name]
            if "error" in answer:
                cells.append(("refused: " + answer["error"][:60] + "…") if rank == 0 else "")
            else:
                hits = answer["hits"]
                cells.append(_cell(hits[rank]) if rank < len(hits) else "")
        lines.append(f"| {rank + 1} | " + " | ".join(cells) + " |")
    notes = [f"{name}: {note}" for name in names for note in columns[name].get("notes", [])]
    return lines + ([""] + [f"*{n}*" for n in notes] if notes else [])


def report() -> None:
    out = json.loads((home() / "results.json").read_text())
    labels = {"default": "shipped default (text)", "tags-msd": "backbone-tags msd",
              "tags-mtt": "backbone-tags mtt", "extra": f"{out.get('extra_model')} (text)",
              "music": "`music` vector", "backbone-msd": "`backbone` msd",
              "backbone-mtt": "`backbone` mtt"}
    for group in ("text", "examples"):
        for query, routes in out[group].items():
            print(f"### {'“' + query + '”' if group == 'text' else 'like ' + query}\n")
            print("\n".join(_table({labels[r]: a for r, a in routes.items()})) + "\n")
    print("### Every track's top backbone tags\n")
    print("| track | s | msd top 3 | mtt top 3 |\n|---|---|---|---|")
    tops: dict[str, dict] = {}
    for backbone in BACKBONES:
        store = _store(f"real-{backbone}")
        try:
            for payload in store.iter_payloads():
                tops.setdefault(payload["track_id"], {"duration": payload.get("duration")})[
                    backbone] = ", ".join(f"{t['tag']} {t['p']:.2f}"
                                          for t in payload["backbone_tags"][:3])
        finally:
            store.close()
    for track in sorted(tops):
        row = tops[track]
        print(f"| {track} | {row['duration']:.0f} | {row.get('msd', '')} | {row.get('mtt', '')} |")


def neighbours() -> None:
    """A listen-free check of each vector: how many of a song's 5 nearest songs come from
    its own package (soundtrack), against the share a random pick would give. The silent
    Wesnoth file is left out (it has no music to compare)."""
    import numpy as np
    for label, collection, using in (("`music` (shipped default)", "real-msd", "music"),
                                     ("`backbone` msd", "real-msd", "backbone"),
                                     ("`backbone` mtt", "real-mtt", "backbone")):
        store = _store(collection)
        try:
            rows = sorted((p["track_id"], v) for p, v in store.iter_vectors(using)
                          if p["track_id"] != "wesnoth/silence")
        finally:
            store.close()
        vectors = np.stack([v / np.linalg.norm(v) for _, v in rows])
        package = np.array([t.split("/")[0] for t, _ in rows])
        similar = vectors @ vectors.T
        np.fill_diagonal(similar, -np.inf)
        top = np.argsort(-similar, axis=1)[:, :5]
        share = float((package[top] == package[:, None]).mean())
        n = len(rows)
        random = sum(int(c) * (int(c) - 1) for c in np.unique(package, return_counts=True)[1]) \
            / (n * (n - 1))
        others = similar[np.isfinite(similar)]
        print(f"| {label} | {share:.3f} | {random:.3f} | {np.median(others):.3f} | "
              f"{np.percentile(others, 5):.3f}–{np.percentile(others, 95):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("collect", "index", "queries", "report", "neighbours"))
    parser.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    parser.add_argument("--extra-model", default=None,
                        help="queries: also the text results of this bundle (own collection)")
    args = parser.parse_args()
    if args.step == "collect":
        collect()
    elif args.step == "index":
        index(args.model)
    elif args.step == "report":
        report()
    elif args.step == "neighbours":
        neighbours()
    else:
        queries(args.model, args.extra_model)


if __name__ == "__main__":
    main()
