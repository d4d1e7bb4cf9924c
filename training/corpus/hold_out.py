"""A copy of a corpus with some tags held out of training, for zero-shot evaluation.

The copy's catalog keeps every track and its audio path (absolute, so the feature cache,
keyed by file content, hits), removes the held-out tags from the train and valid records and
drops their catalog captions when a caption names a held-out tag (it would teach the tag in
words); test records are unchanged, so the tags can be evaluated there. Its corpus.json has
the tag counts of the new catalog: the evaluation's zero-shot group (tags that label no
training track, training/evaluation/tag_task.py) reads them from the trained bundle.

    python -m training.corpus.hold_out --corpus ~/.cache/musicsearch/demo-corpus-1600 \
        --tags harp,organ --out ~/.cache/musicsearch/demo-corpus-1600-heldout
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

from retrieval.catalog import read_catalog, write_catalog
from retrieval.typed_config import ConfigError

__all__ = ["hold_out_tags", "TRAINING_SPLITS"]

TRAINING_SPLITS = ("train", "valid")


def _names(caption: str, tags: set[str]) -> bool:
    text = caption.lower()
    return any(re.search(rf"\b{re.escape(tag)}\b", text) for tag in tags)


def hold_out_tags(corpus: str | Path, tags: list[str], out: str | Path) -> Path:
    """Write `out`/catalog.jsonl and `out`/corpus.json (see the module doc); returns the
    catalog path. Tags that label no training or test track are an error (a typo)."""
    corpus, out = Path(corpus).expanduser(), Path(out).expanduser()
    catalog = corpus / "catalog.jsonl"
    if not catalog.is_file():
        raise ConfigError(f"hold_out_tags: no catalog.jsonl in {corpus}")
    held = {t.strip().lower() for t in tags if t.strip()}
    if not held:
        raise ConfigError("hold_out_tags: name at least one tag")
    records = read_catalog(catalog)
    present = {t for r in records for t in r.tags}
    if held - present:
        raise ConfigError(f"hold_out_tags: no track carries {', '.join(sorted(held - present))}")
    kept = []
    for record in records:
        if record.split in TRAINING_SPLITS:
            caption = record.caption
            if caption and _names(caption, held):
                caption = None
            record = dataclasses.replace(record, caption=caption,
                                         tags=[t for t in record.tags if t not in held])
        kept.append(record)
    out.mkdir(parents=True, exist_ok=True)
    write_catalog(kept, out / "catalog.jsonl")
    info_path = corpus / "corpus.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    counts: dict[str, Counter] = {}
    for record in kept:
        counts.setdefault(record.split, Counter()).update(set(record.tags))
    info["tag_counts"] = {split: dict(c.most_common()) for split, c in counts.items()}
    info["held_out_tags"] = sorted(held)
    info["held_out_from"] = str(catalog)
    (out / "corpus.json").write_text(json.dumps(info, indent=2))
    return out / "catalog.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="a corpus folder with catalog.jsonl")
    parser.add_argument("--tags", required=True, help="comma-separated tags to hold out")
    parser.add_argument("--out", required=True, help="folder for the new catalog")
    args = parser.parse_args(argv)
    try:
        path = hold_out_tags(args.corpus, args.tags.split(","), args.out)
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
