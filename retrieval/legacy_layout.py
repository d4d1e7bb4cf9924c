"""Translations of the format-1 layout (bundles and training YAMLs written before towers
were registered: top-level `audio`, `word` and `word_vectors` sections, weights named
`audio_tower.*`/`word_tower.*`) into today's. Plain dict work, no torch: the torch-free
text path (retrieval/light_model.py) reads format-1 bundles through it too.
"""
from __future__ import annotations

from .typed_config import ConfigError

__all__ = ["LEGACY_KEYS", "LEGACY_PREFIXES", "from_legacy_layout", "legacy_state_dict"]

LEGACY_KEYS = ("audio", "word", "word_vectors")
# format-1 state-dict prefixes → the ModuleDict's
LEGACY_PREFIXES = {"audio_tower.": "towers.audio.", "word_tower.": "towers.word."}


def from_legacy_layout(data: dict, where: str = "model") -> dict:
    """A format-1 model mapping (top-level frontend, audio, word, word_vectors, tags,
    max_chunks; absent sections take their defaults) in today's layout."""
    word = dict(data.get("word") or {})
    vectors = dict(data.get("word_vectors") or {})
    word_dim = word.pop("word_dim", None)
    if word_dim is not None:
        if vectors.setdefault("dim", word_dim) != word_dim:
            raise ConfigError(f"{where}: word.word_dim ({word_dim}) must equal "
                              f"word_vectors.dim ({vectors['dim']})")
    out = {"towers": {"audio": {"type": "short_chunk_cnn", **(data.get("audio") or {})},
                      "word": {"type": "word_mlp", **word, "vectors": vectors}}}
    for key in ("frontend", "tags", "max_chunks"):
        if key in data:
            out[key] = data[key]
    return out


def legacy_state_dict(weights: dict) -> dict:
    """Format-1 weight names (audio_tower.*, word_tower.*) as today's (towers.<kind>.*)."""
    renamed = {}
    for name, tensor in weights.items():
        for old, new in LEGACY_PREFIXES.items():
            if name.startswith(old):
                name = new + name[len(old):]
                break
        renamed[name] = tensor
    return renamed
