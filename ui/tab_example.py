"""The By example tab: tracks that sound like an uploaded or recorded clip, or like an
indexed track, optionally nudged by words ("like this, but sadder": the text's share of
the query is the text weight, `Searcher.search(text_weight=…)`).

These searches go through a Gradio event outside the queue, at most `audio_slots` at once
(they decode audio and run the CNN); an upload is deleted once a search has used it.
"""
from __future__ import annotations

import asyncio
import os
from contextlib import nullcontext
from pathlib import Path

import gradio as gr
from starlette.concurrency import run_in_threadpool

from .callbacks import MAX_K, MAX_QUERY_CHARS, search_outputs
from .format import CSS, render_status, results_js
from .library import Facets
from .media import probe_audio
from .uploads import UploadFolder

__all__ = ["example_tab", "example_outputs", "DEFAULT_TEXT_WEIGHT"]

DEFAULT_TEXT_WEIGHT = 0.3      # mostly the example, a little of the words
HINT = "Upload or record a clip, or pick an indexed track, then press Find similar."


def example_outputs(searcher, audio_path, track_id, text, text_weight, exclude_artist, k,
                    track_label=None, vector=None) -> str:
    """The results area for one by-example query (plain function, tested directly).
    `vector`: "music" (default) or "backbone" (the collection's backbone vector)."""
    track_id = (track_id or "").strip() or None
    text = (text or "").strip() or None
    if not audio_path and track_id is None:
        return render_status(HINT, kind="hint")
    fields = {"exclude_artist": bool(exclude_artist) and track_id is not None}
    if text is not None:
        fields["text_weight"] = text_weight
    if vector:
        fields["vector"] = vector
    return search_outputs(searcher, text, audio_path or None, k, track_id=track_id,
                          track_label=track_label, fields=fields)


def example_tab(searcher, facets: Facets, uploads: UploadFolder | None,
                audio_slots: asyncio.Semaphore) -> None:
    labels = {track_id: label for label, track_id in facets.track_choices}

    async def on_example(audio_path, track_id, text, weight, exclude_artist, k, vector):
        def work():
            return example_outputs(searcher, audio_path, track_id, text, weight,
                                   exclude_artist, k, track_label=labels.get(track_id),
                                   vector=vector)
        if not audio_path:
            return await run_in_threadpool(work), gr.skip()
        if not os.path.isfile(audio_path):
            return render_status("The clip is no longer on the server: please upload it "
                                 "again.", kind="error"), None
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

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            audio = gr.Audio(label="A clip: upload or record", type="filepath",
                             sources=["upload", "microphone"], elem_id="ms-audio")
            track = gr.Dropdown(facets.track_choices, value=None, label="…or an indexed "
                                "track", allow_custom_value=True, filterable=True,
                                elem_id="ms-track")
            text = gr.Textbox(label="…but (optional words)", lines=1,
                              placeholder="e.g. sadder, slower", elem_id="ms-but",
                              max_length=MAX_QUERY_CHARS)
            weight = gr.Slider(0, 1, value=DEFAULT_TEXT_WEIGHT, step=0.05,
                               label="Text weight (0: only the example, 1: only the words)",
                               elem_id="ms-weight")
            exclude = gr.Checkbox(label="Other artists only (with a track)", value=False,
                                  elem_id="ms-other-artists")
            vector = gr.Radio(["music", "backbone"], value="music", label="Compare on",
                              info=f"music: the model's joint space; backbone: MusiCNN "
                                   f"({facets.backbone}) embedding, the example alone",
                              elem_id="ms-vector", visible=bool(facets.backbone))
            k = gr.Slider(1, MAX_K, value=10, step=1, label="Results", elem_id="ms-example-k")
            search = gr.Button("Find similar", variant="primary",
                               elem_id="ms-example-search")
        with gr.Column(scale=3, min_width=420):
            results = gr.HTML(render_status(HINT, kind="hint"), elem_id="ms-example-results",
                              css_template=CSS,
                              js_on_load=results_js("ms-example-k", text_search=False))
    search.click(on_example, inputs=[audio, track, text, weight, exclude, k, vector],
                 outputs=[results, audio], queue=False)
    audio.upload(on_upload, inputs=[audio], outputs=[audio, results], queue=False)
