"""The `backbone` named vector (issue 11.5): `index --backbone` stores MusiCNN's song
embedding and tags, `search --vector backbone` / `--like` ranks by it, `--mode
backbone-tags` by the stored tag probabilities; one-line errors where a collection cannot
answer. Real MusiCNN weights, the real embedded store, the generated tiny audio."""
from __future__ import annotations

import asyncio
import json
import shutil

import numpy as np
import pytest

from index import open_store
from retrieval.backbone import backbone_tags, load_backbone
from retrieval.backbone_search import match_tags
from ui.cli import main


@pytest.fixture(scope="module")
def collection(tiny_audio, tiny_bundle, tmp_path_factory):
    """The tiny catalog indexed with the MSD backbone; returns the common CLI arguments."""
    folder, _ = tiny_audio
    where = tmp_path_factory.mktemp("backbone_index")
    common = ["--qdrant", str(where / "qdrant"), "--model", str(tiny_bundle),
              "--collection", "bb"]
    assert main(["index", str(folder / "catalog.jsonl"), "--backbone", "msd", *common]) == 0
    return common


def _stored(common) -> dict[str, tuple[dict, np.ndarray]]:
    store = open_store(common[1], common[5])
    try:
        return {p["track_id"]: (p, v) for p, v in store.iter_vectors("backbone")}
    finally:
        store.close()


def _search(capsys, argv) -> dict:
    capsys.readouterr()
    assert main(["search", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _one_line_error(capsys, argv, needle: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_index_fills_the_vector_and_payload(collection, tiny_audio):
    folder, records = tiny_audio
    stored = _stored(collection)
    assert sorted(stored) == sorted(r.track_id for r in records)
    payload, vector = stored["t3"]
    assert vector.shape == (200,) and abs(np.linalg.norm(vector) - 1) < 1e-4
    tags = backbone_tags("msd")
    assert payload["backbone"] == "msd" and len(payload["backbone_p"]) == len(tags) == 50
    top = payload["backbone_tags"]
    assert len(top) == 5 and [t["p"] for t in top] == sorted((t["p"] for t in top), reverse=True)
    # the stored values are the backbone's output for that file
    song = load_backbone("msd").encode_file(folder / records[3].path)
    assert float(song.vector @ vector) > 0.9999
    assert np.allclose(payload["backbone_p"], song.probabilities, atol=1e-4)
    assert top[0]["tag"] == tags[int(np.argmax(song.probabilities))]


def test_reindex_skips_and_catalog_edits_keep_the_backbone(collection, tiny_audio, tmp_path,
                                                           capsys):
    folder, _ = tiny_audio
    capsys.readouterr()
    assert main(["index", str(folder / "catalog.jsonl"), *collection]) == 0
    assert "0 new track(s), 0 updated, 8 already indexed" in capsys.readouterr().out
    # a new title, and paths in another folder (same audio): payloads are rewritten, the
    # vectors kept; the backbone fields must survive that
    lines = (folder / "catalog.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["title"] = "Renamed"
    edited = tmp_path / "catalog.jsonl"
    edited.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    shutil.copytree(folder / "audio", tmp_path / "audio")
    keys = ("backbone", "backbone_tags", "backbone_p")
    before = {t: {k: p[k] for k in keys} for t, (p, _) in _stored(collection).items()}
    assert main(["index", str(edited), *collection]) == 0
    assert "0 new track(s), 8 updated" in capsys.readouterr().out
    after = _stored(collection)
    assert after[record["track_id"]][0]["title"] == "Renamed"
    assert {t: {k: p[k] for k in keys} for t, (p, _) in after.items()} == before


def test_like_track_ranks_by_backbone_cosine(collection, capsys):
    stored = _stored(collection)
    seed = stored["t1"][1]
    expected = sorted((t for t in stored if t != "t1"),
                      key=lambda t: -float(stored[t][1] @ seed))[:4]
    output = _search(capsys, ["--like", "t1", "--vector", "backbone", "--k", "4", *collection])
    got = [r["track_id"] for r in output["results"]]
    assert got == expected
    assert [r["score"] for r in output["results"]] == pytest.approx(
        [float(stored[t][1] @ seed) for t in expected], abs=1e-3)
    assert output["query"]["vector"] == "backbone"
    assert "backbone msd: " in output["results"][0]["why"]


def test_like_a_file(collection, tiny_audio, tmp_path, capsys):
    folder, records = tiny_audio
    stored = _stored(collection)
    # a file not indexed under its own path (catalog ids here) is encoded: its original first
    copy = tmp_path / "copy.wav"
    shutil.copy(folder / records[5].path, copy)
    output = _search(capsys, ["--like", str(copy), "--vector", "backbone", "--k", "2",
                              *collection])
    assert output["results"][0]["track_id"] == "t5" and output["results"][0]["score"] > 0.999
    assert output["query"]["audio"] == str(copy)
    nearest = max((t for t in stored if t != "t5"),
                  key=lambda t: float(stored[t][1] @ stored["t5"][1]))
    assert output["results"][1]["track_id"] == nearest


def test_backbone_tags_mode_ranks_by_stored_probability(collection, capsys):
    stored = _stored(collection)
    tags = backbone_tags("msd")
    tag = stored["t0"][0]["backbone_tags"][0]["tag"]
    column = tags.index(tag)
    expected = sorted(stored, key=lambda t: -stored[t][0]["backbone_p"][column])[:3]
    output = _search(capsys, [f"{tag} qqzx", "--mode", "backbone-tags", "--k", "3",
                              *collection])
    assert [r["track_id"] for r in output["results"]] == expected
    assert output["query"]["terms"] == [tag]
    assert any("qqzx" in note for note in output["notes"])      # ignored, said so
    assert f"backbone-tags: {tag} " in output["results"][0]["why"]


def test_match_tags_multi_word_and_case():
    tags = backbone_tags("msd")
    assert match_tags("some Hard Rock with female vocalists", tags) == \
        (["hard rock", "female vocalists"], [])
    assert match_tags("mellow hip-hop banjo", tags) == (["Mellow", "Hip-Hop"], ["banjo"])


def test_backbone_errors_are_one_line(collection, tiny_bundle, tiny_audio, tmp_path, capsys):
    folder, _ = tiny_audio
    err = _one_line_error(capsys, ["search", "qqzx battle", "--mode", "backbone-tags",
                                   *collection], "no msd backbone tag in")
    assert "rock, pop" in err and "happy" in err            # lists the 50 tags
    _one_line_error(capsys, ["search", "piano", "--vector", "backbone", *collection],
                    "does not take text")
    # mixing backbones, or adding one to a collection made without: refused before any work
    _one_line_error(capsys, ["index", str(folder / "catalog.jsonl"), "--backbone", "mtt",
                             *collection], "was made with backbone 'msd', not 'mtt'")
    plain = ["--qdrant", str(tmp_path / "q"), "--model", str(tiny_bundle), "--collection", "p"]
    assert main(["index", str(folder / "catalog.jsonl"), *plain]) == 0
    _one_line_error(capsys, ["index", str(folder / "catalog.jsonl"), "--backbone", "msd",
                             *plain], "was made without a backbone vector")
    for argv in (["--track", "t1", "--vector", "backbone"], ["rock", "--mode", "backbone-tags"]):
        _one_line_error(capsys, ["search", *argv, *plain], "index PATH --backbone")


def test_app_example_tab_and_api_route(collection, capsys):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from retrieval.bundle import load_bundle
    from retrieval.search import Searcher
    from ui.api_route import api_route
    from ui.form import form_fields
    from ui.library import collection_facets
    from ui.query_args import query_from_fields
    from ui.tab_example import example_outputs
    stored = _stored(collection)
    nearest = max((t for t in stored if t != "t2"),
                  key=lambda t: float(stored[t][1] @ stored["t2"][1]))
    store = open_store(collection[1], collection[5])
    try:
        searcher = Searcher(load_bundle(collection[3]), store)
        assert collection_facets(store).backbone == "msd"
        page = example_outputs(searcher, None, "t2", "", 0.3, False, 1, vector="backbone")
        assert "on the backbone vector" in page and "backbone msd:" in page

        def answer(text, track_id, k, fields, audio=None):
            return searcher.search(text=text, audio=audio, track_id=track_id, k=k,
                                   **query_from_fields(form_fields(**fields))).to_dict()
        client = TestClient(Starlette(routes=[api_route(answer, asyncio.Semaphore(1), 1 << 20)]))
        body = client.get("/api/search", params={"track": "t2", "vector": "backbone",
                                                 "k": "1"}).json()
        assert body["results"][0]["track_id"] == nearest
        bad = client.get("/api/search", params={"q": "qqzx", "mode": "backbone-tags"})
        assert bad.status_code == 400 and "no msd backbone tag" in bad.json()["error"]
    finally:
        store.close()


def test_like_an_indexed_file_is_its_track(tiny_audio, tiny_bundle, tmp_path, capsys):
    folder, records = tiny_audio
    common = ["--qdrant", str(tmp_path / "q"), "--model", str(tiny_bundle), "--collection", "f"]
    assert main(["index", str(folder / "audio"), "--backbone", "mtt", *common]) == 0
    seed = folder / records[6].path
    output = _search(capsys, ["--like", str(seed), "--vector", "backbone", "--k", "7",
                              *common])
    assert output["query"]["track_id"] == str(seed.resolve())     # a folder scan's track id
    assert str(seed.resolve()) not in [r["track_id"] for r in output["results"]]
    assert len(output["results"]) == 7 and "backbone mtt: " in output["results"][0]["why"]


def test_a_backbone_runs_with_the_local_engine_only(tiny_audio, tiny_model, tmp_path):
    from index import StoreError, index_tracks

    def other_engine(model, records, cache, batch_size, store):   # e.g. index.ray_engine
        raise AssertionError("must be refused before any encoding")
        yield []
    folder, _ = tiny_audio
    store = open_store(str(tmp_path / "q"), "r")
    try:
        with pytest.raises(StoreError, match="local engine only"):
            index_tracks(tiny_model, folder / "catalog.jsonl", store, encoder=other_engine,
                         backbone="msd", progress=False)
        assert not store.exists()          # refused before the collection was made
    finally:
        store.close()
