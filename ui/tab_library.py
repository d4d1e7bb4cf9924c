"""The Library tab: the collection, the model and the counts (ui/library.py), and
indexing a folder the visitor types into the served collection, with progress."""
from __future__ import annotations

import threading

import gradio as gr

from .library import Facets, index_folder, library_markdown

__all__ = ["library_tab"]


def library_tab(searcher, facets: Facets, refresh_facets) -> None:
    """`refresh_facets()` → Facets after an indexing run (the counts changed)."""
    one_at_a_time = threading.Lock()     # two runs into one collection would only collide

    def on_index(folder, progress=gr.Progress()):
        if not one_at_a_time.acquire(blocking=False):
            return "Not indexed: another folder is being indexed; wait for it to finish.", \
                gr.skip()
        try:
            progress(0, desc="checking the folder")
            line = index_folder(searcher, folder, on_progress=lambda done, total: progress(
                (done, total), desc="indexing", unit="tracks"))
        finally:
            one_at_a_time.release()
        return line, library_markdown(searcher, refresh_facets())

    info = gr.Markdown(library_markdown(searcher, facets), elem_id="ms-library")
    with gr.Row(equal_height=True):
        folder = gr.Textbox(label="Index a folder of audio into this collection",
                            placeholder="/path/to/music", elem_id="ms-index-folder", scale=4)
        run = gr.Button("Index", variant="primary", elem_id="ms-index", scale=1)
    outcome = gr.Markdown("", elem_id="ms-index-outcome")
    # Through the queue: a run takes minutes and reports progress on its event stream.
    run.click(on_index, inputs=[folder], outputs=[outcome, info], concurrency_limit=1)
