"""The error types that mean "the user asked for something that cannot be done": the CLI
prints their message as one line and exits non-zero instead of a traceback.

Listed by module and name, not imported here: a text search must not import the audio
front end (torch) only to learn that a missing index is a user error. An error can only
have been raised if its class's module was imported, so `user_errors()` looks only at
modules already loaded; `USER_ERRORS` (the app's callbacks) imports them all.
"""
from __future__ import annotations

import sys
from importlib import import_module

__all__ = ["USER_ERRORS", "user_errors"]

# each where it is defined (some are re-exported elsewhere, e.g. NonFiniteOutput by retrieval.model)
_USER_ERRORS = (("retrieval.bundle", "BundleError"), ("retrieval.catalog", "CatalogError"),
                ("retrieval.frontend", "AudioDecodeError"), ("retrieval.vectors", "NonFiniteOutput"),
                ("retrieval.query", "QueryError"), ("retrieval.search", "FingerprintMismatch"),
                ("retrieval.query_plan", "TrackNotFound"), ("retrieval.typed_config", "ConfigError"),
                ("index.store", "IndexNotFound"), ("index.store", "StoreError"),
                ("index.ray_engine", "EngineError"), ("index.schema", "SchemaError"),
                ("retrieval.backbone", "BackboneError"))


def user_errors(loaded_only: bool = True) -> tuple[type[BaseException], ...]:
    """The user-error classes (of the modules already imported, with `loaded_only`)."""
    classes = [getattr(import_module(module), name) for module, name in _USER_ERRORS
               if not loaded_only or module in sys.modules]
    return (FileNotFoundError, *classes)


def __getattr__(name: str):
    if name == "USER_ERRORS":
        return user_errors(loaded_only=False)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
