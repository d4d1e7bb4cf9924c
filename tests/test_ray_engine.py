"""`index --engine ray` (index/ray_engine.py) on a local Ray instance (2 CPUs, 200 MB object
store) against the local engine: real decoding of generated audio with a corrupt file among
it, the tiny random-weight model, real embedded Qdrant collections."""
from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import index_tracks, open_store
from index.ingest import IndexFailure, StoredPoint, encode_batch
from index.points import IndexPoint
from index.ray_engine import (INSTALL_HINT, EngineError, RayEncoder, RayEngineConfig, _decode,
                              _Embedder, bundle_files)
from retrieval.catalog import TrackRecord, read_catalog, write_catalog
from retrieval.feature_cache import FeatureCache
from ui.cli import main

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason=f"ray is not installed ({INSTALL_HINT})")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module: starting one takes seconds."""
    import ray
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 << 20,
             logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture()
def library(tiny_audio, tmp_path):
    """Five of the tiny clips and their catalog, plus a corrupt file listed in it."""
    folder, records = tiny_audio
    library = tmp_path / "library"
    (library / "audio").mkdir(parents=True)
    for record in records[:5]:
        shutil.copy(folder / record.path, library / record.path)
    (library / "audio" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    corrupt = TrackRecord(track_id="corrupt", path="audio/corrupt.wav", title="Corrupt")
    write_catalog([*records[:5], corrupt], library / "catalog.jsonl")
    return library


def _points(store):
    payloads = {p["track_id"]: p for p in store.iter_payloads()}
    vectors = {t: (store.get_vector(t), store.get_vector(t, "chunks")) for t in payloads}
    return payloads, vectors


@needs_ray
def test_ray_engine_gives_the_local_engines_points_and_failures(ray_instance, library,
                                                                tiny_bundle, tiny_model,
                                                                tmp_path, capsys):
    with open_store(str(tmp_path / "local"), "music") as store:
        local = index_tracks(tiny_model, library / "catalog.jsonl", store, chunks=True,
                             cache_dir=tmp_path / "cache-local", progress=False)
        local_payloads, local_vectors = _points(store)
    assert local.indexed == 5 and [s.where for s in local.skipped] == [
        str(library / "audio" / "corrupt.wav")]

    code = main(["index", str(library / "catalog.jsonl"), "--engine", "ray", "--chunks",
                 "--qdrant", str(tmp_path / "ray"), "--model", str(tiny_bundle)])
    out, err = capsys.readouterr()
    assert code == 3, err            # finished, with the corrupt file listed
    assert "indexed 5 new track(s)" in out and "1 skipped (1 unreadable)" in out
    assert f"skipped {library / 'audio' / 'corrupt.wav'}: cannot decode corrupt.wav" in err
    with open_store(str(tmp_path / "ray"), "music") as store:
        ray_payloads, ray_vectors = _points(store)
    assert ray_payloads == local_payloads        # same ids, same payloads, field for field
    for track_id, (song, chunks) in local_vectors.items():
        assert chunks.shape[0] >= 1
        np.testing.assert_allclose(ray_vectors[track_id][0], song, atol=1e-5)
        np.testing.assert_allclose(ray_vectors[track_id][1], chunks, atol=1e-5)


@needs_ray
def test_ray_engine_keeps_an_interrupted_runs_work_and_resumes(ray_instance, library,
                                                               tiny_model, tmp_path):
    folder = library / "audio"     # a folder scan: track ids are the files' paths
    encoder = RayEncoder(RayEngineConfig(decode_batch=2, embed_batch=2, actors=1))

    def stop_after_first_batch(done, total):
        raise KeyboardInterrupt

    with open_store(str(tmp_path / "q"), "music") as store:
        with pytest.raises(KeyboardInterrupt):
            index_tracks(tiny_model, folder, store, cache_dir=tmp_path / "cache",
                         progress=False, encoder=encoder, on_progress=stop_after_first_batch)
        # the first batch (sorted: clip0, clip1) was encoded: written on the way out
        assert store.count() == 2
        assert encoder.last_stats == ""          # the run never finished
        resumed = index_tracks(tiny_model, folder, store, cache_dir=tmp_path / "cache",
                               progress=False, encoder=encoder)
        assert (resumed.indexed, resumed.skipped_existing) == (3, 2)
        assert [(s.kind, Path(s.where).name) for s in resumed.skipped] == [
            ("unreadable", "corrupt.wav")]
        # decoding ran in Ray tasks and the model in actors: two operators, not one fused
        assert "MapBatches(_decode)" in encoder.last_stats
        assert "MapBatches(_Embedder)" in encoder.last_stats
        assert "MapBatches(_decode)->" not in encoder.last_stats
        again = index_tracks(tiny_model, folder, store, cache_dir=tmp_path / "cache",
                             progress=False, encoder=encoder)
        assert (again.indexed, again.skipped_existing, len(again.skipped)) == (0, 5, 1)
        assert store.count() == 5


def test_workers_write_to_a_server_collection_and_send_back_only_ids(library, tiny_bundle,
                                                                     tiny_model, tmp_path):
    """The actor's server path, run in this process against a real store: it writes the
    points it encodes and returns their ids and the failures, no vectors."""
    records = read_catalog(library / "catalog.jsonl")[-3:]     # two clips and the corrupt file
    with open_store(str(tmp_path / "q"), "music") as store:
        store.create(tiny_model.config.joint_dim, tiny_model.fingerprint)
    cache = FeatureCache(tmp_path / "cache", tiny_model.config.frontend)
    decoded = _decode({"record": np.array(records, dtype=object)}, cache)
    embedder = _Embedder(bundle_files(tiny_bundle), tiny_model.fingerprint,
                         server=(str(tmp_path / "q"), "music", None), threads=None)
    results = list(embedder(decoded)["result"])
    embedder.store.close()
    assert [type(r) for r in results] == [StoredPoint, StoredPoint, IndexFailure]
    assert [r.track_id for r in results] == [r.track_id for r in records]
    with open_store(str(tmp_path / "q"), "music") as store:
        assert store.count() == 2
        local = {r.track_id: r for r in encode_batch(tiny_model, records[:2], cache)}
        for track_id, point in local.items():
            assert isinstance(point, IndexPoint)
            np.testing.assert_allclose(store.get_vector(track_id), point.music, atol=1e-6)


def test_a_model_from_another_bundle_is_refused_on_the_worker(tiny_bundle, tiny_model):
    with pytest.raises(Exception, match="fingerprint"):
        _Embedder(bundle_files(tiny_bundle), "0" * 16, server=None, threads=None)


def test_the_local_engine_never_imports_ray(library, tiny_bundle, tmp_path):
    script = ("import sys\nfrom ui.cli import main\n"
              f"code = main(['index', {str(library / 'audio' / 'clip0.wav')!r}, '--qdrant', "
              f"{str(tmp_path / 'q')!r}, '--model', {str(tiny_bundle)!r}])\n"
              "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] == "
              "'ray')]))\n")
    done = subprocess.run([sys.executable, "-c", "import json\n" + script], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    code, ray_modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert (code, ray_modules) == (0, [])


def test_engine_ray_without_ray_says_how_to_install_it(library, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)        # `import ray` fails as if absent
    code = main(["index", str(library / "audio"), "--engine", "ray",
                 "--qdrant", str(tmp_path / "q")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f'musicsearch index: error: --engine ray needs Ray: {INSTALL_HINT}']
    assert not (tmp_path / "q").exists()             # refused before any work


@pytest.mark.parametrize("argv, message", [
    (["--engine", "ray", "--address", "http://head:8265"], "give auto, ray://HOST:PORT or"),
    (["--address", "auto"], "--address and --actors are for --engine ray"),
])
def test_engine_arguments_are_checked_first(library, tmp_path, capsys, argv, message):
    code = main(["index", str(library / "audio"), "--qdrant", str(tmp_path / "q"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "q").exists()


def test_ray_engine_config_problems():
    assert RayEngineConfig(address="ray://head:10001").problems() == []
    assert RayEngineConfig(address="10.0.0.1:6379").problems() == []
    assert len(RayEngineConfig(actors=0, embed_batch=0).problems()) == 2
    with pytest.raises(EngineError, match="object_store_mb"):
        RayEngineConfig(object_store_mb=0).check()
