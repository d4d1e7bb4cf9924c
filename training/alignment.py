"""What one training step optimises: a list of alignment pairs, each a text side and an
audio side trained together under a weighted sum of objectives (training.objectives:
`ObjectiveTerm`s, e.g. triplet 0.5 + contrastive 0.5), with a weight of its own.

The tag pair (Won's tag branch) draws a batch from a sampler, one random ~3.7 s crop per
track through the audio tower and each anchor tag's word vector through the word tower.
Other pairs (captions through a sentence tower, say) plug in by drawing their own
`PairBatch`; `step_loss` sums the weighted objectives of whatever pairs a run has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .objectives import ObjectiveTerm, weighted_objective
from .samplers import TagTrackIndex

__all__ = ["PairBatch", "AlignmentPair", "pair_loss", "pair_terms", "step_loss", "random_crops",
           "tag_pair"]


@dataclass
class PairBatch:
    text: torch.Tensor        # (A, d) text-side embeddings
    audio: torch.Tensor       # (B ≥ A, d) audio-side embeddings; column i is anchor i's positive
    relevant: torch.Tensor    # (A, B) bool: audio j carries anchor i's text


@dataclass
class AlignmentPair:
    name: str
    draw: Callable[[np.random.Generator], PairBatch]   # sample and encode one batch
    terms: list[ObjectiveTerm] = field(default_factory=lambda: [ObjectiveTerm("triplet")])
    weight: float = 1.0


def pair_terms(pair: AlignmentPair, batch: PairBatch
               ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """The pair's weighted objectives on one batch (None if the batch teaches nothing)
    and each objective's unweighted value by name."""
    relevant = batch.relevant.to(batch.audio.device)   # made on the CPU, like every batch
    loss, terms = weighted_objective(pair.terms, batch.text, batch.audio, relevant)
    return (None if loss is None else pair.weight * loss), terms


def pair_loss(pair: AlignmentPair, batch: PairBatch) -> torch.Tensor | None:
    """The pair's weighted objectives on one batch; None if the batch teaches nothing."""
    return pair_terms(pair, batch)[0]


def step_loss(pairs: list[AlignmentPair], rng: np.random.Generator
              ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """The summed loss of one step over all pairs (None if no pair had anything to learn),
    and each pair's unweighted loss for the log; a pair of several objectives also gives
    each one's unweighted value as `pair/objective`."""
    total, parts = None, {}
    for pair in pairs:
        loss, terms = pair_terms(pair, pair.draw(rng))
        if loss is None:
            continue
        parts[pair.name] = loss.item() / pair.weight if pair.weight else 0.0
        if len(terms) > 1:
            parts.update({f"{pair.name}/{name}": value for name, value in terms.items()})
        total = loss if total is None else total + loss
    return total, parts


def random_crops(mels: list[np.ndarray], tracks: np.ndarray, frames: int,
                 rng: np.random.Generator) -> torch.Tensor:
    """One random `frames`-long crop of each track's log-mel (short ones are tiled)."""
    crops = []
    for track in tracks:
        mel = mels[track]
        if mel.shape[1] < frames:
            mel = np.tile(mel, (1, frames // mel.shape[1] + 1))
        start = rng.integers(0, mel.shape[1] - frames + 1)
        crops.append(mel[:, start:start + frames])
    return torch.from_numpy(np.stack(crops).astype(np.float32))


def tag_pair(model, sampler, index: TagTrackIndex, tag_inputs: torch.Tensor,
             crops: Callable[[np.ndarray, np.random.Generator], torch.Tensor],
             batch_size: int, terms: list[ObjectiveTerm],
             weight: float = 1.0) -> AlignmentPair:
    """Tags (word tower) ↔ songs (audio tower), batches from `sampler`; `crops(tracks,
    rng)` gives each track's training crop (training.crops.TrainingCrops)."""

    def draw(rng: np.random.Generator) -> PairBatch:
        batch = sampler.sample(rng, batch_size)
        audio = model.towers["audio"](crops(batch.tracks, rng))
        text = model.towers["word"](tag_inputs[batch.anchor_tags])
        return PairBatch(text, audio, torch.from_numpy(index.relevant(batch)))

    return AlignmentPair("tags", draw, terms, weight)
