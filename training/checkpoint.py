"""Resumable training state in safetensors + JSON (no pickle, also for optimizer state).

A checkpoint holds the model, the optimizer, the trainer's bookkeeping and both random
generators (numpy for sampling, torch for dropout), so a resumed run continues the same
sequence as an uninterrupted one. It is written to a staging folder and swapped in.

It also records the model config (front end, towers, word vectors, tag vocabulary): the
weights mean something only under that config, so resuming under another one is refused
with the differences named, instead of failing on tensor shapes or, worse, silently
continuing with tags that now mean other columns.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from retrieval import strict_json
from retrieval.files import replaced_folder
from retrieval.messages import first_line
from retrieval.model_config import ModelConfig, from_legacy_layout, legacy_state_dict

from .config import ConfigError

__all__ = ["save_checkpoint", "load_checkpoint", "ResumeError", "config_differences"]


class ResumeError(ConfigError):
    """A checkpoint that cannot be resumed under the current config (or is damaged)."""


def config_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two model-config dicts, with both values;
    the tag vocabulary is summarised as added and removed tags."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        name, old, new = f"{prefix}{key}", saved.get(key), current.get(key)
        if key == "tags" and not prefix and old != new:
            added = sorted(set(new or []) - set(old or []))
            removed = sorted(set(old or []) - set(new or []))
            change = "; ".join(filter(None, [added and f"added {', '.join(added[:5])}",
                                             removed and f"removed {', '.join(removed[:5])}"]))
            differences.append(f"tag vocabulary ({change or 'reordered'})")
        elif isinstance(old, dict) and isinstance(new, dict):
            differences += config_differences(old, new, f"{name}.")
        elif old != new:
            differences.append(f"{name} {old!r} → {new!r}")
    return differences


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict, rng: np.random.Generator) -> None:
    optim = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in optim["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    meta = {"state": state, "param_groups": optim["param_groups"], "scalars": scalars,
            "numpy_rng": rng.bit_generator.state, "model_config": model.config.to_dict()}
    with replaced_folder(folder) as staging:
        # CPU tensors, wherever training ran, so a checkpoint resumes on any device
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(staging / "model.safetensors"))
        save_file(tensors, str(staging / "optimizer.safetensors"))
        save_file({"torch_rng": torch.get_rng_state()}, str(staging / "rng.safetensors"))
        (staging / "state.json").write_text(strict_json.dumps(meta, indent=1))


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    rng: np.random.Generator) -> dict:
    """Restore model, optimizer and generators in place; returns the trainer state.

    Raises ResumeError, before changing anything, if the checkpoint's model config or tag
    vocabulary differs from `model.config`, or if the checkpoint is damaged.
    """
    try:
        meta = json.loads((folder / "state.json").read_text())
        saved = meta.get("model_config")
        legacy = saved is not None and "towers" not in saved   # written before towers
        if legacy:
            saved = ModelConfig.from_mapping(from_legacy_layout(saved)).to_dict()
        if saved is not None:
            differences = config_differences(saved, model.config.to_dict())
            if differences:
                raise ResumeError(f"cannot resume from {folder}: it was trained with another "
                                  f"model config ({'; '.join(differences)}); train into a new "
                                  "--out folder, or restore the config")
        weights = load_file(str(folder / "model.safetensors"))
        if legacy:
            weights = legacy_state_dict(weights)
        optimizer_tensors = load_file(str(folder / "optimizer.safetensors"))
        torch_rng = load_file(str(folder / "rng.safetensors"))["torch_rng"]
        trainer_state, scalars = meta["state"], meta["scalars"]
        param_groups, numpy_rng = meta["param_groups"], meta["numpy_rng"]
    except ResumeError:
        raise
    except Exception as error:   # missing or torn files: JSON, safetensors, keys
        raise ResumeError(f"cannot resume from {folder}: damaged checkpoint "
                          f"({type(error).__name__}: {error})") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:   # a checkpoint from before configs were recorded
        raise ResumeError(f"cannot resume from {folder}: its weights do not fit the config "
                          f"({first_line(error)})") from None
    state: dict[int, dict] = {}
    for key, value in optimizer_tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in scalars.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    rng.bit_generator.state = numpy_rng
    torch.set_rng_state(torch_rng)
    return trainer_state
