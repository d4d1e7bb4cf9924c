"""Paired tests against exact values, and two models compared query by query in a run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from retrieval.bundle import save_bundle
from retrieval.model import MusicSearchModel
from training.evaluation.compare import bootstrap_interval, paired_permutation_p
from ui.cli import main


def test_sign_flip_p_values_by_hand():
    # 3 equal differences: of the 8 sign patterns only +++ and −−− reach |mean| = 1
    assert paired_permutation_p([1, 1, 1], [0, 0, 0]) == pytest.approx(2 / 8)
    # differences +1, −1: every pattern has |mean| ≥ 0 = the observed one
    assert paired_permutation_p([1, 0], [0, 1]) == 1.0
    # 20 equal differences (random patterns): only ±all reach it, p = 1/10001 at most ~
    assert paired_permutation_p(np.ones(20), np.zeros(20)) < 0.001


def test_bootstrap_interval_of_a_constant_difference_is_that_constant():
    assert bootstrap_interval([0.7, 0.5, 0.9], [0.5, 0.3, 0.7]) == pytest.approx((0.2, 0.2))
    low, high = bootstrap_interval([1, 0, 1, 0], [0, 0, 0, 0])
    assert 0 <= low < 0.5 < high <= 1


def test_two_models_in_one_run_and_two_runs_compared(tiny_audio, tiny_bundle, tmp_path, capsys):
    from tests.conftest import tiny_model_config
    torch.manual_seed(1)
    other = tmp_path / "other"
    save_bundle(MusicSearchModel(tiny_model_config()), other)
    folder, _ = tiny_audio
    config = {"id": "two", "out_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "c"),
              "models": [{"name": "a", "bundle": str(tiny_bundle)},
                         {"name": "b", "bundle": str(other)}],
              "datasets": [{"name": "tiny", "split": "train",
                            "data": {"catalog": str(folder / "catalog.jsonl")}}],
              "k": 2, "min_positives": 2, "seeds": [0]}
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["evaluate", "--config", str(path)]) == 0
    report = (tmp_path / "runs" / "two" / "report.md").read_text()
    assert "## a against b" in report
    rows = json.loads((tmp_path / "runs" / "two" / "per_query.json").read_text())
    ap = {r["model"]: {t: v["ap"] for t, v in r["queries"]["seen"].items()} for r in rows}
    difference = np.mean([ap["a"][t] - ap["b"][t] for t in ap["a"]])
    assert f"| {difference:+.3f} [" in report
    capsys.readouterr()
    run = str(tmp_path / "runs" / "two")
    assert main(["evaluate", "--compare", f"{run}:a", f"{run}:b"]) == 0
    assert f"| {difference:+.3f} [" in capsys.readouterr().out
    assert main(["evaluate", "--compare", run, f"{run}:b"]) == 2     # which model of two?
    assert "holds models a, b; name one" in capsys.readouterr().err
    assert main(["evaluate", "--compare", str(tmp_path), f"{run}:b"]) == 2
    assert "is not an evaluation run" in capsys.readouterr().err
