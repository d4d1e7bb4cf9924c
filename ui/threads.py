"""`--threads`: the model's CPU thread count for index, search, ui and demo.

Torch's default is one thread per core; on a busy 2-core machine one thread indexed 4×
faster than two, on the same machine idle two were 1.65–1.8× faster than one
(benchmarks/threads.py, README). One thread risks the smaller loss, so the default is
$OMP_NUM_THREADS, else 1.
Set through OMP_NUM_THREADS before torch is imported, so commands that never load torch
do not import it for this.
"""
from __future__ import annotations

import argparse
import os
import sys

from .arg_types import thread_count

__all__ = ["add_threads", "apply_threads", "thread_count"]


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N",
                        help="CPU threads for the model (default: $OMP_NUM_THREADS, else 1: on a "
                             "busy 2-core machine 1 thread indexed 4× faster than 2, idle "
                             "2 were 1.65-1.8× faster than 1; docs/SCALE.md)")


def apply_threads(args: argparse.Namespace) -> None:
    """Torch's thread count, set before torch is imported (it reads OMP_NUM_THREADS)."""
    if "threads" not in vars(args):
        return
    count = args.threads
    if count is None:
        try:
            count = max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
        except ValueError:
            count = 1
    os.environ["OMP_NUM_THREADS"] = str(count)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
