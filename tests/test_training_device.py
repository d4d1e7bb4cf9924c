"""`optim.device` (training.device): the device each process trains on, the process-group
backend for it, and the model placed there while batches are made on the CPU.

No GPU on the machine these were written on: the CUDA path itself (a training run on a
GPU, NCCL between processes) is untested; what runs here is the choice of device and its
errors, the backend string as torch parses it, and the placement on a non-CPU device
(PyTorch's `meta` device, which computes shapes only).
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from retrieval.model import MusicSearchModel
from tests.conftest import tiny_model_config
from tests.test_distributed_training import _config
from training.alignment import tag_pair
from training.config import ConfigError, load_train_config
from training.device import (DeviceUnavailable, place_model, process_group_backend,
                             resolve_device)
from training.objectives import ObjectiveTerm
from training.samplers import RandomSampler, TagTrackIndex


@pytest.mark.parametrize("name, available, rank, expected", [
    ("cpu", True, 0, "cpu"),        # asked for: the CPU even beside a GPU
    ("auto", False, 0, "cpu"),
    ("auto", True, 0, "cuda:0"),
    ("auto", True, 1, "cuda:1"),    # torchrun's second local process: the second GPU
    ("cuda", True, 1, "cuda:1"),
])
def test_device_follows_the_setting_the_machine_and_the_local_rank(name, available, rank,
                                                                   expected):
    device = resolve_device(name, cuda_available=available, gpu_count=2, local_rank=rank)
    assert device == torch.device(expected)


def test_local_rank_comes_from_torchrun(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cuda", cuda_available=True, gpu_count=2) == torch.device("cuda:1")


@pytest.mark.parametrize("kwargs, message", [
    ({"cuda_available": False}, "optim.device is cuda but this torch"),
    ({"cuda_available": True, "gpu_count": 1, "local_rank": 1},
     "process LOCAL_RANK 1 has no GPU of its own (1 visible); start at most 1 processes"),
    ({"cuda_available": True, "gpu_count": 1, "cuda_capable_model": False},
     "cannot train a fine-tuned sentence encoder yet"),
])
def test_cuda_that_cannot_be_had_is_one_line(kwargs, message):
    with pytest.raises(DeviceUnavailable, match=re.escape(message)) as caught:
        resolve_device("cuda", **kwargs)
    assert "\n" not in str(caught.value)


def test_auto_keeps_a_fine_tuned_sentence_encoder_on_the_cpu():
    device = resolve_device("auto", cuda_available=True, gpu_count=1, cuda_capable_model=False)
    assert device == torch.device("cpu")


def test_config_refuses_an_unknown_device(tiny_audio, tmp_path):
    folder, _ = tiny_audio
    with pytest.raises(ConfigError, match=re.escape("optim.device must be auto, cpu or cuda, "
                                                    "got 'tpu'")):
        load_train_config(_config(tmp_path, folder, device="tpu"))
    assert load_train_config(_config(tmp_path, folder)).optim.device == "auto"


def _world_of_one(backend: str) -> None:
    store = Path(tempfile.mkdtemp()) / "store"
    dist.init_process_group(backend, init_method=f"file://{store}", rank=0, world_size=1)


def test_backend_is_gloo_on_the_cpu_and_nccl_beside_gloo_with_cuda():
    assert process_group_backend(torch.device("cpu")) == "gloo"
    backend = process_group_backend(torch.device("cuda", 0))
    assert backend == "cpu:gloo,cuda:nccl"
    # the string as torch reads it: gloo for CPU tensors is built, then NCCL, which needs a GPU
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="ProcessGroupNCCL is only supported with GPUs"):
            _world_of_one(backend)
        if dist.is_initialized():
            dist.destroy_process_group()
        return
    _world_of_one(backend)   # with a GPU: both kinds of tensor are reduced
    try:
        for tensor in (torch.ones(2), torch.ones(2, device="cuda")):
            dist.all_reduce(tensor)
            assert tensor.tolist() == [1.0, 1.0]
    finally:
        dist.destroy_process_group()


def test_a_placed_model_trains_on_batches_made_on_the_cpu():
    """On a device other than the CPU ('meta': shapes only), the sampler, the crops and the
    tag inputs stay on the CPU and each tower takes its inputs to its own device."""
    model = MusicSearchModel(tiny_model_config())
    place_model(model, torch.device("meta"))
    assert {p.device.type for p in model.parameters()} == {"meta"}
    tags = model.config.tags
    index = TagTrackIndex.from_track_tags([[tags[i % 6], tags[(i + 1) % 6]] for i in range(8)],
                                          tags)
    tag_inputs = torch.from_numpy(np.stack([model.phrase_vector(t) for t in tags]))
    frames = model.config.frontend.chunk_frames
    made = []

    def crops(tracks, rng):
        made.append(torch.from_numpy(rng.standard_normal((len(tracks), 128, frames),
                                                         dtype=np.float32)))
        return made[-1]

    pair = tag_pair(model, RandomSampler(index), index, tag_inputs, crops, 4,
                    [ObjectiveTerm("triplet")])
    batch = pair.draw(np.random.default_rng(0))
    assert made[0].device.type == "cpu" and tag_inputs.device.type == "cpu"
    assert batch.text.device.type == batch.audio.device.type == "meta"
    assert batch.text.shape == (4, 32) and batch.audio.shape == (8, 32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_cuda_without_one_is_one_line_before_any_work(tiny_audio, tmp_path, capsys):
    from ui.cli import main
    folder, _ = tiny_audio
    config = _config(tmp_path, folder, device="cuda")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].endswith("optim.device is cuda but this torch "
                              f"{torch.__version__} sees no CUDA device; use optim.device: "
                              "cpu or auto")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
