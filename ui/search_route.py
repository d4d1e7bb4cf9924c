"""The page's light search path: `GET search?q=TEXT&k=N` (or `?track=ID&title=T&k=N` for
"More like this"), with the Search tab's options as further parameters (`not`, `artist`,
`tag`, `from_collection`, `min_duration`, `max_duration`, `sections`, `diverse`, `mode`:
ui/form.py), answers with the results
area's HTML.

A text search is about a millisecond of work; through a Gradio event the same search cost
~3 ms of server CPU (request models, sync dependencies and each input and output hopping
to worker threads), which capped the app near 330 searches/s on two cores and put p99 over
a second at 50 clients (benchmarks/ui_load.py). This route does only the search and the
rendering. Searches with an uploaded clip still go through the Gradio event.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from .form import fields_from_params

__all__ = ["SEARCH_ROUTE", "search_route"]

SEARCH_ROUTE = "search"
MAX_LABEL_CHARS = 200


def search_route(page: Callable[..., str], slots: int, inline: bool) -> Route:
    """GET `/search`: `page(text, track_id, track_label, k, fields)` → HTML.

    `inline`: run `page` on the event loop. Right for the embedded store: its search is
    sub-millisecond CPU work that keeps the GIL, so a worker thread adds only a hand-off
    and GIL contention (measured: 570 vs 400 searches/s, p50 74 vs 120 ms at 50 clients).
    Otherwise (a Qdrant server: the search waits on the network) `page` runs in worker
    threads, at most `slots` at a time; waiting for a slot holds no thread.
    """
    gate = asyncio.Semaphore(slots)

    async def endpoint(request: Request) -> HTMLResponse:
        params = request.query_params
        arguments = (params.get("q"), params.get("track"),
                     (params.get("title") or "")[:MAX_LABEL_CHARS] or None,
                     params.get("k", "10"), fields_from_params(params))
        if inline:
            html = page(*arguments)
        else:
            async with gate:
                html = await run_in_threadpool(page, *arguments)
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "X-Content-Type-Options": "nosniff"})

    return Route(f"/{SEARCH_ROUTE}", endpoint, methods=["GET"])
