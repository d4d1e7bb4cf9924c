"""`musicsearch search --batch FILE`: many queries, one model load, JSONL out.

Each non-empty line of FILE (or stdin for "-") that does not start with "#" is a query:
plain text ("lively reel -vocals"), or a JSON object with any of the fields `text`,
`audio`, `track`, `k`, `id` (echoed back) and the query options of `search` (`not`,
`artist`, `tag`, `from_collection`, `min_duration`, `max_duration`, `exclude_artist`,
`text_weight`, `diverse`, `sections`). Options given on the command line apply to every
line; a line's own field replaces them. Each query gives one output line: its results,
or `{"line": N, "error": "..."}`; one bad line never stops the batch. While an app
holds the collection, each line is one request to its `api/search` (ui/remote.py).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from retrieval.messages import first_line
from retrieval.query import QueryError
from retrieval.strict_json import dumps

from .errors import USER_ERRORS
from .query_args import FIELDS, query_from_fields

__all__ = ["read_batch", "run_batch", "search_locally", "BatchSummary"]

_QUERY_FIELDS = {"text", "audio", "track", "k", "id"}


class BatchSummary:
    def __init__(self) -> None:
        self.answered = 0
        self.failed = 0


def read_batch(source: str) -> list[tuple[int, str]]:
    """(line number, line) of every query line; checked before any search runs."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise QueryError(f"batch file {source} is not a UTF-8 text file") from None
    except IsADirectoryError:
        raise QueryError(f"batch file {source} is a folder, not a file") from None
    except OSError as error:
        raise QueryError(f"cannot read batch file {source}: {error.strerror or error}") from None
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise QueryError(f"batch file {source} has no queries (one per line)")
    return lines


def _line_query(line: str, defaults: dict, k: int) -> tuple[dict, object]:
    """A batch line → (its query: `text`, `audio`, `track_id`, `k` and `fields`, the
    option values by field name, already checked; the line's `id` or None)."""
    if not line.startswith("{"):
        query_from_fields(defaults)
        return {"text": line, "audio": None, "track_id": None, "k": k,
                "fields": dict(defaults)}, None
    try:
        fields = json.loads(line)
    except ValueError as error:
        raise QueryError(f"not valid JSON: {error}") from None
    if not isinstance(fields, dict):
        raise QueryError("a JSON line must be an object")
    unknown = sorted(set(fields) - _QUERY_FIELDS - set(FIELDS))
    if unknown:
        raise QueryError(f"unknown field(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(_QUERY_FIELDS | set(FIELDS)))}")
    for name in ("text", "audio", "track"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise QueryError(f"'{name}' must be a string")
    line_k = fields.get("k", k)
    if not isinstance(line_k, int) or isinstance(line_k, bool) or line_k < 1:
        raise QueryError(f"'k' must be a whole number ≥ 1, got {line_k!r}")
    options = {**defaults, **{n: v for n, v in fields.items() if n in FIELDS}}
    query_from_fields(options)               # a bad value is this line's error
    return ({"text": fields.get("text"), "audio": fields.get("audio"),
             "track_id": fields.get("track"), "k": line_k, "fields": options},
            fields.get("id"))


def search_locally(searcher) -> Callable[[dict], dict]:
    """The batch's `answer` over a searcher this process opened."""
    def answer(query: dict) -> dict:
        return searcher.search(text=query["text"], audio=query["audio"],
                               track_id=query["track_id"], k=query["k"],
                               **query_from_fields(query["fields"])).to_dict()
    return answer


def run_batch(answer: Callable[[dict], dict], lines: Iterable[tuple[int, str]],
              defaults: dict, k: int, out: TextIO) -> BatchSummary:
    """Answer every line, writing one JSON line each (flushed, so a pipe sees progress).
    `answer(query)` → the `search --json` object: a local searcher (`search_locally`) or
    the running app (ui/search_commands.py)."""
    summary = BatchSummary()
    for number, line in lines:
        record: dict = {"line": number}
        try:
            query, line_id = _line_query(line, defaults, k)
            if line_id is not None:
                record["id"] = line_id
            if query["text"] is None and query["audio"] is None and query["track_id"] is None:
                raise QueryError("empty query: give text, audio or track")
            record.update(answer(query))
            summary.answered += 1
        except USER_ERRORS as error:
            record["error"] = first_line(error)
            summary.failed += 1
        print(dumps(record, ensure_ascii=False), file=out, flush=True)
    return summary
