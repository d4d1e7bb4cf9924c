"""Alignment objectives on embeddings (never on the model), registered by name.

Each objective is called as `objective(text, audio, relevant, **params)`:

- `text`: (A, d) text-side embeddings (tags, sentences), not necessarily normalised;
- `audio`: (B, d) audio-side embeddings, B ≥ A; column i is anchor i's positive for i < A,
  any further columns are extra negatives a sampler added;
- `relevant`: (A, B) bool, `relevant[i, j]` when audio j carries anchor i's text (multi-hot
  labels), so a column that happens to carry the anchor's tag is never its negative.

It returns a scalar loss, or None when the batch holds nothing to learn from (no anchor has
a negative): the mean over nothing would be NaN, and one NaN step ruins every weight.

Triplet (Won, Eq. 5.1): L = [D(t_a, s_p) − D(t_a, s_n) + δ]_+ with D the cosine distance;
each anchor's negative is drawn among its non-relevant columns, uniformly or with
probability inversely proportional to its distance from the anchor (distance-weighted
sampling: hard negatives favoured, semi-hard and easy ones still drawn). Draws use torch's
generator, which checkpoints save, so a resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import triplet_loss

__all__ = ["OBJECTIVES", "NEGATIVE_WEIGHTINGS", "register_objective", "triplet",
           "pick_negatives", "distance_matrix"]

OBJECTIVES: dict = {}
NEGATIVE_WEIGHTINGS = ("uniform", "distance_weighted")
MIN_DISTANCE = 0.05   # weights 1/d are clipped here: a distance of 0 would take all the mass


def register_objective(name: str):
    def decorate(function):
        OBJECTIVES[name] = function
        return function
    return decorate


def distance_matrix(text: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """(A, B) cosine distances 1 − cos(text_i, audio_j)."""
    return 1.0 - F.normalize(text, dim=-1) @ F.normalize(audio, dim=-1).T


def pick_negatives(distances: torch.Tensor, relevant: torch.Tensor,
                   negatives: str = "uniform") -> torch.Tensor:
    """For each anchor, a column that is not relevant to it (−1 if there is none)."""
    if negatives not in NEGATIVE_WEIGHTINGS:
        raise ValueError(f"negatives {negatives!r} is not one of {', '.join(NEGATIVE_WEIGHTINGS)}")
    weights = torch.ones_like(distances) if negatives == "uniform" \
        else 1.0 / distances.detach().clamp(min=MIN_DISTANCE)
    weights = weights * (~relevant)
    usable = weights.sum(dim=1) > 0
    chosen = torch.full((len(distances),), -1, dtype=torch.long)
    if usable.any():
        chosen[usable] = torch.multinomial(weights[usable], 1).squeeze(1)
    return chosen


@register_objective("triplet")
def triplet(text: torch.Tensor, audio: torch.Tensor, relevant: torch.Tensor, *,
            margin: float = 0.4, negatives: str = "uniform") -> torch.Tensor | None:
    """Mean cosine triplet loss over the anchors that have a negative; None if none has."""
    anchors = len(text)
    if anchors == 0 or audio.shape[0] < anchors or relevant.shape != (anchors, audio.shape[0]):
        raise ValueError(f"triplet needs text (A, d), audio (B ≥ A, d) and relevant (A, B); "
                         f"got {tuple(text.shape)}, {tuple(audio.shape)}, {tuple(relevant.shape)}")
    with torch.no_grad():   # which negative is drawn is not differentiated
        chosen = pick_negatives(distance_matrix(text, audio), relevant, negatives)
    keep = chosen >= 0
    if not keep.any():
        return None
    return triplet_loss(text[keep], audio[:anchors][keep], audio[chosen[keep]], margin=margin)
