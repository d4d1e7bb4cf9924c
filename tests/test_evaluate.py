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
    assert output["tracks"] == 4
    # the baseline and tag count follow from the catalog alone: the 4 training clips carry
    # piano/violin twice each (prevalence 0.5), fast on all (skipped: no negative song),
    # happy/sad twice each → 4 tags at prevalence 0.5
    assert metrics["seen/n_tags"] == 4
    assert metrics["seen/random_map"] == 0.5
    per_tag = {t: v["ap"] for t, v in output_per_tag(tmp_path).items()}
    assert set(per_tag) == {"piano", "violin", "happy", "sad"}
    assert metrics["seen/map"] == sum(per_tag.values()) / 4
    assert (tmp_path / "report" / "tiny.md").read_text().startswith("# Tag-to-music evaluation")
    assert (tmp_path / "report" / "tiny-seen.png").stat().st_size > 1000


def output_per_tag(tmp_path) -> dict:
    return json.loads((tmp_path / "report" / "tiny.json").read_text())["per_tag"]["seen"]


def test_evaluate_bad_split_is_one_line(tiny_audio, tiny_bundle, tmp_path, capsys):
    folder, _ = tiny_audio
    config = tmp_path / "eval.yaml"
    config.write_text(yaml.safe_dump({"model": str(tiny_bundle), "split": "nope",
                                      "data": {"catalog": str(folder / "catalog.jsonl")}}))
    assert main(["evaluate", "--config", str(config)]) == 2
    assert "no tracks in split 'nope'" in capsys.readouterr().err
