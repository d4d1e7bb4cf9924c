"""The word tower without torch: a text query → its joint-space vector, in numpy.

A text search is about a millisecond of arithmetic, but importing torch costs seconds,
which a command typed in a shell pays every time. The word tower (towers/word.py) is
Linear → BatchNorm1d → ReLU → Dropout → Linear; at inference BatchNorm uses its running
statistics and Dropout is the identity, so `NumpyWordMLP` runs it from the bundle's
safetensors weights as two matrix products. tests/test_fast_words.py checks that it gives
torch's vectors (within 1e-5) for the shipped model and for a freshly built random one.

The steps both paths share live here too, once: a phrase → the tower's input
(`phrase_input`), phrases → unit joint vectors (`encode_phrases`), and the query vector
(`query_vector`, Won's multi-tag mean).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .query import ParsedQuery, parse_query, phrase_words
from .vectors import finite_output, l2_normalize
from .word_vectors import WordVectorsConfig, load_word_vectors

__all__ = ["phrase_input", "encode_phrases", "query_vector", "NumpyWordMLP", "WordQueryEncoder",
           "WORD_MLP_WEIGHTS"]

# nn.BatchNorm1d's default eps, which WordTower keeps
BATCH_NORM_EPS = 1e-5
# the parameters of WordTower.mlp (an nn.Sequential: 0 Linear, 1 BatchNorm1d, 2 ReLU,
# 3 Dropout, 4 Linear) that inference reads
WORD_MLP_WEIGHTS = ("mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias",
                    "mlp.1.running_mean", "mlp.1.running_var", "mlp.4.weight", "mlp.4.bias")


def phrase_input(phrase: str, table) -> np.ndarray | None:
    """Mean of the unit word vectors of a phrase's known words (the word tower's input);
    None if none is known. `table`: word → vector, with `in` (a WordTable)."""
    vectors = [table[w] / max(np.linalg.norm(table[w]), 1e-12)
               for w in phrase_words(phrase, table.__contains__)]
    if not vectors:
        return None
    return l2_normalize(np.mean(vectors, axis=0)).astype(np.float32)


def encode_phrases(phrases: list[str], phrase_vector: Callable[[str], np.ndarray | None],
                   forward: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Phrases → (n, joint_dim) unit vectors through `forward` (the tower, torch or numpy).
    A phrase with no known word raises KeyError; NaN/inf output NonFiniteOutput."""
    inputs = []
    for phrase in phrases:
        vector = phrase_vector(phrase)
        if vector is None:
            raise KeyError(f"no word of {phrase!r} is in the word vectors")
        inputs.append(vector)
    out = finite_output(forward(np.stack(inputs)), ", ".join(repr(p) for p in phrases))
    return l2_normalize(out).astype(np.float32)


def query_vector(term_vectors: np.ndarray) -> np.ndarray:
    """A query's unit vector: the normalised mean of its terms' unit vectors."""
    return l2_normalize(term_vectors.mean(axis=0)).astype(np.float32)


class NumpyWordMLP:
    """WordTower.mlp in eval mode, from its weights (`WORD_MLP_WEIGHTS`, numpy arrays)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        missing = [name for name in WORD_MLP_WEIGHTS if name not in weights]
        if missing:
            raise ValueError(f"word tower weights lack {', '.join(missing)}")
        w = {name: np.asarray(weights[name], dtype=np.float32) for name in WORD_MLP_WEIGHTS}
        broken = [name for name, array in w.items() if not np.isfinite(array).all()]
        if broken:   # a diverged training run: every vector it made would be NaN
            raise ValueError(f"word tower weights have NaN or infinite values ({', '.join(broken)})")
        hidden, self.input_dim = w["mlp.0.weight"].shape
        self.joint_dim = w["mlp.4.weight"].shape[0]
        shapes = {"mlp.0.bias": (hidden,), "mlp.1.weight": (hidden,), "mlp.1.bias": (hidden,),
                  "mlp.1.running_mean": (hidden,), "mlp.1.running_var": (hidden,),
                  "mlp.4.weight": (self.joint_dim, hidden), "mlp.4.bias": (self.joint_dim,)}
        wrong = [f"{name} {w[name].shape} (expected {shape})"
                 for name, shape in shapes.items() if w[name].shape != shape]
        if wrong:
            raise ValueError(f"word tower weights do not fit together: {', '.join(wrong)}")
        self.first = w["mlp.0.weight"].T.copy()
        self.first_bias = w["mlp.0.bias"]
        self.scale = (w["mlp.1.weight"]
                      / np.sqrt(w["mlp.1.running_var"] + np.float32(BATCH_NORM_EPS)))
        self.shift = w["mlp.1.bias"] - w["mlp.1.running_mean"] * self.scale
        self.second = w["mlp.4.weight"].T.copy()
        self.second_bias = w["mlp.4.bias"]

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """(batch, input_dim) → (batch, joint_dim), not normalised, as WordTower.forward."""
        hidden = np.asarray(inputs, dtype=np.float32) @ self.first + self.first_bias
        hidden = np.maximum(hidden * self.scale + self.shift, 0)
        return hidden @ self.second + self.second_bias


class WordQueryEncoder:
    """The word side of a model without torch: the same `parse`, `knows`, `phrase_vector`,
    `encode_words` and `encode_text` as MusicSearchModel's, through `NumpyWordMLP`."""

    def __init__(self, mlp: NumpyWordMLP, vectors: WordVectorsConfig, tags: list[str]):
        if mlp.input_dim != vectors.dim:
            raise ValueError(f"the word tower takes {mlp.input_dim}-d vectors but its word "
                             f"vectors have {vectors.dim}")
        self.mlp = mlp
        self.vectors_config = vectors
        self.tags = list(tags)

    @property
    def word_vectors(self):
        return load_word_vectors(self.vectors_config)

    def knows(self, word: str) -> bool:
        return word in self.word_vectors

    def phrase_vector(self, phrase: str) -> np.ndarray | None:
        return phrase_input(phrase, self.word_vectors)

    def encode_words(self, phrases: list[str]) -> np.ndarray:
        return encode_phrases(phrases, self.phrase_vector, self.mlp)

    def parse(self, text: str) -> ParsedQuery:
        return parse_query(text, self.tags, self.knows)

    def encode_text(self, text: str) -> tuple[np.ndarray, ParsedQuery]:
        parsed = self.parse(text)
        return query_vector(self.encode_words(parsed.terms)), parsed


def load_word_mlp(weights_file: str | Path, prefix: str, rename=None) -> NumpyWordMLP:
    """The word MLP from a safetensors file: the tensors named `prefix` + WORD_MLP_WEIGHTS
    (after `rename`, a function over the {name: array} dict, e.g. a legacy translation)."""
    from safetensors.numpy import load_file
    weights = load_file(str(weights_file))
    if rename is not None:
        weights = rename(weights)
    return NumpyWordMLP({name[len(prefix):]: array for name, array in weights.items()
                         if name.startswith(prefix)})
