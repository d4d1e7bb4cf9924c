"""One-time conversion of the `musicnn` 0.1.0 TensorFlow checkpoints to safetensors for
retrieval/towers/musicnn.py. Runs in a throwaway TensorFlow environment, never in the
project's (TensorFlow is only needed to read the checkpoint format):

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 numpy==1.26.4 safetensors==0.8.0
    pip download musicnn==0.1.0 --no-deps -d /tmp/mwheel
    unzip -q /tmp/mwheel/musicnn-0.1.0-py3-none-any.whl -d /tmp/mwheel/unpacked
    /tmp/tfenv/bin/python training/backbones/convert_musicnn.py /tmp/mwheel/unpacked/musicnn \
        retrieval/backbone_weights/musicnn --wheel /tmp/mwheel/musicnn-0.1.0-py3-none-any.whl

Writes <out>/<msd|mtt|msd_vgg|mtt_vgg>.safetensors, <out>/tags.json (the 50 tag names of each, in output order,
from the wheel's configuration.py) and <out>/PROVENANCE.json (wheel sha256, per-file sha256,
the checkpoint-to-torch name table). Only the trained variables are kept (no Adam slots).
Self-contained on purpose: it is run by path with numpy, safetensors and TensorFlow only.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

MODELS = {"msd": "MSD_musicnn", "mtt": "MTT_musicnn", "msd_vgg": "MSD_vgg", "mtt_vgg": "MTT_vgg"}

# TF layer names are numbered in creation order (models.py: input BN, timbral 38/67-band
# blocks, temporal 128/64/32-frame blocks, three mid-end convs, then the back end).
_CONVS = {
    "conv2d": "timbral.0.conv", "conv2d_1": "timbral.1.conv",
    "conv2d_2": "temporal.0.conv", "conv2d_3": "temporal.1.conv", "conv2d_4": "temporal.2.conv",
    "conv2d_5": "midend.0.conv", "conv2d_6": "midend.1.conv", "conv2d_7": "midend.2.conv",
}
_NORMS = {
    "batch_normalization": "input_bn",
    "batch_normalization_1": "timbral.0.bn", "batch_normalization_2": "timbral.1.bn",
    "batch_normalization_3": "temporal.0.bn", "batch_normalization_4": "temporal.1.bn",
    "batch_normalization_5": "temporal.2.bn",
    "batch_normalization_6": "midend.0.bn", "batch_normalization_7": "midend.1.bn",
    "batch_normalization_8": "midend.2.bn",
    "batch_normalization_9": "pool_bn", "batch_normalization_10": "dense_bn",
}
_DENSE = {"dense": "dense", "dense_1": "classifier"}
_VGG_CONVS = {f"{i + 1}CNN": f"convs.{i}" for i in range(5)}
_VGG_NORMS = {"batch_normalization": "input_bn",
              **{f"batch_normalization_{i + 1}": f"bns.{i}" for i in range(5)}}
_BN_PARTS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
             "moving_variance": "running_var"}


def _conv_weight(kernel: np.ndarray, torch_name: str) -> np.ndarray:
    """TF kernels are (kh, kw, in, out); torch wants (out, in, kh, kw), or (out, in, k) for the
    mid end, whose 'kw' spans all channels of a single-channel TF image."""
    if torch_name.startswith("midend"):
        return kernel[:, :, 0, :].transpose(2, 1, 0)
    return kernel.transpose(3, 2, 0, 1)


def name_table(vgg: bool = False) -> dict[str, str]:
    """TF variable name → torch state-dict key."""
    convs, norms, dense = ((_VGG_CONVS, _VGG_NORMS, {"dense": "classifier"}) if vgg
                           else (_CONVS, _NORMS, _DENSE))
    table = {}
    for tf_name, torch_name in convs.items():
        table[f"{tf_name}/kernel"] = f"{torch_name}.weight"
        table[f"{tf_name}/bias"] = f"{torch_name}.bias"
    for tf_name, torch_name in norms.items():
        for part, torch_part in _BN_PARTS.items():
            table[f"{tf_name}/{part}"] = f"{torch_name}.{torch_part}"
    for tf_name, torch_name in dense.items():
        table[f"{tf_name}/kernel"] = f"{torch_name}.weight"
        table[f"{tf_name}/bias"] = f"{torch_name}.bias"
    return table


def convert(read, vgg: bool = False) -> dict[str, np.ndarray]:
    """read(tf_name) → ndarray; returns the torch state dict as contiguous float32 arrays."""
    tensors = {}
    for tf_name, torch_name in name_table(vgg).items():
        value = np.asarray(read(tf_name), dtype=np.float32)
        if tf_name.endswith("/kernel"):
            value = value.T if tf_name.startswith("dense") else _conv_weight(value, torch_name)
        tensors[torch_name] = np.ascontiguousarray(value)
    return tensors


def _read_tags(configuration: Path) -> dict[str, list[str]]:
    namespace: dict = {}
    exec(configuration.read_text(), namespace)   # plain constants, no imports
    return {short: namespace[f"{short.upper()}_LABELS"] for short in ("msd", "mtt")}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="the unpacked wheel's musicnn/ folder")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--wheel", type=Path, required=True, help="the downloaded wheel file")
    args = parser.parse_args(argv)

    import tensorflow as tf
    from safetensors.numpy import save_file

    args.out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for short, folder in MODELS.items():
        reader = tf.compat.v1.train.NewCheckpointReader(str(args.package_dir / folder) + "/")
        stored = {name for name in reader.get_variable_to_shape_map()
                  if "Adam" not in name and not name.endswith("_power")}
        vgg = folder.endswith("_vgg")
        table = name_table(vgg)
        if stored != set(table):
            print(f"{folder}: checkpoint variables differ from the port: missing "
                  f"{sorted(set(table) - stored)}, unexpected {sorted(stored - set(table))}",
                  file=sys.stderr)
            return 1
        tensors = convert(reader.get_tensor, vgg)
        path = args.out_dir / f"{short}.safetensors"
        save_file(tensors, str(path), metadata={"source": f"musicnn==0.1.0 {folder}"})
        files[path.name] = {"checkpoint": folder, "sha256": _sha256(path),
                            "parameters": int(sum(v.size for v in tensors.values()))}
        print(f"{path}: {path.stat().st_size} bytes, {files[path.name]['parameters']} values")
    provenance = {
        "source": "PyPI musicnn==0.1.0 (pip download musicnn==0.1.0 --no-deps), ISC licence, "
                  "Pons & Serra, 'musicnn: pre-trained convolutional neural networks for "
                  "music audio tagging', ISMIR 2019 LBD",
        "wheel": args.wheel.name, "wheel_sha256": _sha256(args.wheel),
        "converted_with": f"tensorflow {tf.__version__}, numpy {np.__version__}, "
                          "training/backbones/convert_musicnn.py",
        "files": files,
        "tf_to_torch": {"musicnn": name_table(), "vgg": name_table(vgg=True)},
    }
    tags = _read_tags(args.package_dir / "configuration.py")
    (args.out_dir / "tags.json").write_text(json.dumps(tags, indent=1) + "\n")
    (args.out_dir / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
