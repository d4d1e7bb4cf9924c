"""How much the playlist pre-training positives agree with the tags, per pair strategy.

Over the training split of a catalog, with the `playlists` section's defaults (simulated
sessions, Word2Vec trained on them): pairs per epoch of each strategy, and the mean tag
Jaccard of its positive pairs (three epochs), of each track and its nearest Word2Vec
neighbour, and of random pairs. A strategy whose positives share no more tags than random
pairs cannot teach the tags; one whose positives share all of them adds nothing the tags
do not say.

Prints one JSON object.

    python -m benchmarks.playlist_pairs [--catalog ~/.cache/musicsearch/demo-corpus-1600/catalog.jsonl]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from retrieval.catalog import read_catalog
from training.playlists.pairs import PAIR_STRATEGIES
from training.playlists.pretrain import PlaylistTrainingConfig, prepare_playlists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(Path.home() / ".cache/musicsearch/"
                                                "demo-corpus-1600/catalog.jsonl"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    records = [r for r in read_catalog(args.catalog) if r.split == "train"]
    tags = [set(r.tags) for r in records]

    def jaccard(pairs) -> float:
        return round(float(np.mean([len(tags[a] & tags[b]) / len(tags[a] | tags[b])
                                    for a, b in pairs])), 3)

    rng = np.random.default_rng(args.seed)
    out = {"training_tracks": len(records)}
    data = None
    for strategy in PAIR_STRATEGIES:
        config = PlaylistTrainingConfig(weight=1.0, tag_weight=0.0, pairs=strategy)
        data = prepare_playlists(config, records, log=lambda message: None)
        stream = data.stream(config, list(range(len(records))))
        epochs = [stream.epoch(rng) for _ in range(3)]
        out[strategy] = {"pairs_per_epoch": [len(e) for e in epochs]}
        if strategy != "own":
            out[strategy]["tag_jaccard"] = jaccard(np.concatenate(epochs))
    out["sessions"] = len(data.playlists)
    out["plays"] = int(sum(len(p) for p in data.playlists))
    unit = data.vectors / np.linalg.norm(data.vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    out["word2vec_nearest_tag_jaccard"] = jaccard(enumerate(similarity.argmax(axis=1)))
    random = rng.integers(0, len(records), (3000, 2))
    out["random_pairs_tag_jaccard"] = jaccard(random[random[:, 0] != random[:, 1]])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
