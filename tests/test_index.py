"""Ingestion and the Qdrant stores: real engines (qdrant-edge, qdrant-client local mode),
real decoding of the tiny fixture audio, tiny random-weight model."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from qdrant_client import models

from index import IndexNotFound, IngestSummary, index_tracks, open_store, point_id
from index.edge_store import EdgeStore
from index.ingest import collect_tracks
from index.points import IndexPoint, payload_hash
from index.server_store import ClientStore
from index.store import MUSIC, StoreLocked
from retrieval.catalog import CatalogError, read_catalog, write_catalog
from retrieval.search import FingerprintMismatch, Searcher


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
        _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=3,
               upsert_batch=3)
    monkeypatch.setattr(store, "upsert", real_upsert)
    assert store.count() == 3
    resumed = _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=3)
    assert (resumed.indexed, resumed.skipped_existing) == (5, 3)
    assert store.count() == 8


def test_upserts_are_batched_and_an_error_keeps_what_was_encoded(
        tiny_model, tiny_audio, store, feature_cache, monkeypatch):
    folder, _ = tiny_audio
    real_upsert, calls = store.upsert, []

    def counting_upsert(points):
        calls.append(len(points))
        real_upsert(points)

    monkeypatch.setattr(store, "upsert", counting_upsert)
    _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=2,
           upsert_batch=5)
    assert calls == [6, 2] and store.count() == 8   # encoded 2 at a time, written ≥ 5 at once

    # A failure after encoding (here: the folder-scan step) still writes the encoded points.
    store.drop()
    calls.clear()
    import index.ingest as ingest
    monkeypatch.setattr(ingest, "plan_changes", _fail_after(ingest.plan_changes, store))
    with pytest.raises(RuntimeError, match="boom"):
        _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, batch_size=2,
               upsert_batch=100)
    assert store.count() == 4


def _fail_after(plan_changes, store):
    """plan_changes, but the plan's fifth track makes encoding raise (a bug, not bad input)."""
    def planned(*args, **kwargs):
        plan = plan_changes(*args, **kwargs)

        class Exploding(list):
            def __getitem__(self, item):
                got = list.__getitem__(self, item)
                if isinstance(item, slice) and item.start >= 4:
                    raise RuntimeError("boom")
                return got
        plan.encode = Exploding(plan.encode)
        return plan
    return planned


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
    a, b = (music / "a.wav").resolve().as_posix(), (music / "sub" / "b.FLAC").resolve().as_posix()
    assert set(payloads) == {a, b}  # track ids: resolved absolute POSIX paths
    assert payloads[b]["title"] == "b"
    assert payloads[b]["path"] == str(music.resolve() / "sub" / "b.FLAC")
    # Failed files are retried (they may have been fixed); good ones are not re-encoded.
    again = _index(tiny_model, music, store, feature_cache)
    assert (again.indexed, again.updated, again.skipped_existing, len(again.failed)) == \
        (0, 0, 2, 2)
    # The parent folder later, or a subfolder: the same tracks, not duplicates.
    parent = _index(tiny_model, tmp_path, store, feature_cache)
    assert (parent.indexed, parent.skipped_existing) == (0, 2) and store.count() == 2
    assert _index(tiny_model, music / "sub", store, feature_cache).skipped_existing == 1


def test_same_file_name_in_two_folders(tiny_model, tiny_audio, store, feature_cache, tmp_path):
    folder, _ = tiny_audio
    for name, clip in (("A", "clip0.wav"), ("B", "clip1.wav")):
        (tmp_path / name).mkdir()
        shutil.copy(folder / "audio" / clip, tmp_path / name / "x.wav")
    first = _index(tiny_model, tmp_path / "A", store, feature_cache)
    second = _index(tiny_model, tmp_path / "B", store, feature_cache)
    assert (first.indexed, second.indexed, second.skipped_existing) == (1, 1, 0)
    assert store.count() == 2
    assert {p["path"] for p in store.iter_payloads()} == \
        {str((tmp_path / n / "x.wav").resolve()) for n in "AB"}


def test_single_audio_file_and_non_catalog_file(tiny_model, tiny_audio, store, feature_cache,
                                                tmp_path):
    folder, _ = tiny_audio
    song = tmp_path / "song.wav"
    shutil.copy(folder / "audio" / "clip2.wav", song)
    [record] = collect_tracks(song).records
    assert record.track_id == song.resolve().as_posix() and record.title == "song"
    summary = _index(tiny_model, song, store, feature_cache)
    assert (summary.indexed, summary.failed) == (1, [])
    assert store.existing_track_ids([song.resolve().as_posix()]) == {song.resolve().as_posix()}
    binary = tmp_path / "cover.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\xfe\xfa")
    with pytest.raises(CatalogError) as caught:
        collect_tracks(binary)
    assert "\n" not in str(caught.value) and str(binary) in str(caught.value)
    with pytest.raises(CatalogError):
        collect_tracks(tmp_path, catalog=binary)


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_catalog_edit_updates_the_payload(tiny_model, tiny_audio, feature_cache, tmp_path, kind):
    folder, _ = tiny_audio
    records = read_catalog(folder / "catalog.jsonl")  # absolute paths
    catalog = tmp_path / "catalog.jsonl"
    write_catalog(records, catalog)
    store = (open_store(str(tmp_path / "qdrant"), "music") if kind == "edge"
             else ClientStore(":memory:", "music"))
    try:
        first = _index(tiny_model, catalog, store, feature_cache, chunks=True)
        assert (first.indexed, first.updated, first.skipped_existing) == (8, 0, 0)
        stored = {p["track_id"]: p for p in store.iter_payloads()}
        assert stored["t1"]["payload_hash"] == payload_hash(stored["t1"])
        before = store.get_vector("t1")

        records[1].tags = ["edited", "tags"]
        write_catalog(records, catalog)
        edited = _index(tiny_model, catalog, store, feature_cache)
        assert (edited.indexed, edited.updated, edited.skipped_existing) == (0, 1, 7)
        assert edited.to_dict()["updated"] == 1
        stored = {p["track_id"]: p for p in store.iter_payloads()}
        assert stored["t1"]["tags"] == ["edited", "tags"] and stored["t1"]["title"] == "Clip 1"
        assert stored["t1"]["model_fingerprint"] == tiny_model.fingerprint
        assert stored["t1"]["payload_hash"] == payload_hash(stored["t1"])
        np.testing.assert_array_equal(store.get_vector("t1"), before)  # vectors untouched
        assert store.get_vector("t1", using="chunks") is not None
        assert store.count() == 8
        assert _index(tiny_model, catalog, store, feature_cache).skipped_existing == 8

        # Same track id, another audio file: re-encoded, still counted as an update.
        records[1].path = records[2].path
        write_catalog(records, catalog)
        moved = _index(tiny_model, catalog, store, feature_cache)
        assert (moved.indexed, moved.updated, moved.skipped_existing) == (0, 1, 7)
        np.testing.assert_allclose(store.get_vector("t1"), store.get_vector("t2"), atol=1e-6)
    finally:
        store.close()


def test_folder_plus_catalog(tiny_model, tiny_audio, store, feature_cache):
    folder, records = tiny_audio
    tracks = collect_tracks(folder / "audio", folder / "catalog.jsonl")
    assert [r.track_id for r in tracks.records] == [r.track_id for r in records]
    summary = _index(tiny_model, folder / "audio", store, feature_cache,
                     catalog=folder / "catalog.jsonl")
    assert summary.indexed == 8 and store.existing_track_ids(["t3"]) == {"t3"}


def test_search_with_stored_vector_and_brute_force(tiny_model, tiny_audio, store, feature_cache):
    folder, records = tiny_audio
    _index(tiny_model, folder / "catalog.jsonl", store, feature_cache, chunks=True)
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
        assert store.collections() == []
    finally:
        store.close()
    assert not (tmp_path / "nothing").exists()  # opening and reading create nothing


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_collections_lists_what_is_there(tmp_path, kind):
    """What `search` offers when the named collection is missing."""
    stores = [open_store(str(tmp_path), name) if kind == "edge" else ClientStore(":memory:", name)
              for name in ("songs", "demo")]
    try:
        stores[0].create(4, "fp", chunks=False)
        if kind == "edge":
            stores[1].create(4, "fp", chunks=False)
            assert stores[0].collections() == stores[1].collections() == ["demo", "songs"]
        else:   # separate in-memory clients: each sees its own
            assert stores[0].collections() == ["songs"] and stores[1].collections() == []
    finally:
        for store in stores:
            store.close()


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


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_drop(tmp_path, kind):
    store = (EdgeStore(tmp_path, "music") if kind == "edge" else ClientStore(":memory:", "music"))
    try:
        store.drop()  # missing: nothing to do
        store.create(24, "fp")
        store.upsert(_random_points(5, 24, seed=4))
        assert store.count() == 5 and store.model_fingerprint() == "fp"
        store.drop()
        assert not store.exists() and store.count() == 0 and store.model_fingerprint() is None
        if kind == "edge":
            assert not store.shard_dir.exists() and not store.metadata_path.exists()
        store.drop()
        store.create(24, "fp2")  # usable again: the demo rebuilds its collection this way
        assert store.count() == 0 and store.model_fingerprint() == "fp2"
    finally:
        store.close()
    if kind == "edge":
        reopened = EdgeStore(tmp_path, "music")
        assert reopened.model_fingerprint() == "fp2"
        reopened.close()


def test_drop_refuses_a_shard_in_use(tmp_path):
    first = EdgeStore(tmp_path, "music")
    first.create(4, "fp")
    second = EdgeStore(tmp_path, "music")
    try:
        with pytest.raises(StoreLocked):
            second.drop()
        assert first.count() == 0 and first.shard_dir.is_dir()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_fingerprint_fallback_without_the_key_is_none(tmp_path, kind):
    point = IndexPoint("a", np.ones(4, dtype=np.float32) / 2, None, {"track_id": "a"})
    if kind == "edge":
        store = EdgeStore(tmp_path, "music")
        store.create(4, "fp", chunks=False)
        store.metadata_path.unlink()  # metadata lost: the payload fallback is used
    else:
        store = ClientStore(":memory:", "music")  # a collection made without metadata
        store.client.create_collection("music", vectors_config={MUSIC: models.VectorParams(
            size=4, distance=models.Distance.COSINE)})
    try:
        assert store.model_fingerprint() is None  # empty collection
        store.upsert([point])
        assert store.model_fingerprint() is None  # not the string "None"
        store.upsert([IndexPoint("a", point.music, None, {"track_id": "a",
                                                            "model_fingerprint": "fp"})])
        assert store.model_fingerprint() == "fp"
    finally:
        store.close()


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
            store.create(dim, "fp", chunks=True)
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
