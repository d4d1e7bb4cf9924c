"""Song vectors for scale benchmarks, generated from real project embeddings.

1. `real_songs()`: the demo corpus (1,600 tracks) embedded with the shipped model from the
   cached log-mels; song vectors, per-chunk vectors and payload fields, cached as .npz.
2. `synthetic_songs(n)`: each synthetic song is a convex mix of 2 or 3 real song vectors
   (Dirichlet(1) weights) plus Gaussian noise, L2-normalised; its payload (artist, tags,
   duration, collection) is the main parent's. Real embeddings are clustered and
   anisotropic, which random vectors are not, and ANN recall depends on exactly that.

    python benchmarks/song_vectors.py            # embed (or read the cache) and describe
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOISE = 0.01       # per-dimension noise std before normalisation: nearest real song at median cosine 0.94


def corpus_dir() -> Path:
    from retrieval.paths import default_corpus_dir
    return default_corpus_dir(1600)


def real_songs(cache: Path | None = None) -> dict[str, np.ndarray]:
    """{'music': (n, d), 'chunk_offsets': (n+1,), 'chunks': (m, d), 'artist', 'tags', ...}."""
    from retrieval.bundle import load_bundle
    from retrieval.paths import data_home
    model = load_bundle(None)
    cache = cache or data_home() / "bench" / f"demo-1600-{model.fingerprint[:12]}.npz"
    if cache.is_file():
        return dict(np.load(cache, allow_pickle=False))
    import torch
    torch.set_num_threads(1)
    from retrieval.feature_cache import FeatureCache
    from retrieval.paths import default_cache_dir
    features = FeatureCache(default_cache_dir(), model.config.frontend)
    folder = corpus_dir()
    music, chunks, offsets, artists, tags, durations, collections = [], [], [0], [], [], [], []
    for line in (folder / "catalog.jsonl").read_text().splitlines():
        record = json.loads(line)
        song, parts = model.encode_mel(features.mel(folder / record["path"]))
        music.append(song)
        chunks.append(parts)
        offsets.append(offsets[-1] + len(parts))
        artists.append(record.get("artist") or "")
        tags.append("|".join(record.get("tags") or []))
        durations.append(float(record.get("duration") or 0))
        collections.append((record.get("meta") or {}).get("collection") or "")
    data = {"music": np.stack(music).astype(np.float32),
            "chunks": np.concatenate(chunks).astype(np.float32),
            "chunk_offsets": np.array(offsets), "artist": np.array(artists),
            "tags": np.array(tags), "duration": np.array(durations),
            "collection": np.array(collections)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    return data


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic_songs(real: np.ndarray, n: int, seed: int = 0,
                    block: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) unit vectors mixed from `real` rows, and each one's main parent (row index)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    parents = np.empty(n, np.int64)
    for start in range(0, n, block):
        m = min(block, n - start)
        k = rng.integers(2, 4, m)                      # 2 or 3 parents
        picks = rng.integers(0, len(real), (m, 3))
        weights = rng.dirichlet(np.ones(3), m)
        weights[k == 2, 2] = 0
        weights /= weights.sum(1, keepdims=True)
        mixed = np.einsum("mk,mkd->md", weights, real[picks])
        mixed += NOISE * rng.standard_normal(mixed.shape)
        out[start:start + m] = _unit(mixed)
        parents[start:start + m] = picks[np.arange(m), weights.argmax(1)]
    return out, parents


def synthetic_chunks(data: dict, parents: np.ndarray, songs: np.ndarray,
                     seed: int = 0) -> list[np.ndarray]:
    """Each synthetic song's chunk vectors: its main parent's chunks, shifted toward the song."""
    rng = np.random.default_rng(seed + 1)
    offsets, chunks = data["chunk_offsets"], data["chunks"]
    out = []
    for song, parent in zip(songs, parents):
        own = chunks[offsets[parent]:offsets[parent + 1]]
        out.append(_unit(own + song + NOISE * rng.standard_normal(own.shape)))
    return out


def main() -> None:
    data = real_songs()
    real = data["music"]
    songs, _ = synthetic_songs(real, 2000)
    nearest = (songs @ real.T).max(1)
    spread = real @ real.T
    print(json.dumps({"real_songs": len(real), "dim": real.shape[1],
                      "chunks_per_song": round(len(data["chunks"]) / len(real), 2),
                      "synthetic_nearest_real_cosine_median": round(float(np.median(nearest)), 3),
                      "real_pairwise_cosine_median": round(float(np.median(spread)), 3)}))


if __name__ == "__main__":
    main()
