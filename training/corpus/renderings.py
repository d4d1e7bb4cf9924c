"""Extra renderings of the demo corpus for training: the train (and valid) splits rendered
again with other SoundFonts, so that a tag is learnt from several timbres of each piece.

A rendering is named in a data config by SoundFont (a name from `soundfonts.SOUNDFONTS`
or an .sf2 path: its finished folder next to the corpus is looked up by content hash) or
by a folder holding a rendered catalog.jsonl. Nothing is rendered on the fly: a missing
rendering is one line naming the command that makes it
(`musicsearch corpus render --soundfont NAME --splits train,valid`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from .soundfonts import SOUNDFONTS, check_not_held_out, find_soundfont
from .timbre import render_splits, soundfont_sha256, timbre_dir

__all__ = ["TRAINING_SPLITS", "RenderResult", "render_rendering", "rendering_catalog"]

TRAINING_SPLITS = ("train", "valid")


@dataclass
class RenderResult:
    catalog: Path
    soundfont: Path
    tracks: int
    missing: int
    elapsed_s: float


def render_rendering(corpus_catalog: str | Path, soundfont: str | Path,
                     splits=TRAINING_SPLITS, out_dir: str | Path | None = None,
                     workers: int = 2, progress: bool = True) -> RenderResult:
    """Render `splits` of the demo corpus with a SoundFont name or path. A rendering that
    includes a training split refuses a held-out SoundFont (FluidR3) before any work."""
    splits = tuple(splits)
    unknown = sorted(set(splits) - {"train", "valid", "test"})
    if unknown or not splits:
        raise ConfigError(f"--splits: {', '.join(unknown) or 'none given'}: "
                          "choose from train, valid, test")
    path = find_soundfont(soundfont)
    if set(splits) & set(TRAINING_SPLITS):
        check_not_held_out(path)
    started = time.perf_counter()
    catalog = render_splits(corpus_catalog, path, splits, out_dir=out_dir, workers=workers,
                            progress=progress)
    info = json.loads((catalog.parent / "timbre.json").read_text())
    return RenderResult(catalog, path, info["tracks"], len(info["missing"]),
                        time.perf_counter() - started)


def _finished(folder: Path) -> bool:
    return (folder / "catalog.jsonl").is_file() and (folder / "timbre.json").is_file()


def rendering_catalog(corpus_catalog: str | Path, rendering: str) -> Path:
    """The catalog of a finished training rendering named in a data config; ConfigError
    (one line, before any work) if it is missing, unfinished, or made with a held-out
    SoundFont."""
    folder = Path(rendering).expanduser()
    if folder.is_dir():
        if not (folder / "catalog.jsonl").is_file():
            raise ConfigError(f"data.renderings: {folder} has no catalog.jsonl")
        if (folder / "timbre.json").is_file():   # a rendering of ours: check its SoundFont
            stamp = json.loads((folder / "timbre.json").read_text()).get("stamp", {})
            font = stamp.get("soundfont", {})
            check_not_held_out(font.get("name", str(folder)), font.get("sha256", ""))
        return folder / "catalog.jsonl"
    if rendering.lower() not in SOUNDFONTS and not rendering.lower().endswith(".sf2"):
        raise ConfigError(f"data.renderings: {rendering!r} is neither a SoundFont name "
                          f"({', '.join(SOUNDFONTS)}), an .sf2 file, nor a folder")
    path = find_soundfont(rendering)
    sha = check_not_held_out(path, soundfont_sha256(path))
    # any finished folder of this corpus and SoundFont whose splits include train
    pattern = timbre_dir(corpus_catalog, sha, ["*"]).name
    for candidate in sorted(Path(corpus_catalog).parent.parent.glob(pattern)):
        if _finished(candidate) and "train" in json.loads(
                (candidate / "timbre.json").read_text()).get("stamp", {}).get("splits", []):
            return candidate / "catalog.jsonl"
    raise ConfigError(f"data.renderings: no finished {rendering} rendering of "
                      f"{Path(corpus_catalog).parent} (expected "
                      f"{timbre_dir(corpus_catalog, sha, TRAINING_SPLITS)}); make it with "
                      f"`musicsearch corpus render --soundfont {rendering} --splits train,valid`")
