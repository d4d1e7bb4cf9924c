"""Where training runs: `optim.device` (auto | cpu | cuda) as a torch device, the
process-group backend for it, and the model placed there.

Only the model and each batch's tensors move: feature caches, crops, samplers and the
random generators stay on the CPU (a tower's inputs are moved by a hook as they enter it,
so every alignment pair works unchanged), and checkpoints and bundles are written as CPU
tensors (training.checkpoint, retrieval.bundle), so they load anywhere. Under torchrun each
process takes the GPU of its LOCAL_RANK.

The CUDA path has not run on a GPU yet (none on the machine it was written on): what is
tested is the device choice, its errors and the backend choice, and that the CPU path is
unchanged.
"""
from __future__ import annotations

import os

import torch

from .config import ConfigError

__all__ = ["DeviceUnavailable", "resolve_device", "process_group_backend", "place_model"]


class DeviceUnavailable(ConfigError):
    """`optim.device: cuda` where this process has no CUDA device."""


def resolve_device(name: str, cuda_available: bool | None = None,
                   gpu_count: int | None = None, local_rank: int | None = None,
                   cuda_capable_model: bool = True) -> torch.device:
    """`optim.device` as this process's device: `auto` is CUDA where available (and the
    model can train there), else the CPU; `cuda` is `cuda:LOCAL_RANK` (torchrun's local
    process number, 0 in a plain process), or DeviceUnavailable. The keyword arguments
    stand in for the machine in tests."""
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if name == "cpu" or (name == "auto" and not (available and cuda_capable_model)):
        return torch.device("cpu")
    if not cuda_capable_model:
        raise DeviceUnavailable("optim.device: cuda cannot train a fine-tuned sentence "
                                "encoder yet (its tokenizer's tensors stay on the CPU); "
                                "use optim.device: cpu")
    if not available:
        raise DeviceUnavailable(f"optim.device is cuda but this torch {torch.__version__} "
                                "sees no CUDA device; use optim.device: cpu or auto")
    rank = int(os.environ.get("LOCAL_RANK", "0")) if local_rank is None else local_rank
    count = torch.cuda.device_count() if gpu_count is None else gpu_count
    if rank >= count:
        raise DeviceUnavailable(f"optim.device: cuda: process LOCAL_RANK {rank} has no GPU "
                                f"of its own ({count} visible); start at most {count} "
                                "processes per machine")
    return torch.device("cuda", rank)


def process_group_backend(device: torch.device) -> str:
    """gloo on the CPU; with CUDA, NCCL for the CUDA tensors (gradients, BatchNorm
    statistics) and gloo for the few CPU ones (the step's loss sums, 'stop now' flags)."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def _inputs_to_own_device(module: torch.nn.Module, args: tuple) -> tuple:
    device = next(module.parameters()).device
    return tuple(a.to(device, non_blocking=True) if torch.is_tensor(a) else a for a in args)


def place_model(model: torch.nn.Module, device: torch.device) -> None:
    """The model's weights on `device`, and each tower moving its inputs to its own device
    as they enter it (a CPU copy for validation then runs on the CPU). On the CPU nothing
    changes."""
    if device.type == "cpu":
        return
    model.to(device)
    for tower in model.towers.values():
        tower.register_forward_pre_hook(_inputs_to_own_device)
