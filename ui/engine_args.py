"""`musicsearch index --engine local|ray [--address …] [--actors N]`: which engine encodes.

The default engine (`local`) imports nothing of Ray; `--engine ray` loads `index.ray_engine`
and Ray itself, or says in one line how to install them.
"""
from __future__ import annotations

import argparse

from .arg_types import actor_count

__all__ = ["add_engine_options", "encoder_from_args"]


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine (docs/SCALING.md)")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: encode in this process (default); ray: decode in Ray tasks "
                            "and embed in a pool of model actors (pip install -e \".[ray]\")")
    group.add_argument("--address", default=None, metavar="auto|ray://HOST:PORT",
                       help="the Ray cluster for --engine ray: auto (the one this machine "
                            "belongs to), ray://HOST:10001 (Ray Client) or HOST:6379 (default: "
                            "start a local Ray instance with all CPUs and a 200 MB object store)")
    group.add_argument("--actors", type=actor_count, default=None, metavar="N",
                       help="model actors for --engine ray (default: half the cluster's CPUs)")


def encoder_from_args(args: argparse.Namespace):
    """None for the local engine, else a `RayEncoder`; checked before any long work."""
    if args.engine != "ray":
        if args.address is not None or args.actors is not None:
            from index.ray_engine import EngineError   # imports no Ray
            raise EngineError("--address and --actors are for --engine ray")
        return None
    from index.ray_engine import RayEncoder, RayEngineConfig
    return RayEncoder(RayEngineConfig(address=args.address, actors=args.actors))
