"""Training under torchrun: two gloo processes against one process with the same global
batch (training.distributed), and resuming a two-process run from its checkpoint.

The processes are real: `musicsearch train --nproc 2` and `python -m torch.distributed.run`
start two trainers (one thread each) that join a gloo group on this machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

from training.config import ConfigError, load_train_config
from training.trainer import train

ROOT = Path(__file__).resolve().parents[1]
TOWERS = {"audio": {"type": "short_chunk_cnn", "channels": [4, 4, 8, 8, 8, 16, 16],
                    "backbone_dim": 16, "joint_dim": 16},
          "word": {"type": "word_mlp", "hidden_dim": 16, "joint_dim": 16}}
# Float summation order differs (one process sums two shards' gradients in autograd, two
# processes average them in gloo): the curves agree to ~1e-7; this leaves room for Adam
# to carry such differences over 6 steps.
TOLERANCE = 1e-5


def _config(tmp_path: Path, folder: Path, **optim) -> Path:
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"corpus": str(folder), "min_tag_tracks": 1, "cache_dir": str(tmp_path / "cache")},
        "model": {"towers": TOWERS, "max_chunks": 2},
        "objective": {"sampler": "random"},
        "optim": {"batch_size": 8, "steps_per_epoch": 3, "epochs": 2, "seed": 3, **optim}}))
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _curve(out: Path) -> tuple[list[float], list[float]]:
    history = json.loads((out / "checkpoint" / "state.json").read_text())["state"]["history"]
    return [h["loss"] for h in history], [h["valid_map"] for h in history]


def _weights(out: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in load_file(str(out / "checkpoint" / "model.safetensors")).items()}


def _assert_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=TOLERANCE, atol=TOLERANCE, err_msg=name)


def test_two_processes_train_like_one_with_the_same_global_batch_and_resume(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    # one process drawing both shards of each global batch, uninterrupted
    single = _config(tmp_path, folder, shards=2)
    train(load_train_config(single), tmp_path / "one", progress=False, log=lambda m: None)
    one_loss, one_map = _curve(tmp_path / "one")
    # the shards matter: an unsharded single process draws other batches
    plain = _config(tmp_path, folder)
    train(load_train_config(plain), tmp_path / "plain", progress=False, log=lambda m: None)
    assert not np.allclose(_curve(tmp_path / "plain")[0], one_loss, rtol=TOLERANCE)

    # two processes, one shard each (`--nproc 2`), stopped after epoch 1 by the time limit
    # (the lr schedule stays that of 2 epochs) ...
    limited = _config(tmp_path, folder, max_minutes=1e-6)
    done = _run(["-m", "ui.cli", "train", "--config", str(limited), "--out",
                 str(tmp_path / "two"), "--nproc", "2"])
    assert done.stdout.count("model saved to") == 1            # rank 0 reports, alone
    two_loss, two_map = _curve(tmp_path / "two")
    np.testing.assert_allclose(two_loss, one_loss[:1], rtol=TOLERANCE)
    # ... and resumed from rank 0's checkpoint under torchrun itself: the same curve and
    # the same weights as the uninterrupted single process
    done = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                 "-m", "ui.cli", "train", "--config", str(limited), "--out",
                 str(tmp_path / "two"), "--resume"])
    assert "resumed from epoch 1" in done.stdout + done.stderr
    two_loss, two_map = _curve(tmp_path / "two")
    np.testing.assert_allclose(two_loss, one_loss, rtol=TOLERANCE)
    np.testing.assert_allclose(two_map, one_map, rtol=TOLERANCE, atol=TOLERANCE)
    _assert_close(_weights(tmp_path / "two"), _weights(tmp_path / "one"))


def test_shards_must_split_the_batch_and_the_processes(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    with pytest.raises(ConfigError, match="must split into optim.shards 3"):
        load_train_config(_config(tmp_path, folder, shards=3))
    with pytest.raises(ConfigError, match="optim.shards must be ≥ 1"):
        load_train_config(_config(tmp_path, folder, shards=0))
    config = load_train_config(_config(tmp_path, folder, shards=2))
    os.environ.update(WORLD_SIZE="1")   # a world of one is no process group
    try:
        result = train(config, tmp_path / "run", progress=False, log=lambda m: None)
    finally:
        del os.environ["WORLD_SIZE"]
    assert result.fingerprint


def test_cli_refuses_a_bad_process_count_in_one_line(tiny_audio, tmp_path, capsys):
    from ui.cli import main
    folder, _ = tiny_audio
    with pytest.raises(SystemExit) as stop:
        main(["train", "--config", str(_config(tmp_path, folder)), "--nproc", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "argument --nproc: must be a whole number of processes (1-1024), got '0'")
