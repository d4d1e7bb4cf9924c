"""Config sections for sentence training: how captions are made, and the caption pair's
weight. Kept apart from training.captions so training.config imports no corpus rules."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

__all__ = ["CaptionConfig", "SentenceTrainingConfig", "TEXT_MODES"]

# What the sentence tower trains on (TTMR's comparison): bare shuffled tag lists only,
# templated captions only, or the stochastic mix of both (captions.tag_list_share).
TEXT_MODES = ("tags", "captions", "stochastic")


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
    captions: CaptionConfig = field(default_factory=CaptionConfig)

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
        ]
        return ([message for ok, message in checks if not ok]
                + self.captions.problems(f"{prefix}.captions"))
