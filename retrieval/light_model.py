"""A model bundle opened for queries without importing torch.

`open_light_model(folder)` reads the bundle's config, fingerprint and word-tower weights
(safetensors, as numpy) and answers `encode_text` through the numpy word tower
(retrieval/fast_words.py). Everything else a query may need (an audio example, a sentence
tower, `config`, …) loads the full `MusicSearchModel` on first use, through `load_bundle`,
so those queries work unchanged and only they pay for torch.

What is checked before any query, as `load_bundle` does: the folder is a bundle of a
readable format, its side files match their checksums, the word tower's weights are
finite and fit together. The fingerprint is the bundle's own, so a Searcher still refuses
another model's collection; the full model loaded later must have the same one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .bundle import (WEIGHTS_FILE, BundleError, bundle_fingerprint, checked_side_files,
                     default_bundle_path, read_bundle_config)
from .fast_words import WordQueryEncoder, load_word_mlp
from .legacy_layout import from_legacy_layout, legacy_state_dict
from .query import ParsedQuery
from .typed_config import ConfigError
from .word_vectors import WordVectorsConfig

__all__ = ["LightModel", "open_light_model", "NUMPY_WORD_TYPES"]

NUMPY_WORD_TYPES = ("word_mlp",)   # word tower types fast_words can run


def _word_encoder(folder: Path, format_version: int, model: dict) -> WordQueryEncoder | None:
    """The numpy word tower of a bundle; None if its word tower is of another type."""
    section = (model.get("towers") or {}).get("word")
    if not isinstance(section, dict) or section.get("type", "word_mlp") not in NUMPY_WORD_TYPES:
        return None
    try:
        vectors = WordVectorsConfig.from_dict(section.get("vectors") or {})
        mlp = load_word_mlp(folder / WEIGHTS_FILE, "towers.word.",
                            legacy_state_dict if format_version == 1 else None)
        return WordQueryEncoder(mlp, vectors, model.get("tags") or [])
    except (TypeError, ValueError, OSError) as error:   # safetensors errors are OSError/ValueError
        raise BundleError(f"{folder}: {error}") from None


class LightModel:
    """A bundle's word side in numpy, the rest of the model loaded when first needed."""

    def __init__(self, folder: str | Path | None = None):
        folder = Path(folder) if folder is not None else default_bundle_path()
        config = read_bundle_config(folder)
        self.bundle_path = folder
        self.fingerprint = bundle_fingerprint(folder)
        checked_side_files(folder, config.get("side_files"))
        model = config.get("model")
        try:
            if config["format_version"] == 1:
                model = from_legacy_layout(model, "model")
            self._kinds = tuple(model.get("towers") or {})
        except (AttributeError, TypeError, ConfigError) as error:
            raise BundleError(f"{folder}: invalid model config ({error})") from None
        self.words = _word_encoder(folder, config["format_version"], model)
        self._full = None

    def has_tower(self, kind: str) -> bool:
        return kind in self._kinds

    @property
    def loaded(self) -> bool:
        """Whether the full (torch) model has been loaded."""
        return self._full is not None

    def full(self):
        """The MusicSearchModel (loaded on first call; imports torch)."""
        if self._full is None:
            from .bundle import load_bundle
            model = load_bundle(self.bundle_path)
            if model.fingerprint != self.fingerprint:   # the folder changed under us
                raise BundleError(f"{self.bundle_path}: the bundle changed while in use "
                                  f"(fingerprint {self.fingerprint} → {model.fingerprint})")
            self._full = model
        return self._full

    def parse(self, text: str) -> ParsedQuery:
        return self.words.parse(text) if self.words else self.full().parse(text)

    def encode_text(self, text: str) -> tuple[np.ndarray, ParsedQuery]:
        """A word-tower text query in numpy (the full model's, if the word tower is of a
        type fast_words cannot run)."""
        return self.words.encode_text(text) if self.words else self.full().encode_text(text)

    def encode_words(self, phrases: list[str]) -> np.ndarray:
        return self.words.encode_words(phrases) if self.words else self.full().encode_words(phrases)

    def phrase_vector(self, phrase: str) -> np.ndarray | None:
        return self.words.phrase_vector(phrase) if self.words else self.full().phrase_vector(phrase)

    def __getattr__(self, name: str):
        # only called for names not found above: audio, sentences, config, towers, …
        if name.startswith("_") or name == "words":
            raise AttributeError(name)
        return getattr(self.full(), name)


def open_light_model(folder: str | Path | None = None) -> LightModel:
    """A bundle from a folder (or the shipped default), for queries; BundleError if it is
    not a usable one."""
    return LightModel(folder)
