"""Towers by kind and type: the model is built from whichever towers its config names.

A tower class registers itself with `@register_tower(kind, type_name)` and carries its
config dataclass as `config_class`. That dataclass has a `type` field (the registered
name, written into every saved config), `to_dict()`, `problems(prefix)` (one message per
problem, each naming its dotted key) and `joint_dim`. A tower may also offer

- `external_refs() -> {name: {"package", "version", "sha256"}}`: models it loads from an
  installed package; a bundle records them and refuses to load if they changed;
- `side_files() -> {name: path}`: files a bundle must carry for it, and
  `use_side_files({name: path})`, called on load with the bundle's copies.

A config's `type` is a registry name, never an import path, so loading a bundle runs no
code the bundle names.
"""
from __future__ import annotations

from ..typed_config import ConfigError, from_mapping

__all__ = ["TOWER_KINDS", "TOWER_TYPES", "TowerConfigError", "register_tower", "tower_class",
           "build_tower", "tower_config_from_dict"]

TOWER_KINDS = ("audio", "word", "sentence", "playlist")
TOWER_TYPES: dict[str, dict[str, type]] = {kind: {} for kind in TOWER_KINDS}
# the type a config section gets when it names none (configs written before types existed)
DEFAULT_TYPES: dict[str, str] = {}


class TowerConfigError(ConfigError):
    """A tower section that names an unknown kind or type, or has bad keys."""


def register_tower(kind: str, type_name: str, *, default: bool = False):
    """Class decorator: make `cls` buildable as towers[kind] from a config with this type."""
    if kind not in TOWER_TYPES:
        raise ValueError(f"unknown tower kind {kind!r} (known: {', '.join(TOWER_KINDS)})")

    def decorate(cls):
        if type_name in TOWER_TYPES[kind] and TOWER_TYPES[kind][type_name] is not cls:
            raise ValueError(f"{kind} tower type {type_name!r} is already registered "
                             f"by {TOWER_TYPES[kind][type_name].__name__}")
        cls.kind, cls.type_name = kind, type_name
        TOWER_TYPES[kind][type_name] = cls
        if default:
            DEFAULT_TYPES[kind] = type_name
        return cls
    return decorate


def _kind_problem(kind: str) -> str | None:
    if kind not in TOWER_TYPES:
        return f"unknown tower kind {kind!r} (known: {', '.join(TOWER_KINDS)})"
    return None


def tower_class(kind: str, type_name: str, where: str | None = None) -> type:
    """The class registered for (kind, type); TowerConfigError naming the known ones."""
    where = where or f"towers.{kind}"
    problem = _kind_problem(kind)
    if problem:
        raise TowerConfigError(f"{where}: {problem}")
    known = TOWER_TYPES[kind]
    if type_name not in known:
        raise TowerConfigError(f"{where}.type: unknown {kind} tower type {type_name!r} "
                               f"(known: {', '.join(sorted(known)) or 'none'})")
    return known[type_name]


def tower_config_from_dict(kind: str, data: dict, where: str | None = None):
    """A tower config from its mapping (`type` plus that type's keys), checked key by key."""
    where = where or f"towers.{kind}"
    if not isinstance(data, dict):
        raise TowerConfigError(f"{where}: expected a mapping")
    problem = _kind_problem(kind)
    if problem:
        raise TowerConfigError(f"{where}: {problem}")
    type_name = data.get("type", DEFAULT_TYPES.get(kind))
    if type_name is None:
        raise TowerConfigError(f"{where}.type: missing (known {kind} tower types: "
                               f"{', '.join(sorted(TOWER_TYPES[kind])) or 'none'})")
    if not isinstance(type_name, str):
        raise TowerConfigError(f"{where}.type: expected str, got {type_name!r}")
    cls = tower_class(kind, type_name, where)
    return from_mapping(cls.config_class, {**data, "type": type_name}, where)


def build_tower(kind: str, config):
    """The tower module for a config built by `tower_config_from_dict` (or by hand)."""
    return tower_class(kind, config.type)(config)
