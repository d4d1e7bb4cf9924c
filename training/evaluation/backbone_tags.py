"""The backbone's own 50 tags as a classification baseline (TTMR's "classification" row).

For demo tags with a counterpart among a MusiCNN backbone's tags (configs/musicnn_tag_map.yaml)
the test tracks are ranked by the backbone's tag probability (mean over the file's 3 s
patches, the largest of several mapped tags), and each tag's AP stands next to the AP of
trained models ranking the same tracks by the same tag (word query through their word
tower), with the exact random-ranking AP. Backbone outputs come from the feature cache the
musicnn towers train on (retrieval.towers.musicnn_tower), so nothing is extracted twice.

    python -m training.evaluation.backbone_tags --map configs/musicnn_tag_map.yaml \
        --catalog clean=~/.cache/musicsearch/demo-corpus-1600/catalog.jsonl \
        --model shipped=shipped --model msd-heads=runs/musicnn-msd/model --out result.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from retrieval.bundle import load_bundle
from retrieval.catalog import read_catalog
from retrieval.feature_cache import FeatureCache
from retrieval.frontend import AudioDecodeError
from retrieval.paths import default_cache_dir
from retrieval.towers.musicnn_tower import BackboneFeatures, backbone_tag_names, feature_rows

from ..metrics import tag_retrieval_metrics
from .tag_task import relevance

__all__ = ["load_tag_map", "backbone_scores", "compare_on_mapped_tags"]

MAP_GROUPS = ("same", "near")


def load_tag_map(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """backbone → {demo tag: [backbone tags]} (groups merged); ValueError naming a backbone
    tag that the backbone does not have."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out = {}
    for backbone, groups in data.items():
        names = set(backbone_tag_names(backbone))
        mapping = {}
        for group in MAP_GROUPS:
            for tag, targets in (groups.get(group) or {}).items():
                unknown = [t for t in targets if t not in names]
                if unknown:
                    raise ValueError(f"{path}: {backbone}.{group}.{tag}: {', '.join(unknown)} "
                                     f"is not one of the {backbone} backbone's tags")
                mapping[tag] = list(targets)
        out[backbone] = mapping
    return out


def backbone_scores(records, backbone: str, mapping: dict[str, list[str]],
                    cache_dir: str | Path) -> np.ndarray:
    """(n_records, n_mapped_tags) backbone probabilities (mean over patches, max over the
    mapped backbone tags), from the feature cache."""
    cache = FeatureCache(cache_dir, BackboneFeatures(backbone))
    column = {name: i for i, name in enumerate(backbone_tag_names(backbone))}
    rows = feature_rows("logits")
    scores = np.zeros((len(records), len(mapping)), dtype=np.float64)
    for i, record in enumerate(records):
        logits = cache.mel(record.path)[rows].astype(np.float64)        # (50, patches)
        probabilities = (1.0 / (1.0 + np.exp(-logits))).mean(axis=1)
        for j, targets in enumerate(mapping.values()):
            scores[i, j] = max(probabilities[column[t]] for t in targets)
    return scores


def model_scores(model, records, tags: list[str], cache_dir: str | Path) -> np.ndarray:
    """(n_records, n_tags) cosine of each song vector with each tag's word-query vector."""
    cache = FeatureCache(cache_dir, model.config.audio_frontend)
    songs = np.stack([model.encode_mel(cache.mel(r.path))[0] for r in records])
    return songs @ model.encode_words(tags).T


def compare_on_mapped_tags(records, tag_map: dict[str, dict[str, list[str]]], models: dict,
                           cache_dir: str | Path, min_positives: int = 5) -> dict:
    """Per backbone: per-tag AP of the backbone's tags and of each model on the mapped demo
    tags, their MAP over the tags every row could score, and the random MAP."""
    out = {}
    for backbone, mapping in tag_map.items():
        tags = [t for t in mapping if all(t in m.config.tags for m in models.values())]
        mapping = {t: mapping[t] for t in tags}
        truth = relevance(records, tags)
        rows = {f"musicnn_{backbone} tags": backbone_scores(records, backbone, mapping,
                                                            cache_dir)}
        rows.update({name: model_scores(model, records, tags, cache_dir)
                     for name, model in models.items()})
        results = {name: tag_retrieval_metrics(scores, truth, tags, min_positives=min_positives)
                   for name, scores in rows.items()}
        reference = results[next(iter(rows))]      # the same tags and positives in every row
        scored = list(reference["per_tag"])
        out[backbone] = {
            "tags": {t: {"backbone_tags": mapping[t],
                         "positives": reference["per_tag"][t]["positives"],
                         "random_ap": reference["per_tag"][t]["random_ap"]} for t in scored},
            "excluded": reference["excluded"], "n_songs": len(records),
            "ap": {name: {t: r["per_tag"][t]["ap"] for t in scored}
                   for name, r in results.items()},
            "map": {name: r["map"] for name, r in results.items()},
            "random_map": reference["random_map"]}
    return out


def markdown(result: dict, condition: str) -> str:
    lines = []
    for backbone, part in result.items():
        names = list(part["ap"])
        lines += [f"**{condition}, tags mapped to musicnn_{backbone}** ({part['n_songs']} "
                  f"songs)", "", "| tag (backbone tags) | positives | random AP | "
                  + " | ".join(names) + " |", "|---|--:|--:|" + "--:|" * len(names)]
        for tag, info in part["tags"].items():
            lines.append(f"| {tag} ({', '.join(info['backbone_tags'])}) | {info['positives']} "
                         f"| {info['random_ap']:.3f} | "
                         + " | ".join(f"{part['ap'][n][tag]:.3f}" for n in names) + " |")
        lines.append(f"| **MAP** ({len(part['tags'])} tags) | | {part['random_map']:.3f} | "
                     + " | ".join(f"**{part['map'][n]:.3f}**" for n in names) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--map", required=True, help="YAML: backbone → same/near tag maps")
    parser.add_argument("--catalog", action="append", required=True, metavar="NAME=CATALOG")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=BUNDLE",
                        help="a bundle folder, or 'shipped'")
    parser.add_argument("--min-positives", type=int, default=5)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", required=True, help="JSON result file")
    args = parser.parse_args(argv)
    tag_map = load_tag_map(args.map)
    models = {}
    for item in args.model:
        name, _, folder = item.partition("=")
        models[name] = load_bundle(None if folder == "shipped" else Path(folder).expanduser())
    cache_dir = args.cache_dir or default_cache_dir()
    report = {}
    for item in args.catalog:
        name, _, path = item.partition("=")
        records = [r for r in read_catalog(Path(path).expanduser()) if r.split == args.split]
        report[name] = compare_on_mapped_tags(records, tag_map, models, cache_dir,
                                              args.min_positives)
        print(markdown(report[name], name))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (ValueError, AudioDecodeError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
