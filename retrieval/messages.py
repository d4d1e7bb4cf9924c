"""One-line messages from exceptions: the CLI, the index summary and load errors all
show the first line of an error (libraries put tracebacks or details below it)."""
from __future__ import annotations

__all__ = ["first_line"]


def first_line(error: BaseException) -> str:
    """The first non-blank line of `error`'s message, or its type name if it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
