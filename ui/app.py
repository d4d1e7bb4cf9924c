"""The Gradio app: a thin layer over `retrieval.search.Searcher`, in four tabs, each in its
own module: Search (ui/tab_search.py), By example (ui/tab_example.py), Explore
(ui/tab_explore.py) and Library (ui/tab_library.py). `build_app` lays them out; `serve`
launches the app with its own routes:

- `search?q=…` (ui/search_route.py): the Search tab's text searches and "More like this",
  which the page sends there instead of through a Gradio event (the light path);
- `api/search` and `api/duplicates` (ui/api_route.py): the same searches as JSON, and
  the near-duplicate pairs, for `musicsearch search` (`--batch` too) and `musicsearch
  duplicates` while this app holds the embedded collection (it advertises itself:
  ui/advert.py);
- `audio/<quoted track id>` (ui/media.py): an indexed track's audio, looked up in the index
  payload. Besides the user's own uploads (ui/uploads.py) nothing else is served: no folder.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported

import gradio as gr  # noqa: E402
from fastapi.middleware import Middleware  # noqa: E402

from retrieval.catalog import text_to_path  # noqa: E402

from .advert import advertise, withdraw  # noqa: E402
from .api_route import api_route, duplicates_route  # noqa: E402
from .callbacks import (DEFAULT_EXAMPLES, MAX_K, MAX_QUERY_CHARS, header_text,  # noqa: E402
                        run_search, search_outputs, warm_up)
from .explore import MAP_CSS, MapCache  # noqa: E402
from .form import form_fields  # noqa: E402
from .library import collection_facets  # noqa: E402
from .media import audio_route  # noqa: E402
from .query_args import query_from_fields  # noqa: E402
from .search_route import search_route  # noqa: E402
from .tab_example import example_tab  # noqa: E402
from .tab_explore import explore_tab  # noqa: E402
from .tab_library import library_tab  # noqa: E402
from .tab_search import search_tab  # noqa: E402
from .text_cache import TextCachedModel  # noqa: E402
from .uploads import UploadFolder, UploadsOnly, private_upload_folder  # noqa: E402

__all__ = ["DEFAULT_EXAMPLES", "MAX_K", "MAX_QUERY_CHARS", "DEFAULT_MAX_UPLOAD_MB",
           "AUDIO_SLOTS", "SEARCH_SLOTS", "run_search", "search_outputs", "header_text",
           "indexed_audio_path", "warm_up", "build_app", "serve", "ServeError"]

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 50.0
REQUEST_OVERHEAD_BYTES = 64 * 1024   # a request body may exceed the upload cap by this much
AUDIO_SLOTS = 2                # concurrent searches that encode an uploaded clip
SEARCH_SLOTS = 2               # concurrent text searches against a Qdrant server


class ServeError(OSError):
    """The app cannot listen where it was asked to (address in use, unknown host, …)."""


def check_address(host: str, port: int) -> None:
    """Raise ServeError, with the reason, unless `host:port` can be listened on now.
    (Gradio's own message blames the port for any failure, a bad host included.)"""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, OverflowError) as error:
        raise ServeError(f"cannot listen on {host}:{port}: unknown host ({error})") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the server does
        try:
            probe.bind(address)
        except OSError as error:
            raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                             "choose another --port or --host") from None


def indexed_audio_path(store, track_id: str) -> str | None:
    """The indexed file of a track, from its payload: None if the track is not indexed,
    its path is not absolute (index/points.py stores absolute paths), or the store cannot
    look payloads up."""
    lookup = getattr(store, "existing_payloads", None)
    if lookup is None:
        return None
    try:
        path = (lookup([track_id]).get(track_id) or {}).get("path")
    except Exception:  # a store gone away answers "no audio", the page stays up
        log.exception("payload lookup failed for %r", track_id)
        return None
    if not isinstance(path, str):
        return None
    path = text_to_path(path)   # a non-UTF-8 file name is stored as its file:// form
    return path if os.path.isabs(path) else None


def _searches_in_process(store) -> bool:
    """Whether the store searches in this process without waiting on I/O (the embedded
    engine), rather than over the network (a Qdrant server)."""
    from index.edge_store import EdgeStore   # ui may import index; only this check needs it
    return isinstance(store, EdgeStore)


def build_app(searcher, *, examples: list[str] | None = None, title: str = "musicsearch",
              uploads: UploadFolder | None = None,
              audio_slots: asyncio.Semaphore | None = None) -> gr.Blocks:
    """The page. With `uploads` (the folder Gradio stores uploads in), each uploaded clip
    is deleted once a search has used it, and non-audio uploads at once."""
    examples = list(DEFAULT_EXAMPLES if examples is None else examples)
    audio_slots = audio_slots or asyncio.Semaphore(AUDIO_SLOTS)   # waiting holds no thread
    facets = collection_facets(searcher.store)
    maps = MapCache(searcher.store)

    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(header_text(searcher, title), elem_id="ms-header")
        with gr.Tabs(elem_id="ms-tabs"):
            with gr.Tab("Search", elem_id="ms-tab-search"):
                query = search_tab(searcher, facets, examples)
            with gr.Tab("By example", elem_id="ms-tab-example"):
                example_tab(searcher, facets, uploads, audio_slots)
            with gr.Tab("Explore", elem_id="ms-tab-explore") as explore:
                explore_tab(searcher, facets, maps, query, explore)
            with gr.Tab("Library", elem_id="ms-tab-library"):
                library_tab(searcher, facets, lambda: collection_facets(searcher.store))
    return app


HEADER_CSS = """
#ms-header h1 { margin: 0 0 .15em 0; font-size: 1.6em; }
#ms-header p { margin: 0 0 .2em 0; color: var(--body-text-color-subdued); }
#ms-audio { min-height: 0; }
""" + MAP_CSS


def serve(searcher, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False,
          block: bool = True, *, examples: list[str] | None = None,
          title: str = "musicsearch", max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
          warm: bool = True, torch_threads: int | None = 1) -> gr.Blocks:
    """Launch the app on host:port (see the module docstring for what it serves).

    Query-text encodings are remembered (ui/text_cache.py). Uploads are capped at
    `max_upload_mb` MiB and kept in a private folder. `warm` runs one
    text and one audio query first, so the first visitor does not pay for loading.
    `torch_threads` sets this process's intra-op threads (None: leave them): concurrent
    requests already use the cores, and on a busy 2-core machine a 3-vector forward pass
    took 3.9 ms with two threads against 0.27 ms with one.

    With `block=False` the server runs in a background thread; the app is returned and
    `app.close()` stops it (its URL is `app.local_url`). Raises ServeError if host:port
    cannot be listened on.
    """
    if not max_upload_mb > 0:
        raise ValueError(f"max_upload_mb must be positive, got {max_upload_mb}")
    check_address(host, port)      # before the warm-up: fail in a second, not after it
    searcher = copy.copy(searcher)    # the caller's searcher keeps its own model
    searcher.model = TextCachedModel(searcher.model)
    uploads = private_upload_folder()
    if torch_threads:
        import torch   # only to set the thread count; the model is retrieval's business
        torch.set_num_threads(torch_threads)
    if warm:
        warm_up(searcher, (examples or DEFAULT_EXAMPLES)[0])
    audio_slots = asyncio.Semaphore(AUDIO_SLOTS)
    app = build_app(searcher, examples=examples, title=title, uploads=uploads,
                    audio_slots=audio_slots)

    def page(text, track_id, track_label, k, fields):
        return search_outputs(searcher, text, None, k, track_id=track_id,
                              track_label=track_label, fields=fields)

    def answer(text, track_id, k, fields, audio=None):
        options = query_from_fields(form_fields(**fields))
        return searcher.search(text=text, audio=audio, track_id=track_id, k=k,
                               **options).to_dict()

    def duplicates(threshold):
        from index.duplicates import find_duplicates   # the index package only when asked
        pairs = find_duplicates(searcher.store, threshold)
        return {"threshold": threshold, "pairs": [p.to_dict() for p in pairs]}

    upload_bytes = int(max_upload_mb * 1024 * 1024)
    routes = [search_route(page, SEARCH_SLOTS, inline=_searches_in_process(searcher.store)),
              api_route(answer, audio_slots, upload_bytes), duplicates_route(duplicates),
              audio_route(lambda track_id: indexed_audio_path(searcher.store, track_id))]
    options = dict(server_name=host, server_port=port, share=False, inbrowser=open_browser,
                   quiet=True, show_error=False, prevent_thread_lock=True, css=HEADER_CSS,
                   theme=gr.themes.Soft(), footer_links=[], ssr_mode=False, mcp_server=False,
                   run_history=False,     # no per-call recording, no runs page
                   max_file_size=upload_bytes,     # per file; and per request, below:
                   app_kwargs={"routes": routes,
                               "middleware": [Middleware(UploadsOnly, uploads=uploads)],
                               # Gradio takes up to 1000 files per upload request: cap the
                               # body itself (the form's own headers need a few KiB more)
                               "max_body_size": upload_bytes + REQUEST_OVERHEAD_BYTES})
    if not block:
        app.launch(**options)
        _advertise(app, searcher.store, host, port)
        return app
    try:
        # Ctrl+C or SIGTERM is how this server stops, also while Gradio is still starting
        # (before block_thread's own handler has taken over): either way a clean stop
        app.launch(**options)
        _advertise(app, searcher.store, host, port)
        app.block_thread()     # until Ctrl+C / SIGTERM; then the advert goes too
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return app


def _advertise(app: gr.Blocks, store, host: str, port: int) -> None:
    """Say where this app listens, next to the embedded collection it holds (ui/advert.py);
    withdrawn when the app closes or the process exits. A server store needs none."""
    if not _searches_in_process(store):
        return
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    try:
        path = advertise(store.location, store.collection, url,
                         getattr(store, "model_fingerprint", lambda: None)())
    except OSError as error:   # a read-only store folder: the app still serves
        log.warning("cannot advertise the app next to the collection (%s)", error)
        return
    close = app.close

    def close_and_withdraw(*args, **kwargs):
        withdraw(path)
        return close(*args, **kwargs)

    app.close = close_and_withdraw
