"""The Gradio app: a thin layer over `retrieval.search.Searcher`.

The callbacks (`run_search`, `search_outputs`, `header_text`) are plain functions of the
searcher and the inputs, testable without a browser. `build_app` wires them into a
`gr.Blocks`; `serve` launches it, serving audio only from the indexed folders.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported

import gradio as gr  # noqa: E402

from retrieval.frontend import AudioDecodeError  # noqa: E402
from retrieval.query import QueryError  # noqa: E402

from .errors import USER_ERRORS  # noqa: E402

from .format import (CSS, RESULTS_JS, ResultRow, render_header, render_results,  # noqa: E402
                     render_status, resolve_audio_path)

__all__ = ["DEFAULT_EXAMPLES", "MAX_K", "run_search", "search_outputs", "header_text",
           "indexed_audio_roots", "build_app", "serve"]

log = logging.getLogger(__name__)

DEFAULT_EXAMPLES = ["lively irish fiddle reel", "calm choir chorale",
                    "string quartet in a minor key", "fast jig on flute", "solemn organ"]
MAX_K = 50


def _clean_k(k) -> int:
    try:
        return max(1, min(MAX_K, int(k)))
    except (TypeError, ValueError):
        return 10


def _describe(text: str | None, audio_path: str | None, track_label: str | None) -> str:
    parts = []
    if text:
        parts.append(f"“{text}”")
    if audio_path:
        parts.append(f"sounds like *{Path(audio_path).name}*")
    if track_label:
        parts.append(f"sounds like *{track_label}*")
    return " + ".join(parts)


def run_search(searcher, text: str | None, audio_path: str | None, k=10, *,
               track_id: str | None = None, track_label: str | None = None,
               audio_roots: list[str] | tuple[str, ...] = ()) -> tuple[str, list[ResultRow]]:
    """One query → (status markdown, ranked rows). Never raises for user errors.

    `text` and `audio_path` combine (the searcher sums their vectors); `track_id` asks
    for tracks that sound like an indexed one (`track_label`, its title, names it). Row paths are resolved against
    `audio_roots` and are None when the file is missing or outside them.
    """
    text = (text or "").strip() or None
    audio_path = audio_path or None
    if text is None and audio_path is None and track_id is None:
        return render_status("Type a description (e.g. *lively irish fiddle reel*) or "
                             "upload an audio clip, then press **Search**.", kind="hint"), []
    try:
        result = searcher.search(text=text, audio=audio_path, track_id=track_id,
                                 k=_clean_k(k))
    except AudioDecodeError as error:
        return render_status(f"Could not read the uploaded audio: {error}. "
                             "Try a WAV, FLAC or OGG file.", kind="error"), []
    except QueryError as error:
        message = str(error)
        if message.startswith("no known words"):
            message += ". Try words like instruments, genres, moods or tempos."
        return render_status(message[0].upper() + message[1:], kind="error"), []
    except USER_ERRORS as error:
        return render_status(str(error), kind="error"), []
    except Exception as error:  # a bug or a broken index: log it, show one line
        log.exception("search failed")
        return render_status(f"Search failed ({type(error).__name__}: {error}).",
                             kind="error"), []
    rows = [ResultRow(rank=i, track_id=h.track_id, title=h.title, artist=h.artist,
                      score=float(h.score), tags=list(h.tags), why=h.why,
                      path=resolve_audio_path(h.path, audio_roots))
            for i, h in enumerate(result.hits, start=1)]
    label = (track_label or track_id) if track_id is not None else None
    query = _describe(text, audio_path, label)
    if rows:
        status = f"**{len(rows)}** result{'s' if len(rows) != 1 else ''} for {query}"
    else:
        status = f"No indexed tracks matched {query}. Is the index empty?"
    return render_status(status, result.notes), rows


def search_outputs(searcher, text, audio_path, k, *, track_id=None, track_label=None,
                   audio_roots=()) -> tuple[str, str]:
    """`run_search` rendered for the page: (status markdown, results HTML)."""
    status, rows = run_search(searcher, text, audio_path, k, track_id=track_id,
                              track_label=track_label, audio_roots=audio_roots)
    return status, render_results(rows)


def header_text(searcher, title: str = "musicsearch") -> str:
    fingerprint = getattr(searcher.model, "fingerprint", None)
    try:
        n_tracks = int(searcher.store.count())
    except Exception:  # a store that cannot count still serves searches
        n_tracks = None
    return render_header(title, fingerprint, n_tracks)


def indexed_audio_roots(store) -> list[str]:
    """The folders holding the indexed audio (for `serve(audio_roots=...)`): the parent
    folder of every payload's absolute `path`, nested ones dropped. Needs a store with
    `iter_payloads()` (the `index/` stores have it); [] otherwise."""
    iter_payloads = getattr(store, "iter_payloads", None)
    if iter_payloads is None:
        return []
    folders = {Path(p["path"]).parent for p in iter_payloads()
               if p.get("path") and Path(p["path"]).is_absolute()}
    return sorted(str(f) for f in folders
                  if not any(o != f and f.is_relative_to(o) for o in folders))


def build_app(searcher, *, examples: list[str] | None = None, title: str = "musicsearch",
              audio_roots: list[str] | tuple[str, ...] = ()) -> gr.Blocks:
    """The search page. `audio_roots` are the indexed folders (for resolving hit paths)."""
    examples = list(DEFAULT_EXAMPLES if examples is None else examples)
    roots = tuple(str(r) for r in audio_roots)

    def on_search(text, audio_path, k):
        return search_outputs(searcher, text, audio_path, k, audio_roots=roots)

    def on_more_like(k, event: gr.EventData):
        data = getattr(event, "_data", None)
        data = data if isinstance(data, dict) else {}
        if not data.get("track_id"):
            return gr.skip(), gr.skip()
        return search_outputs(searcher, None, None, k, track_id=str(data["track_id"]),
                              track_label=data.get("title"), audio_roots=roots)

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(header_text(searcher, title), elem_id="ms-header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                text = gr.Textbox(label="Describe the music", lines=1, max_lines=3,
                                  placeholder="e.g. lively irish fiddle reel",
                                  elem_id="ms-query", autofocus=True)
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[text],
                                label="Try")
                audio = gr.Audio(label="…or find tracks that sound like a clip (optional)",
                                 sources=["upload"], type="filepath", elem_id="ms-audio")
                k = gr.Slider(1, MAX_K, value=10, step=1, label="Results")
                with gr.Row():
                    clear = gr.Button("Clear", variant="secondary", scale=1)
                    search = gr.Button("Search", variant="primary", scale=2,
                                       elem_id="ms-search")
            with gr.Column(scale=3, min_width=420):
                status = gr.Markdown(render_status(
                    "Results appear here. Press play on a card to listen; "
                    "**More like this** finds tracks that sound similar.", kind="hint"),
                    elem_id="ms-status")
                results = gr.HTML("", elem_id="ms-results", css_template=CSS,
                                  js_on_load=RESULTS_JS)
        inputs = [text, audio, k]
        gr.on([search.click, text.submit], on_search, inputs=inputs,
              outputs=[status, results], concurrency_limit=2)
        results.click(on_more_like, inputs=[k], outputs=[status, results])
        clear.click(lambda: ("", None, render_status("Cleared.", kind="hint"), ""),
                    outputs=[text, audio, status, results])
    return app


HEADER_CSS = """
#ms-header h1 { margin: 0 0 .15em 0; font-size: 1.6em; }
#ms-header p { margin: 0 0 .2em 0; color: var(--body-text-color-subdued); }
#ms-audio { min-height: 0; }
"""


def serve(searcher, host: str = "127.0.0.1", port: int = 7860,
          audio_roots: list[str] | tuple[str, ...] = (), open_browser: bool = False,
          block: bool = True, *, examples: list[str] | None = None,
          title: str = "musicsearch") -> gr.Blocks:
    """Launch the app on host:port. Only files under `audio_roots` (the folders holding
    indexed audio) are served, besides Gradio's own upload cache; never the filesystem.

    With `block=False` the server runs in a background thread; the app is returned and
    `app.close()` stops it (its URL is `app.local_url`).
    """
    roots = [str(Path(r).expanduser().resolve()) for r in audio_roots]
    app = build_app(searcher, examples=examples, title=title, audio_roots=roots)
    app.queue(default_concurrency_limit=2)
    app.launch(server_name=host, server_port=port, share=False, inbrowser=open_browser,
               allowed_paths=roots, quiet=True, show_error=False,
               prevent_thread_lock=not block, css=HEADER_CSS, theme=gr.themes.Soft(),
               footer_links=[], ssr_mode=False, mcp_server=False)
    return app
