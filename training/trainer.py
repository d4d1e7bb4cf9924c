"""Tag-to-music training loop (Won's two-branch triplet network).

Each step optimises a list of alignment pairs (training.alignment): today the tag pair,
where the sampler picks anchor tags, their positive songs and any extra negatives, one
random ~3.7 s chunk per song goes through the audio tower and each anchor tag's word
vector through the word tower, and the objective (cosine triplet by default) picks each
anchor's negative among the batch's songs without its tag. A model with a sentence tower
adds the caption pair (training.sentence_pair): captions of the training clips through the
sentence tower against the same songs, weighted by `sentences.weight`; with
`sentences.branches: three` also tags ↔ captions (Won's three-branch model, pairs weighted
0.3 / 0.3 / 0.4). After each epoch the model is
scored on the validation split (macro MAP) and the best epoch is saved as a bundle.

Guards: a batch in which no anchor found a negative is skipped (its loss would be the
NaN mean of nothing); a non-finite loss, weight or validation score stops the run with
TrainingDiverged before anything of it is saved, so the last good checkpoint and the best
bundle stay as they were; `resume` refuses a checkpoint made under another model config
or tag vocabulary (training.checkpoint).
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from retrieval import strict_json
from retrieval.bundle import load_bundle, save_bundle
from retrieval.model import MusicSearchModel, NonFiniteOutput
from retrieval.paths import default_cache_dir

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig, folder_problem
from .crops import TrainingCrops, rendering_info, training_renderings
from .distributed import NonFiniteLoss, World, join_world, leave_world, make_step
from .data import load_catalog_splits, load_split, resolve_catalog, tag_vocabulary
from .device import place_model, process_group_backend, resolve_device
from .alignment import tag_pair
from .evaluation import evaluate_tags
from .heap import retained_heap
from .metrics import NonFiniteScores
from .samplers import TagTrackIndex, make_sampler
from .sentence_pair import caption_bank, caption_encoder, sentence_pair, tag_caption_pair
from .warm_start import init_from_bundle

__all__ = ["train", "TrainResult", "TrainingDiverged"]


class TrainingDiverged(ConfigError):
    """The loss, the weights or the validation scores went NaN/inf (usually too high a
    learning rate: a config problem). Nothing of the diverged epoch is saved."""


@dataclass
class TrainResult:
    bundle: Path
    fingerprint: str
    best_epoch: int
    valid_map: float
    test_metrics: dict
    elapsed_s: float


def _learning_rate(optim, step: int) -> float:
    """The lr at a global step; derived from the step alone so a resumed run continues
    the same schedule without saving scheduler state."""
    if not optim.cosine_decay:
        return optim.lr
    total = max(1, optim.epochs * optim.steps_per_epoch)
    return 0.5 * optim.lr * (1.0 + math.cos(math.pi * min(step, total) / total))


def _diverged(out: Path, state: dict, what: str) -> TrainingDiverged:
    kept = (f"without saving this epoch: {out / 'checkpoint'} keeps epoch {state['epoch']} "
            f"and {out / 'model'} the best (epoch {state['best_epoch']})" if state["epoch"]
            else "before any epoch finished, so nothing was saved")
    return TrainingDiverged(f"training diverged ({what}); stopped {kept}; lower optim.lr "
                            "and run again with --resume")


def _check_weights(model: torch.nn.Module) -> str | None:
    """The first parameter or buffer with NaN/inf values, if any."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return name
    return None


def _summary(metrics: dict) -> dict:
    """Metrics without the per-tag tables, for logs and the bundle's config."""
    return {group: {k: v for k, v in values.items() if k != "per_tag"}
            for group, values in metrics.items()}


@retained_heap()   # steps reuse freed activations instead of page-faulting: ~2× (training.heap)
def train(config: TrainConfig, out_dir: str | Path | None = None, resume: bool = False,
          command: str = "", progress: bool = True, log=print) -> TrainResult:
    """Train and save the best epoch's bundle. Under torchrun (WORLD_SIZE > 1) every process
    runs this: rank 0 prepares the data first, validates, logs and writes checkpoints and
    bundles; the others train their shards (training.distributed) and return after the
    last epoch with an empty fingerprint and no test metrics."""
    sentence = config.model.towers.get("sentence")
    device = resolve_device(config.optim.device,   # a missing GPU is refused before any work
                            cuda_capable_model=not getattr(sentence, "fine_tune", False))
    if device.type == "cuda":   # before the group: NCCL's barriers use the current GPU
        torch.cuda.set_device(device)
    world = join_world(process_group_backend(device))
    try:
        return _train(config, out_dir, resume, command, progress and world.main,
                      log if world.main else (lambda *args, **kwargs: None), world, device)
    finally:
        leave_world(world)


def _train(config: TrainConfig, out_dir: str | Path | None, resume: bool, command: str,
           progress: bool, log, world: World, device: torch.device) -> TrainResult:
    started = time.perf_counter()
    out = Path(out_dir or config.out)
    problem = folder_problem(out, "--out")
    if problem:
        raise ConfigError(problem)
    rng = np.random.default_rng(config.optim.seed)
    torch.manual_seed(config.optim.seed)
    if config.optim.threads:
        torch.set_num_threads(config.optim.threads)
    elif "OMP_NUM_THREADS" not in os.environ:   # torch's default is one per core; on this
        torch.set_num_threads(1)                # busy 2-core machine 1 trains ~3× faster
    shards = config.optim.shards or world.size
    if shards % world.size:
        raise ConfigError(f"optim.shards {shards} must be a multiple of the {world.size} "
                          "training processes")
    world.others_wait()   # rank 0 builds the corpus and fills the feature cache first
    catalog = resolve_catalog(config.data, progress=progress)
    renderings = training_renderings(config.data, catalog)   # checked before any features
    splits = load_catalog_splits(catalog)
    if not splits["train"] or not splits["valid"]:
        raise ConfigError(f"{catalog}: needs tracks in both the train and valid splits")
    model = MusicSearchModel(config.model_config())
    tags = tag_vocabulary(splits["train"], config.data.min_tag_tracks,
                          lambda t: model.phrase_vector(t) is not None)
    if len(tags) < 2:
        raise ConfigError(f"{catalog}: fewer than two tags with ≥ {config.data.min_tag_tracks} "
                         "training tracks; lower data.min_tag_tracks or add data")
    model.config.tags = tags
    warm_start = None
    if config.optim.init_from:
        warm_start = init_from_bundle(model, config.optim.init_from)
        log(f"initialised {', '.join(warm_start['towers'])} from {config.optim.init_from} "
            f"({warm_start['tensors']} of {warm_start['of']} tensors)")
    tag_inputs = torch.from_numpy(np.stack([model.phrase_vector(t) for t in tags]))

    # log-mels, or the cached outputs of a frozen backbone (its tower's own front end)
    features = config.model.audio_frontend
    train_data = load_split(splits["train"], features, config.data.cache_dir,
                            "features (train)", progress)
    valid_data = load_split(splits["valid"], features, config.data.cache_dir,
                            "features (valid)", progress)
    for path, reason in train_data.failed + valid_data.failed:
        log(f"skipped unreadable {path}: {reason}")
    if not train_data.records or not valid_data.records:
        raise ConfigError(f"{catalog}: no readable audio in the train or valid split")
    index = TagTrackIndex.from_track_tags([r.tags for r in train_data.records], tags)
    try:
        sampler = make_sampler(config.objective.sampler, index)
    except ValueError as error:
        raise ConfigError(f"{catalog}: {error}") from None
    crops = TrainingCrops.load(train_data, renderings, features, config.augment,
                               config.data.cache_dir, progress, log)
    pairs = [tag_pair(model, sampler, index, tag_inputs, crops, config.optim.batch_size // shards,
                      config.objective.terms(sampler))]
    if model.has_tower("sentence"):   # captions ↔ songs (and tags) through the sentence tower
        sentences = config.sentences
        bank = caption_bank(train_data.records, sentences.caption_config())
        weights = sentences.pair_weights()
        log(f"sentence training: {len(bank.texts)} {sentences.text} texts of "
            f"{len(train_data.records)} training tracks, {sentences.branches} branches, "
            f"weights {weights}")
        encode = caption_encoder(model.towers["sentence"], bank,
                                 config.data.cache_dir or default_cache_dir())
        size = sentences.batch_size or config.optim.batch_size
        if size % shards:
            raise ConfigError(f"sentences.batch_size {size} must split into {shards} shards")
        size //= shards
        pairs[0].weight = weights["tags"]
        pairs.append(sentence_pair(model, bank, encode, crops, size,
                                   config.objective.terms(sampler), weights["captions"]))
        if "tag_captions" in weights:
            pairs.append(tag_caption_pair(model, sampler, index, tag_inputs, bank, encode, size,
                                          config.objective.terms(sampler),
                                          weights["tag_captions"]))
    world.main_done()
    place_model(model, device)   # before the optimizer, which must see the moved weights
    if device.type != "cpu":
        log(f"training on {device}")
    # channels-last conv weights take mkldnn's faster path: ~2× per step on CPU
    # (benchmarks/train_epoch.py); bundles and checkpoints save contiguous copies
    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.lr,
                                 weight_decay=config.optim.weight_decay)
    # the step made of the whole batch, or of this process's shards of it (under DDP)
    step_fn = make_step(model, pairs, optimizer, config.optim, world)
    state = {"epoch": 0, "best_map": -1.0, "best_epoch": 0, "history": [], "elapsed_s": 0.0}
    checkpoint_dir = out / "checkpoint"
    if resume and (checkpoint_dir / "state.json").is_file():
        state = load_checkpoint(checkpoint_dir, model, optimizer, rng)
        log(f"resumed from epoch {state['epoch']} (best valid MAP {state['best_map']:.4f})")
    elif resume:
        log(f"no checkpoint in {checkpoint_dir}: starting from epoch 1")
    # time spent in earlier runs of this training counts toward optim.max_minutes
    started -= state.get("elapsed_s", 0.0)
    bundle_dir = out / "model"

    for epoch in range(state["epoch"] + 1, config.optim.epochs + 1):
        model.train()
        losses, skipped, terms = [], 0, {}
        bar = tqdm(range(config.optim.steps_per_epoch), desc=f"epoch {epoch}/{config.optim.epochs}",
                   disable=not progress, unit="step")
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config.optim,
                                             (epoch - 1) * config.optim.steps_per_epoch + step)
            try:
                loss, parts = step_fn(rng, (epoch - 1) * config.optim.steps_per_epoch + step)
            except NonFiniteLoss as error:
                raise _diverged(out, state, f"loss {error} in epoch {epoch}, step {step + 1}")
            if loss is None:   # no anchor of this batch has a negative: nothing to learn
                skipped += 1
                continue
            losses.append(loss)
            for name, value in parts.items():
                terms.setdefault(name, []).append(value)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if not losses:
            raise ConfigError(f"no batch of epoch {epoch} had an anchor with a negative song; "
                              "raise optim.batch_size or use objective.sampler: random")
        if skipped:
            log(f"epoch {epoch}: skipped {skipped} of {config.optim.steps_per_epoch} batches "
                "in which no anchor had a negative song")
        broken = _check_weights(model)
        if broken:
            raise _diverged(out, state, f"{broken} has NaN/inf values after epoch {epoch}")
        if not world.main:   # rank 0 validates and saves; the others wait for its verdict
            if world.agree(False):
                break
            continue

        model.eval()
        try:
            # evaluation runs on the CPU (it hands numpy arrays around): a copy there
            evaluated = model if device.type == "cpu" else copy.deepcopy(model).cpu()
            valid = evaluate_tags(evaluated, valid_data.records, valid_data.mels,
                                  include_unseen=False)
        except (NonFiniteOutput, NonFiniteScores) as error:
            raise _diverged(out, state, f"validation after epoch {epoch}: {error}") from None
        valid_map = valid["seen"]["map"] if "seen" in valid else 0.0
        state["epoch"] = epoch
        state["history"].append({"epoch": epoch, "loss": float(np.mean(losses)),
                                 "valid_map": valid_map,
                                 "terms": {k: float(np.mean(v)) for k, v in terms.items()}})
        improved = valid_map > state["best_map"]
        if improved:
            state["best_map"], state["best_epoch"] = valid_map, epoch
            save_bundle(model, bundle_dir, training={"command": command, "epoch": epoch})
        by_term = "".join(f", {name} {np.mean(values):.4f}" for name, values in terms.items()
                          if len(terms) > 1)
        log(f"epoch {epoch}: loss {np.mean(losses):.4f}{by_term}, valid MAP {valid_map:.4f}"
            + (" (best, saved)" if improved else ""))
        state["elapsed_s"] = time.perf_counter() - started
        save_checkpoint(checkpoint_dir, model, optimizer, state, rng)
        minutes = (time.perf_counter() - started) / 60
        if world.agree(bool(config.optim.max_minutes and minutes > config.optim.max_minutes)):
            log(f"stopping after {minutes:.1f} min (optim.max_minutes={config.optim.max_minutes})")
            break

    if not world.main:
        return TrainResult(bundle_dir, "", state["best_epoch"], state["best_map"], {},
                           time.perf_counter() - started)

    best = load_bundle(bundle_dir)
    test_metrics = {}
    if splits.get("test"):
        test_data = load_split(splits["test"], features, config.data.cache_dir,
                               "features (test)", progress)
        # The in-memory model has no bundle yet: give it the training tag counts, so that
        # zero-shot tags are told apart from tags too rare for the vocabulary.
        train_counts = Counter(t for r in splits["train"] for t in set(r.tags))
        test_metrics = evaluate_tags(best, test_data.records, test_data.mels,
                                     train_counts=train_counts)
    elapsed = time.perf_counter() - started
    corpus_info = catalog.parent / "corpus.json"
    training = {"command": command, "config": config.to_dict(), "catalog": str(catalog),
                "corpus": json.loads(corpus_info.read_text()) if corpus_info.is_file() else None,
                "best_epoch": state["best_epoch"], "history": state["history"],
                "renderings": rendering_info(renderings), "init_from": warm_start,
                "train_tracks": len(train_data.records), "elapsed_s": round(elapsed, 1)}
    metrics = {"valid_map": state["best_map"], "test": _summary(test_metrics)}
    fingerprint = save_bundle(best, bundle_dir, training=training, metrics=metrics)
    (out / "test_metrics.json").write_text(strict_json.dumps(test_metrics, indent=2))
    return TrainResult(bundle_dir, fingerprint, state["best_epoch"], state["best_map"],
                       test_metrics, elapsed)
