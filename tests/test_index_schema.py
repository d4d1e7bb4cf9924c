"""The collection schema: its checks, its translation by both back ends (qdrant-edge and
qdrant-client local mode as the server stand-in), collections made before it, and the
index build at the end of ingest."""
from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from qdrant_client import models
from qdrant_edge import (Distance, EdgeConfig, EdgeShard, EdgeVectorParams, HnswIndexConfig,
                         Memory, MultiVectorComparator, MultiVectorConfig)

import index.edge_store as edge_store
import index.ingest as ingest
from index import index_tracks
from index.edge_store import EdgeStore
from index.points import IndexPoint
from index.schema import (CollectionSchema, HnswSettings, Quantization, SchemaError,
                          DEFAULT_PAYLOAD_INDEXES)
from index.server_store import ClientStore, client_vectors
from index.store import StoreError

TUNED = CollectionSchema(dim=16, chunks=True, hnsw=HnswSettings(m=8, ef_construct=64, ef=40),
                         quantization=Quantization(quantile=0.98, oversampling=3.0),
                         on_disk=True)


def _points(n: int, dim: int, seed: int = 0, chunks: bool = True) -> list[IndexPoint]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, dim))
    out = []
    for i in range(n):
        music = centres[i % 8] + 0.3 * rng.standard_normal(dim)
        music /= np.linalg.norm(music)
        parts = (music + 0.2 * rng.standard_normal((3, dim))).astype(np.float32) if chunks else None
        out.append(IndexPoint(f"s{i}", music.astype(np.float32), parts, {
            "track_id": f"s{i}", "artist": f"a{i % 5}", "tags": ["x", f"t{i % 3}"],
            "duration": float(60 + i), "meta": {"collection": "c1" if i % 2 else "c2"}}))
    return out


def test_schema_round_trip_and_one_line_errors():
    assert CollectionSchema.from_dict(TUNED.to_dict()) == TUNED
    assert CollectionSchema.from_dict(json.loads(json.dumps(TUNED.to_dict()))) == TUNED
    assert CollectionSchema(dim=8).vectors() == {"music": 8}
    assert CollectionSchema(dim=8, chunks=True, cultural_dim=8, backbone_dim=32).vectors() == \
        {"music": 8, "chunks": 8, "cultural": 8, "backbone": 32}
    with pytest.raises(SchemaError, match="hnsw.m must be") as error:
        CollectionSchema(dim=8, hnsw=HnswSettings(m=1)).check()
    assert "\n" not in str(error.value)
    with pytest.raises(SchemaError, match="unknown collection schema keys: colour"):
        CollectionSchema.from_dict({"dim": 8, "colour": "red"})
    with pytest.raises(SchemaError, match="unknown type 'text'"):
        CollectionSchema.from_dict({"dim": 8, "payload_indexes": {"title": "text"}})
    with pytest.raises(SchemaError, match="oversampling"):
        CollectionSchema.from_dict({"dim": 8, "quantization": {"oversampling": 0.1}})
    # recorded before `payload_links` existed: those indexes were built with the links
    recorded = {key: value for key, value in CollectionSchema(dim=8).to_dict().items()
                if key != "payload_links"}
    assert CollectionSchema.from_dict(recorded).payload_links is True
    assert CollectionSchema(dim=8).payload_links is False
    # recorded before `payload_indexes_on_disk`: the indexes were on disk with the vectors
    for on_disk in (False, True):
        recorded = {key: value for key, value in
                    CollectionSchema(dim=8, on_disk=on_disk).to_dict().items()
                    if key != "payload_indexes_on_disk"}
        assert CollectionSchema.from_dict(recorded).payload_indexes_on_disk is on_disk
    assert CollectionSchema(dim=8).payload_indexes_on_disk is True


@pytest.mark.parametrize("on_disk,links", [(True, False), (False, True)])
def test_payload_indexes_follow_the_schema(tmp_path, monkeypatch, on_disk, links):
    # on disk: indexes memory-mapped (Cold), not loaded; links: per-value graph links, off
    # by default (benchmarks/scale_levers.py: 0.33× the build's CPU time)
    schema = CollectionSchema(dim=16, payload_indexes_on_disk=on_disk, payload_links=links)
    store = EdgeStore(tmp_path, "songs")
    store.create(16, "fp", schema=schema)
    try:
        indexes = store._open().info().payload_schema
        assert set(indexes) == set(DEFAULT_PAYLOAD_INDEXES)
        for index in indexes.values():
            assert index.params.enable_hnsw is links
            assert (index.params.memory == Memory.Cold) is on_disk
    finally:
        store.close()
    client = ClientStore(":memory:", "songs")
    made = {}
    monkeypatch.setattr(client.client, "create_payload_index",
                        lambda collection, key, index, wait: made.__setitem__(key, index))
    try:
        client.create(16, "fp", schema=schema)
        assert set(made) == set(DEFAULT_PAYLOAD_INDEXES)
        assert made["tags"].type == "keyword" and made["duration"].type == "float"
        assert all(index.enable_hnsw is links and bool(index.on_disk) is on_disk
                   for index in made.values())
    finally:
        client.close()


def test_both_back_ends_translate_the_same_schema(tmp_path):
    vectors = client_vectors(TUNED)
    music, chunks = vectors["music"], vectors["chunks"]
    assert (music.hnsw_config.m, music.hnsw_config.ef_construct, music.on_disk) == (8, 64, True)
    assert music.quantization_config.scalar.type == models.ScalarType.INT8
    assert music.quantization_config.scalar.quantile == 0.98
    assert chunks.hnsw_config.m == 0 and chunks.multivector_config is not None

    store = EdgeStore(tmp_path, "songs")
    store.create(16, "fp", schema=TUNED)
    store.close()
    engine = json.loads((tmp_path / "songs" / "edge_config.json").read_text())["vectors"]
    assert engine["music"]["hnsw_config"]["m"] == 8
    assert engine["music"]["hnsw_config"]["ef_construct"] == 64
    assert engine["music"]["quantization_config"]["scalar"]["type"] == "int8"
    # on disk: the int8 codes are memory-mapped too (a fast open); otherwise pinned in RAM
    assert engine["music"]["quantization_config"]["scalar"]["memory"] == "cold"
    assert edge_store.edge_config(CollectionSchema(dim=16, quantization=Quantization())) \
        .vectors["music"].quantization_config.memory == Memory.Pinned
    assert engine["music"]["memory"] == "cold" and engine["chunks"]["hnsw_config"]["m"] == 0
    reopened = EdgeStore(tmp_path, "songs")
    try:
        assert reopened.schema() == TUNED
        assert set(reopened._open().info().payload_schema) == set(DEFAULT_PAYLOAD_INDEXES)
        params = reopened._search_params("music")
        assert params.hnsw_ef == 40 and params.quantization.rescore
        assert params.quantization.oversampling == 3.0
        # filtered graph walks use ACORN at any selectivity unless the schema turns it off
        assert params.acorn.enable and params.acorn.max_selectivity == 1.0
        reopened._schema = CollectionSchema(dim=16, hnsw=HnswSettings(acorn=False))
        assert reopened._search_params("music").acorn is None
    finally:
        reopened.close()


def test_client_local_mode_records_the_schema_and_uploads_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr("index.server_store.UPLOAD_BATCH", 64)
    store = ClientStore(str(tmp_path / "local"), "songs")
    calls = []
    real_upload = store.client.upload_points

    def spy(*args, **kwargs):
        calls.append(kwargs.get("batch_size"))
        return real_upload(*args, **kwargs)

    monkeypatch.setattr(store.client, "upload_points", spy)
    points = _points(300, 16)
    try:
        store.create(16, "fp", schema=TUNED)
        store.upsert(points)
        assert calls == [64] and store.count() == 300
        config = store.client.get_collection("songs").config
        assert config.params.vectors["music"].hnsw_config.m == 8
        assert config.params.vectors["music"].quantization_config.scalar.type == \
            models.ScalarType.INT8
        matrix = np.stack([p.music for p in points])
        for query in matrix[:20]:
            expected = [f"s{i}" for i in np.argsort(-(matrix @ query))[:10]]
            assert [h.track_id for h in store.search(query, 10)] == expected
        assert store.get_vector("s3", using="chunks").shape == (3, 16)
        hits = store.search(matrix[3], 10, exclude_track_ids=["s3"])
        assert "s3" not in {h.track_id for h in hits} and len(hits) == 10
    finally:
        store.close()
    again = ClientStore(str(tmp_path / "local"), "songs")
    try:
        assert again.schema() == TUNED and again.model_fingerprint() == "fp"
    finally:
        again.close()


def test_server_search_params_come_from_the_schema():
    store = ClientStore(":memory:", "songs")
    assert store._search_params("music") is None      # local mode searches exactly
    store._server, store._schema = True, TUNED          # what a server store sends
    params = store._search_params("music")
    assert params.hnsw_ef == 40
    assert params.quantization.rescore and params.quantization.oversampling == 3.0
    assert params.acorn.enable and params.acorn.max_selectivity == 1.0
    assert store._search_params("chunks") is None
    store.close()


def test_search_ef_follows_the_collection_size_unless_the_schema_fixes_it(tmp_path, monkeypatch):
    import index.schema as schema_module
    assert [schema_module.auto_search_ef(n) for n in (0, 10_000, 300_000, 1_000_000)] == \
        [256, 256, 512, 1024]
    monkeypatch.setattr(schema_module, "AUTO_EF_STEPS", ((5, 16), (10, 32)))
    monkeypatch.setattr(schema_module, "AUTO_EF_LARGEST", 64)
    store = EdgeStore(tmp_path, "songs")
    counts = []
    real_count = store.size_estimate
    monkeypatch.setattr(store, "size_estimate", lambda: counts.append(1) or real_count())
    try:
        store.create(16, "fp", schema=CollectionSchema(dim=16))
        assert store.schema().hnsw.ef is None
        assert store._search_params("music").hnsw_ef == 16          # empty
        points = _points(12, 16, chunks=False)
        store.upsert(points[:6])
        assert store._search_params("music").hnsw_ef == 32
        assert store._search_params("music").hnsw_ef == 32
        assert len(counts) == 2                    # counted once per write, not per search
        store.upsert(points[6:])
        assert store._search_params("music").hnsw_ef == 64
        store.delete([p.track_id for p in points[3:]])
        assert store._search_params("music").hnsw_ef == 16
        hits = store.search(points[0].music, 3)    # the engine takes the chosen beam
        assert hits[0].track_id == "s0"
    finally:
        store.close()
    reopened = EdgeStore(tmp_path, "songs")        # recorded as "by size", not as a number
    try:
        assert reopened.schema().hnsw.ef is None
        assert reopened._search_params("music").hnsw_ef == 16
    finally:
        reopened.close()
    fixed = EdgeStore(tmp_path, "fixed")
    try:
        fixed.create(16, "fp", schema=CollectionSchema(dim=16, hnsw=HnswSettings(ef=300)))
        fixed.upsert(_points(12, 16, chunks=False))
        assert fixed._search_params("music").hnsw_ef == 300
    finally:
        fixed.close()


@pytest.mark.parametrize("kind", ["edge", "client"])
def test_chunks_are_opt_in(tmp_path, kind):
    store = EdgeStore(tmp_path, "m") if kind == "edge" else ClientStore(":memory:", "m")
    try:
        store.create(16, "fp")
        store.upsert(_points(10, 16))     # chunk vectors given, but the collection has none
        assert store.schema().chunks is False and store.count() == 10
        assert store.get_vector("s1") is not None
        assert store.get_vector("s1", using="chunks") is None
    finally:
        store.close()


def test_a_collection_made_before_the_schema_keeps_working(tmp_path):
    # What the code made before schemas: m=16, ef_construct=256, chunks, metadata format 1.
    hnsw = HnswIndexConfig(m=16, ef_construct=256, full_scan_threshold=10_000)
    shard = EdgeShard.create(str(tmp_path / "music"), EdgeConfig(vectors={
        "music": EdgeVectorParams(size=16, distance=Distance.Cosine, hnsw_config=hnsw),
        "chunks": EdgeVectorParams(size=16, distance=Distance.Cosine, multivector_config=(
            MultiVectorConfig(MultiVectorComparator.MaxSim)))}))
    shard.close()
    (tmp_path / "music.musicsearch.json").write_text(json.dumps({
        "format": 1, "collection": "music", "model_fingerprint": "fp", "dim": 16,
        "vectors": ["chunks", "music"]}))
    store = EdgeStore(tmp_path, "music")
    try:
        schema = store.schema()
        assert schema.chunks and schema.hnsw.ef == 256 and schema.payload_indexes == {}
        points = _points(50, 16)
        store.upsert(points)
        assert store.search(points[7].music, 1)[0].track_id == "s7"
        assert store.get_vector("s7", using="chunks").shape == (3, 16)
    finally:
        store.close()


def test_a_server_collection_made_before_the_schema_keeps_working():
    store = ClientStore(":memory:", "old")
    try:   # what the code made before schemas: no "schema" in the collection metadata
        store.client.create_collection("old", vectors_config={
            "music": models.VectorParams(size=16, distance=models.Distance.COSINE)},
            metadata={"model_fingerprint": "fp", "dim": 16})
        schema = store.schema()
        assert schema.dim == 16 and not schema.chunks and schema.hnsw.ef == 256
        points = _points(20, 16)
        store.upsert(points)
        assert store.search(points[4].music, 1)[0].track_id == "s4"
        assert store.model_fingerprint() == "fp"
        store.client.create_collection("alien", vectors_config=models.VectorParams(
            size=16, distance=models.Distance.COSINE))
        store.collection, store._schema = "alien", None   # the same server, another collection
        with pytest.raises(StoreError, match="not made by musicsearch"):
            store.schema()
    finally:
        store.close()


@pytest.mark.parametrize("progress", [False, True])
def test_optimize_builds_the_graph_and_search_stays_exact_enough(tmp_path, monkeypatch, progress):
    monkeypatch.setattr(edge_store, "OPTIMIZE_MIN_POINTS", 100)   # a graph for a small test
    schema = CollectionSchema(dim=16, hnsw=HnswSettings(full_scan_threshold_kb=1),
                              quantization=Quantization())
    store = EdgeStore(tmp_path, "m")
    points = _points(600, 16, chunks=False)
    try:
        store.create(16, "fp", schema=schema)
        store.upsert(points)
        assert store._open().info().indexed_vectors_count == 0
        assert store.optimize(progress=progress) is True
        assert store._open().info().indexed_vectors_count == 600
        matrix = np.stack([p.music for p in points])
        rng = np.random.default_rng(4)
        recalls = []
        for query in rng.standard_normal((30, 16)).astype(np.float32):
            expected = {f"s{i}" for i in np.argsort(-(matrix @ query))[:10]}
            recalls.append(len(expected & {h.track_id for h in store.search(query, 10)}) / 10)
        assert np.mean(recalls) >= 0.95
        assert store.optimize() is False            # nothing left to build
    finally:
        store.close()


def test_ingest_builds_the_index_once_the_collection_is_large(
        tiny_model, tiny_audio, feature_cache, tmp_path, monkeypatch):
    folder, _ = tiny_audio
    store = EdgeStore(tmp_path / "q", "music")
    try:
        small = index_tracks(tiny_model, folder / "catalog.jsonl", store,
                             cache_dir=feature_cache, progress=False)
        assert small.index_build_s is None          # 8 songs: an exact scan is enough
        store.drop()
        monkeypatch.setattr(ingest, "OPTIMIZE_MIN_POINTS", 4)
        monkeypatch.setattr(edge_store, "OPTIMIZE_MIN_POINTS", 4)
        big = index_tracks(tiny_model, folder / "catalog.jsonl", store,
                           cache_dir=feature_cache, progress=False)
        assert big.index_build_s is not None and "search index built" in big.describe()
        assert store._open().info().indexed_vectors_count == 8
    finally:
        store.close()
