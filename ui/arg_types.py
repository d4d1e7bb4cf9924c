"""Argument types for the command line: each parses one value or says, in one line, what
it must be (argparse prints it as the error)."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["upload_megabytes", "port_number", "cosine", "thread_count", "actor_count",
           "process_count", "positive_count", "at_least_one", "search_beam"]


def _ranged(convert: Callable[[str], float], accept: Callable[[float], bool], what: str):
    """A parser: `convert` the text, keep it if `accept`s it, else 'must be {what}'."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = math.nan            # accepted by no range
        if not accept(value):        # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


upload_megabytes = _ranged(float, lambda v: 0 < v <= 10_000,
                           "a number of megabytes between 0 and 10000")
port_number = _ranged(int, lambda v: 1 <= v <= 65535, "a TCP port number (1-65535)")
cosine = _ranged(float, lambda v: -1 <= v <= 1, "a cosine from -1 to 1")
thread_count = _ranged(int, lambda v: 1 <= v <= 256, "a whole number of threads (1-256)")
actor_count = _ranged(int, lambda v: 1 <= v <= 4096, "a whole number of actors (1-4096)")
process_count = _ranged(int, lambda v: 1 <= v <= 1024, "a whole number of processes (1-1024)")
positive_count = _ranged(int, lambda v: 1 <= v <= 100_000, "a whole number from 1 to 100000")
at_least_one = _ranged(int, lambda v: v >= 1, "a whole number of at least 1")
search_beam = _ranged(int, lambda v: 1 <= v <= 4096, "a whole number from 1 to 4096")
