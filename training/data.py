"""Training data: catalog → per-split records, the tag vocabulary, and cached log-mels."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.catalog import TrackRecord, read_catalog
from retrieval.feature_cache import FeatureCache
from retrieval.frontend import AudioDecodeError, FrontendConfig
from retrieval.paths import default_cache_dir, default_corpus_dir

from .config import DataConfig

__all__ = ["resolve_catalog", "tag_vocabulary", "SplitData", "load_split"]


def resolve_catalog(data: DataConfig, progress: bool = True) -> Path:
    """The catalog file a data config names; the demo corpus is built if it is missing."""
    if data.catalog:
        return Path(data.catalog)
    if data.corpus == "demo":
        folder = default_corpus_dir(data.corpus_tracks)
        if not (folder / "catalog.jsonl").is_file():
            from .corpus import build_corpus
            build_corpus(folder, n_tracks=data.corpus_tracks, progress=progress)
        return folder / "catalog.jsonl"
    return Path(data.corpus) / "catalog.jsonl"


def tag_vocabulary(records: list[TrackRecord], min_tracks: int, is_known) -> list[str]:
    """Tags on at least `min_tracks` records whose words the word vectors know, sorted."""
    counts = Counter(tag for record in records for tag in set(record.tags))
    return sorted(t for t, n in counts.items() if n >= min_tracks and is_known(t))


@dataclass
class SplitData:
    records: list[TrackRecord]
    mels: list[np.ndarray]                       # float16 (n_mels, frames), aligned with records
    failed: list[tuple[str, str]] = field(default_factory=list)


def load_split(records: list[TrackRecord], frontend: FrontendConfig, cache_dir: str | None,
               desc: str = "features", progress: bool = True, workers: int = 2) -> SplitData:
    """Log-mels of every readable record (cached on disk); unreadable ones are listed."""
    cache = FeatureCache(cache_dir or default_cache_dir(), frontend)

    def one(record: TrackRecord):
        try:
            return cache.mel(record.path).astype(np.float16), None
        except AudioDecodeError as error:
            return None, str(error)

    data = SplitData(records=[], mels=[])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(one, records)
        for record, (mel, error) in tqdm(zip(records, results), total=len(records), desc=desc,
                                         disable=not progress, unit="track"):
            if mel is None:
                data.failed.append((record.path, error))
            else:
                data.records.append(record)
                data.mels.append(mel)
    return data


def load_catalog_splits(catalog: Path) -> dict[str, list[TrackRecord]]:
    splits: dict[str, list[TrackRecord]] = {"train": [], "valid": [], "test": []}
    for record in read_catalog(catalog):
        splits.setdefault(record.split, []).append(record)
    return splits
