"""Natural-sentence queries: metrics worked out by hand and by enumerating tie-breaks, the
hit@K random baseline against enumeration, the committed sentence file, and bad sentence
files that fail in one line before any work."""
from __future__ import annotations

import json
from itertools import combinations, permutations

import numpy as np
import pytest
import yaml

from training.evaluation.sentences import DEFAULT_SENTENCES, load_sentences, ranking_metrics
from training.random_baseline import expected_random_hit_at_k
from ui.cli import main

from test_evaluate import _config, _write

# N = 6, R = 3: one irrelevant song on top, then a three-way tie holding two relevant songs.
SCORES = np.array([0.9, 0.7, 0.7, 0.7, 0.2, 0.1])
RELEVANT = np.array([0, 1, 1, 0, 0, 1], dtype=bool)


def test_ranking_metrics_by_hand():
    got = ranking_metrics(SCORES, RELEVANT, ks=(1, 2, 5))
    # first relevant: 1 above, then 2 relevant + 1 other tied → 1 + (1 + 2 + 1) / 3; it
    # lands at place 2 with probability 2/3, at 3 with 1/3 → E[1/rank] = 2/3·1/2 + 1/3·1/3
    assert got["rank"] == pytest.approx(7 / 3) and got["rr"] == pytest.approx(4 / 9)
    # the tie at places 2–4 puts its irrelevant song at 2, 3 or 4: precision sums
    # 1/3 + 2/4, 1/2 + 2/4, 1/2 + 2/3 (mean 1); the last relevant adds 3/6 → AP = 1.5 / 3
    assert got["ap"] == pytest.approx(0.5)
    assert got["hit@1"] == 0 and got["recall@1"] == 0
    # top 2 takes one of the three tied songs: relevant with probability 2/3
    assert got["hit@2"] == pytest.approx(2 / 3) and got["recall@2"] == pytest.approx(2 / 9)
    assert got["hit@5"] == 1 and got["recall@5"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("scores, relevant", [
    (SCORES, RELEVANT),
    ([0.5, 0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0, 0]),     # everything tied
    ([0.3, 0.9, 0.3, 0.9, 0.1, 0.3], [1, 0, 0, 1, 1, 0]),
])
def test_ranking_metrics_equal_the_mean_over_every_tie_break(scores, relevant):
    scores, relevant = np.asarray(scores, float), np.asarray(relevant, bool)
    runs = []
    for order in permutations(range(scores.size)):   # order = the tie-break priority
        ranked = relevant[sorted(range(scores.size), key=lambda i: (-scores[i], order[i]))]
        places = np.flatnonzero(ranked) + 1
        runs.append({"rr": 1 / places[0], "ap": np.mean(np.arange(1, places.size + 1) / places),
                     **{f"hit@{k}": float(places[0] <= k) for k in (1, 2, 4)},
                     **{f"recall@{k}": np.mean(places <= k) for k in (1, 2, 4)}})
    got = ranking_metrics(scores, relevant, ks=(1, 2, 4))
    for key in runs[0]:
        assert got[key] == pytest.approx(np.mean([run[key] for run in runs])), key


def test_random_hit_at_k_against_enumeration():
    for n in range(1, 8):
        for r in range(0, n + 1):
            for k in range(1, n + 2):
                tops = [min(c) < k for c in combinations(range(n), r)] if r else [False]
                assert expected_random_hit_at_k(n, r, k) == pytest.approx(np.mean(tops))


def test_the_committed_sentence_file_loads():
    sentences = load_sentences(DEFAULT_SENTENCES)
    assert sentences.version >= 1 and len(sentences.sentences) >= 25


def _sentence_file(tmp_path, body) -> str:
    path = tmp_path / "sentences.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


GOOD = {"text": "a happy tune on the piano", "tags": ["happy", "piano"]}


@pytest.mark.parametrize("body, message", [
    ({"version": 1, "sentences": [GOOD, {"text": "no tags here"}]},
     "sentences[2]: expected exactly the keys text and tags"),
    ({"version": 1, "sentences": [GOOD, {"text": "x", "tags": "piano"}]},
     "sentences[2]: tags must be a non-empty list of tag names, got 'piano'"),
    ({"version": 1, "sentences": [GOOD, {"text": " ", "tags": ["piano"]}]},
     "sentences[2]: text must be a non-empty string"),
    ({"version": 1, "sentences": [GOOD, GOOD]}, "'a happy tune on the piano' is listed twice"),
    ({"version": 1, "sentences": []}, "sentences must be a non-empty list"),
    ({"sentences": [GOOD]}, "version must be a positive integer, got None"),
    ({"version": 1, "sentence": [GOOD]}, "unknown key(s) sentence"),
    ("just text", "expected a mapping at the top level"),
])
def test_a_malformed_sentence_file_fails_in_one_line_before_any_work(
        tiny_audio, tiny_bundle, tmp_path, capsys, body, message):
    config = _config(tiny_audio, tiny_bundle, tmp_path, tasks=["sentences"],
                     sentences=_sentence_file(tmp_path, body))
    assert main(["evaluate", "--config", str(_write(tmp_path, config))]) == 2
    captured = capsys.readouterr()
    assert message in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_a_missing_sentence_file_is_named_as_such(tiny_audio, tiny_bundle, tmp_path, capsys):
    config = _config(tiny_audio, tiny_bundle, tmp_path, tasks=["sentences"],
                     sentences=str(tmp_path / "nope.yaml"))
    assert main(["evaluate", "--config", str(_write(tmp_path, config))]) == 2
    assert f"sentences: no sentence file at {tmp_path / 'nope.yaml'}" in capsys.readouterr().err


def test_an_unknown_tag_fails_in_one_line_before_any_embedding(tiny_audio, tiny_bundle,
                                                                tmp_path, capsys):
    body = {"version": 1, "sentences": [GOOD, {"text": "a sad fidle", "tags": ["sad", "fidle"]}]}
    config = _config(tiny_audio, tiny_bundle, tmp_path, tasks=["sentences"],
                     sentences=_sentence_file(tmp_path, body))
    assert main(["evaluate", "--config", str(_write(tmp_path, config))]) == 2
    error = capsys.readouterr().err
    assert "'a sad fidle': unknown tag 'fidle'" in error and "no track of" in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_sentences_task_end_to_end(tiny_audio, tiny_bundle, tmp_path, capsys):
    body = {"version": 3, "sentences": [
        GOOD, {"text": "sad music", "tags": ["sad"]},
        {"text": "a slow sad violin", "tags": ["slow", "sad", "violin"]}]}
    config = _config(tiny_audio, tiny_bundle, tmp_path, tasks=["text_retrieval", "sentences"],
                     deformations=[], sentences=_sentence_file(tmp_path, body))
    assert main(["evaluate", "--config", str(_write(tmp_path, config)), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    summary = next(r["summary"] for r in rows if r["task"] == "sentences")
    run = tmp_path / "runs" / "tiny"
    per_query = next(r["queries"] for r in json.loads((run / "per_query.json").read_text())
                     if r["task"] == "sentences")
    scored = per_query["sentences"]
    assert summary["sentences/version"] == 3
    assert summary["sentences/n_queries"] + summary["sentences/excluded"] == 3
    assert summary["sentences/mrr"] == pytest.approx(np.mean([v["rr"] for v in scored.values()]))
    assert summary["sentences/random_recall@1"] == pytest.approx(1 / 4)   # 4 training clips
    for v in scored.values():
        assert v["random_hit@1"] == pytest.approx(v["relevant"] / 4)
    assert set(per_query["excluded"]) | set(scored) == {b["text"] for b in body["sentences"]}
    report = (run / "report.md").read_text()
    assert "### Per sentence (clean)" in report and "sad music" in report
