"""Data-parallel training under torchrun: the world of processes and one optimiser step.

`torchrun --nproc_per_node N -m ui.cli train …` (or `musicsearch train --nproc N`) starts N
copies of the trainer; `join_world` reads torchrun's environment (RANK, WORLD_SIZE,
MASTER_ADDR…) and joins the process group: gloo on the CPU, NCCL (with gloo for the few
CPU tensors) when `optim.device` is CUDA (training.device).

Sharded sampling: the global batch (`optim.batch_size`) is split into `optim.shards` shards
(default: one per process). Shard k of global step s is drawn from its own generator,
seeded by (seed, s, k), which also reseeds torch (dropout) — so a shard's batch does not
depend on which process draws it, and a resumed run redraws exactly what an uninterrupted
one would. Each process computes the mean loss of its shards; DistributedDataParallel
averages the gradients, which makes the update that of the mean over all shards. One
process with `optim.shards: N` therefore computes the same update as N processes (up to
float summation order): that is how the test checks it. In-batch negatives come from the
anchor's own shard, as in any data-parallel run without a gather.

BatchNorm running statistics (they only matter at evaluation): every shard starts from the
same statistics, and the step ends with their mean over all shards, in one process as in N.
A shard in which no anchor found a negative adds nothing to the gradient; a step in which
no shard had one is skipped by every process alike (the flag is summed across processes).
"""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .alignment import step_loss
from .config import ConfigError

__all__ = ["World", "join_world", "leave_world", "shard_rng", "LocalStep", "ShardedStep",
           "make_step", "NonFiniteLoss", "launch", "LaunchFailed"]

# How long a process waits for the others (rank 0 validates and saves while the rest wait).
TIMEOUT = datetime.timedelta(minutes=60)


class LaunchFailed(ConfigError):
    """A training process of `musicsearch train --nproc N` exited with an error (its own
    message is printed above, by the process itself)."""


class NonFiniteLoss(ArithmeticError):
    """The step's loss was NaN/inf; raised before any weight changed."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    # Rank 0 prepares first (builds the corpus, fills the feature cache); the others wait
    # between these two calls and then read the cache. If rank 0 fails, torchrun stops them.
    def others_wait(self) -> None:
        if not self.main:
            self.barrier()

    def main_done(self) -> None:
        if self.main:
            self.barrier()

    def agree(self, flag: bool) -> bool:
        """Rank 0's flag, on every process (e.g. 'stop now')."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)])
        dist.broadcast(value, src=0)
        return bool(value.item())

    def total(self, values: torch.Tensor) -> torch.Tensor:
        """The elementwise sum over all processes."""
        if self.distributed:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values


def join_world(backend: str = "gloo") -> World:
    """The process group torchrun's environment describes, joined over `backend`
    (training.device.process_group_backend); a plain process (no WORLD_SIZE, or 1) is a
    world of one and needs no group."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size())


def leave_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def shard_rng(seed: int, step: int, shard: int) -> np.random.Generator:
    """Shard `shard` of global step `step`'s generator: the same in any process."""
    return np.random.default_rng([seed, step, shard])


class LocalStep:
    """One process, unsharded: the trainer's original step (one generator for the run)."""

    def __init__(self, model: torch.nn.Module, pairs: list, optimizer: torch.optim.Optimizer):
        self.model, self.pairs, self.optimizer = model, pairs, optimizer

    def __call__(self, rng: np.random.Generator, step: int) -> tuple[float | None, dict]:
        """Loss, backward and update; (None, {}) if the batch taught nothing. Raises
        NonFiniteLoss before any update."""
        loss, parts = step_loss(self.pairs, rng)
        if loss is None:
            return None, {}
        if not torch.isfinite(loss):
            raise NonFiniteLoss(loss.item())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item(), parts


class _ShardLosses(torch.nn.Module):
    """This process's shards of one step as a module, so DDP's forward/backward hooks see
    it: returns the loss whose gradient, averaged over processes, is the all-shard mean."""

    def __init__(self, model: torch.nn.Module, pairs: list, seed: int, shards: int,
                 world: World):
        super().__init__()
        self.model, self.pairs, self.seed, self.shards = model, pairs, seed, shards
        per = shards // world.size
        self.local = range(world.rank * per, (world.rank + 1) * per)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        # (module, name) of every buffer: they are swapped for new tensors, never written
        # in place, since autograd keeps BatchNorm's running statistics for the backward
        self.slots = [(module, name) for module in model.modules()
                      for name, buffer in module.named_buffers(recurse=False)]

    def buffers_now(self) -> list[torch.Tensor]:
        return [getattr(module, name) for module, name in self.slots]

    def set_buffers(self, tensors: list[torch.Tensor]) -> None:
        for (module, name), tensor in zip(self.slots, tensors):
            setattr(module, name, tensor)

    def forward(self, step: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
        # every parameter joins the graph (with gradient 0 where no shard used it), so DDP
        # finds a gradient for each on every process, whatever the pairs drew
        total = sum(p.sum() for p in self.trainable) * 0.0
        summed = torch.zeros(2, dtype=torch.float64)   # sum of shard losses, shards with one
        start = [b.detach().clone() for b in self.buffers_now()]
        after: list[list[torch.Tensor]] = []
        parts: dict[str, list[float]] = {}
        for shard in self.local:
            self.set_buffers([b.clone() for b in start])
            rng = shard_rng(self.seed, step, shard)
            torch.manual_seed(int(rng.integers(2 ** 62)))   # dropout masks follow the shard
            loss, shard_parts = step_loss(self.pairs, rng)
            after.append(self.buffers_now())
            if loss is None:
                continue
            # this process's mean; DDP's average over processes makes it the all-shard mean
            total = total + loss / len(self.local)
            summed += torch.tensor([loss.item(), 1.0], dtype=torch.float64)
            for name, value in shard_parts.items():
                parts.setdefault(name, []).append(value)
        # float statistics: the mean over the shards; counters (num_batches_tracked) keep
        # one shard's count, as one process with the whole batch would
        self.set_buffers([torch.stack(values).mean(0) if values[0].is_floating_point()
                          else values[-1] for values in zip(*after)])
        return total, summed, {name: float(np.mean(v)) for name, v in parts.items()}


class ShardedStep:
    """`optim.shards` shards per global step, this process's share of them, under DDP when
    there are several processes (see the module notes). The loss it returns is the mean
    over all shards; the per-pair terms for the log are this process's shards' (rank 0's)."""

    def __init__(self, model: torch.nn.Module, pairs: list, optimizer: torch.optim.Optimizer,
                 seed: int, shards: int, world: World):
        self.world, self.optimizer = world, optimizer
        self.losses = _ShardLosses(model, pairs, seed, shards, world)
        self.module = self.losses
        if world.distributed:   # statistics are averaged by hand, so no buffer broadcast
            self.module = torch.nn.parallel.DistributedDataParallel(
                self.losses, broadcast_buffers=False)

    def __call__(self, rng: np.random.Generator, step: int) -> tuple[float | None, dict]:
        loss, summed, parts = self.module(step)
        summed = self.world.total(summed)   # the same numbers on every process from here
        if not torch.isfinite(summed).all():
            raise NonFiniteLoss(summed[0].item())
        self.optimizer.zero_grad()
        loss.backward()                     # DDP averages the gradients across processes
        if self.world.distributed:
            self.losses.set_buffers([self.world.total(b.detach().clone()) / self.world.size
                                     if b.is_floating_point() else b
                                     for b in self.losses.buffers_now()])
        if summed[1] == 0:                  # no shard anywhere had a negative
            return None, {}
        self.optimizer.step()
        return float(summed[0] / summed[1]), parts


def make_step(model, pairs, optimizer, optim_config, world: World):
    """The step function for this run: sharded under torchrun or with `optim.shards`."""
    shards = optim_config.shards or (world.size if world.distributed else None)
    if shards is None:
        return LocalStep(model, pairs, optimizer)
    return ShardedStep(model, pairs, optimizer, optim_config.seed, shards, world)


def launch(nproc: int, config: str, out: str | None, resume: bool) -> None:
    """`musicsearch train --nproc N`: the same command under torchrun on this machine
    (`--standalone`: a local rendezvous on a free port), N processes, one thread each
    unless OMP_NUM_THREADS says otherwise. For several machines call torchrun directly
    (docs/SCALING.md). Raises LaunchFailed if a process failed."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "ui.cli", "train", "--config", config,
               *(["--out", out] if out else []), *(["--resume"] if resume else [])]
    code = subprocess.run(command, env=env).returncode
    if code:
        raise LaunchFailed(f"a training process exited with status {code} (its error is "
                           "above); the last checkpoint is kept: fix it and run again with --resume")
