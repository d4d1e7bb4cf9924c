"""`musicsearch evaluate` on the tiny catalog: JSON metrics, Markdown report and plots."""
from __future__ import annotations

import json

import numpy as np
import pytest
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
    # piano/violin twice each, fast on all (skipped: no negative song), happy/sad twice
    # each → 4 tags with 2 positives among 4, whose random E[AP] is 49/72 (not 0.5)
    assert metrics["seen/n_tags"] == 4
    assert metrics["seen/random_map"] == pytest.approx(49 / 72)
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


def _strict_json(text: str):
    """Parse as JSON parsers other than Python's do: NaN and Infinity are not JSON."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("field, message", [
    ({"k": 0}, "k must be ≥ 1"),
    ({"k": -3}, "k must be ≥ 1"),
    ({"k": True}, "k: expected int, got True"),
    ({"split": " "}, "split must name a split"),
    ({"model": "/nonexistent/bundle"}, "model: no bundle folder at /nonexistent/bundle"),
    ({"data": {"catalog": "/nonexistent/catalog.jsonl"}}, "data.catalog not found"),
    ({"data": {"corpus_tracks": 0}}, "data.corpus_tracks must be ≥ 1"),
])
def test_every_eval_field_is_checked_before_any_work(tiny_audio, tiny_bundle, tmp_path, capsys,
                                                     field, message):
    folder, _ = tiny_audio
    config = {"model": str(tiny_bundle), "split": "train", "k": 2,
              "data": {"catalog": str(folder / "catalog.jsonl"), "cache_dir": str(tmp_path / "cache")}}
    for key, value in field.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["evaluate", "--config", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == "" and not (tmp_path / "cache").exists()   # nothing was computed


def test_report_under_a_file_is_refused_up_front(tiny_audio, tiny_bundle, tmp_path, capsys):
    folder, _ = tiny_audio
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({"model": str(tiny_bundle), "report": str(blocker / "r"),
                                    "data": {"catalog": str(folder / "catalog.jsonl")}}))
    assert main(["evaluate", "--config", str(path)]) == 2
    assert "report: " + str(blocker) + " is a file, not a folder" in capsys.readouterr().err


def test_json_outputs_never_contain_nan(tiny_audio, tiny_bundle, tmp_path, capsys):
    from retrieval.strict_json import dumps
    assert _strict_json(dumps({"map": float("nan"), "n": np.int64(3), "x": [np.float32("inf")]})) \
        == {"map": None, "n": 3, "x": [None]}
    folder, _ = tiny_audio
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({"model": str(tiny_bundle), "split": "train", "k": 1,
                                    "report": str(tmp_path / "report"),
                                    "data": {"catalog": str(folder / "catalog.jsonl"),
                                             "cache_dir": str(tmp_path / "cache")}}))
    assert main(["evaluate", "--config", str(path), "--json"]) == 0
    metrics = _strict_json(capsys.readouterr().out)["metrics"]
    assert all(np.isfinite(value) for value in metrics.values())
    _strict_json((tmp_path / "report.json").read_text())
