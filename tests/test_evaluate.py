"""`musicsearch evaluate --config FILE` on the tiny catalog: a small experiment end to end,
the embedding cache (a second or resumed run encodes nothing twice), and bad configs that
fail in one line before any work."""
from __future__ import annotations

import json

import pytest
import yaml

from training.evaluation import experiment
from ui.cli import main


def _config(tiny_audio, tiny_bundle, tmp_path, **changes) -> dict:
    folder, _ = tiny_audio
    config = {"id": "tiny", "out_dir": str(tmp_path / "runs"),
              "cache_dir": str(tmp_path / "cache"),
              "models": [{"name": "tiny", "bundle": str(tiny_bundle)}],
              "datasets": [{"name": "tiny-train", "split": "train", "probe_split": "valid",
                            "data": {"catalog": str(folder / "catalog.jsonl"),
                                     "cache_dir": str(tmp_path / "features")}}],
              "deformations": [{"type": "gain", "gain_db": -12},
                               {"type": "white_noise", "snr_db": 10}],
              "tasks": ["tag_retrieval", "triplets", "probe", "joint_map"], "k": 2, "min_positives": 2, "seeds": [0, 1]}
    config.update(changes)
    return config


def _write(tmp_path, config: dict):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_experiment_runs_end_to_end_and_reuses_embeddings(tiny_audio, tiny_bundle, tmp_path,
                                                         capsys):
    path = _write(tmp_path, _config(tiny_audio, tiny_bundle, tmp_path))
    assert main(["evaluate", "--config", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # 4 training clips × (clean + gain + noise at seeds 0 and 1), and the probes' 2 clips
    assert info["computed"] == 4 * 4 + 2
    conditions = [(row["condition"], row["seed"]) for row in info["rows"]
                  if row["task"] == "tag_retrieval"]
    assert conditions == [("clean", None), ("gain-m12db", None), ("white_noise-snr10", 0),
                          ("white_noise-snr10", 1)]
    clean = info["rows"][0]["summary"]
    triplets = [row["summary"] for row in info["rows"] if row["task"] == "triplets"]
    assert len(triplets) == 4 and triplets[0]["triplets/seeds"] == 2
    # probes train on the valid split here (2 clips) and are scored on clean audio only
    probes = [row for row in info["rows"] if row["task"] == "probe"]
    assert [row["condition"] for row in probes] == ["clean"]
    # 4 clips: piano/violin/happy/sad on 2 each, fast on all 4 (no negative: excluded)
    assert clean["seen/n_tags"] == 4 and clean["seen/excluded"] == 2   # fast, slow (0)
    assert clean["seen/random_map"] == pytest.approx(49 / 72)
    run = tmp_path / "runs" / "tiny"
    report = (run / "report.md").read_text()
    assert "### Robustness" in report and "white_noise-snr10 | 2 |" in report
    assert (run / "tiny-tiny-train-tag_retrieval-robustness.png").stat().st_size > 1000
    assert (run / "tiny-tiny-train-map.png").stat().st_size > 1000 and "## The joint space" in report
    per_query = json.loads((run / "per_query.json").read_text())
    assert set(per_query[0]["queries"]["seen"]) == {"piano", "violin", "happy", "sad"}
    assert json.loads((run / "config.json").read_text())["config"]["k"] == 2

    # a second run encodes nothing; a run resumed after losing some embeddings, only those
    assert main(["evaluate", "--config", str(path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    same = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert again["computed"] == 0 and same(again["rows"]) == same(info["rows"])
    lost = sorted((tmp_path / "cache" / "embeddings").rglob("*.npy"))[:3]
    for file in lost:
        file.unlink()
    assert main(["evaluate", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] == 3


@pytest.mark.parametrize("change, message", [
    ({"tasks": ["tag_retrieval", "lyrics"]}, "tasks: unknown 'lyrics' (known: tag_retrieval, "),
    ({"tasks": []}, "tasks: name one"),
    ({"models": [{"name": "m", "bundle": "/nonexistent/bundle"}]},
     "models.m: no bundle folder at /nonexistent/bundle"),
    ({"models": [{"name": "a"}, {"name": "a"}]}, "models: 'a' is named twice"),
    ({"deformations": [{"type": "reverb", "seconds": 2}]}, "unknown type 'reverb'"),
    ({"deformations": [{"type": "white_noise"}]}, "missing key(s) snr_db"),
    ({"deformations": "default"}, "deformations: expected a list"),
    ({"metrics": ["ndcg"]}, "metrics: unknown 'ndcg'"),
    ({"query_modes": ["word", "phrase"]},
     "query_modes: unknown 'phrase' (known: word, sentence, auto)"),
    ({"query_modes": []}, "query_modes: name one"),
    ({"query_modes": ["auto", "auto"]}, "query_modes: a mode is named twice"),
    ({"k": 0}, "k must be ≥ 1"),
    ({"k": True}, "k: expected int, got True"),
    ({"min_positives": 0}, "min_positives must be ≥ 1"),
    ({"seeds": [1, 1]}, "seeds must be distinct non-negative integers"),
    ({"id": "../elsewhere"}, "id must be a plain name"),
    ({"threads": 0}, "threads must be ≥ 1"),
    ({"model": "old-style"}, "unknown key(s) model"),
    ({"datasets": [{"name": "d", "split": " ", "data": {"catalog": "/nonexistent.jsonl"}}]},
     "datasets.d.data.catalog not found: /nonexistent.jsonl; datasets.d.split must name"),
])
def test_bad_configs_fail_in_one_line_before_any_work(tiny_audio, tiny_bundle, tmp_path, capsys,
                                                      change, message):
    path = _write(tmp_path, _config(tiny_audio, tiny_bundle, tmp_path, **change))
    assert main(["evaluate", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_a_split_without_tracks_fails_before_any_embedding(tiny_audio, tiny_bundle, tmp_path,
                                                           capsys):
    config = _config(tiny_audio, tiny_bundle, tmp_path)
    bad = dict(config["datasets"][0], name="empty", split="nope")
    config["datasets"] = [config["datasets"][0], bad]    # the good one comes first
    assert main(["evaluate", "--config", str(_write(tmp_path, config))]) == 2
    error = capsys.readouterr().err
    assert "datasets.empty:" in error and "no tracks in split 'nope'" in error
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_out_dir_under_a_file_is_refused_up_front(tiny_audio, tiny_bundle, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    path = _write(tmp_path, _config(tiny_audio, tiny_bundle, tmp_path, out_dir=str(blocker / "r")))
    assert main(["evaluate", "--config", str(path)]) == 2
    assert f"out_dir: {blocker} is a file, not a folder" in capsys.readouterr().err


def test_the_shipped_configs_are_valid():
    from pathlib import Path
    for path in sorted(Path("configs/eval").glob("*.yaml")):
        if any(not Path(f).is_file() for f in yaml.safe_load(path.read_text()).get("timbres", [])):
            continue   # a machine without fluid-soundfont-gm cannot run the timbre condition
        config = experiment.load_experiment(path)
        assert config.id == path.stem
