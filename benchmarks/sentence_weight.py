"""How much of the sentence tower `auto` should mix in: sentence-query metrics on a split
(configs/queries/sentences.yaml, the evaluation's own code and query path,
training/evaluation/query_modes.py) for the word path, the
sentence path, and `auto` at several weights. Prints one JSON object.

    python benchmarks/sentence_weight.py --model runs/sentence/model --split valid

Choose the weight on the valid split; report the test split only for the chosen one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's packages

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--catalog", default=None, help="default: the demo corpus")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--weights", default="0.25,0.5,0.75,0.9")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from retrieval.bundle import load_bundle
    from retrieval.paths import default_cache_dir, default_corpus_dir
    from training.data import load_catalog_splits, load_split
    from training.evaluation.query_modes import query_encoder
    from training.evaluation.sentences import (DEFAULT_SENTENCES, load_sentences,
                                               sentence_retrieval)
    model = load_bundle(args.model)
    catalog = args.catalog or default_corpus_dir(1600) / "catalog.jsonl"
    split = load_catalog_splits(catalog)[args.split]
    data = load_split(split, model.config.frontend, str(default_cache_dir()), "features", False)
    songs = np.stack([model.encode_mel(mel.astype(np.float32))[0] for mel in data.mels])
    sentences = load_sentences(DEFAULT_SENTENCES)
    paths = {"word": ("word", 0.0), "sentence": ("sentence", 1.0)}
    paths.update({f"auto w={w}": ("auto", float(w)) for w in args.weights.split(",")})
    out = {"model": str(args.model), "split": args.split, "tracks": len(songs), "paths": {}}
    for name, (mode, weight) in paths.items():
        summary, _ = sentence_retrieval(model, data.records, songs, sentences,
                                        encode=query_encoder(model, mode, weight))
        out["paths"][name] = {key.split("/", 1)[1]: round(value, 4) for key, value in
                              summary.items() if key.split("/", 1)[1] in
                              ("n_queries", "map", "random_map", "mrr", "hit@10", "recall@10")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
