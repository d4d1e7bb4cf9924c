"""The zero-shot corpus copy (training/corpus/hold_out.py) and the ablation tables
(training/evaluation/ablation_tables.py) on small files made here."""
from __future__ import annotations

import json
import math

import pytest

from retrieval.catalog import TrackRecord, read_catalog, write_catalog
from retrieval.typed_config import ConfigError
from training.corpus.hold_out import hold_out_tags, main as hold_out_main
from training.evaluation.ablation_tables import collect, markdown_table, seed_group
from training.evaluation.tag_task import training_tag_counts


def _corpus(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "audio").mkdir(parents=True)
    specs = [("a", "train", ["harp", "folk"], "A folk tune on the harp."),
             ("b", "train", ["organ", "sacred"], "Sacred music."),
             ("c", "valid", ["harp"], None),
             ("d", "test", ["harp", "folk"], "A harp tune.")]
    records = []
    for track_id, split, tags, caption in specs:
        (folder / "audio" / f"{track_id}.wav").write_bytes(b"RIFF")
        records.append(TrackRecord(track_id=track_id, path=f"audio/{track_id}.wav", tags=tags,
                                   split=split, caption=caption))
    write_catalog(records, folder / "catalog.jsonl")
    (folder / "corpus.json").write_text(json.dumps({"seed": 7, "tag_counts": {}}))
    return folder


def test_hold_out_strips_training_splits_and_keeps_test(tmp_path):
    corpus = _corpus(tmp_path)
    path = hold_out_tags(corpus, ["Harp"], tmp_path / "out")
    records = {r.track_id: r for r in read_catalog(path)}
    assert records["a"].tags == ["folk"] and records["a"].caption is None   # caption named harp
    assert records["b"].caption == "Sacred music."
    assert records["c"].tags == []
    assert records["d"].tags == ["harp", "folk"] and records["d"].caption == "A harp tune."
    # the audio stays where it was (absolute path), so cached features are reused
    assert records["a"].path == str((corpus / "audio" / "a.wav").resolve())
    info = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert info["seed"] == 7 and info["held_out_tags"] == ["harp"]
    assert "harp" not in info["tag_counts"]["train"] and info["tag_counts"]["test"]["harp"] == 1

    class Bundle:     # what the evaluation reads to tell zero-shot tags
        bundle_info = {"training": {"corpus": info}}
    assert not training_tag_counts(Bundle()).get("harp")


def test_hold_out_refuses_unknown_tag_with_one_line(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    with pytest.raises(ConfigError, match="no track carries banjo"):
        hold_out_tags(corpus, ["harp", "banjo"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exit_info:
        hold_out_main(["--corpus", str(tmp_path / "nowhere"), "--tags", "harp",
                       "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def _run(tmp_path, values):
    rows = [{"model": model, "dataset": "d", "condition": condition, "seed": None,
             "task": "tag_retrieval", "mode": None,
             "summary": {"seen/map": value, "seen/random_map": 0.2}}
            for (model, condition), value in values.items()]
    rows.append({"model": "x-s0", "dataset": "d", "condition": "white_noise", "seed": 1,
                 "task": "tag_retrieval", "mode": None, "summary": {"seen/map": 9.0}})
    (tmp_path / "metrics.json").write_text(json.dumps({"rows": rows}))
    return tmp_path


def test_tables_pool_seeds_as_mean_and_sample_std(tmp_path):
    assert seed_group("triplet-s12") == "triplet" and seed_group("sampling-random") == \
        "sampling-random"
    run = _run(tmp_path, {("x-s0", "clean"): 0.5, ("x-s1", "clean"): 0.7,
                          ("x-s2", "clean"): 0.6, ("y", "clean"): 0.4,
                          ("y", "timbre"): 0.3})
    table = collect(run, "tag_retrieval", ["seen/map"], ["clean", "timbre"])
    assert table["x"]["clean seen/map"] == [0.5, 0.7, 0.6]     # the deformed row is left out
    assert table["random"]["clean seen/map"] == [0.2]
    text = markdown_table(table, ["clean seen/map", "timbre seen/map"])
    assert f"0.600 ± {math.sqrt(0.01):.3f} (n=3)" in text
    assert "| y | 0.400 | 0.300 |" in text
    assert text.splitlines()[-1].startswith("| random | 0.200")


def test_tables_need_a_run(tmp_path):
    with pytest.raises(ConfigError, match="no metrics.json"):
        collect(tmp_path, "tag_retrieval", ["seen/map"], ["clean"])


def test_tables_keep_baselines_apart_when_vocabularies_differ(tmp_path):
    run = _run(tmp_path, {("x-s0", "clean"): 0.5, ("y", "clean"): 0.4})
    rows = json.loads((run / "metrics.json").read_text())
    rows["rows"][1]["summary"]["seen/random_map"] = 0.3     # y ranks other tags
    (run / "metrics.json").write_text(json.dumps(rows))
    table = collect(run, "tag_retrieval", ["seen/map"], ["clean"])
    assert table["random (x)"]["clean seen/map"] == [0.2]
    assert table["random (y)"]["clean seen/map"] == [0.3] and "random" not in table
    assert markdown_table(table, ["clean seen/map"]).splitlines()[-1] == \
        "| random (y) | 0.300 |"
