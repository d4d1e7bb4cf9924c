"""Some splits of a built demo corpus rendered again with another SoundFont: the same
pieces, segments, instruments, tags and splits, only the timbre differs. The evaluation
uses it for a timbre the model never heard in training (Debian's FluidR3_GM).

    OUT/audio/<track_id>.wav, OUT/catalog.jsonl, OUT/timbre.json (what was rendered how)
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from retrieval.catalog import read_catalog, write_catalog

from ..config import ConfigError
from .builder import PIECE_TIMEOUT_S, _check_soundfont, _run_pool, _sha256
from .sources import select_sources

__all__ = ["render_splits", "timbre_dir", "soundfont_sha256"]


def soundfont_sha256(soundfont: str | Path) -> str:
    _check_soundfont(Path(soundfont))
    return _sha256(Path(soundfont))


def timbre_dir(catalog: str | Path, sha256: str, splits) -> Path:
    """The default folder: next to the corpus, named by the SoundFont's content."""
    corpus = Path(catalog).parent
    return corpus.parent / f"{corpus.name}-timbre-{sha256[:12]}-{'+'.join(sorted(splits))}"


def render_splits(catalog: str | Path, soundfont: str | Path, splits=("test",),
                  out_dir: str | Path | None = None, workers: int = 2,
                  progress: bool = True) -> Path:
    """Render the tracks of `splits` of the demo corpus at `catalog` with `soundfont`;
    returns the new catalog (tracks that fail to render are left out). A finished folder
    for the same corpus, SoundFont and splits is returned at once."""
    catalog = Path(catalog)
    info_path = catalog.parent / "corpus.json"
    if not info_path.is_file():
        raise ConfigError(f"timbre: {catalog} is not a built demo corpus (no corpus.json "
                          "beside it), so its clips cannot be rendered again")
    corpus = json.loads(info_path.read_text())
    sha = soundfont_sha256(soundfont)
    out = Path(out_dir) if out_dir else timbre_dir(catalog, sha, splits)
    stamp = {"corpus": str(catalog), "corpus_soundfont": corpus["soundfont"], "splits":
             sorted(splits), "soundfont": {"name": Path(soundfont).name, "sha256": sha}}
    if (out / "timbre.json").is_file() and (out / "catalog.jsonl").is_file() \
            and json.loads((out / "timbre.json").read_text()).get("stamp") == stamp:
        return out / "catalog.jsonl"
    records = [r for r in read_catalog(catalog) if r.split in set(splits)]
    wanted = {r.track_id for r in records}
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "timbre.json").unlink(missing_ok=True)     # until done, the folder is unfinished
    jobs = [(src, str(out), float(corpus["clip_seconds"]), corpus["seed"], str(soundfont),
             PIECE_TIMEOUT_S)
            for src in select_sources(corpus["n_tracks_requested"], corpus["seed"])
            if any(t in wanted and not (out / "audio" / f"{t}.wav").is_file()
                   for t in src.track_ids)]
    for results in _run_pool(jobs, workers, progress, sum(len(j[0].segments) for j in jobs)):
        for result in results:   # a piece renders all its segments: keep only the wanted
            if result["track_id"] not in wanted:
                (out / "audio" / f"{result['track_id']}.wav").unlink(missing_ok=True)
    kept = [dataclasses.replace(r, path=f"audio/{r.track_id}.wav",
                                meta={**r.meta, "soundfont": Path(soundfont).name})
            for r in records if (out / "audio" / f"{r.track_id}.wav").is_file()]
    if not kept:
        raise ConfigError(f"timbre: no clip of split(s) {', '.join(splits)} could be rendered "
                          f"with {soundfont}")
    write_catalog(kept, out / "catalog.jsonl")
    (out / "timbre.json").write_text(json.dumps({"stamp": stamp, "tracks": len(kept),
                                                 "missing": sorted(wanted - {r.track_id
                                                                             for r in kept})},
                                                indent=1))
    return out / "catalog.jsonl"
