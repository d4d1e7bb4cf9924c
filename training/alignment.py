"""What one training step optimises: a list of alignment pairs, each a text side and an
audio side trained together under a weighted sum of objectives (training.objectives:
`ObjectiveTerm`s, e.g. triplet 0.5 + contrastive 0.5), with a weight of its own.

The tag pair (Won's tag branch) draws a batch from a sampler, one random ~3.7 s crop per
track through the audio tower and each anchor tag's word vector through the word tower.
Other pairs (captions through a sentence tower, say) plug in by drawing their own
`PairBatch`; `step_loss` sums the weighted objectives of whatever pairs a run has.

The playlist pair (Alonso-Jiménez, thesis §5) aligns songs with playlist information:
each pair strategy's (anchor, positive) tracks (training.playlists.pairs), the anchor's
audio and the positive's frozen Word2Vec vector (or its audio) each through a projector
with one hidden layer. The projectors are the pair's own `modules`: the trainer optimises
and checkpoints them, and no bundle keeps them (the thesis discards H after training).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .objectives import ObjectiveTerm, weighted_objective
from .samplers import TagTrackIndex

__all__ = ["PairBatch", "AlignmentPair", "pair_loss", "pair_terms", "step_loss", "random_crops",
           "tag_pair", "Projector", "playlist_pair"]


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
    # trainable parts of the pair outside the model (projectors): optimised and
    # checkpointed with it, never saved in the bundle
    modules: list[nn.Module] = field(default_factory=list)


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


class Projector(nn.Sequential):
    """Thesis §5's projector H: one hidden layer, ReLU."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_dim))


def playlist_pair(model, stream, vectors: np.ndarray | None,
                  crops: Callable[[np.ndarray, np.random.Generator], torch.Tensor],
                  batch_size: int, terms: list[ObjectiveTerm], weight: float = 1.0,
                  hidden: int = 128, dim: int = 128) -> AlignmentPair:
    """Songs (audio tower + projector) ↔ their positives from `stream`
    (training.playlists.pairs.PairStream, rows = training tracks): the positive's row of
    `vectors` through a projector of its own, or, when `vectors` is None, its audio
    through the same tower and projector. Objective rows are the positives, columns the
    anchors; pairs sharing a track are relevant to each other."""
    from .playlists.pairs import shared_track_mask
    audio_head = Projector(model.towers["audio"].config.joint_dim, hidden, dim)
    heads = [audio_head]
    table = None
    if vectors is not None:
        table = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        heads.append(Projector(table.shape[1], hidden, dim))

    def draw(rng: np.random.Generator) -> PairBatch:
        pairs = stream.next(rng, batch_size)
        anchors, positives = pairs[:, 0], pairs[:, 1]
        relevant = torch.from_numpy(shared_track_mask(pairs))
        if table is None:   # both sides audio: one batch through the tower (shared batch norm)
            tracks = np.concatenate([anchors, positives])
            both = audio_head(model.towers["audio"](crops(tracks, rng)))
            return PairBatch(both[len(pairs):], both[:len(pairs)], relevant)
        audio = audio_head(model.towers["audio"](crops(anchors, rng)))
        return PairBatch(heads[1](table[positives]), audio, relevant)

    return AlignmentPair("playlists", draw, terms, weight, heads)
