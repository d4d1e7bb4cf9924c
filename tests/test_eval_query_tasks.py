"""Caption retrieval and triplet accuracy against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog import TrackRecord
from training.evaluation.query_tasks import first_relevant_rank, text_retrieval, triplet_accuracy


@pytest.mark.parametrize("scores, relevant, rank", [
    ([0.9, 0.8, 0.1], [0, 1, 0], 2.0),
    ([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 0], 2.5),        # tied with one other: place 2 or 3
    ([0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0], 4 / 3),      # 2 relevant + 1 other tied: (1+2+1)/3
    ([0.1, 0.2, 0.3], [1, 0, 0], 3.0),
])
def test_first_relevant_rank_by_hand(scores, relevant, rank):
    assert first_relevant_rank(np.array(scores), np.array(relevant, bool)) == pytest.approx(rank)


def _record(i, tags, caption):
    return TrackRecord(track_id=f"t{i}", path=f"{i}.wav", tags=tags, caption=caption)


def test_caption_retrieval_by_hand(tiny_model):
    captions = ["A fast piano tune.", "A slow violin air.", "A slow violin air.", "A sad song."]
    records = [_record(i, [], c) for i, c in enumerate(captions)]
    queries = {c: tiny_model.encode_text(c)[0] for c in set(captions)}
    # song vectors placed so that each caption's similarity order is known: song i is the
    # query vector of the caption we want at rank r (built from the query vectors)
    songs = np.stack([queries["A fast piano tune."], -queries["A slow violin air."],
                      queries["A slow violin air."], queries["A sad song."]])
    summary, per_query = text_retrieval(tiny_model, records, songs)
    ranks = {c: v["rank"] for c, v in per_query["captions"].items()}
    for caption, rank in ranks.items():   # the first relevant song is at the expected rank
        scores = songs @ queries[caption]
        relevant = np.array([c == caption for c in captions])
        assert rank == first_relevant_rank(scores, relevant)
    assert ranks["A fast piano tune."] == 1.0 and ranks["A sad song."] == 1.0
    assert summary["captions/n_queries"] == 3
    assert summary["captions/mrr"] == pytest.approx(np.mean([1 / r for r in ranks.values()]))
    # random: 1 relevant of 4 → R@1 = 1/4 and E[1/rank] = H_4/4; 2 of 4 → R@1 = 1/2
    assert summary["captions/random_r@1"] == pytest.approx((0.25 + 0.5 + 0.25) / 3)
    one, two = 25 / 48, (1 * 3 / 6 + 1 / 2 * 2 / 6 + 1 / 3 * 1 / 6)   # P(first at 1,2,3)
    assert summary["captions/random_mrr"] == pytest.approx((one + two + one) / 3)


def test_triplet_accuracy_by_hand():
    tags = [["a", "b"], ["a", "b"], ["c"], ["c", "d"]]
    records = [_record(i, t, None) for i, t in enumerate(tags)]
    # 0 and 1 share all tags (positives of each other), 2 and 3 share half: Jaccard 0.5
    close = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    songs = close / np.linalg.norm(close, axis=1, keepdims=True)
    summary, _ = triplet_accuracy(records, songs, seed=0, n_triplets=200)
    assert summary["triplets/accuracy"] == 1.0 and summary["triplets/anchors"] == 4
    # each positive pair opposite (cos −1), every negative orthogonal (cos 0): all wrong
    opposite = np.array([[1.0, 0], [-1.0, 0], [0, 1.0], [0, -1.0]])
    assert triplet_accuracy(records, opposite, seed=0, n_triplets=200)[0]["triplets/accuracy"] == 0.0
    # a tie (cos of positive = cos of negative) counts one half
    same = np.ones((4, 2)) / np.sqrt(2)
    assert triplet_accuracy(records, same, seed=0, n_triplets=50)[0]["triplets/accuracy"] == 0.5
