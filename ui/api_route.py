"""The app's JSON routes, `api/search` and `api/duplicates`: what `musicsearch search` and
`musicsearch duplicates` ask when an app already holds the embedded collection
(ui/advert.py), and a small HTTP API for scripts.

- `GET api/search?q=TEXT&track=ID&k=N&<options>` → the `search --json` object;
- `POST api/search?…` with an audio file as the body (`X-Filename: clip.wav` names it):
  the same, with that clip as the audio example (the CLI's `--audio`). The body is capped
  like an upload, written to a private temporary file and removed after the search.

- `GET api/duplicates?threshold=COSINE` → the `duplicates --json` object, over the
  app's own store (one at a time: it reads every song vector).

Options are the batch-line fields (`not`, `artist`, `tag`, `from_collection`,
`min_duration`, `max_duration`, `exclude_artist`, `text_weight`, `diverse`,
`sections`, `mode`, `vector`), list fields repeated; see ui/form.py. E.g.
`api/search?track=ID&vector=backbone` compares on the collection's backbone vector,
`api/search?q=piano&mode=backbone-tags` ranks by the backbone's stored tags. A user error answers 400 with
`{"error": "one line"}`.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from retrieval.messages import first_line
from retrieval.query import QueryError
from retrieval.strict_json import dumps

from .errors import USER_ERRORS
from .form import fields_from_params

__all__ = ["API_ROUTE", "DUPLICATES_ROUTE", "api_route", "duplicates_route", "MAX_API_K"]

log = logging.getLogger(__name__)

API_ROUTE = "api/search"
DUPLICATES_ROUTE = "api/duplicates"
MAX_API_K = 1000
_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".caf"}


def _json(data: dict, status: int = 200) -> Response:
    return Response(dumps(data, ensure_ascii=False), status_code=status,
                    media_type="application/json",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _k(text: str | None) -> int:
    try:
        k = int(text if text is not None else 10)
    except ValueError:
        raise QueryError(f"k must be a whole number, got {text!r}") from None
    if not 1 <= k <= MAX_API_K:
        raise QueryError(f"k must be from 1 to {MAX_API_K}, got {k}")
    return k


def api_route(search: Callable[..., dict], audio_slots: asyncio.Semaphore,
              max_bytes: int) -> Route:
    """`search(text=, audio=, track_id=, k=, fields=)` → a result dict; runs in a worker
    thread (an audio example decodes and runs the CNN), clips at most `audio_slots` at
    once."""
    async def endpoint(request: Request) -> Response:
        params = request.query_params
        try:
            query = {"text": params.get("q"), "track_id": params.get("track") or None,
                     "k": _k(params.get("k")), "fields": fields_from_params(params)}
        except QueryError as error:
            return _json({"error": first_line(error)}, 400)
        if request.method == "GET":
            return await _answer(search, query)
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_bytes:
            return _json({"error": f"the clip is over the app's upload limit "
                                   f"({max_bytes / 2**20:g} MiB)"}, 413)
        body = await request.body()
        if not body or len(body) > max_bytes:
            return _json({"error": "POST an audio file as the request body"}, 400)
        name = Path(request.headers.get("x-filename") or "clip.wav").name
        suffix = Path(name).suffix.lower()
        async with audio_slots:
            with tempfile.TemporaryDirectory(prefix="musicsearch-api-") as folder:
                clip = Path(folder) / (name if suffix in _SUFFIXES else "clip.audio")
                clip.write_bytes(body)
                return await _answer(search, {**query, "audio": str(clip)})

    return Route(f"/{API_ROUTE}", endpoint, methods=["GET", "POST"])


def _threshold(text: str | None) -> float:
    try:
        value = float(text if text is not None else "nan")
    except ValueError:
        value = float("nan")
    if not -1 <= value <= 1:
        raise QueryError(f"threshold must be a cosine from -1 to 1, got {text!r}")
    return value


def duplicates_route(find: Callable[[float], dict]) -> Route:
    """GET `/api/duplicates?threshold=…`: `find(threshold)` → the answer, in a worker
    thread, one at a time (each reads every song vector into memory)."""
    gate = asyncio.Semaphore(1)

    async def endpoint(request: Request) -> Response:
        try:
            threshold = _threshold(request.query_params.get("threshold"))
        except QueryError as error:
            return _json({"error": first_line(error)}, 400)
        async with gate:
            return await _answer(find, {"threshold": threshold})

    return Route(f"/{DUPLICATES_ROUTE}", endpoint, methods=["GET"])


async def _answer(search, query: dict) -> Response:
    try:
        return _json(await run_in_threadpool(lambda: search(**query)))
    except USER_ERRORS as error:
        return _json({"error": first_line(error)}, 400)
    except Exception as error:  # a bug or a broken index: logged, one line to the caller
        log.exception("api request failed")
        return _json({"error": f"the app failed ({type(error).__name__}: {error})"}, 500)

