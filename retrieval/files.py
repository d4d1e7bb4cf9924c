"""Folder writes that a crash cannot tear: build in a sibling temporary folder, then swap.

A reader sees either the old folder or the new one, never weights from one save paired
with the config of another (model bundles, training checkpoints).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["replaced_folder"]


@contextmanager
def replaced_folder(destination: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `destination`."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # mkdtemp makes a private folder (and safetensors private files): open them up as
    # ordinary files are, since bundles are meant to be shared and shipped.
    staging.chmod(0o755)
    for path in staging.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    retired = None
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        os.replace(destination, retired)
    os.replace(staging, destination)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
