"""Catalog records are checked field by field (file:line in every message), and paths that
are not valid UTF-8 survive JSON losslessly."""
from __future__ import annotations

import json
import os

import pytest

from retrieval.catalog import (CatalogError, display_text, path_to_text, read_catalog,
                               scan_catalog, text_to_path, write_catalog)

GOOD = {"track_id": "ok", "path": "/music/ok.wav", "title": "Ok", "tags": ["piano"]}

BAD_RECORDS = [  # (JSON line, words the reason must contain)
    ('{"track_id": "b", "path": "/m/b.wav", "duration": NaN}', "'duration'"),
    ('{"track_id": "b", "path": "/m/b.wav", "duration": 1e400}', "'duration'"),
    ('{"track_id": "b", "path": "/m/b.wav", "duration": "3:45"}', "'duration'"),
    ('{"track_id": "b", "path": "/m/b.wav", "duration": true}', "'duration'"),
    ('{"track_id": "b", "path": "/m/b.wav", "duration": -1}', "'duration'"),
    ('{"track_id": "b", "path": null}', "'path' is null"),
    ('{"track_id": "b", "path": 12345}', "'path' must be a string"),
    ('{"track_id": "b", "path": ""}', "'path' is empty"),
    ('{"track_id": "b", "path": "a\\u0000b.wav"}', "NUL"),
    ('{"track_id": "b"}', "'path' is missing"),
    ('{"track_id": "", "path": "/m/b.wav"}', "'track_id' is empty"),
    ('{"track_id": null, "path": "/m/b.wav"}', "'track_id' is null"),
    ('{"track_id": 1.5, "path": "/m/b.wav"}', "'track_id' must be a string"),
    ('{"track_id": true, "path": "/m/b.wav"}', "'track_id' must be a string"),
    ('{"track_id": "b", "path": "/m/b.wav", "tags": "rock"}', "'tags' must be a list"),
    ('{"track_id": "b", "path": "/m/b.wav", "tags": [1, null]}', "'tags' must hold"),
    ('{"track_id": "b", "path": "/m/b.wav", "tags": ["ok", " "]}', "'tags' must hold"),
    ('{"track_id": "b", "path": "/m/b.wav", "title": 5}', "'title' must be a string"),
    ('{"track_id": "b", "path": "/m/b.wav", "title": "\\ud800"}', "surrogate"),
    ('{"track_id": "b", "path": "/m/b.wav", "meta": {"gain": NaN}}', "'meta'['gain']"),
    ('{"track_id": "b", "path": "/m/b.wav", "meta": [1]}', "'meta' must be an object"),
    ('{"track_id": "b", "path": "/m/b.wav", "split": "training"}', "split 'training'"),
    ('[1, 2]', "must be a JSON object"),
]


def _catalog(tmp_path, middle: str):
    path = tmp_path / "catalog.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + middle + "\n"
                    + json.dumps(dict(GOOD, track_id="ok2")) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("line, words", BAD_RECORDS)
def test_a_bad_record_is_named_by_line_and_field(tmp_path, line, words):
    catalog = _catalog(tmp_path, line)
    with pytest.raises(CatalogError) as caught:       # training: a clear error, no work done
        read_catalog(catalog)
    message = str(caught.value)
    assert message.startswith(f"{catalog}:2: ") and words in message and "\n" not in message
    records, rejected = scan_catalog(catalog)         # indexing: listed, the rest kept
    assert [r.track_id for r in records] == ["ok", "ok2"]
    assert [(r.where, r.reason) for r in rejected] == [(f"{catalog}:2", message.split(": ", 1)[1])]
    json.dumps([r.reason for r in rejected], allow_nan=False).encode("utf-8")  # printable


def test_lenient_values_and_defaults(tmp_path):
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_bytes(("\ufeff" + "\n".join([  # a byte-order mark, as Windows editors write
        json.dumps({"track_id": 123, "path": "a.wav", "title": None, "tags": None,
                    "duration": 12, "split": None, "meta": None, "extra column": [1]}),
        json.dumps({"track_id": "u", "path": "file:///music/bad%FF.wav"}),
    ]) + "\n").encode("utf-8"))
    first, second = read_catalog(catalog)
    assert (first.track_id, first.title, first.tags, first.duration, first.split, first.meta) \
        == ("123", "", [], 12.0, "train", {})
    assert first.path == str(tmp_path / "a.wav")
    assert os.fsencode(second.path) == b"/music/bad\xff.wav"


def test_duplicate_track_ids_are_listed(tmp_path):
    catalog = _catalog(tmp_path, json.dumps(dict(GOOD, title="Another")))
    records, rejected = scan_catalog(catalog)
    assert [(r.track_id, r.title) for r in records] == [("ok", "Ok"), ("ok2", "Ok")]
    assert rejected[0].where == f"{catalog}:2" and rejected[0].duplicate_of == 1
    assert "duplicate track id" in rejected[0].reason
    with pytest.raises(CatalogError, match=r"catalog.jsonl:2: .*duplicate"):
        read_catalog(catalog)


def test_not_json_lines_stops_the_read(tmp_path):
    catalog = _catalog(tmp_path, '{"track_id": "b", "pa')
    with pytest.raises(CatalogError, match=r"catalog.jsonl:2: not valid JSON at column \d+"):
        scan_catalog(catalog)
    with pytest.raises(CatalogError, match="a folder, not a file"):
        scan_catalog(tmp_path)


NAMES = [b"/music/plain.wav", b"/music/caf\xc3\xa9 100%.wav", b"/music/bad\xff\xfename.wav",
         b"/music/bad\\xff\\xfename.wav", b"/m\xe9/a b.wav"]


def test_paths_as_text_are_lossless_and_json_safe(tmp_path):
    texts = [path_to_text(os.fsdecode(name)) for name in NAMES]
    assert texts[0] == "/music/plain.wav" and texts[1] == "/music/café 100%.wav"  # unchanged
    assert texts[2] == "file:///music/bad%FF%FEname.wav"
    assert len(set(texts)) == len(NAMES)  # a literal "\xff" name stays distinct
    json.dumps(texts, ensure_ascii=False).encode("utf-8")
    assert [os.fsencode(text_to_path(t)) for t in texts] == NAMES
    assert display_text(os.fsdecode(NAMES[2])) == "/music/bad\\xff\\xfename.wav"
    # A record written and read back keeps the exact bytes of its path.
    real = os.fsencode(tmp_path) + b"/bad\xff.wav"
    with open(real, "wb") as handle:
        handle.write(b"audio")
    records, _ = scan_catalog(_catalog(tmp_path, json.dumps({"track_id": "x", "path": "y"})))
    records[1].path = os.fsdecode(real)
    write_catalog(records, tmp_path / "out.jsonl")
    back = read_catalog(tmp_path / "out.jsonl")[1]
    assert os.fsencode(back.path) == real and open(back.path, "rb").read() == b"audio"
