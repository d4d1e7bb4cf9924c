"""Domain Word2Vec for the word tower (training/domain_words.py, `musicsearch words`):
phrases detected, vectors reproducible across processes, the saved file loads as the
word tower's `source: file` vectors, and "string quartet" in a query finds the phrase."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.query import parse_query, phrase_words
from retrieval.typed_config import ConfigError
from retrieval.word_vectors import WordVectorsConfig, load_word_vectors
from training.domain_words import (DomainWordsConfig, apply_phrases, read_corpus,
                                   save_domain_words, train_domain_words)

ROOT = Path(__file__).resolve().parents[1]
# a realistic spread of words: Phrases scores a pair against the vocabulary's size
FILLER = "lively fiddle".split() + [f"w{i}" for i in range(200)]
SMALL = DomainWordsConfig(vector_size=16, min_count=2, epochs=3, phrase_min_count=5)


def write_corpus(path: Path, lines: int = 400, seed: int = 0) -> Path:
    """Random filler documents; "string quartet" always as a pair in a fifth of them,
    "string" and "quartet" otherwise only a few times apart."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(lines):
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 9))))
        if i % 5 == 0:
            words.insert(int(rng.integers(len(words))), "String Quartet")
        elif i % 5 == 2:   # a strong pair ending in a stop word: no query can use it
            words.insert(int(rng.integers(len(words))), "played by")
        elif i % 50 == 1:
            words.append("string" if i % 100 == 1 else "quartet")
        docs.append(" ".join(words))
    path.write_text("\n".join(docs) + "\n\n", encoding="utf-8")
    return path


def test_a_frequent_bigram_becomes_one_token(tmp_path):
    documents = read_corpus(write_corpus(tmp_path / "corpus.txt"))
    assert len(documents) == 400 and documents[0] != []   # blank line skipped, lower-cased
    result = train_domain_words(documents, SMALL)
    assert "string_quartet" in result.phrases and "played_by" not in result.phrases
    from gensim.models.phrases import Phrases   # it is a phrase to gensim: dropped by us
    assert "played_by" in Phrases(documents, min_count=5, threshold=10.0).export_phrases()
    # random neighbours are not phrases, and the two words mostly live in the phrase
    assert not any(p.split("_")[0] in FILLER and p.split("_")[1] in FILLER for p in result.phrases)
    assert "string_quartet" in result.words
    assert apply_phrases(["a", "string", "quartet", "string"], result.phrases) == [
        "a", "string_quartet", "string"]


def _train_in_process(corpus: Path, out: Path, seed: int, hash_seed: str) -> Path:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "ui.cli", "words", "train", "--corpus", str(corpus),
                          "--out", str(out), "--vector-size", "16", "--epochs", "3",
                          "--seed", str(seed)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "string_quartet" not in run.stderr
    return out / "words.w2v.txt"


def test_vectors_are_reproducible_from_a_seed_across_processes(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    first = _train_in_process(corpus, tmp_path / "a", 3, "1")
    second = _train_in_process(corpus, tmp_path / "b", 3, "2")
    other = _train_in_process(corpus, tmp_path / "c", 4, "1")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    phrases = json.loads((tmp_path / "a" / "phrases.json").read_text())
    assert phrases["joiner"] == "_" and "string_quartet" in phrases["phrases"]


def test_saved_vectors_load_as_the_word_towers_file_source(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    result = train_domain_words(read_corpus(write_corpus(tmp_path / "corpus.txt")), SMALL)
    vectors_path, _ = save_domain_words(result, tmp_path / "out")
    config = WordVectorsConfig(source="file", path=str(vectors_path), dim=16)
    table = load_word_vectors(config)
    row = result.words.index("string_quartet")
    assert np.array_equal(table["string_quartet"], result.vectors[row])   # exact round trip
    # "string quartet" in a tag or a query is the phrase vector, not its two words
    assert phrase_words("String Quartet", table.__contains__) == ["string_quartet"]
    assert phrase_words("string_quartet", table.__contains__) == ["string_quartet"]
    assert phrase_words("lively fiddle", table.__contains__) == ["lively", "fiddle"]
    parsed = parse_query("a lively string quartet", [], table.__contains__)
    assert parsed.terms == ["lively", "string_quartet"]
    # a word-tower model config with these vectors validates, and the tower embeds the phrase
    from retrieval.model_config import ModelConfig
    from retrieval.towers.audio import AudioTowerConfig
    from retrieval.towers.registry import build_tower, tower_config_from_dict
    from retrieval.towers.word import WordTowerConfig
    word = WordTowerConfig(vectors=config, hidden_dim=8, joint_dim=4)
    audio = AudioTowerConfig(channels=[2] * 7, backbone_dim=4, joint_dim=4)
    model = ModelConfig(towers={"audio": audio, "word": word})
    assert model.problems() == []
    again = ModelConfig.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.towers["word"].vectors == config
    tower = build_tower("word", tower_config_from_dict("word", word.to_dict()))
    expected = result.vectors[row] / np.linalg.norm(result.vectors[row])
    assert np.allclose(tower.phrase_vector("string quartet"), expected, atol=1e-6)
    # a missing vectors file is a named problem, not a crash later
    gone = WordTowerConfig(vectors=WordVectorsConfig(source="file", path=str(tmp_path / "no"), dim=16))
    assert any("vectors.path not found" in p for p in gone.problems())


def test_a_stop_word_may_join_a_phrase_but_not_begin_or_end_it():
    known = {"rock_and_roll", "rock", "roll", "the_beatles", "beatles", "fiddle", "a_fiddle"}
    assert parse_query("rock and roll", [], known.__contains__).terms == ["rock_and_roll"]
    assert parse_query("the beatles", [], known.__contains__).terms == ["beatles"]
    assert phrase_words("a fiddle", known.__contains__) == ["fiddle"]


def test_bad_input_is_one_line(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n... !\n", encoding="utf-8")
    for corpus, message in [(tmp_path / "missing.txt", "corpus not found"),
                            (empty, "no words in the corpus")]:
        run = subprocess.run([sys.executable, "-m", "ui.cli", "words", "train", "--corpus",
                              str(corpus), "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        assert run.returncode != 0 and message in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (tmp_path / "out").exists()   # refused before any work
    with pytest.raises(ConfigError, match="phrase_threshold"):
        train_domain_words([["a", "b"]], DomainWordsConfig(phrase_threshold=0))
