"""Makes reference.npz for tests/test_musicnn.py from the ORIGINAL musicnn 0.1.0 code, run once
in a throwaway TensorFlow environment (see training/backbones/convert_musicnn.py for setup):

    /tmp/tfenv/bin/pip install librosa==0.11.0
    /tmp/tfenv/bin/python tests/data/musicnn/make_reference.py /tmp/mwheel/unpacked

Stores: a generated 6 s test signal (int16, 16 kHz: tones, a chirp, noise, silence), its
log-mel as the original extractor computes it (librosa mel, float16, log10(1 + 10000·x)),
three 187-frame input patches (two from that log-mel, one seeded random) and, for the MSD and
MTT musicnn and VGG models, the TensorFlow model's tag probabilities and penultimate embedding
on them (musicnn: also the mean/max pools; VGG: pool3; the VGG 'embedding' is its flattened pool5).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SR, N_FRAMES = 16000, 187


def test_signal(seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(6 * SR) / SR
    tones = sum(0.3 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6))
    chirp = 0.2 * np.sin(2 * np.pi * (100 * t + 300 * t ** 2))
    noise = 0.1 * rng.standard_normal(t.size) * (t > 2.5)
    signal = np.where(t < 1.5, tones, chirp) + noise
    signal[t > 5.2] = 0.0                                   # exact silence at the end
    return np.round(np.clip(signal, -1, 1) * 32767).astype(np.int16)


def original_log_mel(audio: np.ndarray) -> np.ndarray:
    """extractor.batch_data's spectrogram, without its librosa.load (the signal is at 16 kHz)."""
    import librosa
    mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=256, n_fft=512, n_mels=96).T
    mel = mel.astype(np.float16)
    return np.log10(10000 * mel + 1)


def run_model(package_root: Path, name: str, patches: np.ndarray) -> dict[str, np.ndarray]:
    import tensorflow as tf
    sys.path.insert(0, str(package_root))
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, 96])
    is_training = tf.compat.v1.placeholder(tf.bool)
    outputs = models.define_model(x, is_training, name, 50)
    if name.endswith("_vgg"):        # logits, pool1..pool5; the 'embedding' is pool5 flattened
        keys = ["probabilities", "penultimate", "pool3"]
        fetch = [tf.nn.sigmoid(outputs[0]), tf.compat.v1.layers.flatten(outputs[5]), outputs[3]]
    else:                            # logits, timbral, temporal, cnn1..3, mean, max, penultimate
        keys = ["probabilities", "penultimate", "mean_pool", "max_pool"]
        fetch = [tf.nn.sigmoid(outputs[0]), outputs[8], outputs[6], outputs[7]]
    with tf.compat.v1.Session() as sess:
        # restore must succeed: the library itself carries on with random weights if it fails
        tf.compat.v1.train.Saver().restore(sess, str(package_root / "musicnn" / name) + "/")
        reader = tf.compat.v1.train.NewCheckpointReader(str(package_root / "musicnn" / name) + "/")
        for var in tf.compat.v1.global_variables():
            stored = reader.get_tensor(var.op.name)
            assert np.array_equal(sess.run(var), stored), f"{var.op.name} was not restored"
        out = sess.run(fetch, feed_dict={x: patches, is_training: False})
    return dict(zip(keys, out))


def main() -> int:
    package_root = Path(sys.argv[1])
    signal = test_signal()
    log_mel = original_log_mel(signal.astype(np.float32) / 32768)
    rng = np.random.default_rng(7)
    random_patch = (rng.gamma(2.0, 0.5, (N_FRAMES, 96))
                    * np.linspace(1.5, 0.5, 96)).astype(np.float32)
    patches = np.stack([log_mel[:N_FRAMES], log_mel[N_FRAMES:2 * N_FRAMES], random_patch])
    patches = patches.astype(np.float32)
    arrays = {"signal": signal, "log_mel": log_mel, "patches": patches}
    for short, name in (("msd", "MSD_musicnn"), ("mtt", "MTT_musicnn"),
                        ("msd_vgg", "MSD_vgg"), ("mtt_vgg", "MTT_vgg")):
        for key, value in run_model(package_root, name, patches).items():
            arrays[f"{short}_{key}"] = value.astype(np.float32)
    out = Path(__file__).with_name("reference.npz")
    np.savez_compressed(out, **arrays)
    print(f"{out}: {out.stat().st_size} bytes; " +
          ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
