"""Training on several renderings of the same tracks, with augmentation; SoundFonts found by
name; FluidR3 (the unseen evaluation timbre) refused for training wherever it could enter."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from retrieval.bundle import load_bundle
from retrieval.catalog import read_catalog, write_catalog
from training.config import ConfigError, load_train_config
from training.corpus import soundfonts
from training.corpus.builder import default_soundfont
from training.crops import TrainingCrops
from training.trainer import train
from ui.cli import main

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TOWERS = {"audio": {"type": "short_chunk_cnn", "channels": [4, 4, 8, 8, 8, 16, 16],
                    "backbone_dim": 16, "joint_dim": 16},
          "word": {"type": "word_mlp", "hidden_dim": 16, "joint_dim": 16}}


def _square_rendering(tiny_audio, folder: Path) -> Path:
    """The fixture's tracks again with another 'timbre': each clip's sign (a square-ish
    wave of the same pitch and length), same ids, tags and splits."""
    source, records = tiny_audio
    (folder / "audio").mkdir(parents=True)
    rendered = []
    for record in records:
        audio, rate = soundfile.read(source / record.path)
        path = folder / "audio" / f"{record.track_id}.wav"
        soundfile.write(path, (0.2 * np.sign(audio)).astype(np.float32), rate)
        rendered.append(dataclasses.replace(record, path=f"audio/{record.track_id}.wav"))
    write_catalog(rendered, folder / "catalog.jsonl")
    return folder


def _config(tmp_path, corpus, **extra) -> Path:
    path = tmp_path / "timbre.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"corpus": str(corpus), "min_tag_tracks": 1,
                 "cache_dir": str(tmp_path / "cache"), **extra.pop("data", {})},
        "model": {"towers": TOWERS, "max_chunks": 2},
        "objective": {"sampler": "random"},
        "optim": {"batch_size": 4, "steps_per_epoch": 3, "epochs": 1}, **extra}))
    return path


def test_tiny_training_on_two_renderings_with_augmentation(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    square = _square_rendering(tiny_audio, tmp_path / "square")
    config = load_train_config(_config(tmp_path, folder, data={"renderings": [str(square)]},
                                       augment={"gain": {"p": 0.5}, "noise": {"p": 0.5},
                                                "eq": {"p": 0.5}, "pitch": {"p": 0.5}}))
    messages = []
    result = train(config, tmp_path / "run", command="test", progress=False,
                   log=messages.append)
    assert f"rendering {square}: 4 of 4 training tracks" in messages
    training = json.loads((result.bundle / "config.json").read_text())["training"]
    saved = training["config"]
    assert saved["data"]["renderings"] == [str(square)] and saved["augment"]["eq"]["p"] == 0.5
    assert training["renderings"] == [{"name": str(square), "catalog":
                                       str(square / "catalog.jsonl"), "soundfont": None}]
    assert load_bundle(result.bundle).fingerprint == result.fingerprint


def test_crops_come_from_every_rendering_and_are_augmented(tiny_audio):
    base = [np.full((8, 40), -20.0, np.float16), np.full((8, 40), -30.0, np.float16)]
    other = [np.full((8, 40), -60.0, np.float16)]
    crops = TrainingCrops([[base[0], other[0]], [base[1]]], frames=16)
    rng = np.random.default_rng(0)
    levels = np.concatenate([crops(np.array([0, 1]), rng)[:, :, 0].mean(1).numpy()
                             for _ in range(200)])
    first, second = levels[0::2], levels[1::2]
    assert set(np.unique(first)) == {-20.0, -60.0} and abs((first == -60).mean() - 0.5) < 0.1
    assert set(np.unique(second)) == {-30.0}       # a track with one rendering keeps it
    a = crops(np.array([0, 1, 0]), np.random.default_rng(5))
    assert np.array_equal(a, crops(np.array([0, 1, 0]), np.random.default_rng(5)))


def test_a_fluidr3_rendering_is_refused_before_any_features(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    square = _square_rendering(tiny_audio, tmp_path / "fluid")
    (square / "timbre.json").write_text(json.dumps({"stamp": {"soundfont": {
        "name": "FluidR3_GM.sf2", "sha256": next(iter(soundfonts.HELD_OUT))}}}))
    path = _config(tmp_path, folder, data={"renderings": [str(square)]})
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "cache").exists()       # refused before any feature was computed


def test_a_missing_or_unknown_rendering_is_one_line_naming_the_fix(tiny_audio, tmp_path, capsys):
    folder, records = tiny_audio
    other = tmp_path / "other"                      # a rendering of other tracks
    other.mkdir()
    write_catalog([dataclasses.replace(r, track_id=f"x{r.track_id}",
                                       path=str(folder / r.path)) for r in records],
                  other / "catalog.jsonl")
    path = _config(tmp_path, folder, data={"renderings": [str(other)]})
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "holds none of the training tracks" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="'csuond' is neither a SoundFont name"):
        load_train_config(_config(tmp_path, folder, data={"renderings": ["csuond"]}))
    # a built demo corpus without a rendering for this SoundFont: the command that makes it
    corpus = tmp_path / "corpus"
    shutil.copytree(folder, corpus)
    (corpus / "corpus.json").write_text(json.dumps({"soundfont": {"name": "TimGM6mb.sf2"}}))
    path = _config(tmp_path, corpus, data={"renderings": [str(default_soundfont())]})
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "musicsearch corpus render --soundfont" in err and len(err.strip().splitlines()) == 1


def test_soundfonts_by_name_and_held_out_by_content(tmp_path, monkeypatch):
    assert soundfonts.find_soundfont("timgm6mb") == default_soundfont()
    assert soundfonts.find_soundfont("TimGM6mb") == default_soundfont()
    with pytest.raises(ConfigError, match="neither a known name"):
        soundfonts.find_soundfont("merlni")
    # held out by content: a renamed copy of a held-out file is still refused
    copy = tmp_path / "innocent.sf2"
    shutil.copyfile(default_soundfont(), copy)
    sha = soundfonts.soundfont_sha256(copy)
    monkeypatch.setitem(soundfonts.HELD_OUT, sha, "the test's held-out timbre")
    with pytest.raises(ConfigError, match="refused for training: the test's held-out timbre"):
        soundfonts.training_soundfont(copy)
    assert soundfonts.find_soundfont(copy) == copy          # evaluation may still use it


@pytest.mark.skipif(not FLUID.is_file(), reason="fluid-soundfont-gm not installed")
def test_fluidr3_is_refused_for_training_renders_but_not_for_test(capsys):
    for path in (FLUID, FLUID.parent / "default-GM.sf2"):   # also through Debian's symlink
        assert main(["corpus", "render", "--soundfont", str(path), "--splits", "train",
                     "--corpus", "/nonexistent"]) == 2
        assert "refused for training: FluidR3_GM" in capsys.readouterr().err
    # the test split may be rendered with it: the next check is the (missing) corpus
    assert main(["corpus", "render", "--soundfont", str(FLUID), "--splits", "test",
                 "--corpus", "/nonexistent"]) == 2
    assert "not a built demo corpus" in capsys.readouterr().err


def test_corpus_render_cli_makes_a_rendering_training_finds_by_name(tmp_path, capsys):
    from training.corpus import build_corpus
    from training.corpus.renderings import rendering_catalog
    build_corpus(tmp_path / "corpus", n_tracks=3, seed=0, workers=1, progress=False)
    splits = sorted({r.split for r in read_catalog(tmp_path / "corpus" / "catalog.jsonl")})
    assert "train" in splits
    assert main(["corpus", "render", "--soundfont", "timgm6mb", "--splits", ",".join(splits),
                 "--corpus", str(tmp_path / "corpus"), "--workers", "1"]) == 0
    assert "rendering:" in capsys.readouterr().out
    rendered = next(tmp_path.glob("corpus-timbre-*"))
    assert rendering_catalog(tmp_path / "corpus" / "catalog.jsonl", "timgm6mb") == \
        rendered / "catalog.jsonl"


def test_a_rendering_soundfont_is_refused_as_an_unseen_timbre(tiny_bundle, tiny_audio, tmp_path,
                                                              capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["training"]["renderings"] = [{"name": "merlin", "soundfont": {
        "name": "x.sf2", "sha256": soundfonts.soundfont_sha256(default_soundfont())}}]
    (bundle / "config.json").write_text(json.dumps(config))
    folder, _ = tiny_audio
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({
        "models": [{"name": "m", "bundle": str(bundle)}], "timbres": [str(default_soundfont())],
        "datasets": [{"name": "d", "data": {"catalog": str(folder / "catalog.jsonl")}}]}))
    assert main(["evaluate", "--config", str(path)]) == 2
    assert "is the SoundFont model 'm' was trained on" in capsys.readouterr().err
