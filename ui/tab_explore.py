"""The Explore tab: the collection map (ui/explore.py) coloured by a chosen tag, with the
Search tab's query marked; clicking a point plays it."""
from __future__ import annotations

import gradio as gr
from starlette.concurrency import run_in_threadpool

from .explore import MAP_JS, MapCache, explore_html
from .form import ANY
from .format import render_status
from .library import Facets

__all__ = ["explore_tab"]


def explore_tab(searcher, facets: Facets, maps: MapCache, query: gr.Textbox,
                tab: gr.Tab) -> None:
    """Lay the tab out (inside `tab`); `query` is the Search tab's query box."""
    async def on_draw(tag, text):
        return await run_in_threadpool(explore_html, searcher, maps, tag, text)

    tags = [t for t, _ in facets.tags]
    with gr.Row():
        tag = gr.Dropdown([ANY, *tags], value=tags[0] if tags else ANY,
                          label="Colour by tag", allow_custom_value=True, elem_id="ms-map-tag",
                          scale=3)
        draw = gr.Button("Draw the map", variant="primary", elem_id="ms-map-draw", scale=1)
    view = gr.HTML(render_status("Open this tab or press Draw the map.", kind="hint"),
                   elem_id="ms-map", js_on_load=MAP_JS)
    for event in (draw.click, tag.change, tab.select):
        event(on_draw, inputs=[tag, query], outputs=[view], queue=False)
