"""Losses on embeddings (never on the model); training.objectives registers them by name.

Triplet (Won, Eq. 5.1): L = [D(t_a, s_p) − D(t_a, s_n) + δ]_+ with D the cosine distance.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cosine_distance", "triplet_loss"]


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine distance 1 − cos(a_i, b_i)."""
    return 1.0 - F.cosine_similarity(a, b, dim=-1)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = 0.4) -> torch.Tensor:
    """Mean cosine-distance triplet loss with a margin over a batch of triplets.

    An empty batch raises: its mean would be NaN, and one NaN step ruins every weight.
    """
    if len(anchor) == 0:
        raise ValueError("triplet_loss needs at least one triplet")
    return F.relu(cosine_distance(anchor, positive) - cosine_distance(anchor, negative)
                  + margin).mean()
