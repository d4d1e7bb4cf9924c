"""Ingestion and the Qdrant stores: real engines (qdrant-edge, qdrant-client local mode),
real decoding of the tiny fixture audio, tiny random-weight model."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from index import IndexNotFound, IngestSummary, index_tracks, open_store, point_id
from index.edge_store import EdgeStore
from index.ingest import collect_tracks
from index.points import IndexPoint
from index.server_store import ClientStore
from index.store import StoreLocked
from retrieval.search import FingerprintMismatch, Searcher


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    # Shared across tests: decoding is the slow part, and the cache is content-keyed.
    return tmp_path_factory.mktemp("features")


@pytest.fixture()
def store(tmp_path):
    opened = open_store(str(tmp_path / "qdrant"), "music")
    yield opened
    opened.close()


def _index(model, source, store, cache, **kwargs) -> IngestSummary:
    return index_tracks(model, source, store, cache_dir=cache, progress=False, **kwargs)


def _all_vectors(store, track_ids):
    return np.stack([store.get_vector(t) for t in track_ids])


def test_index_catalog_is_idempotent_and_persistent(tiny_model, tiny_audio, store, feature_cache,
                                                    tmp_path):
    folder, records = tiny_audio
    first = _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=3)
    assert (first.indexed, first.skipped_existing, first.failed) == (8, 0, [])
    assert store.count() == 8
    assert first.collection == "music" and first.location == str(tmp_path / "qdrant")
    assert store.model_fingerprint() == tiny_model.fingerprint

    again = _index(tiny_model, folder / "catalog.jsonl", store, feature_cache)
    assert (again.indexed, again.skipped_existing, again.failed) == (0, 8, [])
    assert store.count() == 8

    payloads = {p["track_id"]: p for p in store.iter_payloads(page_size=3)}
    assert set(payloads) == {r.track_id for r in records}
    t1 = payloads["t1"]
    assert t1["title"] == "Clip 1" and t1["tags"] == records[1].tags
    assert t1["path"] == str((folder / "audio" / "clip1.wav").resolve())
    assert t1["model_fingerprint"] == tiny_model.fingerprint

    store.close()  # reload from disk: same points, same fingerprint
    reopened = open_store(str(tmp_path / "qdrant"), "music")
    try:
        assert reopened.count() == 8
        assert reopened.model_fingerprint() == tiny_model.fingerprint
        assert reopened.existing_track_ids(["t0", "t7", "nope"]) == {"t0", "t7"}
    finally:
        reopened.close()


def test_interrupted_run_resumes(tiny_model, tiny_audio, store, feature_cache, monkeypatch):
    folder, _ = tiny_audio
    real_upsert, calls = store.upsert, []

    def failing_upsert(points):
        calls.append(len(points))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the second batch
        real_upsert(points)

    monkeypatch.setattr(store, "upsert", failing_upsert)
    with pytest.raises(KeyboardInterrupt):
        _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=3)
    monkeypatch.setattr(store, "upsert", real_upsert)
    assert store.count() == 3
    resumed = _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=3)
    assert (resumed.indexed, resumed.skipped_existing) == (5, 3)
    assert store.count() == 8


def test_folder_without_catalog_skips_bad_files(tiny_model, tiny_audio, store, feature_cache,
                                                tmp_path):
    folder, _ = tiny_audio
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    shutil.copy(folder / "audio" / "clip0.wav", music / "a.wav")
    shutil.copy(folder / "audio" / "clip3.flac", music / "sub" / "b.FLAC")
    (music / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    (music / "sub" / "empty.flac").write_bytes(b"")
    (music / "notes.txt").write_text("not audio")
    (music / ".hidden.wav").write_bytes(b"")

    summary = _index(tiny_model, music, store, feature_cache)
    assert summary.indexed == 2 and store.count() == 2
    failed = dict(summary.failed)
    assert set(failed) == {str(music / "corrupt.wav"), str(music / "sub" / "empty.flac")}
    assert all(reason and "\n" not in reason for reason in failed.values())
    payloads = {p["track_id"]: p for p in store.iter_payloads()}
    assert set(payloads) == {"a.wav", "sub/b.FLAC"}
    assert payloads["sub/b.FLAC"]["title"] == "b"
    # Failed files are retried (they may have been fixed); good ones are not re-encoded.
    again = _index(tiny_model, music, store, feature_cache)
    assert (again.indexed, again.skipped_existing, len(again.failed)) == (0, 2, 2)


def test_folder_plus_catalog(tiny_model, tiny_audio, store, feature_cache):
    folder, records = tiny_audio
    assert [r.track_id for r in collect_tracks(folder / "audio", folder / "catalog.jsonl")] == \
        [r.track_id for r in records]
    summary = _index(tiny_model, folder / "audio", store, feature_cache,
                     catalog=folder / "catalog.jsonl")
    assert summary.indexed == 8 and store.existing_track_ids(["t3"]) == {"t3"}


def test_search_with_stored_vector_and_brute_force(tiny_model, tiny_audio, store, feature_cache):
    folder, records = tiny_audio
    _index(tiny_model, folder / "catalog.jsonl", store, feature_cache)
    ids = [r.track_id for r in records]
    matrix = _all_vectors(store, ids)
    assert matrix.shape == (8, tiny_model.config.joint_dim)
    for track_id, vector in zip(ids, matrix):
        hits = store.search(vector, k=3)
        assert hits[0].track_id == track_id and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].payload["title"]
        excluded = store.search(vector, k=8, exclude_track_ids=[track_id])
        assert track_id not in {h.track_id for h in excluded} and len(excluded) == 7
        chunks = store.get_vector(track_id, using="chunks")
        assert chunks.ndim == 2 and chunks.shape[1] == matrix.shape[1]
        assert store.search(chunks, k=1, using="chunks")[0].track_id == track_id
    rng = np.random.default_rng(1)
    for query in rng.standard_normal((10, matrix.shape[1])).astype(np.float32):
        query /= np.linalg.norm(query)
        expected = [ids[i] for i in np.argsort(-(matrix @ query))[:5]]
        assert [h.track_id for h in store.search(query, k=5)] == expected
    assert store.get_vector("no-such-track") is None
    # The Searcher from retrieval works over this store (track-id query excludes itself).
    result = Searcher(tiny_model, store).search(track_id="t2", k=3)
    assert len(result.hits) == 3 and "t2" not in {h.track_id for h in result.hits}


def test_fingerprint_mismatch_is_refused(tiny_model, tiny_audio, store, feature_cache):
    folder, _ = tiny_audio
    store.create(tiny_model.config.joint_dim, "another-model")
    with pytest.raises(FingerprintMismatch, match="another-model"):
        _index(tiny_model, folder / "catalog.jsonl", store, feature_cache)
    assert store.count() == 0
    with pytest.raises(FingerprintMismatch):
        Searcher(tiny_model, store)


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_missing_collection(tmp_path, kind):
    store = (open_store(str(tmp_path / "nothing"), "songs") if kind == "edge"
             else ClientStore(":memory:", "songs"))
    try:
        assert not store.exists() and store.count() == 0 and store.model_fingerprint() is None
        assert list(store.iter_payloads()) == [] and store.existing_track_ids(["a"]) == set()
        with pytest.raises(IndexNotFound, match="musicsearch index") as caught:
            store.search(np.ones(4, dtype=np.float32), k=3)
        assert isinstance(caught.value, LookupError)
        with pytest.raises(IndexNotFound):
            store.get_vector("a")
    finally:
        store.close()
    assert not (tmp_path / "nothing").exists()  # opening and reading create nothing


def test_open_store_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    default = open_store(None)
    assert isinstance(default, EdgeStore) and default.location == str(tmp_path / "home" / "qdrant")
    seen = {}

    class FakeClient:  # no server here: check what a URL is routed to, and with which key
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def close(self):
            pass

    monkeypatch.setattr("index.server_store.QdrantClient", FakeClient)
    monkeypatch.setenv("QDRANT_API_KEY", "secret")
    remote = open_store("https://qdrant.example:6333", collection="c")
    assert isinstance(remote, ClientStore) and remote.location == "https://qdrant.example:6333"
    assert seen["url"] == "https://qdrant.example:6333" and seen["api_key"] == "secret"
    open_store("http://localhost:6333", api_key="explicit").close()
    assert seen["api_key"] == "explicit"
    monkeypatch.undo()
    assert isinstance(open_store(":memory:"), ClientStore)
    with pytest.raises(Exception, match="invalid collection name"):
        open_store(str(tmp_path), collection="../escape")


def test_second_open_of_a_shard_is_a_clear_error(tmp_path):
    first = EdgeStore(tmp_path, "music")
    first.create(4, "fp")
    second = EdgeStore(tmp_path, "music")
    with pytest.raises(StoreLocked, match="in use"):
        second.count()
    first.close()
    assert second.count() == 0  # free once the first store is closed
    second.close()


def _random_points(n: int, dim: int, seed: int) -> list[IndexPoint]:
    rng = np.random.default_rng(seed)
    points = []
    for i in range(n):
        chunks = rng.standard_normal((1 + i % 4, dim)).astype(np.float32)
        chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
        music = chunks.mean(axis=0)
        points.append(IndexPoint(f"r{i}", music / np.linalg.norm(music), chunks,
                                 {"track_id": f"r{i}", "model_fingerprint": "fp"}))
    return points


def test_edge_and_client_stores_agree_with_brute_force(tmp_path):
    dim, points = 24, _random_points(300, 24, seed=2)
    stores = [EdgeStore(tmp_path / "edge", "music"), ClientStore(str(tmp_path / "local"), "music")]
    matrix = np.stack([p.music for p in points])
    ids = [p.track_id for p in points]
    rng = np.random.default_rng(3)
    try:
        for store in stores:
            store.create(dim, "fp")
            for start in range(0, len(points), 64):
                store.upsert(points[start:start + 64])
            assert store.count() == 300 and store.model_fingerprint() == "fp"
            assert point_id("r5") in {point_id(p["track_id"]) for p in store.iter_payloads(50)}
        for query in rng.standard_normal((15, dim)).astype(np.float32):
            unit = query / np.linalg.norm(query)
            expected = [ids[i] for i in np.argsort(-(matrix @ unit))[:10]]
            for store in stores:
                hits = store.search(query, k=10)
                assert [h.track_id for h in hits] == expected
                assert [h.score for h in hits] == pytest.approx(np.sort(matrix @ unit)[::-1][:10],
                                                                abs=1e-4)
            # MaxSim over the chunk multivectors: Σ over query rows of the best chunk match.
            multi = rng.standard_normal((3, dim)).astype(np.float32)
            multi /= np.linalg.norm(multi, axis=1, keepdims=True)
            maxsim = np.array([(multi @ p.chunks.T).max(axis=1).sum() for p in points])
            expected_multi = [ids[i] for i in np.argsort(-maxsim)[:5]]
            for store in stores:
                assert [h.track_id for h in store.search(multi, 5, using="chunks")] == \
                    expected_multi
    finally:
        for store in stores:
            store.close()
