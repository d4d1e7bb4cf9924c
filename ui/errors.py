"""The error types that mean "the user asked for something that cannot be done": the CLI
prints their message as one line and exits non-zero instead of a traceback."""
from __future__ import annotations

from retrieval.bundle import BundleError
from retrieval.catalog import CatalogError
from retrieval.frontend import AudioDecodeError
from retrieval.model import NonFiniteOutput
from retrieval.query import QueryError
from retrieval.search import FingerprintMismatch, TrackNotFound
from training.config import ConfigError

__all__ = ["USER_ERRORS"]


def _index_errors() -> tuple[type[BaseException], ...]:
    from index import IndexNotFound, StoreError
    return (IndexNotFound, StoreError)


USER_ERRORS: tuple[type[BaseException], ...] = (
    BundleError, CatalogError, AudioDecodeError, QueryError, FingerprintMismatch,
    TrackNotFound, ConfigError, FileNotFoundError, NonFiniteOutput, *_index_errors())
