"""`musicsearch search` (one query, or each line of `--batch`) and `musicsearch duplicates`
through a running app: when `musicsearch ui` (or `demo`) holds the embedded collection,
the engine's lock keeps every other process out, so the command asks the app's JSON
routes instead (ui/api_route.py), found by the file the app writes next to
the collection (ui/advert.py).

Why this way rather than a read-only open or a separate server: the engine has no
read-only mode (its WAL lock is taken on load), and copying a shard to open it would
cost seconds to minutes at 1M songs; a separate server would be one more process to run.
The app already has the model loaded and the collection open, so the command sends one
HTTP request and needs neither torch nor the model: it answers faster than a direct
search from the shell (README: "Sharing a collection with the running app").

Imports here stay light (no torch, no Qdrant): this runs before anything is loaded.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from retrieval.query import QueryError

from .advert import Advert, find_app

__all__ = ["app_for", "search_app", "duplicates_app", "AppUnreachable"]

TIMEOUT_S = 120          # an audio example decodes and runs the CNN in the app


class AppUnreachable(OSError):
    """The advertised app did not answer (it is stopping, or the file is stale)."""


def _edge_collections(root: Path) -> list[str]:
    try:
        return sorted(d.name for d in root.iterdir() if (d / "edge_config.json").is_file())
    except OSError:
        return []


def app_for(args) -> Advert | None:
    """The running app holding the embedded collection this command would open (the same
    choice as `open_collection`: the named one, else 'music', else the only one there).
    None with `--model` (the app answers with its own model), a server URL, or no app."""
    if getattr(args, "model", None) is not None:
        return None
    location = args.qdrant
    if location is None:
        from retrieval.paths import default_qdrant_path
        root = Path(default_qdrant_path())
    elif str(location).startswith(("http://", "https://")) or location == ":memory:" \
            or not str(location).strip():
        return None
    else:
        root = Path(os.path.expanduser(str(location))).absolute()
    collection = args.collection
    if collection is None:
        there = _edge_collections(root)
        collection = "music" if "music" in there else (there[0] if len(there) == 1 else None)
    return find_app(root, collection) if collection else None


def _params(text, track_id, k: int, fields: dict) -> list[tuple[str, str]]:
    params = [("k", str(k))]
    if text is not None:
        params.append(("q", text))
    if track_id is not None:
        params.append(("track", track_id))
    for name, value in fields.items():
        # not `value in (None, False, …)`: 0 == False, and 0 is a value (--diverse 0)
        if value is None or value is False or value == [] or value == "":
            continue
        values = value if isinstance(value, list) else [value]
        params += [(name, "1" if v is True else str(v)) for v in values]
    return params


def _ask(advert: Advert, route: str, params: list[tuple[str, str]], data: bytes | None = None,
         headers: dict | None = None, timeout: float = TIMEOUT_S) -> tuple[dict, float]:
    """One request to a JSON route of the app → (its answer, seconds it took). A user
    error the app reports raises QueryError with its line; no answer at all raises
    AppUnreachable."""
    url = advert.url.rstrip("/") + f"/{route}?" + urlencode(params)
    request = urllib.request.Request(url, data=data,
                                     headers={"Accept": "application/json", **(headers or {})},
                                     method="POST" if data is not None else "GET")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read().decode("utf-8")).get("error")
        except (ValueError, AttributeError, UnicodeDecodeError):
            message = None
        raise QueryError(message or f"the app at {advert.url} answered HTTP {error.code}") \
            from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise AppUnreachable(f"the app at {advert.url} did not answer ({error})") from None
    return body, time.perf_counter() - started


def search_app(advert: Advert, text: str | None, audio: str | None, track_id: str | None,
               k: int, fields: dict) -> tuple[dict, float]:
    """One query through the app → (the `search --json` object, seconds it took)."""
    data, headers = None, {}
    if audio is not None:
        try:
            data = Path(audio).read_bytes()
        except OSError as error:
            raise QueryError(f"cannot read {audio}: {error.strerror or error}") from None
        headers = {"Content-Type": "application/octet-stream", "X-Filename": Path(audio).name}
    body, elapsed = _ask(advert, "api/search", _params(text, track_id, k, fields), data, headers)
    if audio is not None and isinstance(body.get("query"), dict):
        body["query"]["audio"] = str(audio)      # the app saw a temporary copy
    return body, elapsed


def duplicates_app(advert: Advert, threshold: float) -> dict:
    """`musicsearch duplicates` through the app → the `duplicates --json` object. No
    time limit: the pairs are exact (every pair compared), minutes at a million songs."""
    return _ask(advert, "api/duplicates", [("threshold", repr(threshold))], timeout=None)[0]
