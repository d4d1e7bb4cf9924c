"""Serving indexed audio by track id: the only files the app hands out besides uploads.

The URL names a track (`audio/<quoted track id>`), never a path: the file is whatever the
index payload says for that track, and it is served only if it is a readable regular file
whose header decodes as audio. Nothing from the URL reaches the filesystem, so there is no
traversal to guard against, and no folder is ever served as a whole (DESIGN.md §3.3).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import soundfile
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["AUDIO_ROUTE", "AudioFile", "probe_audio", "audio_url", "audio_route"]

AUDIO_ROUTE = "audio"

# libsndfile's format names → what browsers expect; other decodable formats are still
# served (they were indexed), as audio/x-<format>.
_CONTENT_TYPES = {"WAV": "audio/wav", "WAVEX": "audio/wav", "RF64": "audio/wav",
                  "W64": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg",
                  "MP3": "audio/mpeg", "AIFF": "audio/aiff", "AU": "audio/basic",
                  "CAF": "audio/x-caf"}


@dataclass(frozen=True)
class AudioFile:
    path: str
    content_type: str
    stat: os.stat_result


def probe_audio(path: str | os.PathLike | None) -> AudioFile | None:
    """`path` as servable audio: a readable regular file whose header libsndfile decodes.

    None for anything else (missing, a folder, a FIFO or device, unreadable, not audio).
    The checks run on one open descriptor, so they all describe the same file.
    """
    if not path:
        return None
    try:
        # O_NONBLOCK: opening a FIFO must not hang the server; O_CLOEXEC: no leak to children.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError, TypeError):
        return None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode) or status.st_size == 0:
        os.close(descriptor)
        return None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            info = soundfile.info(handle)
        except Exception:  # libsndfile raises several types; all mean "not audio"
            return None
        if info.samplerate <= 0 or info.channels <= 0:
            return None
    content_type = _CONTENT_TYPES.get(info.format, f"audio/x-{info.format.lower()}")
    return AudioFile(path=os.fspath(path), content_type=content_type, stat=status)


def audio_url(track_id: str) -> str:
    """The player URL of a track, relative to the app's root (the id is one path segment)."""
    return f"{AUDIO_ROUTE}/{quote(str(track_id), safe='')}"


def audio_route(find_path: Callable[[str], str | None]) -> Route:
    """GET/HEAD `/audio/{track_id}`: the track's audio, with Range support, or 404.

    `find_path(track_id)` returns the indexed path of a track (None if not indexed); it
    may block (a store lookup), so it runs in a worker thread.
    """
    async def serve_audio(request: Request) -> Response:
        track_id = request.path_params["track_id"]
        path = await run_in_threadpool(find_path, track_id)
        audio = await run_in_threadpool(probe_audio, path) if path else None
        if audio is None:
            return PlainTextResponse("no playable audio for this track", status_code=404)
        # FileResponse answers Range/If-Range/HEAD (browsers seek with Range).
        return FileResponse(audio.path, media_type=audio.content_type, stat_result=audio.stat,
                            filename=Path(audio.path).name, content_disposition_type="inline",
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "private, max-age=3600"})

    return Route(f"/{AUDIO_ROUTE}/{{track_id:path}}", serve_audio, methods=["GET", "HEAD"])
