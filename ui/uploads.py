"""Uploaded clips: a private upload folder, Gradio's file routes narrowed to it, and
removal of each upload once a search has used it.

Gradio keeps uploads in `$GRADIO_TEMP_DIR` (by default /tmp/gradio, shared by every Gradio
app on the machine) and its `/gradio_api/file=` route serves that folder, its examples
cache and any registered static path. The app needs it only to play back the user's own
upload, so `UploadsOnly` refuses everything else on those routes.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from collections.abc import Iterator

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["UploadFolder", "UploadsOnly", "private_upload_folder"]

_private: "UploadFolder | None" = None


def private_upload_folder() -> "UploadFolder":
    """This process's upload folder: `$GRADIO_TEMP_DIR` when the user set one, else a
    private temporary folder (mode 0700, removed at exit), which Gradio is pointed at.

    Set once per process: Gradio reads the variable both at launch and when it checks an
    event's files, so every app in the process must agree on it.
    """
    global _private
    if _private is None:
        configured = os.environ.get("GRADIO_TEMP_DIR")
        if configured:
            _private = UploadFolder(configured)
        else:
            folder = tempfile.mkdtemp(prefix="musicsearch-uploads-")
            os.environ["GRADIO_TEMP_DIR"] = folder
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _private = UploadFolder(folder)
    return _private


class UploadFolder:
    """The folder Gradio stores uploads in; removes an upload when no search uses it."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.realpath(path)
        self._in_use: Counter[str] = Counter()
        self._lock = threading.Lock()

    def contains(self, path: str | os.PathLike) -> bool:
        """Whether `path` (symlinks and `..` resolved) is a file inside the folder."""
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError, TypeError):
            return False
        return real.startswith(self.path + os.sep) and os.path.isfile(real)

    @contextmanager
    def consumed(self, path: str | None) -> Iterator[None]:
        """Use an upload for one search, then delete it (and its per-upload folder) unless
        another search in flight uses the same file (Gradio names uploads by content hash,
        so two identical uploads share one path). Paths outside the folder are left alone."""
        if not path or not self.contains(path):
            yield
            return
        real = os.path.realpath(path)
        with self._lock:
            self._in_use[real] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_use[real] -= 1
                if self._in_use[real] <= 0:
                    del self._in_use[real]
                    self._remove(real)

    def discard(self, path: str | None) -> None:
        """Delete an upload now (a rejected one), if inside the folder and not in use."""
        if path and self.contains(path):
            real = os.path.realpath(path)
            with self._lock:
                if real not in self._in_use:
                    self._remove(real)

    def _remove(self, real: str) -> None:
        try:
            os.unlink(real)
            parent = os.path.dirname(real)
            if parent != self.path:
                os.rmdir(parent)   # Gradio's per-upload folder; fails harmlessly if not empty
        except OSError:
            pass


# Gradio's routes that read files from the server's disk or fetch URLs for the browser.
_FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/", "/gradio_api/proxy=",
                "/file=", "/file/", "/proxy=")
# Routes this page never uses that take files: a screen recording is written to Gradio's
# shared temporary folder, never deleted, and run through ffmpeg when installed.
_UNUSED_ROUTES = ("/gradio_api/process_recording",)


class UploadsOnly:
    """ASGI middleware: Gradio's file routes answer only for files inside the upload
    folder; every other path, URL or traversal gets 404 before Gradio sees it, and so do
    the file-taking routes the page does not use."""

    def __init__(self, app: ASGIApp, uploads: UploadFolder):
        self.app = app
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")     # already percent-decoded by the server
            refused = path.rstrip("/") in _UNUSED_ROUTES or any(
                path.startswith(prefix) and not self._allowed(path[len(prefix):], prefix)
                for prefix in _FILE_ROUTES)
            if refused:
                await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _allowed(self, target: str, prefix: str) -> bool:
        if "proxy=" in prefix or "://" in target:
            return False           # the app never needs Gradio to fetch a URL for it
        return self.uploads.contains(target)
