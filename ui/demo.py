"""`musicsearch demo`: the whole path on the embedded defaults, no server needed.

Builds the demo corpus if missing, loads the shipped model (training one if none ships),
indexes the corpus into the embedded Qdrant collection 'demo' (idempotent: a second run
indexes nothing), and serves the UI on http://127.0.0.1:7860.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["run_demo", "DEMO_COLLECTION"]

DEMO_COLLECTION = "demo"


def _load_or_train_model(model_dir: str | None):
    from retrieval.bundle import default_bundle_path, load_bundle
    if model_dir or (default_bundle_path() / "model.safetensors").is_file():
        return load_bundle(model_dir)
    # No shipped weights (e.g. a stripped install): train a small model within minutes.
    from training.config import load_train_config
    from training.trainer import train
    config_path = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
    config = load_train_config(config_path, overrides={"optim.max_minutes": 3})
    print("no shipped model found: training one (about 3 minutes)")
    return load_bundle(train(config, command=f"musicsearch demo (from {config_path})").bundle)


def run_demo(tracks: int = 600, serve_ui: bool = True, host: str = "127.0.0.1",
             port: int = 7860, model_dir: str | None = None,
             max_upload_mb: float = 50.0) -> int:
    from index import index_tracks, open_store
    from retrieval.paths import default_corpus_dir
    from retrieval.search import Searcher
    from training.corpus import build_corpus

    started = time.perf_counter()
    corpus_dir = default_corpus_dir(tracks)
    print(f"[1/3] demo corpus: {corpus_dir}")
    corpus = build_corpus(corpus_dir, n_tracks=tracks)
    print(f"      {corpus.n_tracks} clips ({corpus.n_skipped} scores skipped)")
    model = _load_or_train_model(model_dir)
    print(f"[2/3] model {model.fingerprint}: indexing into collection '{DEMO_COLLECTION}'")
    store = open_store(None, DEMO_COLLECTION)
    indexed_with = store.model_fingerprint()
    if indexed_with not in (None, model.fingerprint):
        # The demo owns this collection: rebuild it for the new model instead of refusing.
        print(f"      the demo index was built with model {indexed_with}: rebuilding it")
        store.drop()
    summary = index_tracks(model, corpus_dir / "catalog.jsonl", store)
    print(f"      {summary.indexed} indexed, {summary.updated} updated, {summary.skipped_existing} "
          f"already there, {len(summary.failed)} unreadable; {store.count()} tracks searchable")
    searcher = Searcher(model, store)
    example = searcher.search(text="lively irish fiddle reel", k=3)
    print("      'lively irish fiddle reel' → "
          + "; ".join(f"{h.title} ({h.score:.2f})" for h in example.hits))
    print(f"ready in {time.perf_counter() - started:.0f} s")
    if not serve_ui:
        store.close()
        return 0
    from .app import ServeError, serve
    print(f"[3/3] UI on http://{host}:{port}  (Ctrl+C to stop)")
    try:
        serve(searcher, host=host, port=port, max_upload_mb=max_upload_mb)
    except ServeError as error:   # the corpus and index built above are kept
        print(f"musicsearch demo: error: {error}", file=sys.stderr)
        return 2
    return 0
