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
each anchor's negative is drawn among its non-relevant columns with a weighting:
`uniform`; `distance_weighted`, probability ∝ 1/d (hard negatives strongly favoured);
or `similarity`, probability ∝ (cos + 1)/2 as in TTMR's reference code, much flatter than
1/d, so a near-duplicate that is a false negative under heuristic tags is not the usual
pick. Draws use torch's generator, which checkpoints save, so a resumed run draws what an
uninterrupted one would.

Contrastive (InfoNCE, symmetric, multi-positive): with s = cos/τ, each text row i is
pulled towards every relevant column p and pushed from the non-relevant ones,
ℓ_ip = −log(e^{s_ip} / (e^{s_ip} + Σ_{n ∉ P_i} e^{s_in})), averaged over p ∈ P_i; the same
from each audio column to the texts. Relevant pairs are never in each other's denominator,
so two clips sharing a tag are not pushed apart. The loss is the mean of both directions.

`weighted_objective` sums several objectives with weights (ObjectiveTerm), skipping terms
that had nothing to learn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import inspect

import torch
import torch.nn.functional as F

from .losses import triplet_loss

__all__ = ["OBJECTIVES", "NEGATIVE_WEIGHTINGS", "register_objective", "triplet",
           "contrastive", "pick_negatives", "distance_matrix", "ObjectiveTerm",
           "weighted_objective", "objective_params"]

OBJECTIVES: dict = {}
NEGATIVE_WEIGHTINGS = ("uniform", "distance_weighted", "similarity")
MIN_DISTANCE = 0.05   # weights 1/d are clipped here: a distance of 0 would take all the mass


def register_objective(name: str):
    def decorate(function):
        OBJECTIVES[name] = function
        return function
    return decorate


def objective_params(name: str) -> tuple[str, ...]:
    """The keyword parameters objective `name` takes (what a config may set for it)."""
    signature = inspect.signature(OBJECTIVES[name])
    return tuple(p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY)


def distance_matrix(text: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """(A, B) cosine distances 1 − cos(text_i, audio_j)."""
    return 1.0 - F.normalize(text, dim=-1) @ F.normalize(audio, dim=-1).T


def negative_weights(distances: torch.Tensor, negatives: str) -> torch.Tensor:
    """Unnormalised draw weights of each column as a negative (before relevance)."""
    if negatives == "uniform":
        return torch.ones_like(distances)
    if negatives == "distance_weighted":
        return 1.0 / distances.clamp(min=MIN_DISTANCE)
    if negatives == "similarity":   # (cos + 1) / 2 = 1 − d/2
        return (1.0 - distances / 2).clamp(min=0.0)
    raise ValueError(f"negatives {negatives!r} is not one of {', '.join(NEGATIVE_WEIGHTINGS)}")


def pick_negatives(distances: torch.Tensor, relevant: torch.Tensor,
                   negatives: str = "uniform") -> torch.Tensor:
    """For each anchor, a column that is not relevant to it (−1 if there is none)."""
    weights = negative_weights(distances.detach(), negatives) * (~relevant)
    usable = weights.sum(dim=1) > 0
    chosen = torch.full((len(distances),), -1, dtype=torch.long, device=distances.device)
    if usable.any():
        chosen[usable] = torch.multinomial(weights[usable], 1).squeeze(1)
    return chosen


def _check_shapes(name: str, text: torch.Tensor, audio: torch.Tensor,
                  relevant: torch.Tensor) -> None:
    anchors = len(text)
    if anchors == 0 or audio.shape[0] < anchors or relevant.shape != (anchors, audio.shape[0]):
        raise ValueError(f"{name} needs text (A, d), audio (B ≥ A, d) and relevant (A, B); "
                         f"got {tuple(text.shape)}, {tuple(audio.shape)}, {tuple(relevant.shape)}")


@register_objective("triplet")
def triplet(text: torch.Tensor, audio: torch.Tensor, relevant: torch.Tensor, *,
            margin: float = 0.4, negatives: str = "uniform") -> torch.Tensor | None:
    """Mean cosine triplet loss over the anchors that have a negative; None if none has."""
    _check_shapes("triplet", text, audio, relevant)
    with torch.no_grad():   # which negative is drawn is not differentiated
        chosen = pick_negatives(distance_matrix(text, audio), relevant, negatives)
    keep = chosen >= 0
    if not keep.any():
        return None
    anchors = len(text)
    return triplet_loss(text[keep], audio[:anchors][keep], audio[chosen[keep]], margin=margin)


def _multi_positive_nce(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor | None:
    """Mean over rows with a positive and a negative of the mean over positives p of
    softplus(logsumexp(negatives) − s_p) = −log(e^{s_p} / (e^{s_p} + Σ_n e^{s_n}))."""
    negative = ~positive
    rows = positive.any(dim=1) & negative.any(dim=1)
    if not rows.any():
        return None
    scores, positive, negative = scores[rows], positive[rows], negative[rows]
    negatives = torch.logsumexp(scores.masked_fill(~negative, float("-inf")), dim=1)
    per_pair = F.softplus(negatives[:, None] - scores) * positive
    return (per_pair.sum(dim=1) / positive.sum(dim=1)).mean()


@register_objective("contrastive")
def contrastive(text: torch.Tensor, audio: torch.Tensor, relevant: torch.Tensor, *,
                temperature: float = 0.07) -> torch.Tensor | None:
    """Symmetric multi-positive InfoNCE on cosine similarities / temperature; None if no
    row of either direction has both a positive and a negative."""
    _check_shapes("contrastive", text, audio, relevant)
    if not temperature > 0:
        raise ValueError(f"contrastive needs a temperature > 0, got {temperature}")
    scores = F.normalize(text, dim=-1) @ F.normalize(audio, dim=-1).T / temperature
    directions = [loss for loss in (_multi_positive_nce(scores, relevant),
                                    _multi_positive_nce(scores.T, relevant.T))
                  if loss is not None]
    return None if not directions else sum(directions) / len(directions)


@dataclass
class ObjectiveTerm:
    name: str                                      # an OBJECTIVES name
    weight: float = 1.0
    params: dict = field(default_factory=dict)     # keyword arguments of the objective


def weighted_objective(terms: list[ObjectiveTerm], text: torch.Tensor, audio: torch.Tensor,
                       relevant: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, float]]:
    """Σ weight · objective over the terms that had something to learn (None if none
    had), and each term's unweighted value by name for the log."""
    total, parts = None, {}
    for term in terms:
        if term.weight == 0:   # switched off: not even computed
            continue
        loss = OBJECTIVES[term.name](text, audio, relevant, **term.params)
        if loss is None:
            continue
        parts[term.name] = loss.item()
        total = term.weight * loss if total is None else total + term.weight * loss
    return total, parts
