"""The Explore tab's content as a plain function: the collection map (ui/collection_map.py)
coloured by a tag, the current query's place on it, and a player for clicked points."""
from __future__ import annotations

import html
import logging
import threading

from retrieval.messages import first_line
from retrieval.query_plan import QueryPlan

from .collection_map import MAX_MAP_POINTS, CollectionMap
from .errors import USER_ERRORS
from .form import ANY

__all__ = ["MapCache", "explore_html", "MAP_JS", "MAP_CSS"]

log = logging.getLogger(__name__)


class MapCache:
    """The map of the served collection, fitted on first use and again when the number
    of tracks changes (the Library tab indexed a folder)."""

    def __init__(self, store, max_points: int = MAX_MAP_POINTS):
        self.store = store
        self.max_points = max_points
        self._map: CollectionMap | None = None
        self._lock = threading.Lock()

    def get(self) -> CollectionMap:
        with self._lock:
            count = int(self.store.count())
            if self._map is None or self._map.total != count:
                self._map = CollectionMap.fit(self.store, self.max_points)
            return self._map


def _query_mark(searcher, cmap: CollectionMap, text: str) -> tuple[tuple | None, str]:
    """The query's (x, y, label) on the map, and a note for the caption."""
    try:
        plan = QueryPlan.build(searcher, text, None, None)
    except USER_ERRORS as error:
        return None, f"The query is not marked: {first_line(error)}."
    x, y, inside = cmap.project(plan.vector)
    label = text if len(text) <= 40 else text[:39] + "…"
    where = "" if inside else " (it lies outside the songs' spread: shown at the edge)"
    return (x, y, label), f"✕ marks the query “{html.escape(text)}”{where}."


def explore_html(searcher, maps: MapCache, tag: str | None, text: str | None) -> str:
    """The map, its legend and caption, and the player; never raises for user errors."""
    cmap = maps.get()
    if not cmap.track_ids:
        return '<div class="ms-status ms-hint">The collection is empty: nothing to map.</div>'
    tag = None if tag in (None, "", ANY) else str(tag)
    text = (text or "").strip()
    query, note = (None, "Type a query in the Search tab to mark it on the map.")
    if text:
        query, note = _query_mark(searcher, cmap, text)
    tagged = sum(tag in tags for tags in cmap.tags) if tag else 0
    shown = (f"{len(cmap.track_ids):,} tracks" if len(cmap.track_ids) == cmap.total
             else f"a random sample of {len(cmap.track_ids):,} of {cmap.total:,} tracks")
    legend = (f'<span class="ms-key" style="color:#e4572e">●</span> tagged '
              f"<b>{html.escape(tag)}</b> ({tagged}) "
              '<span class="ms-key" style="color:#8a97a8">●</span> other' if tag
              else "Choose a tag to colour its tracks.")
    return (f'<div class="ms-map" data-points="{len(cmap.track_ids)}">'
            f'<div class="ms-map-caption">{shown}, placed by the first two principal '
            f"components of their song vectors (nearby points sound alike to the model). "
            f"{legend}</div>"
            f"{cmap.svg(tag, query)}"
            f'<div class="ms-map-note">{note} Click a point to play it.</div>'
            '<div class="ms-map-now" aria-live="polite"></div>'
            '<audio id="ms-map-player" class="ms-player" controls preload="none"></audio>'
            "</div>")


# Click a point → play it (event delegation: the map's HTML is replaced on every redraw).
MAP_JS = """
element.addEventListener('click', (event) => {
  const point = event.target.closest && event.target.closest('.ms-point');
  if (!point) { return; }
  const player = element.querySelector('#ms-map-player');
  const now = element.querySelector('.ms-map-now');
  element.querySelectorAll('.ms-point.ms-playing').forEach((p) => p.classList.remove('ms-playing'));
  point.classList.add('ms-playing');
  player.src = 'audio/' + encodeURIComponent(point.dataset.track);
  now.textContent = 'Playing: ' + point.dataset.title;
  player.play().catch(() => {});   // autoplay may be refused: the controls still work
});
"""

MAP_CSS = """
.ms-map-svg { width: 100%; max-width: 900px; height: auto; display: block;
  border: 1px solid var(--border-color-primary); border-radius: 10px;
  background: var(--block-background-fill); }
.ms-point { cursor: pointer; opacity: 0.8; }
.ms-point:hover, .ms-point.ms-playing { stroke: #111; stroke-width: 2; opacity: 1; }
.ms-map-caption, .ms-map-note { font-size: 0.85em; color: var(--body-text-color-subdued);
  margin: 4px 0; }
.ms-map-now { font-weight: 600; min-height: 1.2em; }
#ms-map-player { width: 100%; max-width: 900px; }
"""
