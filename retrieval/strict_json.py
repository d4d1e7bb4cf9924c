"""JSON that other programs can parse: no NaN or Infinity tokens, ever.

Python's json writes NaN and Infinity by default, which JSON does not allow (jq,
JavaScript and most parsers reject the whole document). A value that is genuinely
undefined becomes null; anything else non-finite is a bug upstream, and
`allow_nan=False` makes the write fail loudly instead of producing broken output.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["finite_or_none", "dumps"]


def finite_or_none(value: Any) -> Any:
    """`value` with every NaN/±inf float (also in nested dicts, lists and NumPy scalars)
    replaced by None, and NumPy scalars and arrays turned into plain Python."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, np.ndarray):
        return finite_or_none(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, **kwargs) -> str:
    return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)
