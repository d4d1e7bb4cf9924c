"""The caption ↔ audio alignment pair: the sentence tower learns from captions of the
training clips (two-branch text↔music, Won §5.3, with the same objective as the tag pair).

Each clip gets several captions (training.captions). A caption is relevant to every
training track that carries all the tags it says (its own track always does), so a
negative is never a track the caption is true of. A batch draws distinct tracks, one
random caption of each, one random crop of each.

Three-branch training (Won §5.3) adds the tag ↔ caption pair (`tag_caption_pair`): the
word tower's tag against the sentence tower's captions, so the two text towers share one
space; `sentences.branches: three` weights the pairs 0.3 / 0.3 / 0.4 (tag↔music,
tag↔caption, caption↔music) as the reference code does.

With a frozen encoder the encoder outputs are computed once per distinct caption and kept
on disk, keyed by the encoder's checksum and the text (`encoded_texts`), so a second run
or a resumed one does not encode them again.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from retrieval.text_encoders import encoder_checksum

from .alignment import AlignmentPair, PairBatch
from .caption_config import CaptionConfig
from .captions import CaptionMaker
from .objectives import ObjectiveTerm
from .samplers import Batch, TagTrackIndex

__all__ = ["CaptionBank", "caption_bank", "encoded_texts", "caption_encoder",
           "sentence_pair", "tag_caption_pair"]


@dataclass
class CaptionBank:
    texts: list[str]                 # every distinct (track, caption), in track order
    track: np.ndarray                # (C,) the track each caption was made for
    relevant: np.ndarray             # (C, n_tracks) bool: the track carries all its tags
    by_track: list[np.ndarray]       # caption rows of each track
    said: list[frozenset]            # the tags each caption says


def caption_bank(records, config: CaptionConfig) -> CaptionBank:
    """Captions of every training record, with their relevance to every record."""
    maker = CaptionMaker(config)
    vocabulary = sorted({tag for record in records for tag in record.tags})
    column = {tag: i for i, tag in enumerate(vocabulary)}
    carries = np.zeros((len(records), len(vocabulary)), dtype=np.int32)
    for row, record in enumerate(records):
        carries[row, [column[t] for t in set(record.tags)]] = 1
    texts, owner, said, names = [], [], [], []
    for row, record in enumerate(records):
        for caption in maker.captions(record.track_id, list(record.tags), record.caption):
            texts.append(caption.text)
            owner.append(row)
            said.append([column[t] for t in caption.tags])
            names.append(frozenset(caption.tags))
    says = np.zeros((len(texts), len(vocabulary)), dtype=np.int32)
    for row, columns in enumerate(said):
        says[row, columns] = 1
    relevant = (says @ carries.T) == says.sum(axis=1, keepdims=True)
    track = np.asarray(owner, dtype=np.int64)
    by_track = [np.flatnonzero(track == row) for row in range(len(records))]
    return CaptionBank(texts, track, relevant, by_track, names)


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).hexdigest().encode()


def encoded_texts(encoder, texts: list[str], cache_dir: str | Path) -> np.ndarray:
    """Encoder outputs of `texts`, from `<cache_dir>/text-encodings/<checksum>.npz` where
    present; the missing ones are encoded and the file rewritten (atomically)."""
    path = Path(cache_dir) / "text-encodings" / f"{encoder_checksum(encoder.folder)[:20]}.npz"
    known: dict[bytes, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as stored:
            known = dict(zip(stored["keys"].tolist(), stored["vectors"]))
    keys = [_key(text) for text in texts]
    missing = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
    if missing:
        vectors = encoder.encode([text for _, text in missing])
        known.update({key: vector for (key, _), vector in zip(missing, vectors)})
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(staging, keys=np.array(list(known), dtype="S40"),
                 vectors=np.stack(list(known.values())).astype(np.float32))
        os.replace(staging, path)
    return np.stack([known[key] for key in keys]).astype(np.float32)


def caption_encoder(tower, bank: CaptionBank, cache_dir: str | Path
                    ) -> Callable[[np.ndarray], torch.Tensor]:
    """Caption rows → sentence-tower embeddings; a frozen encoder's outputs are computed
    once (and cached on disk), a fine-tuned one runs on every batch."""
    if tower.config.fine_tune:
        return lambda rows: tower(tower.encode_texts([bank.texts[r] for r in rows]))
    encoded = torch.from_numpy(encoded_texts(tower.encoder, bank.texts, cache_dir))
    return lambda rows: tower(encoded[rows])


def sentence_pair(model, bank: CaptionBank, encode: Callable[[np.ndarray], torch.Tensor],
                  crops: Callable[[np.ndarray, np.random.Generator], torch.Tensor],
                  batch_size: int, terms: list[ObjectiveTerm], weight: float) -> AlignmentPair:
    """Captions (sentence tower) ↔ songs (audio tower); `crops(tracks, rng)` gives each
    track's training crop (training.crops.TrainingCrops: renderings and augmentation)."""
    with_captions = np.flatnonzero([len(rows) > 0 for rows in bank.by_track])
    size = min(batch_size, len(with_captions))

    def draw(rng: np.random.Generator) -> PairBatch:
        tracks = rng.choice(with_captions, size=size, replace=False)
        rows = np.array([rng.choice(bank.by_track[t]) for t in tracks])
        text = encode(rows)
        audio = model.towers["audio"](crops(tracks, rng))
        relevant = torch.from_numpy(bank.relevant[rows][:, tracks])
        return PairBatch(text, audio, relevant)

    return AlignmentPair("captions", draw, terms, weight)


def tag_caption_pair(model, sampler, index: TagTrackIndex, tag_inputs: torch.Tensor,
                     bank: CaptionBank, encode: Callable[[np.ndarray], torch.Tensor],
                     batch_size: int, terms: list[ObjectiveTerm], weight: float
                     ) -> AlignmentPair:
    """Tags (word tower) ↔ captions (sentence tower), Won's third branch: the sampler's
    batch with each track replaced by one of its captions, the anchor's positive one
    that says the anchor tag where the track has such a caption. A caption is relevant
    to a tag when its track carries the tag (said or not), as in the tag pair, so a
    caption of a track with the tag is never the tag's negative."""

    def draw(rng: np.random.Generator) -> PairBatch:
        batch = sampler.sample(rng, batch_size)
        anchors = len(batch.anchor_tags)   # anchors' tracks carry a tag, so have captions;
        keep = [c for c, t in enumerate(batch.tracks)   # an untagged extra negative has none
                if c < anchors or len(bank.by_track[t])]
        batch = Batch(batch.anchor_tags, batch.tracks[keep])
        rows = []
        for column, track in enumerate(batch.tracks):
            choices = bank.by_track[track]
            if column < anchors:
                tag = index.tags[batch.anchor_tags[column]]
                saying = [r for r in choices if tag in bank.said[r]]
                choices = saying or choices
            rows.append(rng.choice(choices))
        text = model.towers["word"](tag_inputs[batch.anchor_tags])
        return PairBatch(text, encode(np.array(rows)), torch.from_numpy(index.relevant(batch)))

    return AlignmentPair("tag_captions", draw, terms, weight)
