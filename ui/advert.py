"""A running app says where it listens, so `musicsearch search` can ask it.

The embedded store is held by one process (the engine's WAL lock). While `musicsearch ui`
serves a collection, it writes `<store folder>/<collection>.musicsearch-app.json` with its
URL and process id, and removes it when it stops; the CLI reads it and sends the query to
the app's JSON route (`api/search`, ui/api_route.py) instead of opening the store.

A file left behind by a process that died is recognised (its pid no longer runs) and
ignored. Nothing here imports the app or the store.
"""
from __future__ import annotations

import atexit
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Advert", "advert_path", "advertise", "find_app", "withdraw"]

SUFFIX = ".musicsearch-app.json"


@dataclass(frozen=True)
class Advert:
    url: str            # the app's root, e.g. http://127.0.0.1:7860/
    pid: int
    collection: str
    location: str       # the store folder
    model_fingerprint: str | None = None
    started: str = ""


def advert_path(location: str | os.PathLike, collection: str) -> Path:
    return Path(location) / f"{collection}{SUFFIX}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # another user's process: it runs
        return True
    return True


def advertise(location: str | os.PathLike, collection: str, url: str,
              fingerprint: str | None = None) -> Path:
    """Write this process's advert (atomically) and remove it at exit; returns its path."""
    path = advert_path(location, collection)
    advert = Advert(url=url, pid=os.getpid(), collection=collection,
                    location=str(location), model_fingerprint=fingerprint,
                    started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(advert), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    atexit.register(withdraw, path)
    return path


def withdraw(path: str | os.PathLike) -> None:
    """Remove an advert this process wrote (another process's is left alone)."""
    path = Path(path)
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def find_app(location: str | os.PathLike, collection: str) -> Advert | None:
    """The app serving this collection, if one advertises itself and its process runs."""
    path = advert_path(location, collection)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        advert = Advert(**{name: data.get(name) for name in Advert.__dataclass_fields__
                           if name in data})
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(advert.pid, int) or not isinstance(advert.url, str):
        return None
    return advert if _alive(advert.pid) else None
