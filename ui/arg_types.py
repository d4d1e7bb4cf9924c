"""Argument types for the command line: each parses one value or says, in one line, what
it must be (argparse prints it as the error)."""
from __future__ import annotations

import argparse

__all__ = ["upload_megabytes", "port_number", "cosine"]


def upload_megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 10_000:   # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"must be a number of megabytes between 0 and 10000, got {text!r}")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port number (1-65535), got {text!r}")
    return value


def cosine(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a cosine from -1 to 1, got {text!r}")
    return value
