"""Resumable training state in safetensors + JSON (no pickle, also for optimizer state).

A checkpoint holds the model, the optimizer, the trainer's bookkeeping and both random
generators (numpy for sampling, torch for dropout), so a resumed run continues the same
sequence as an uninterrupted one. It is written to a staging folder and swapped in.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from retrieval.files import replaced_folder

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict, rng: np.random.Generator) -> None:
    optim = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in optim["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    meta = {"state": state, "param_groups": optim["param_groups"], "scalars": scalars,
            "numpy_rng": rng.bit_generator.state}
    with replaced_folder(folder) as staging:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
                  str(staging / "model.safetensors"))
        save_file(tensors, str(staging / "optimizer.safetensors"))
        save_file({"torch_rng": torch.get_rng_state()}, str(staging / "rng.safetensors"))
        (staging / "state.json").write_text(json.dumps(meta, indent=1))


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    rng: np.random.Generator) -> dict:
    """Restore model, optimizer and generators in place; returns the trainer state."""
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    meta = json.loads((folder / "state.json").read_text())
    state: dict[int, dict] = {}
    for key, value in load_file(str(folder / "optimizer.safetensors")).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    rng.bit_generator.state = meta["numpy_rng"]
    torch.set_rng_state(load_file(str(folder / "rng.safetensors"))["torch_rng"])
    return meta["state"]
