"""The CLI as a user runs it: index the tiny audio, search it, and get one-line errors."""
from __future__ import annotations

import json

import pytest

from ui.cli import main


@pytest.fixture()
def indexed(tiny_audio, tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    folder, _ = tiny_audio
    location = str(tmp_path / "qdrant")
    common = ["--qdrant", location, "--model", str(tiny_bundle), "--collection", "tiny"]
    # with chunk vectors: the section queries of test_cli_queries use them
    assert main(["index", str(folder / "catalog.jsonl"), "--chunks", *common]) == 0
    return common


def test_index_then_search_json(indexed, capsys):
    capsys.readouterr()
    assert main(["search", "happy piano", "--k", "3", "--json", *indexed]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["query"]["text"] == "happy piano"
    assert len(output["results"]) == 3
    first = output["results"][0]
    assert set(first) >= {"track_id", "score", "title", "artist", "path", "tags", "why"}
    scores = [r["score"] for r in output["results"]]
    assert scores == sorted(scores, reverse=True)


def test_reindex_adds_nothing(indexed, tiny_audio, capsys):
    folder, _ = tiny_audio
    capsys.readouterr()
    assert main(["index", str(folder / "catalog.jsonl"), *indexed]) == 0
    assert "indexed 0 new track(s), 0 updated, 8 already indexed" in capsys.readouterr().out


def test_search_by_audio_and_track(indexed, tiny_audio, capsys):
    folder, records = tiny_audio
    capsys.readouterr()
    assert main(["search", "--audio", str(folder / records[2].path), "--json", *indexed]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["track_id"] == "t2"
    assert main(["search", "--track", "t2", "--k", "3", "--json", *indexed]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert "t2" not in [r["track_id"] for r in results] and len(results) == 3


@pytest.mark.parametrize("argv, message", [
    (["search", "   "], "empty query"),
    (["search"], "empty query"),
    (["search", "qqqzx vvvbnm"], "no known words"),
    (["search", "--track", "nope"], "track not in the index"),
])
def test_user_errors_are_one_line(indexed, capsys, argv, message):
    capsys.readouterr()
    assert main([*argv, *indexed]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_index(tiny_bundle, tmp_path, capsys):
    common = ["--qdrant", str(tmp_path / "empty"), "--model", str(tiny_bundle)]
    assert main(["search", "piano", *common]) == 2
    assert "musicsearch index" in capsys.readouterr().err
    assert main(["ui", "--collection", "typo", *common]) == 2     # no empty app is served
    assert "no index 'typo'" in capsys.readouterr().err


def test_corrupt_audio_query(indexed, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    capsys.readouterr()
    assert main(["search", "--audio", str(broken), *indexed]) == 2
    err = capsys.readouterr().err
    assert "cannot decode broken.wav" in err and len(err.strip().splitlines()) == 1


def test_bad_config_is_one_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("optim: {epochs: [oops}\n")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and len(err.strip().splitlines()) == 1
    binary = tmp_path / "config.wav"
    binary.write_bytes(b"RIFF\x80\xff\xfe junk")
    for command in ("train", "evaluate"):
        assert main([command, "--config", str(binary)]) == 2
        err = capsys.readouterr().err
        assert "not a UTF-8 text file" in err and len(err.strip().splitlines()) == 1


def test_track_id_typed_as_a_non_utf8_path(tiny_audio, tiny_bundle, tmp_path, monkeypatch, capsys):
    """A folder-scan track whose file name is not UTF-8 is found by the path a shell passes."""
    import os
    import shutil
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    music = os.fsencode(tmp_path / "music")
    os.makedirs(music)
    for i, name in enumerate([b"ok.wav", b"caf\xe9.wav"]):
        shutil.copy(tiny_audio[0] / "audio" / f"clip{i}.wav", music + b"/" + name)
    common = ["--qdrant", str(tmp_path / "qdrant"), "--model", str(tiny_bundle)]
    assert main(["index", os.fsdecode(music), *common]) == 0
    capsys.readouterr()
    assert main(["search", "--track", os.fsdecode(music + b"/caf\xe9.wav"), "--json",
                 *common]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["title"] for r in results] == ["ok"]


def test_sigterm_stops_the_ui_cleanly(indexed, tmp_path):
    """`kill` / a service manager: the server stops as on Ctrl+C (Gradio closes the server
    and the command returns 0) and removes its private upload folder."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("GRADIO_TEMP_DIR", None)
    server = subprocess.Popen([sys.executable, "-m", "ui.cli", "ui", "--port", str(port),
                               *indexed], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        uploads = list(tmp_path.glob("musicsearch-uploads-*"))
        assert server.poll() is None and len(uploads) == 1
        advert = tmp_path / "qdrant" / "tiny.musicsearch-app.json"   # ui/advert.py
        for _ in range(100):
            if advert.exists():
                break
            time.sleep(0.1)
        assert json.loads(advert.read_text())["pid"] == server.pid
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert "Traceback" not in server.stderr.read()
        assert not uploads[0].exists() and not advert.exists()
    finally:
        server.kill()


def test_commands_after_the_demo_need_no_collection_flag(tiny_audio, tiny_bundle, tmp_path,
                                                         monkeypatch, capsys):
    """The demo indexes into 'demo': `search` finds it alone; with several collections, or a
    missing named one, the message lists what is there."""
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    catalog = str(tiny_audio[0] / "catalog.jsonl")
    where = ["--qdrant", str(tmp_path / "qdrant"), "--model", str(tiny_bundle)]
    assert main(["index", catalog, "--collection", "demo", *where]) == 0
    capsys.readouterr()
    assert main(["search", "happy piano", "--json", *where]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["results"]) == 8
    assert "using collection 'demo'" in captured.err
    assert main(["index", catalog, "--collection", "other", *where]) == 0
    capsys.readouterr()
    for extra in ([], ["--collection", "missing"]):
        assert main(["search", "happy piano", *extra, *where]) == 2
        err = capsys.readouterr().err
        assert "collections there: demo, other" in err and len(err.strip().splitlines()) == 1


def test_collection_settings_at_creation_and_a_clear_refusal_after(
        tiny_audio, tiny_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    folder, _ = tiny_audio
    common = ["--qdrant", str(tmp_path / "q"), "--model", str(tiny_bundle), "--collection", "c"]
    assert main(["index", str(folder / "catalog.jsonl"), "--chunks", "--int8", "--on-disk",
                 "--ef", "300", *common]) == 0
    from index import open_store
    with open_store(str(tmp_path / "q"), "c") as store:
        schema = store.schema()
        assert schema.chunks and schema.quantization is not None and schema.on_disk
        assert schema.hnsw.ef == 300 and store.search_ef() == 300
        assert store.get_vector("t1", using="chunks").ndim == 2
    capsys.readouterr()
    assert main(["index", str(folder / "catalog.jsonl"), "--chunks", *common]) == 2
    err = capsys.readouterr().err
    assert "exists with other settings" in err and len(err.strip().splitlines()) == 1
    assert main(["index", str(folder / "catalog.jsonl"), *common]) == 0   # no flags: reuse


def test_threads_default_to_one_and_bad_counts_are_refused(indexed, capsys, monkeypatch):
    import torch
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main(["search", "happy piano", "--k", "1", *indexed]) == 0
        assert torch.get_num_threads() == 1
        assert main(["search", "happy piano", "--k", "1", "--threads", "2", *indexed]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_status:
        main(["search", "piano", "--threads", "0", *indexed])
    assert exit_status.value.code == 2 and "whole number of threads" in capsys.readouterr().err
