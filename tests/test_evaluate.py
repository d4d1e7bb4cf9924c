"""`musicsearch evaluate` on the tiny catalog: JSON metrics, Markdown report and plots."""
from __future__ import annotations

import json

import yaml

from ui.cli import main


def test_evaluate_json_and_report(tiny_audio, tiny_bundle, tmp_path, capsys):
    folder, _ = tiny_audio
    config = tmp_path / "eval.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(tiny_bundle), "split": "train", "k": 2,
        "data": {"catalog": str(folder / "catalog.jsonl"), "cache_dir": str(tmp_path / "cache")},
        "report": str(tmp_path / "report" / "tiny")}))
    assert main(["evaluate", "--config", str(config), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    metrics = output["metrics"]
    assert 0.0 <= metrics["seen/map"] <= 1.0 and 0.0 <= metrics["seen/p@2"] <= 1.0
    assert 0.0 < metrics["seen/random_map"] < 1.0
    assert output["tracks"] == 4
    assert (tmp_path / "report" / "tiny.md").read_text().startswith("# Tag-to-music evaluation")
    assert (tmp_path / "report" / "tiny-seen.png").stat().st_size > 1000


def test_evaluate_bad_split_is_one_line(tiny_audio, tiny_bundle, tmp_path, capsys):
    folder, _ = tiny_audio
    config = tmp_path / "eval.yaml"
    config.write_text(yaml.safe_dump({"model": str(tiny_bundle), "split": "nope",
                                      "data": {"catalog": str(folder / "catalog.jsonl")}}))
    assert main(["evaluate", "--config", str(config)]) == 2
    assert "no tracks in split 'nope'" in capsys.readouterr().err
