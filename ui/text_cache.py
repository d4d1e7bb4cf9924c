"""Remembered query-text encodings for the server: the same few descriptions (the page's
examples, popular searches) come back again and again, and encoding one is about half of
a text search's server time (word vectors + the word tower, ~0.5 ms of ~1.2 ms)."""
from __future__ import annotations

from functools import lru_cache

__all__ = ["TextCachedModel"]


class TextCachedModel:
    """`model` with `encode_text` memoised (LRU, `size` texts); every other attribute is
    the model's own. Cached vectors are read-only, so no caller can alter another's."""

    def __init__(self, model, size: int = 4096):
        self._model = model

        @lru_cache(maxsize=size)
        def encode_text(text: str):
            vector, parsed = model.encode_text(text)
            vector.setflags(write=False)
            return vector, parsed

        self.encode_text = encode_text

    def __getattr__(self, name: str):
        return getattr(self._model, name)
