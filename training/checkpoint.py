"""Resumable training state in safetensors + JSON (no pickle, also for optimizer state)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"))
    optim = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in optim["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    meta = {"state": state, "param_groups": optim["param_groups"], "scalars": scalars}
    (folder / "state.json").write_text(json.dumps(meta, indent=1))


def load_checkpoint(folder: Path, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer) -> dict:
    """Restore model and optimizer in place; returns the saved trainer state."""
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
    return meta["state"]
