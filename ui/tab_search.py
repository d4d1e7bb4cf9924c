"""The Search tab: a description with negative terms and filters (artist, tag, catalog
collection, duration range), section matching where the collection keeps chunk vectors,
diversity re-ranking (MMR), and result cards with players. The page's script sends these searches to the light `search` route
(ui/search_route.py); the Gradio event below answers when the script is absent."""
from __future__ import annotations

import gradio as gr
from starlette.concurrency import run_in_threadpool

from retrieval.fusion import FUSIONS
from retrieval.routing import BACKBONE_TAGS, MODES

from .callbacks import MAX_K, MAX_QUERY_CHARS, search_outputs
from .form import ANY
from .format import CSS, RESULTS_JS, render_status
from .library import Facets

__all__ = ["search_tab", "search_fields", "HINT"]

HINT = ("Results appear here. Press play on a card to listen; More like this finds "
        "tracks that sound similar.")


MODE_INFO = ("auto: a few known words go to the word tower, a sentence to the sentence "
             "tower (on models that have one)")
BACKBONE_INFO = "; backbone-tags: by the stored probabilities of MusiCNN's own 50 tags"


FUSION_INFO = ("acoustic: how the tracks sound; cultural: which tracks share playlists; "
               "rrf / weighted: both, fused by Qdrant")


DIVERSE_INFO = ("1: by relevance only; lower: re-rank for variety (MMR), so near-identical "
                "tracks do not fill the list")


def search_fields(negatives, artist, tag, min_duration, max_duration, sections,
                  mode=None, collection=None, diverse=None, fusion=None) -> dict:
    """The tab's inputs → option values by field name (cleaned by `run_search`). A
    duration box shows 0 when empty: 0 means no bound there; the diversity slider at 1
    (relevance only) asks for no re-ranking."""
    return {"not": negatives, "artist": artist, "tag": tag, "from_collection": collection,
            "min_duration": min_duration or None, "max_duration": max_duration or None,
            "sections": sections, "mode": mode,
            "diverse": None if diverse is None or diverse >= 1 else diverse,
            "fusion": None if fusion in (None, "acoustic") else fusion}


def search_tab(searcher, facets: Facets, examples: list[str]) -> gr.Textbox:
    """Lay the tab out (inside a `gr.Tab`); returns the query box (Explore marks it)."""
    async def on_search(text, negatives, artist, tag, collection, low, high, sections,
                        diverse, mode, fusion, k):
        fields = search_fields(negatives, artist, tag, low, high, sections, mode,
                               collection, diverse, fusion)
        return await run_in_threadpool(search_outputs, searcher, text, None, k,
                                       fields=fields)

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            text = gr.Textbox(label="Describe the music", lines=1, max_lines=3,
                              placeholder="e.g. lively irish fiddle reel -slow",
                              info="A leading minus leaves a word out: piano -sad",
                              elem_id="ms-query", autofocus=True,
                              max_length=MAX_QUERY_CHARS)
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[text], label="Try")
            negatives = gr.Textbox(label="Leave out (comma-separated)", lines=1,
                                   placeholder="e.g. vocals, slow", elem_id="ms-not")
            with gr.Accordion("Filters", open=True):
                with gr.Row():
                    artist = gr.Dropdown([ANY, *facets.artists], value=ANY, label="Artist",
                                         allow_custom_value=True, elem_id="ms-artist")
                    tag = gr.Dropdown([ANY, *(t for t, _ in facets.tags)], value=ANY,
                                      label="Tag", allow_custom_value=True, elem_id="ms-tag")
                # payload meta.collection (a catalog's part, e.g. the demo's books)
                collection = gr.Dropdown([ANY, *facets.collections], value=ANY,
                                         label="Catalog collection", allow_custom_value=True,
                                         elem_id="ms-collection",
                                         visible=bool(facets.collections))
                with gr.Row():
                    low = gr.Number(label="Shortest (s; 0: any)", value=None, minimum=0,
                                    elem_id="ms-min")
                    high = gr.Number(label="Longest (s; 0: any)", value=None, minimum=0,
                                     elem_id="ms-max")
                sections = gr.Checkbox(
                    label="Match sections (rank by the best-matching part; players start "
                          "there)", value=False, elem_id="ms-sections",
                    visible=facets.has_chunks)
            diverse = gr.Slider(0, 1, value=1, step=0.05, label="Relevance ↔ variety (λ)",
                                info=DIVERSE_INFO, elem_id="ms-diverse")
            modes = [*MODES, BACKBONE_TAGS] if facets.backbone else list(MODES)
            mode = gr.Radio(modes, value="auto", label="Query path",
                            info=MODE_INFO + (BACKBONE_INFO if facets.backbone else ""),
                            elem_id="ms-mode")
            fusion = gr.Radio(list(FUSIONS), value="acoustic", label="Song vectors",
                              info=FUSION_INFO, elem_id="ms-fusion",
                              visible=facets.has_cultural)
            k = gr.Slider(1, MAX_K, value=10, step=1, label="Results", elem_id="ms-k")
            with gr.Row():
                clear = gr.Button("Clear", variant="secondary", scale=1)
                search = gr.Button("Search", variant="primary", scale=2, elem_id="ms-search")
        with gr.Column(scale=3, min_width=420):
            results = gr.HTML(render_status(HINT, kind="hint"), elem_id="ms-results",
                              css_template=CSS, js_on_load=RESULTS_JS)
    # Outside the queue: answered in the request itself, no event stream.
    gr.on([search.click, text.submit], on_search,
          inputs=[text, negatives, artist, tag, collection, low, high, sections, diverse, mode,
                  fusion, k], outputs=[results],
          queue=False)
    clear.click(lambda: ("", "", ANY, ANY, ANY, None, None, False, 1, "auto", "acoustic",
                         render_status("Cleared.", kind="hint")),
                outputs=[text, negatives, artist, tag, collection, low, high, sections,
                         diverse, mode, fusion, results],
                queue=False)
    return text
