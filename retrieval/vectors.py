"""Unit vectors, shared by the model and its towers."""
from __future__ import annotations

import numpy as np

__all__ = ["l2_normalize"]


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    # the norm in float64: float32 squares overflow from |x| ≈ 1e19, which would give 0
    norm = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=axis, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.result_type(x, np.float32), copy=False)
