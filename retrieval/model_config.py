"""ModelConfig: the front end, the towers by kind, the tag vocabulary and chunking.

One loader for every place a model config comes from: `ModelConfig.from_mapping` builds it
from a bundle's config.json and from a training YAML's `model` section alike, checking
every key; `problems()` then lists what makes it unbuildable (each tower's own checks and
the facts that tie towers together), one message per problem, before any work.

Configs written before towers were registered (bundle format 1, old training YAMLs) had
top-level `audio`, `word` and `word_vectors` sections; `from_legacy_layout`
(retrieval/legacy_layout.py, re-exported here) translates them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .frontend import FrontendConfig
from .towers import AudioTowerConfig, WordTowerConfig, tower_config_from_dict
from .towers.registry import TOWER_KINDS
from .legacy_layout import LEGACY_KEYS, from_legacy_layout, legacy_state_dict
from .typed_config import ConfigError, coerce, from_mapping

__all__ = ["ModelConfig", "TEXT_KINDS", "LEGACY_KEYS", "from_legacy_layout",
           "legacy_state_dict"]

TEXT_KINDS = ("word", "sentence")          # towers that place a query in the joint space


def _default_towers() -> dict:
    return {"audio": AudioTowerConfig(), "word": WordTowerConfig()}


@dataclass
class ModelConfig:
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    towers: dict = field(default_factory=_default_towers)   # kind → that tower's config
    tags: list[str] = field(default_factory=list)      # tag vocabulary seen in training
    max_chunks: int = 8                                # chunks averaged per song (Won: 8)

    @property
    def joint_dim(self) -> int:
        return self.towers["audio"].joint_dim

    @property
    def audio_frontend(self):
        """What the audio tower reads: the log-mels of `frontend`, or the tower's own front
        end when it has one (a frozen backbone's cached features: `audio_frontend` of its
        config), which then decides the feature rows and chunk length instead."""
        own = getattr(self.towers.get("audio"), "audio_frontend", None)
        return own if own is not None else self.frontend

    def problems(self, prefix: str = "") -> list[str]:
        """What makes this config unbuildable or unusable, one message per problem, each
        naming its dotted key (under `prefix`, e.g. "model." in a training config)."""
        problems = []
        for kind, tower in self.towers.items():
            problems += tower.problems(f"{prefix}towers.{kind}")
        if "audio" not in self.towers:
            problems.append(f"{prefix}towers.audio is missing (every model encodes audio)")
        elif hasattr(self.towers["audio"], "frontend_problems"):
            problems += self.towers["audio"].frontend_problems(
                self.frontend, f"{prefix}towers.audio", f"{prefix}frontend")
        if not any(kind in self.towers for kind in TEXT_KINDS):
            problems.append(f"{prefix}towers needs a text tower ({' or '.join(TEXT_KINDS)})")
        dims = {kind: tower.joint_dim for kind, tower in self.towers.items()}
        if len(set(dims.values())) > 1:
            problems.append("towers must share one joint_dim, got " + ", ".join(
                f"{prefix}towers.{kind}.joint_dim {dim}" for kind, dim in dims.items()))
        if self.max_chunks < 1:
            problems.append(f"{prefix}max_chunks must be ≥ 1, got {self.max_chunks}")
        return problems

    def to_dict(self) -> dict:
        return {"frontend": self.frontend.to_dict(),
                "towers": {kind: tower.to_dict() for kind, tower in self.towers.items()},
                "tags": list(self.tags), "max_chunks": self.max_chunks}

    @classmethod
    def from_mapping(cls, data: dict, where: str = "model") -> "ModelConfig":
        """Build from a mapping, checking keys and types; tower sections by their `type`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping")
        known = ("frontend", "towers", "tags", "max_chunks")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
                              f"(known: {', '.join(known)})")
        towers = data.get("towers")
        if towers is None:
            towers = {kind: tower.to_dict() for kind, tower in _default_towers().items()}
        if not isinstance(towers, dict) or not towers:
            raise ConfigError(f"{where}.towers: expected a mapping of tower kinds "
                              f"({', '.join(TOWER_KINDS)}) to tower sections")
        return cls(frontend=from_mapping(FrontendConfig, data.get("frontend", {}),
                                         f"{where}.frontend"),
                   towers={str(kind): tower_config_from_dict(str(kind), section,
                                                             f"{where}.towers.{kind}")
                           for kind, section in towers.items()},
                   tags=coerce(data.get("tags", []), list[str], f"{where}.tags"),
                   max_chunks=coerce(data.get("max_chunks", 8), int, f"{where}.max_chunks"))

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return cls.from_mapping(data)
