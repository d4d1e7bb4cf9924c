"""Frozen-embedding probes: separable song vectors are probed perfectly; vectors that carry
no tag information are not."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog import TrackRecord
from training.evaluation.probe import probe_tags


def _split(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    records = [TrackRecord(track_id=f"{seed}-{i}", path=f"{i}.wav",
                           tags=["piano" if y else "violin"]) for i, y in enumerate(labels)]
    vectors = rng.standard_normal((n, 8)) * 0.1
    vectors[:, 0] += np.where(labels == 1, 1.0, -1.0)      # the tag is in dimension 0
    return records, vectors, labels


def test_separable_vectors_are_probed_perfectly():
    train, train_vectors, _ = _split(60, 0)
    test, test_vectors, labels = _split(30, 1)
    summary = probe_tags(train, train_vectors, test, test_vectors, seeds=(0, 1), k=5,
                         min_positives=3)
    assert summary["linear/map"] == 1.0 and summary["mlp/map"] == 1.0
    assert summary["linear/n_tags"] == 2 and "mlp/map_std" in summary
    from training.random_baseline import expected_random_ap
    positives = labels.sum()
    assert summary["linear/random_map"] == pytest.approx(
        (expected_random_ap(30, positives) + expected_random_ap(30, 30 - positives)) / 2)


def test_vectors_without_tag_information_probe_near_chance():
    train, _, _ = _split(60, 0)
    test, _, _ = _split(60, 1)
    rng = np.random.default_rng(5)
    summary = probe_tags(train, rng.standard_normal((60, 8)), test, rng.standard_normal((60, 8)),
                         k=5, min_positives=3)
    assert abs(summary["linear/roc_auc"] - 0.5) < 0.2
