"""A split of the demo corpus rendered again with another SoundFont: same tracks and tags,
other audio; refused for the SoundFont the model was trained on."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from retrieval.catalog import read_catalog
from training.corpus import build_corpus
from training.corpus.timbre import render_splits

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
pytestmark = pytest.mark.skipif(not FLUID.is_file(), reason="fluid-soundfont-gm not installed")


def test_split_rendered_with_another_soundfont(tmp_path):
    build_corpus(tmp_path / "corpus", n_tracks=4, seed=0, workers=1, progress=False)
    original = read_catalog(tmp_path / "corpus" / "catalog.jsonl")
    split = original[0].split
    catalog = render_splits(tmp_path / "corpus" / "catalog.jsonl", FLUID, (split,),
                            out_dir=tmp_path / "fluid", workers=1, progress=False)
    rendered = read_catalog(catalog)
    wanted = [r for r in original if r.split == split]
    assert [(r.track_id, r.tags, r.split) for r in rendered] == \
        [(r.track_id, r.tags, r.split) for r in wanted]
    assert sorted(p.name for p in (tmp_path / "fluid" / "audio").iterdir()) == \
        sorted(f"{r.track_id}.wav" for r in wanted)           # no other segment kept
    a, _ = soundfile.read(wanted[0].path)
    b, _ = soundfile.read(rendered[0].path)
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-3)   # same length, new timbre
    stamp = (tmp_path / "fluid" / "timbre.json").stat().st_mtime_ns
    assert render_splits(tmp_path / "corpus" / "catalog.jsonl", FLUID, (split,),
                         out_dir=tmp_path / "fluid", progress=False) == catalog
    assert (tmp_path / "fluid" / "timbre.json").stat().st_mtime_ns == stamp   # not redone


def test_the_training_soundfont_is_refused_as_a_timbre(tiny_bundle, tiny_audio, tmp_path, capsys):
    import json
    import shutil

    from training.corpus.builder import _sha256, default_soundfont
    from ui.cli import main
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["training"]["corpus"] = {"soundfont": {"sha256": _sha256(default_soundfont())}}
    (bundle / "config.json").write_text(json.dumps(config))
    folder, _ = tiny_audio
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({
        "models": [{"name": "m", "bundle": str(bundle)}], "timbres": [str(default_soundfont())],
        "datasets": [{"name": "d", "data": {"catalog": str(folder / "catalog.jsonl")}}]}))
    assert main(["evaluate", "--config", str(path)]) == 2
    assert "is the SoundFont model 'm' was trained on" in capsys.readouterr().err
