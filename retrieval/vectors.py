"""Unit vectors and the finite-output check, shared by the model, its towers and the
torch-free text path (retrieval/fast_words.py)."""
from __future__ import annotations

import numpy as np

__all__ = ["l2_normalize", "NonFiniteOutput", "finite_output"]


class NonFiniteOutput(FloatingPointError):
    """The model turned finite input into NaN or infinity: its weights are unusable
    (typically a diverged training run)."""


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    # the norm in float64: float32 squares overflow from |x| ≈ 1e19, which would give 0
    norm = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=axis, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.result_type(x, np.float32), copy=False)


def finite_output(vectors: np.ndarray, what: str) -> np.ndarray:
    """`vectors`, or NonFiniteOutput if any value is NaN or infinite."""
    if not np.isfinite(vectors).all():
        raise NonFiniteOutput(f"the model produced NaN or infinite values for {what}; its "
                              "weights are unusable (a diverged training run?)")
    return vectors
