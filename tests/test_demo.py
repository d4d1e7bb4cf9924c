"""`musicsearch demo --no-ui` end to end on a small corpus: real scores rendered, the
shipped model, the embedded Qdrant index, a real query; a second run redoes nothing."""
from __future__ import annotations

import json

from index import open_store
from ui.cli import main


def test_demo_end_to_end_and_idempotent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path))
    assert main(["demo", "--tracks", "12", "--no-ui"]) == 0
    first = capsys.readouterr().out
    assert "12 indexed, 0 updated, 0 already there, 0 unreadable; 12 tracks searchable" in first
    assert "ready in" in first
    # the demo's playlists are simulated listening sessions (README: how they are made)
    playlists = tmp_path / "demo-corpus-12" / "playlists.jsonl"
    kinds = {json.loads(line)["kind"] for line in playlists.read_text().splitlines()}
    assert kinds == {"simulated"}
    stamp = playlists.stat().st_mtime_ns

    assert main(["demo", "--tracks", "12", "--no-ui"]) == 0
    assert "0 indexed, 0 updated, 12 already there" in capsys.readouterr().out
    assert playlists.stat().st_mtime_ns == stamp        # not simulated again

    assert main(["search", "fiddle reel", "--collection", "demo", "--k", "5", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 5
    assert all(r["path"].startswith(str(tmp_path / "demo-corpus-12")) for r in results)
    with open_store(None, "demo") as store:
        assert store.count() == 12
