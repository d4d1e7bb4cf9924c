"""Qdrant cluster settings (shards, replicas, write consistency), API key and TLS.

No Qdrant server can run here (it is not on PyPI, and there is no internet), so the
server path is checked on the wire: qdrant-client's real REST stack talks to a local HTTP
listener that records each request and answers the few calls `create` makes. What a real
cluster does with the settings (placing shards and replicas) is not tested here.
"""
from __future__ import annotations

import json
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from index.schema import CollectionSchema, Distribution, SchemaError
from index.store import open_store
from ui.cli import main

REPLIES = {("GET", "/"): {"title": "qdrant - vector search engine", "version": "1.16.0"},
           ("GET", "/collections/music/exists"): {"result": {"exists": False}},
           ("PUT", "/collections/music"): {"result": True},
           ("PUT", "/collections/music/index"): {"result": {"operation_id": 0,
                                                            "status": "completed"}}}


@pytest.fixture()
def recorder():
    """(url, requests): an HTTP listener recording method, path, headers and JSON body."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            path = self.path.split("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append({"method": self.command, "path": path, "body": body,
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
            reply = REPLIES.get((self.command, path))
            payload = json.dumps({**(reply or {"status": {"error": "not here"}}),
                                  "status": "ok", "time": 0.0} if reply else reply).encode()
            self.send_response(200 if reply else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _created(seen: list[dict]) -> dict:
    (request,) = [r for r in seen if r["method"] == "PUT" and r["path"] == "/collections/music"]
    return request


def test_cluster_settings_and_api_key_go_into_the_create_request(recorder, monkeypatch):
    url, seen = recorder
    monkeypatch.setenv("QDRANT_API_KEY", "from-the-environment")
    spread = Distribution(shard_number=6, replication_factor=2, write_consistency_factor=1)
    schema = CollectionSchema(dim=16, distribution=spread)
    with warnings.catch_warnings():   # "api key over an insecure connection": a test server
        warnings.simplefilter("ignore")
        store = open_store(url, "music")
        store.create(16, "fp", schema=schema)
        store.close()
    request = _created(seen)
    body = request["body"]
    assert (body["shard_number"], body["replication_factor"],
            body["write_consistency_factor"]) == (6, 2, 1)
    # saved with the collection, so a later open knows how it was spread
    assert CollectionSchema.from_dict(body["metadata"]["schema"]).distribution == spread
    assert body["vectors"]["music"]["size"] == 16
    # every request carries the key: the create and each payload index
    assert {r["headers"].get("api-key") for r in seen if r["method"] == "PUT"} == \
        {"from-the-environment"}

    # the server's defaults: nothing sent, and a key given directly wins over the variable
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = open_store(url, "music", api_key="from-the-flag")
        store.create(16, "fp")
        store.close()
    request = _created(seen)
    assert not {"shard_number", "replication_factor", "write_consistency_factor"} & set(request["body"])
    assert request["headers"]["api-key"] == "from-the-flag"


def test_an_https_url_talks_tls_with_the_key():
    with warnings.catch_warnings():   # no server there: the version check fails
        warnings.simplefilter("ignore")
        store = open_store("https://127.0.0.1:9", "music", api_key="secret")
    remote = store.client._client           # qdrant-client's REST back end
    assert remote.rest_uri.startswith("https://127.0.0.1:9")
    assert remote._rest_headers["api-key"] == "secret"
    store.close()


def test_distribution_checks_and_round_trip():
    spread = Distribution(shard_number=4, replication_factor=3, write_consistency_factor=2)
    schema = CollectionSchema(dim=8, distribution=spread)
    assert CollectionSchema.from_dict(schema.to_dict()) == schema
    # a schema recorded before distribution existed reads as the server's defaults
    old = schema.to_dict()
    del old["distribution"]
    assert CollectionSchema.from_dict(old).distribution == Distribution()
    with pytest.raises(SchemaError, match="distribution.shard_number must be ≥ 1"):
        CollectionSchema(dim=8, distribution=Distribution(shard_number=0)).check()
    with pytest.raises(SchemaError, match="write_consistency_factor 3 exceeds the 2 replica"):
        CollectionSchema(dim=8, distribution=Distribution(replication_factor=2,
                                                          write_consistency_factor=3)).check()


def test_embedded_and_local_stores_record_one_shard(tiny_audio, tiny_bundle, tmp_path,
                                                    monkeypatch, capsys):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    folder, _ = tiny_audio
    location = str(tmp_path / "qdrant")
    assert main(["index", str(folder / "catalog.jsonl"), "--qdrant", location, "--model",
                 str(tiny_bundle), "--shards", "3", "--replicas", "2"]) == 0
    assert "this store is one shard on this machine and ignores them" in capsys.readouterr().err
    # a re-run with the same flags finds the collection as it was made, not "other settings"
    assert main(["index", str(folder / "catalog.jsonl"), "--qdrant", location, "--model",
                 str(tiny_bundle), "--shards", "3", "--replicas", "2"]) == 0
    with open_store(location, "music") as store:
        assert store.count() == len(folder.joinpath("catalog.jsonl").read_text().splitlines())
        assert store.schema().distribution == Distribution()
    with open_store(":memory:", "music") as store:   # qdrant-client's local mode
        store.create(8, "fp", schema=CollectionSchema(dim=8, distribution=Distribution(2)))
        assert store.schema().distribution == Distribution()
    # bad values: one line each, before the model loads
    with pytest.raises(SystemExit):
        main(["index", str(folder), "--qdrant", location, "--shards", "0"])
    assert capsys.readouterr().err.strip().endswith(
        "argument --shards: must be a whole number from 1 to 100000, got '0'")
    assert main(["index", str(folder), "--qdrant", location, "--model", "/nonexistent",
                 "--replicas", "2", "--write-consistency", "3"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "distribution.write_consistency_factor 3 exceeds the 2 replica(s) of each shard")
