"""What audio a training step sees: random crops of each training track, taken from one of
its renderings at random (the corpus's own and any extra SoundFont renderings named in
`data.renderings`), then augmented (`augment:`, training.augment).

Extra renderings hold the same pieces, segments, tags and track ids as the corpus, so a
track's tags are learnt from several timbres; validation stays on the corpus's own
rendering. A rendering (or the corpus itself) made with a held-out SoundFont (FluidR3, the
unseen evaluation timbre) is refused before any feature is computed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from retrieval.catalog import read_catalog
from retrieval.frontend import FrontendConfig

from .alignment import random_crops
from .augment import AugmentConfig, MelAugmenter
from .config import ConfigError, DataConfig
from .data import SplitData, load_split

__all__ = ["TrainingCrops", "training_renderings", "check_training_corpus", "rendering_info"]


def check_training_corpus(catalog: Path) -> None:
    """ConfigError if the corpus at `catalog` was rendered with a held-out SoundFont."""
    from .corpus.soundfonts import check_not_held_out
    info = catalog.parent / "corpus.json"
    if info.is_file():
        font = json.loads(info.read_text()).get("soundfont") or {}
        if isinstance(font, dict) and font.get("sha256"):
            try:
                check_not_held_out(font.get("name", "?"), font["sha256"])
            except ConfigError as error:
                raise ConfigError(f"{catalog.parent}: {error}") from None


def training_renderings(data: DataConfig, catalog: Path) -> list[tuple[str, Path]]:
    """(name, catalog) of each rendering `data.renderings` names, all checked now (missing,
    unfinished or held-out renderings are one ConfigError), and the corpus itself checked."""
    from .corpus.renderings import rendering_catalog
    check_training_corpus(catalog)
    out = [(name, rendering_catalog(catalog, name)) for name in data.renderings]
    if out:
        train_ids = {r.track_id for r in read_catalog(catalog) if r.split == "train"}
        for name, rendered in out:
            if not any(r.track_id in train_ids for r in read_catalog(rendered)):
                raise ConfigError(f"data.renderings: {name} ({rendered}) holds none of the "
                                  f"training tracks of {catalog}: a rendering of another "
                                  "corpus, or of other splits")
    return out


def rendering_info(renderings: list[tuple[str, Path]]) -> list[dict]:
    """What a bundle records of its renderings: name, catalog and, for our renderings, the
    SoundFont (name, sha256), so an evaluation can refuse it as an 'unseen' timbre."""
    info = []
    for name, catalog in renderings:
        stamp = catalog.parent / "timbre.json"
        font = json.loads(stamp.read_text()).get("stamp", {}).get("soundfont") \
            if stamp.is_file() else None
        info.append({"name": name, "catalog": str(catalog), "soundfont": font})
    return info


@dataclass
class TrainingCrops:
    """Callable `(tracks, rng) -> (len(tracks), n_mels, frames)` float32 crops."""
    renderings: list[list[np.ndarray]]      # per track: its log-mels, the corpus's first
    frames: int
    augmenter: MelAugmenter | None = None

    @classmethod
    def load(cls, train: SplitData, renderings: list[tuple[str, Path]],
             frontend: FrontendConfig, augment: AugmentConfig, cache_dir: str | None,
             progress: bool = True, log=print) -> "TrainingCrops":
        """The training split's own log-mels plus those of every extra rendering of the
        same tracks (a track a rendering lacks keeps the others)."""
        per_track = [[mel] for mel in train.mels]
        row = {record.track_id: i for i, record in enumerate(train.records)}
        for name, catalog in renderings:
            records = [r for r in read_catalog(catalog) if r.track_id in row]
            data = load_split(records, frontend, cache_dir, f"features (train, {name})",
                              progress)
            for path, reason in data.failed:
                log(f"skipped unreadable {path}: {reason}")
            for record, mel in zip(data.records, data.mels):
                per_track[row[record.track_id]].append(mel)
            log(f"rendering {name}: {len(data.records)} of {len(row)} training tracks")
        return cls(per_track, frontend.chunk_frames,
                   MelAugmenter(augment, frontend) if augment.enabled else None)

    def __call__(self, tracks: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        chosen = [mels[rng.integers(len(mels))] if len(mels) > 1 else mels[0]
                  for mels in (self.renderings[t] for t in tracks)]
        crops = random_crops(chosen, np.arange(len(chosen)), self.frames, rng)
        return self.augmenter(crops, rng) if self.augmenter else crops
