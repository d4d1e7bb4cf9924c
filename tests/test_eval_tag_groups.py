"""Zero-shot is defined exactly: a tag that labels no training track. A tag that labels a
few training tracks (below min_tag_tracks) is reported apart, never as zero-shot."""
from __future__ import annotations

import numpy as np

from retrieval.catalog import TrackRecord
from training.evaluation import evaluate_song_vectors, tag_groups, training_tag_counts
from training.evaluation.categories import tag_category


def _records(tag_lists):
    return [TrackRecord(track_id=f"t{i}", path=f"{i}.wav", tags=tags, split="test")
            for i, tags in enumerate(tag_lists)]


def test_zero_shot_excludes_tags_heard_in_training(tiny_model):
    split_tags = {"piano", "guitar", "drums", "zzqxv"}
    groups = tag_groups(tiny_model, split_tags, {"piano": 40, "guitar": 3})
    assert groups["zero_shot"] == ["drums"]            # "zzqxv": no word vector, never scored
    assert groups["below_min_tracks"] == ["guitar"]    # before: counted as unseen (zero-shot)
    assert "piano" in groups["seen"]


def test_groups_and_categories_end_to_end(tiny_model):
    records = _records([["piano", "guitar", "drums"], ["violin", "guitar", "drums"],
                        ["piano"], ["violin"], ["piano", "drums"], ["violin"]])
    songs = np.random.default_rng(0).standard_normal((6, tiny_model.config.joint_dim))
    report = evaluate_song_vectors(tiny_model, records, songs.astype(np.float32), k=2,
                                   train_counts={"piano": 9, "violin": 9, "guitar": 1})
    assert set(report["zero_shot"]["per_tag"]) == {"drums"}
    assert set(report["below_min_tracks"]["per_tag"]) == {"guitar"}
    seen = report["seen"]
    # the tiny vocabulary's fast/slow/happy/sad label no song here: excluded with 0 positives
    assert seen["excluded"] == {"fast": 0, "slow": 0, "happy": 0, "sad": 0}
    assert set(seen["per_category"]) == {"instrument"}
    instrument = seen["per_category"]["instrument"]
    assert instrument["map"] == np.mean([seen["per_tag"][t]["ap"] for t in ("piano", "violin")])


def test_no_training_counts_means_no_zero_shot_claim(tiny_model):
    assert training_tag_counts(tiny_model) is None     # the tiny bundle records no corpus
    assert set(tag_groups(tiny_model, {"drums"}, None)) == {"seen"}


def test_categories_follow_the_corpus_rules():
    assert [tag_category(t) for t in ("jig", "baroque", "triple meter", "minor", "slow",
                                      "fiddle", "melancholic", "irish", "bach", "xyz")] == \
        ["form", "era", "meter", "mode", "tempo", "instrument", "mood", "region", "composer",
         "other"]
