"""The evaluation's text tasks through the query routing, per mode: a row per (task, mode),
the default `[auto]` equal to the word tower's numbers on a word-only model, sentence mode
skipped (with a note) on a word-only model, the sentence path on a real MiniLM sentence
tower, and the example-queries table."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from retrieval.bundle import load_bundle
from retrieval.catalog import write_catalog
from training.data import load_catalog_splits
from training.evaluation.compare import compare_per_query
from training.evaluation.embeddings import EmbeddingCache
from training.evaluation.query_tasks import text_retrieval
from training.evaluation.sentences import load_sentences, sentence_retrieval
from ui.cli import main

from test_evaluate import _config, _write
from test_sentence import sentence_bundle  # noqa: F401  (the MiniLM-tower bundle fixture)

SENTENCES = {"version": 2, "sentences": [
    {"text": "a happy tune on the piano", "tags": ["happy", "piano"]},
    {"text": "sad music", "tags": ["sad"]},
    {"text": "a slow sad violin", "tags": ["slow", "sad", "violin"]},   # no train clip is slow
    {"text": "a fast violin", "tags": ["fast", "violin"]},
    {"text": "something like a pub session in Dublin", "tags": ["happy", "fast"]}]}


def _captioned(tiny_audio, tmp_path):
    """The tiny catalog with captions (two clips share each) and absolute audio paths."""
    folder, records = tiny_audio
    captioned = []
    for record in records:
        captioned.append(replace(record, path=str(folder / record.path),
                                 caption=f"a {record.tags[0]} playing {record.tags[2]} music"))
    path = tmp_path / "captioned.jsonl"
    write_catalog(captioned, path)
    return path


def _run(tiny_audio, bundle, tmp_path, capsys, **changes) -> dict:
    sentences = tmp_path / "sentences.yaml"
    sentences.write_text(yaml.safe_dump(SENTENCES))
    config = _config(tiny_audio, bundle, tmp_path, tasks=["text_retrieval", "sentences"],
                     deformations=[], sentences=str(sentences), **changes)
    config["datasets"][0]["data"]["catalog"] = str(_captioned(tiny_audio, tmp_path))
    assert main(["evaluate", "--config", str(_write(tmp_path, config)), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _songs(bundle, tmp_path, info):
    """The run's clean song vectors (from its cache) and records."""
    records = load_catalog_splits(Path(info["datasets"]["tiny-train"]["catalog"]))["train"]
    model = load_bundle(bundle)
    songs = EmbeddingCache(tmp_path / "cache", model, tmp_path / "features").vectors(
        [r.path for r in records])
    assert songs.computed == 0 and len(songs.kept) == len(records)
    return model, records, songs.vectors


def _row(info, task, mode):
    return next(r for r in info["rows"] if (r["task"], r["mode"]) == (task, mode))


def test_default_auto_on_a_word_only_model_equals_the_word_tower(tiny_audio, tiny_bundle,
                                                                  tmp_path, capsys):
    info = _run(tiny_audio, tiny_bundle, tmp_path, capsys)
    assert [(r["task"], r["mode"]) for r in info["rows"]] == [("text_retrieval", "auto"),
                                                              ("sentences", "auto")]
    model, records, songs = _songs(tiny_bundle, tmp_path, info)
    # what the tasks computed before the query modes: model.encode_text, the word tower
    captions, _ = text_retrieval(model, records, songs)
    sentences, _ = sentence_retrieval(model, records, songs, load_sentences(
        tmp_path / "sentences.yaml"))
    assert captions["captions/n_queries"] == 4 and sentences["sentences/n_queries"] == 4
    assert _row(info, "text_retrieval", "auto")["summary"] == captions
    assert _row(info, "sentences", "auto")["summary"] == sentences
    assert info["notes"] == ["model 'tiny' has no sentence tower: auto answers through the "
                             "word tower"]
    report = (tmp_path / "runs" / "tiny" / "report.md").read_text()
    assert "tracks): sentences (auto)" in report and "tracks): text_retrieval (auto)" in report
    assert "auto answers through the word tower" in report


def test_word_only_model_skips_sentence_mode_with_a_note(tiny_audio, tiny_bundle, tmp_path,
                                                         capsys):
    info = _run(tiny_audio, tiny_bundle, tmp_path, capsys,
                query_modes=["word", "sentence", "auto"])
    assert [(r["task"], r["mode"]) for r in info["rows"]] == [
        ("text_retrieval", "word"), ("text_retrieval", "auto"),
        ("sentences", "word"), ("sentences", "auto")]
    assert _row(info, "sentences", "word")["summary"] == _row(info, "sentences", "auto")["summary"]
    assert "model 'tiny' has no sentence tower: sentence mode skipped" in info["notes"]
    assert info["models"]["tiny"]["query_modes"] == ["word", "auto"]
    run = tmp_path / "runs" / "tiny"
    per_query = json.loads((run / "per_query.json").read_text())
    assert {(r["task"], r["mode"]) for r in per_query} == {
        ("text_retrieval", "word"), ("text_retrieval", "auto"), ("sentences", "word"),
        ("sentences", "auto")}
    report = (run / "report.md").read_text()
    assert "sentences (sentence)" not in report and "sentence mode skipped" in report
    # examples: the first three sentences and the pub session, through the word path only
    examples = info["examples"]["tiny"]["tiny-train"]
    assert examples["modes"] == ["word"]
    assert [s["text"] for s in examples["sentences"]] == [
        "a happy tune on the piano", "sad music", "a slow sad violin",
        "something like a pub session in Dublin"]
    assert "| # | word |" in report and "**sad music** (relevant: sad)" in report


def test_sentence_model_has_a_row_per_mode_and_examples_per_mode(tiny_audio, sentence_bundle,
                                                                  tmp_path, capsys):
    info = _run(tiny_audio, sentence_bundle, tmp_path, capsys,
                query_modes=["sentence", "word", "auto"])
    assert info["notes"] == []
    for task in ("text_retrieval", "sentences"):
        assert [r["mode"] for r in info["rows"] if r["task"] == task] == ["sentence", "word",
                                                                           "auto"]
    model, records, songs = _songs(sentence_bundle, tmp_path, info)
    through = {"sentence": lambda text: model.encode_sentences([text])[0],
               "word": lambda text: model.encode_text(text)[0]}
    sentences = load_sentences(tmp_path / "sentences.yaml")
    for mode, encode in through.items():
        assert _row(info, "sentences", mode)["summary"] == sentence_retrieval(
            model, records, songs, sentences, encode)[0]
        assert _row(info, "text_retrieval", mode)["summary"] == text_retrieval(
            model, records, songs, encode)[0]
    examples = info["examples"]["tiny"]["tiny-train"]
    assert examples["modes"] == ["word", "sentence", "auto"]     # word first: the "before"
    for example in examples["sentences"]:
        for mode, top in example["top"].items():
            scores = [track["score"] for track in top]
            assert len(top) == 4 and scores == sorted(scores, reverse=True)   # 4 train clips
            assert {track["title"] for track in top} == {r.title for r in records}
            for track in top:
                assert track["relevant"] == (set(example["tags"]) <= set(track["tags"]))
    sentence_top = examples["sentences"][0]["top"]["sentence"][0]
    scores = songs @ model.encode_sentences(["a happy tune on the piano"])[0]
    assert sentence_top["title"] == records[int(scores.argmax())].title
    report = (tmp_path / "runs" / "tiny" / "report.md").read_text()
    assert "| # | word | sentence | auto |" in report and "| 5 |" not in report   # 4 clips
    side = report.split("query modes side by side (clean)")[1].split("\n## ")[0]
    mrr = [_row(info, "sentences", m)["summary"]["sentences/mrr"] for m in ("sentence", "word",
                                                                             "auto")]
    assert "| sentences | sentences/mrr | " in side and " | ".join(f"{v:.3f}" for v in mrr) in side
    assert "tracks): sentences (sentence)" in report and "tracks): text_retrieval (word)" in report


def test_rows_from_before_the_query_modes_pair_with_the_word_mode():
    queries = {"sentences": {"q1": {"ap": 0.5}, "q2": {"ap": 0.25}}}
    old = [{"dataset": "d", "condition": "clean", "seed": None, "task": "sentences",
            "queries": queries}]
    new = [{**old[0], "mode": mode} for mode in ("auto", "word")]
    [comparison] = compare_per_query(old, new)
    assert comparison["task"] == "sentences (word)" and comparison["queries"] == 2
