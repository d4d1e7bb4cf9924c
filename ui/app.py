"""The Gradio app: a thin layer over `retrieval.search.Searcher`.

The callbacks (`run_search`, `search_outputs`, `header_text`, in ui/callbacks.py) are plain
functions of the searcher and the inputs. `build_app` wires them into a `gr.Blocks`;
`serve` launches it with the app's own routes:

- `search?q=…` (ui/search_route.py): text searches and "More like this", which the page
  sends there instead of through a Gradio event (the light path; see that module);
- `audio/<quoted track id>` (ui/media.py): an indexed track's audio, looked up in the index
  payload. Besides the user's own uploads (ui/uploads.py) nothing else is served: no folder.

Searches with an uploaded clip go through a Gradio event outside the queue, at most
`AUDIO_SLOTS` at once (they decode audio and run the CNN); the upload is deleted after.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
from contextlib import nullcontext
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported

import gradio as gr  # noqa: E402
from fastapi.middleware import Middleware  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from retrieval.catalog import text_to_path  # noqa: E402
from retrieval.routing import MODES  # noqa: E402  (numpy only, no torch)

from .callbacks import (DEFAULT_EXAMPLES, MAX_K, MAX_QUERY_CHARS, header_text,  # noqa: E402
                        run_search, search_outputs, warm_up)
from .format import CLIP_JS, CSS, RESULTS_JS, render_status  # noqa: E402
from .media import audio_route, probe_audio  # noqa: E402
from .search_route import search_route  # noqa: E402
from .text_cache import TextCachedModel  # noqa: E402
from .uploads import UploadFolder, UploadsOnly, private_upload_folder  # noqa: E402

__all__ = ["DEFAULT_EXAMPLES", "MAX_K", "MAX_QUERY_CHARS", "DEFAULT_MAX_UPLOAD_MB",
           "AUDIO_SLOTS", "SEARCH_SLOTS", "run_search", "search_outputs", "header_text",
           "indexed_audio_path", "warm_up", "build_app", "serve", "ServeError"]

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 50.0
REQUEST_OVERHEAD_BYTES = 64 * 1024   # a request body may exceed the upload cap by this much
MODE_INFO = ("auto: a few known words go to the word tower, a sentence to the sentence "
             "tower (on models that have one)")
AUDIO_SLOTS = 2                # concurrent searches that encode an uploaded clip
SEARCH_SLOTS = 2               # concurrent text searches against a Qdrant server
HINT = "Results appear here. Press play on a card to listen; More like this finds " \
       "tracks that sound similar."


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
              uploads: UploadFolder | None = None) -> gr.Blocks:
    """The search page. With `uploads` (the folder Gradio stores uploads in), each
    uploaded clip is deleted once a search has used it, and non-audio uploads at once."""
    examples = list(DEFAULT_EXAMPLES if examples is None else examples)
    audio_slots = asyncio.Semaphore(AUDIO_SLOTS)     # waiting on it holds no thread

    async def on_search(text, audio_path, k, mode):
        """The Gradio event: clip searches (and text ones if the page script is absent)."""
        def work():
            return search_outputs(searcher, text, audio_path, k, mode=mode)
        if not audio_path:
            return await run_in_threadpool(work), None
        if not os.path.isfile(audio_path):
            return render_status("The uploaded clip is no longer on the server: please "
                                 "upload it again.", kind="error"), None
        with uploads.consumed(audio_path) if uploads else nullcontext():
            async with audio_slots:
                page = await run_in_threadpool(work)
        return page, None     # the upload is gone: clear the player that showed it

    def on_upload(audio_path):
        if not audio_path or probe_audio(audio_path) is not None:
            return gr.skip(), gr.skip()
        if uploads:
            uploads.discard(audio_path)
        return None, render_status(f"{Path(audio_path).name} is not an audio file "
                                   "musicsearch can read: upload a WAV, FLAC, OGG or MP3 "
                                   "clip.", kind="error")

    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(header_text(searcher, title), elem_id="ms-header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                text = gr.Textbox(label="Describe the music", lines=1, max_lines=3,
                                  placeholder="e.g. lively irish fiddle reel",
                                  elem_id="ms-query", autofocus=True,
                                  max_length=MAX_QUERY_CHARS)
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[text],
                                label="Try")
                audio = gr.Audio(label="…or find tracks that sound like a clip (optional)",
                                 sources=["upload"], type="filepath", elem_id="ms-audio")
                k = gr.Slider(1, MAX_K, value=10, step=1, label="Results", elem_id="ms-k")
                mode = gr.Radio(["auto", *(m for m in MODES if m != "auto")], value="auto", label="Query path",
                                info=MODE_INFO, elem_id="ms-mode")
                with gr.Row():
                    clear = gr.Button("Clear", variant="secondary", scale=1)
                    search = gr.Button("Search", variant="primary", scale=2,
                                       elem_id="ms-search")
            with gr.Column(scale=3, min_width=420):
                results = gr.HTML(render_status(HINT, kind="hint"), elem_id="ms-results",
                                  css_template=CSS, js_on_load=RESULTS_JS)
        # Outside the queue: answered in the request itself, no event stream.
        gr.on([search.click, text.submit], on_search, inputs=[text, audio, k, mode],
              outputs=[results, audio], queue=False)
        audio.upload(on_upload, inputs=[audio], outputs=[audio, results], queue=False)
        audio.change(None, inputs=[audio], js=CLIP_JS)     # browser only: no request
        clear.click(lambda: ("", None, render_status("Cleared.", kind="hint")),
                    outputs=[text, audio, results], queue=False)
    return app


HEADER_CSS = """
#ms-header h1 { margin: 0 0 .15em 0; font-size: 1.6em; }
#ms-header p { margin: 0 0 .2em 0; color: var(--body-text-color-subdued); }
#ms-audio { min-height: 0; }
"""


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
    app = build_app(searcher, examples=examples, title=title, uploads=uploads)

    def page(text, track_id, track_label, k, mode=None):
        return search_outputs(searcher, text, None, k, track_id=track_id,
                              track_label=track_label, mode=mode)

    upload_bytes = int(max_upload_mb * 1024 * 1024)
    routes = [search_route(page, SEARCH_SLOTS, inline=_searches_in_process(searcher.store)),
              audio_route(lambda track_id: indexed_audio_path(searcher.store, track_id))]
    app.launch(server_name=host, server_port=port, share=False, inbrowser=open_browser,
               quiet=True, show_error=False, prevent_thread_lock=not block, css=HEADER_CSS,
               theme=gr.themes.Soft(), footer_links=[], ssr_mode=False, mcp_server=False,
               run_history=False,     # no per-call recording, no runs page
               max_file_size=upload_bytes,     # per file; and per request, below:
               app_kwargs={"routes": routes,
                           "middleware": [Middleware(UploadsOnly, uploads=uploads)],
                           # Gradio takes up to 1000 files per upload request: cap the
                           # body itself (the form's own headers need a few KiB more)
                           "max_body_size": upload_bytes + REQUEST_OVERHEAD_BYTES})
    return app
