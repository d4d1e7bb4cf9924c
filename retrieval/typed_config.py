"""Dataclass configs from plain mappings (YAML files, bundle config.json), checked key by key.

Unknown keys and wrong types are errors that name the dotted key, so a typo never falls
back to a default silently. Used by the model config (bundles) and the training config
(YAML), which is why it lives here: retrieval imports nothing of training.

A dataclass that needs more than field-by-field coercion (a section whose fields depend on
a `type` key, say) defines `from_mapping(data, where)` as a classmethod; nested sections of
that class are then built through it.
"""
from __future__ import annotations

import dataclasses
import typing

__all__ = ["ConfigError", "coerce", "from_mapping"]


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file or section and the key."""


def coerce(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return from_mapping(annotation, value, where)
    if origin is typing.Union or (origin is not None and type(None) in args):
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return coerce(value, inner, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return [coerce(v, args[0], where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if annotation is float:
        # YAML 1.1 reads 1e-3 (no dot) as a string: accept what float() accepts
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    # bool is an int in Python: `epochs: true` must not mean one epoch
    if annotation in (int, str, bool) and (not isinstance(value, annotation)
                                           or annotation is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def from_mapping(cls, data: dict, where: str = "config"):
    """Build dataclass `cls` from a mapping, checking keys and types recursively."""
    custom = cls.__dict__.get("from_mapping")
    if custom is not None:
        return getattr(cls, "from_mapping")(data, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
                          f"(known: {', '.join(sorted(names))})")
    values = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as error:   # a section that checks itself (e.g. FrontendConfig)
        raise ConfigError(f"{where}: {error}") from None
