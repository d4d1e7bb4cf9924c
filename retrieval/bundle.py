"""Model bundle: a self-describing folder (DESIGN.md §3.2).

    config.json        model config (front end, towers, word vectors, tag vocabulary),
                       training command and data, metrics at save time, versions
    model.safetensors  weights (never pickle)

`fingerprint` hashes the model config and the weights (not metrics or provenance), so an
index built with one model refuses queries from another.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from safetensors.torch import load_file, save_file

from .model import ModelConfig, MusicSearchModel

__all__ = ["BundleError", "save_bundle", "load_bundle", "bundle_fingerprint",
           "default_bundle_path", "read_bundle_config", "FORMAT_VERSION"]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class BundleError(ValueError):
    """A folder that is not a loadable model bundle."""


def default_bundle_path() -> Path:
    """The model shipped inside the package."""
    return Path(__file__).parent / "default_model"


def _package_version() -> str:
    try:
        return metadata.version("musicsearch")
    except metadata.PackageNotFoundError:
        return "unknown"


def save_bundle(model: MusicSearchModel, folder: str | Path, *, training: dict | None = None,
                metrics: dict | None = None) -> str:
    """Write a bundle; returns its fingerprint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    config = {"format_version": FORMAT_VERSION, "package_version": _package_version(),
              "embedding_dim": model.config.joint_dim, "similarity": "cosine",
              "model": model.config.to_dict(), "training": training or {},
              "metrics": metrics or {}}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return bundle_fingerprint(folder)


def read_bundle_config(folder: str | Path) -> dict:
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise BundleError(f"not a model bundle (needs {CONFIG_FILE} and {WEIGHTS_FILE}): {folder}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise BundleError(f"{config_path}: invalid JSON ({error.msg})") from None
    if config.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{folder}: bundle format {config.get('format_version')} "
                          f"is not supported (expected {FORMAT_VERSION})")
    return config


def bundle_fingerprint(folder: str | Path) -> str:
    folder = Path(folder)
    config = read_bundle_config(folder)
    digest = hashlib.blake2b(digest_size=8)
    digest.update(json.dumps(config["model"], sort_keys=True).encode())
    digest.update((folder / WEIGHTS_FILE).read_bytes())
    return digest.hexdigest()


def load_bundle(folder: str | Path | None = None) -> MusicSearchModel:
    """Load a bundle from a folder, or the shipped default when `folder` is None."""
    folder = Path(folder) if folder is not None else default_bundle_path()
    config = read_bundle_config(folder)
    try:
        model = MusicSearchModel(ModelConfig.from_dict(config["model"]))
        model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except (KeyError, TypeError, RuntimeError) as error:
        raise BundleError(f"{folder}: config and weights do not match ({error})") from None
    model.eval()
    model.fingerprint = bundle_fingerprint(folder)
    model.bundle_path = folder
    model.bundle_info = {k: config.get(k) for k in ("training", "metrics", "package_version")}
    return model
