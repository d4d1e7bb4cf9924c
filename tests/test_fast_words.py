"""The torch-free text path: the numpy word tower gives torch's vectors, word vectors open
memory-mapped from a checksum-keyed cache, and a text search from the CLI imports no torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.light_model import open_light_model
from retrieval.model import MusicSearchModel
from retrieval.query import QueryError
from retrieval.word_table import WordTable, write_word_table
from retrieval.word_vectors import WordVectorsConfig, load_word_vectors, word_vectors_cache_dir

from conftest import tiny_model_config

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["lively irish fiddle reel", "calm choir", "string-quartet dvořák", "Violín sad",
           "happy piano", "fast violin"]


def _assert_same_text_side(full, light, queries):
    tags = full.config.tags
    phrases = [t for t in tags if full.phrase_vector(t) is not None]
    torch_vectors, numpy_vectors = full.encode_words(phrases), light.encode_words(phrases)
    assert numpy_vectors.shape == torch_vectors.shape == (len(phrases), full.config.joint_dim)
    assert np.abs(numpy_vectors - torch_vectors).max() < 1e-5
    for text in queries:
        (expected, parsed), (got, light_parsed) = full.encode_text(text), light.encode_text(text)
        assert light_parsed == parsed
        assert np.abs(got - expected).max() < 1e-5
    assert not light.loaded     # all of it without the torch model


def test_numpy_word_tower_matches_torch_on_the_shipped_and_the_format_1_model():
    _assert_same_text_side(load_bundle(None), open_light_model(None), QUERIES)
    first = ROOT / "models" / "tag-demo-v1"
    _assert_same_text_side(load_bundle(first), open_light_model(first), QUERIES)


def test_numpy_word_tower_matches_torch_on_a_random_model(tmp_path):
    torch.manual_seed(1)
    model = MusicSearchModel(tiny_model_config())
    norm = model.towers["word"].mlp[1]   # fresh BatchNorm statistics are 0 and 1: make them not
    norm.running_mean.normal_(0, 0.5)
    norm.running_var.uniform_(0.2, 3.0)
    norm.weight.data.normal_(1, 0.3)
    norm.bias.data.normal_(0, 0.3)
    save_bundle(model, tmp_path / "bundle")
    full, light = load_bundle(tmp_path / "bundle"), open_light_model(tmp_path / "bundle")
    assert light.fingerprint == full.fingerprint
    _assert_same_text_side(full, light, QUERIES)
    with pytest.raises(QueryError, match="no known words"):
        light.encode_text("qqqzx vvvbnm")


def test_light_model_loads_the_rest_on_demand(tiny_bundle, tiny_audio):
    folder, records = tiny_audio
    light, full = open_light_model(tiny_bundle), load_bundle(tiny_bundle)
    assert light.has_tower("audio") and light.has_tower("word") and not light.has_tower("sentence")
    vector = light.encode_audio(folder / records[0].path)     # through the full model
    assert light.loaded
    assert np.allclose(vector, full.encode_audio(folder / records[0].path), atol=1e-6)


def test_light_model_refuses_broken_word_weights(tmp_path):
    model = MusicSearchModel(tiny_model_config())
    model.towers["word"].mlp[4].weight.data[0, 0] = float("nan")
    save_bundle(model, tmp_path / "bundle")
    with pytest.raises(BundleError, match="NaN or infinite"):
        open_light_model(tmp_path / "bundle")


# ---- word tables and their cache ------------------------------------------------------
def test_word_table_finds_every_word_and_only_those(tmp_path):
    words = ["the", "dvořák", "音楽", "hip-hop", "a", "ab", "b", "o'neill", "Z"]
    vectors = np.random.default_rng(0).standard_normal((len(words), 4)).astype(np.float32)
    table = WordTable(write_word_table(tmp_path / "table", words, vectors))
    assert len(table) == len(words) and table.vector_size == 4
    for row, word in enumerate(words):
        assert word in table and np.array_equal(table[word], vectors[row])
    for missing in ["", "th", "thee", "dvorak", "z", "音", "aa", "zz"]:
        assert missing not in table and table.row(missing) is None
    with pytest.raises(ValueError, match="appears twice"):
        write_word_table(tmp_path / "twice", ["x", "y", "x"], vectors[:3])


def _write_text_vectors(path: Path, rows: dict[str, list[float]]) -> None:
    lines = [f"{len(rows)} {len(next(iter(rows.values())))}"]
    lines += [f"{word} {' '.join(map(str, values))}" for word, values in rows.items()]
    path.write_text("\n".join(lines) + "\n")


def test_cache_is_keyed_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    source = tmp_path / "vectors.txt"
    _write_text_vectors(source, {"fiddle": [1.0, 0.0], "reel": [0.0, 2.0]})
    config = WordVectorsConfig(source="file", path=str(source), dim=2)
    load_word_vectors.cache_clear()
    first = load_word_vectors(config)
    assert np.array_equal(first["reel"], [0.0, 2.0]) and "jig" not in first
    assert first.folder.parent == word_vectors_cache_dir()
    # an edited file (new size and mtime) is converted again into a table of its own
    _write_text_vectors(source, {"fiddle": [1.0, 0.0], "reel": [0.0, 2.0], "jig": [3.0, 3.0]})
    load_word_vectors.cache_clear()
    second = load_word_vectors(config)
    assert second.folder != first.folder and np.array_equal(second["jig"], [3.0, 3.0])
    # a copy with the same content elsewhere reuses the table (the key is the checksum)
    copy = tmp_path / "copy.txt"
    copy.write_bytes(source.read_bytes())
    load_word_vectors.cache_clear()
    third = load_word_vectors(WordVectorsConfig(source="file", path=str(copy), dim=2))
    assert third.folder == second.folder
    load_word_vectors.cache_clear()


def test_an_unwritable_cache_still_gives_the_vectors(tmp_path, monkeypatch, caplog):
    (tmp_path / "home").write_text("a file where the data home should be")
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    source = tmp_path / "vectors.txt"
    _write_text_vectors(source, {"fiddle": [1.0, 0.0], "reel": [0.0, 2.0]})
    load_word_vectors.cache_clear()
    table = load_word_vectors(WordVectorsConfig(source="file", path=str(source), dim=2))
    assert np.array_equal(table["fiddle"], [1.0, 0.0])
    assert "cannot cache the word vectors" in caplog.text
    load_word_vectors.cache_clear()


# ---- the command line -------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_index(tiny_audio, tiny_bundle, tmp_path_factory):
    """The tiny audio indexed with the tiny bundle; MUSICSEARCH_HOME with the word table
    already built, so each subprocess below measures a search, not the one-time conversion."""
    home = tmp_path_factory.mktemp("home")
    folder, _ = tiny_audio
    qdrant = tmp_path_factory.mktemp("qdrant")
    env = {**os.environ, "MUSICSEARCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    common = ["--qdrant", str(qdrant), "--model", str(tiny_bundle), "--collection", "tiny"]
    subprocess.run([sys.executable, "-m", "ui.cli", "index", str(folder / "catalog.jsonl"),
                    *common], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "from retrieval.word_vectors import WordVectorsConfig, "
                    "load_word_vectors; load_word_vectors(WordVectorsConfig())"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return env, common


def _run_cli(env, argv):
    """main(argv) in a fresh interpreter: (exit status, stdout, stderr, heavy modules loaded)."""
    code = ("import json, sys\nfrom ui.cli import main\nstatus = main(sys.argv[1:])\n"
            "heavy = sorted(m for m in ('torch', 'gensim', 'pandas', 'qdrant_client', 'gradio')"
            " if m in sys.modules)\nprint('MODULES ' + json.dumps(heavy), file=sys.stderr)\n"
            "sys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    modules = json.loads(done.stderr.rsplit("MODULES ", 1)[1])
    return done.returncode, done.stdout, done.stderr, modules


def test_cli_text_search_imports_no_torch(cli_index, tiny_bundle, tiny_audio):
    env, common = cli_index
    status, out, err, modules = _run_cli(env, ["search", "happy piano", "--json", *common])
    assert status == 0, err
    assert modules == [], f"a text search imported {modules}"
    results = json.loads(out)["results"]
    # the same ranking and scores as the torch model gives in this process
    from index import open_store
    from retrieval.search import Searcher
    store = open_store(common[1], "tiny")
    try:
        expected = Searcher(load_bundle(tiny_bundle), store).search(text="happy piano")
    finally:
        store.close()
    assert [r["track_id"] for r in results] == [h.track_id for h in expected.hits]
    assert np.allclose([r["score"] for r in results], [h.score for h in expected.hits], atol=2e-4)
    # an audio query still works, and is what brings torch in
    folder, records = tiny_audio
    status, out, err, modules = _run_cli(env, ["search", "--audio", str(folder / records[2].path),
                                               "--json", *common])
    assert status == 0, err
    assert json.loads(out)["results"][0]["track_id"] == "t2" and "torch" in modules


def test_cli_text_search_still_refuses_another_models_collection(cli_index):
    env, common = cli_index
    other = [*common[:2], *common[4:]]          # the shipped model instead of the tiny one
    status, out, err, modules = _run_cli(env, ["search", "happy piano", *other])
    assert status == 2 and "the index was built with model" in err
    assert len(err.strip().splitlines()) == 2   # the one-line error, then the module list
    assert "torch" not in modules


def test_cli_help_imports_nothing_heavy(cli_index):
    env, _ = cli_index
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ui.cli", "--help"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "search" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    # numpy (~0.1 s, through retrieval.routing's MODES for the --mode choices) is allowed
    assert not imported & {"torch", "gensim", "pandas", "qdrant_edge", "qdrant_client", "tqdm",
                           "gradio", "transformers", "sentence_transformers"}
