"""Config sections for sentence training: how captions are made, and the caption pair's
weight. Kept apart from training.captions so training.config imports no corpus rules."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

__all__ = ["CaptionConfig", "SentenceTrainingConfig", "TEXT_MODES", "BRANCHES",
           "THREE_BRANCH_WEIGHTS"]

# What the sentence tower trains on (TTMR's comparison): bare shuffled tag lists only,
# templated captions only, or the stochastic mix of both (captions.tag_list_share).
TEXT_MODES = ("tags", "captions", "stochastic")
# Pair weights by branch count: two-branch is the tag pair plus the caption pair at
# `sentences.weight`; three-branch (Won §5.3) adds tag↔caption, with the reference weights.
BRANCHES = ("two", "three")
THREE_BRANCH_WEIGHTS = {"tags": 0.3, "tag_captions": 0.3, "captions": 0.4}


@dataclass
class CaptionConfig:
    per_track: int = 8               # distinct captions drawn per training clip
    max_tags: int = 6                # at most this many tags said by one caption
    tag_list_share: float = 0.25     # share of captions that are bare tag lists (TTMR)
    catalog_caption: bool = True     # also use the catalog's own `caption` field
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self, prefix: str = "captions") -> list[str]:
        checks = [
            (self.per_track >= 1, f"{prefix}.per_track must be ≥ 1, got {self.per_track}"),
            (self.max_tags >= 1, f"{prefix}.max_tags must be ≥ 1, got {self.max_tags}"),
            (0 <= self.tag_list_share <= 1,
             f"{prefix}.tag_list_share must be in [0, 1], got {self.tag_list_share}"),
            (self.seed >= 0, f"{prefix}.seed must be ≥ 0, got {self.seed}"),
        ]
        return [message for ok, message in checks if not ok]


@dataclass
class SentenceTrainingConfig:
    weight: float = 1.0                   # of the caption pair's loss next to the tag pair's
    batch_size: int | None = None         # default: optim.batch_size
    text: str = "stochastic"              # tags | captions | stochastic (TEXT_MODES)
    branches: str = "two"                 # two | three (adds tag ↔ caption; Won §5.3)
    captions: CaptionConfig = field(default_factory=CaptionConfig)

    def pair_weights(self) -> dict[str, float]:
        """Each alignment pair's weight by pair name."""
        if self.branches == "three":
            return dict(THREE_BRANCH_WEIGHTS)
        return {"tags": 1.0, "captions": self.weight}

    def caption_config(self) -> CaptionConfig:
        """The caption settings the text mode implies: `tags` makes only bare tag lists
        (no catalog caption), `captions` only sentences, `stochastic` the configured mix."""
        if self.text == "tags":
            return replace(self.captions, tag_list_share=1.0, catalog_caption=False)
        if self.text == "captions":
            return replace(self.captions, tag_list_share=0.0)
        return self.captions

    def problems(self, prefix: str = "sentences") -> list[str]:
        checks = [
            (math.isfinite(self.weight) and self.weight > 0,
             f"{prefix}.weight must be a finite number > 0, got {self.weight}"),
            (self.batch_size is None or self.batch_size >= 2,
             f"{prefix}.batch_size must be ≥ 2 (or null), got {self.batch_size}"),
            (self.text in TEXT_MODES,
             f"{prefix}.text {self.text!r} is not one of {', '.join(TEXT_MODES)}"),
            (self.branches in BRANCHES,
             f"{prefix}.branches {self.branches!r} is not one of {', '.join(BRANCHES)}"),
            (self.branches != "three" or self.weight == 1.0,
             f"{prefix}.weight applies to two branches; three use the reference weights "
             f"{'/'.join(map(str, THREE_BRANCH_WEIGHTS.values()))} (leave weight out)"),
        ]
        return ([message for ok, message in checks if not ok]
                + self.captions.problems(f"{prefix}.captions"))
