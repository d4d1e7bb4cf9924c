"""Composer/collection-disjoint train/valid/test splits.

Rule (written down because evaluation depends on it):
1. Every track belongs to a group: its composer when one is known (bach, palestrina,
   monteverdi, haydn, mozart, beethoven, a named trecento composer), otherwise its source
   unit: the collection (ryansMammoth, anonymous trecento) or, for collections made of
   opus files, the file (one O'Neill's opus file, one Essen file, one Aird's book).
   No group is ever split, so no test track shares a composer or source with training.
2. Groups are assigned to test, then valid, greedily until each holds ~10% of the tracks
   (train gets the rest, ~80%). At each step the candidate group that fits the remaining
   room (with a small slack), is at most 40% of the split's target size, and adds the most tags not yet in that split, counting only
   tags that other unassigned groups still carry (so train keeps them too), is chosen;
   ties are broken by a seeded random order. Same seed and input -> same assignment.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Iterable, Sequence

SPLIT_RULES_VERSION = "splits-2"
SPLIT_FRACTIONS = (("test", 0.1), ("valid", 0.1))
# A held-out split is a mix of several groups: no single group may fill more than this
# share of it (Palestrina alone would otherwise make up the test split).
MAX_GROUP_SHARE = 0.4
GENERIC_GROUPS = frozenset({"traditional", "anonymous", ""})


def group_key(composer: str, unit: str) -> str:
    """The split group of a track: its composer when known, else its source unit."""
    return unit if composer in GENERIC_GROUPS else f"composer:{composer}"


def assign_splits(items: Sequence[tuple[str, Iterable[str]]], seed: int = 0) -> dict[str, str]:
    """Map each group to "train" / "valid" / "test".

    `items` holds one (group, tags) pair per track. Deterministic from `seed`."""
    sizes: Counter[str] = Counter()
    tags: dict[str, Counter[str]] = {}
    for group, track_tags in items:
        sizes[group] += 1
        tags.setdefault(group, Counter()).update(set(track_tags))
    total = sum(sizes.values())
    rng = random.Random(f"splits:{seed}")
    order = sorted(sizes)
    rng.shuffle(order)
    rank = {g: i for i, g in enumerate(order)}
    remaining: Counter[str] = Counter()
    for group in order:
        remaining.update(tags[group].keys())
    assignment: dict[str, str] = {}
    for split, fraction in SPLIT_FRACTIONS:
        target = fraction * total
        slack = max(1.0, 0.02 * total)
        covered: set[str] = set()
        size = 0
        while size < 0.97 * target:
            room = target - size + slack
            candidates = [g for g in order if g not in assignment
                          and sizes[g] <= min(room, MAX_GROUP_SHARE * target)]
            if not candidates:
                break

            def gain(g: str) -> tuple[int, int]:
                new = [t for t in tags[g] if t not in covered and remaining[t] > 1]
                return (len(new), -rank[g])
            best = max(candidates, key=gain)
            assignment[best] = split
            size += sizes[best]
            covered.update(tags[best])
            remaining.subtract(tags[best].keys())
    for group in order:
        assignment.setdefault(group, "train")
    return assignment


def tag_overlap(records: Sequence[tuple[str, Iterable[str]]]) -> dict[str, Counter[str]]:
    """Tag counts per split from (split, tags) pairs, for the build summary."""
    out: dict[str, Counter[str]] = {}
    for split, track_tags in records:
        out.setdefault(split, Counter()).update(track_tags)
    return out
