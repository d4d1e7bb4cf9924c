"""Pure formatting for the Gradio app: result rows → HTML cards, status and header text.

No Gradio import here, so everything is testable as plain strings.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field

from retrieval.catalog import text_to_path

from .media import audio_url

__all__ = ["ResultRow", "playable_path", "render_results", "render_status", "render_page",
           "render_header", "clock", "results_js", "CSS", "RESULTS_JS"]


@dataclass
class ResultRow:
    rank: int
    track_id: str
    title: str
    artist: str
    score: float
    tags: list[str] = field(default_factory=list)
    why: str = ""
    path: str | None = None        # indexed file if it exists (the card gets a player)
    section: dict | None = None    # partial matches: {"start", "end", …} in seconds

    def to_dict(self) -> dict:
        return {"rank": self.rank, "track_id": self.track_id, "title": self.title,
                "artist": self.artist, "score": self.score, "tags": list(self.tags),
                "why": self.why, "path": self.path, "section": self.section}

    @property
    def start(self) -> float | None:
        """Where the player starts: the matched section's start, if any."""
        if not self.section:
            return None
        return max(0.0, float(self.section.get("start") or 0.0))


def playable_path(path: str | None) -> str | None:
    """A hit's stored path if the card should offer a player: an absolute path to an
    existing file. Only a hint for the page; the audio route does the real checks."""
    if not path:
        return None
    path = text_to_path(path)   # a non-UTF-8 file name is stored as its file:// form
    return path if os.path.isabs(path) and os.path.isfile(path) else None


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _card(row: ResultRow) -> str:
    title = _esc(row.title or row.track_id)
    artist = f'<span class="ms-artist">{_esc(row.artist)}</span>' if row.artist else ""
    chips = "".join(f'<span class="ms-chip">{_esc(t)}</span>' for t in row.tags)
    why = f'<div class="ms-why">{_esc(row.why)}</div>' if row.why else ""
    source = audio_url(row.track_id)
    section = ""
    if row.start is not None:     # a media fragment: the player starts at the section
        source += f"#t={row.start:g}"
        section = (f'<div class="ms-section" data-start="{row.start:g}">matched section '
                   f'{clock(row.start)}–{clock(float(row.section.get("end") or row.start))}'
                   "; the player starts there</div>")
    if row.path:
        player = (f'<audio class="ms-player" controls preload="metadata" '
                  f'src="{_esc(source)}"></audio>')
    else:
        player = '<div class="ms-noaudio">audio file not available</div>'
    score = max(0.0, min(1.0, (row.score + 1) / 2))   # cosine in [-1, 1] → bar width
    return (
        f'<div class="ms-card" data-track-id="{_esc(row.track_id)}">'
        f'<div class="ms-rank">{row.rank}</div>'
        f'<div class="ms-main">'
        f'<div class="ms-head"><span class="ms-title">{title}</span>{artist}</div>'
        f'<div class="ms-tags">{chips}</div>{why}{section}</div>'
        f'<div class="ms-side">'
        f'<div class="ms-score" title="cosine similarity to the query">'
        f'<span class="ms-bar"><span style="width:{score * 100:.0f}%"></span></span>'
        f'{row.score:.3f}</div>'
        f'<div class="ms-foot">{player}'
        f'<button class="ms-more" data-track="{_esc(row.track_id)}" data-title="{title}" '
        f'title="search for tracks that sound like this one">More like this</button></div>'
        f'</div></div>')


def render_results(rows: list[ResultRow]) -> str:
    """The ranked list as HTML cards (empty string when there are no rows)."""
    if not rows:
        return ""
    return '<div class="ms-results">' + "".join(_card(r) for r in rows) + "</div>"


def render_status(message: str, notes: list[str] | None = None, kind: str = "info") -> str:
    """The status line as HTML: `message` and `notes` are plain text (queries, file names
    and titles end up in them), escaped here; `kind` is info, hint or error."""
    prefix = "<b>Sorry:</b> " if kind == "error" else ""
    lines = "".join(f'<div class="ms-note">Note: {_esc(n)}</div>' for n in notes or [])
    return (f'<div class="ms-status ms-{_esc(kind)}" role="status">{prefix}{_esc(message)}'
            f"{lines}</div>")


def render_page(status: str, rows: list[ResultRow]) -> str:
    """What the results area shows: the status line, then the cards."""
    return status + render_results(rows)


def render_header(title: str, fingerprint: str | None, n_tracks: int | None) -> str:
    tracks = "unknown number of" if n_tracks is None else f"{n_tracks:,}"
    model = f"`{fingerprint}`" if fingerprint else "unsaved model"
    return (f"# {title}\n"
            "Describe the music you want in a few words (instruments, genre, form, mood, "
            "tempo), or drop in an audio clip to find tracks that sound like it, or both.\n\n"
            f"<small>Model {model} · {tracks} tracks indexed</small>")


# The page's own search path: text searches and "More like this" are answered by the app's
# `search` route (one light request; see ui/search_route.py) instead of a Gradio event.
# The Search tab's options are read from its inputs (by elem_id) and sent as the route's
# parameters (ui/form.py). Anything this script cannot find in the page falls through to
# Gradio's event. `results_js(k_id, text_search)`: the script of one results area; only the
# Search tab's (text_search=True) takes over its Search button and Enter key.
_RESULTS_JS = """
const field = (id) => document.querySelector('#' + id + ' textarea, #' + id + ' input');
const count = () => (document.querySelector('#__K__ input[type=number]') || {}).value || '10';
function options() {
  if (!__TEXT__) { return {}; }
  const found = {};
  for (const [name, id] of [['not', 'ms-not'], ['artist', 'ms-artist'], ['tag', 'ms-tag'],
                            ['from_collection', 'ms-collection'],
                            ['min_duration', 'ms-min'], ['max_duration', 'ms-max']]) {
    const box = field(id);
    const value = box ? box.value.trim() : '';
    // a duration box shows 0 when empty: 0 means no bound there
    if (value && value !== '__ANY__' && !(name.endsWith('_duration') && Number(value) === 0)) {
      found[name] = value;
    }
  }
  const sections = document.querySelector('#ms-sections input[type=checkbox]');
  if (sections && sections.checked) { found.sections = '1'; }
  // the diversity slider at 1 is relevance only: no re-ranking asked for
  const diverse = document.querySelector('#ms-diverse input[type=number]');
  if (diverse && diverse.value !== '' && Number(diverse.value) < 1) {
    found.diverse = diverse.value;
  }
  const mode = document.querySelector('#ms-mode input[type=radio]:checked');
  if (mode && mode.value !== 'auto') { found.mode = mode.value; }
  const fusion = document.querySelector('#ms-fusion input[type=radio]:checked');
  if (fusion && fusion.value !== 'acoustic') { found.fusion = fusion.value; }
  return found;
}
async function search(params) {
  element.setAttribute('aria-busy', 'true');
  try {
    const response = await fetch('search?' + new URLSearchParams(
        {...options(), ...params, k: count()}), {headers: {Accept: 'text/html'}, cache: 'no-store'});
    if (!response.ok) { throw new Error('HTTP ' + response.status); }
    props.value = await response.text();
  } catch (error) {
    const line = document.createElement('div');
    line.className = 'ms-status ms-error';
    line.textContent = 'Sorry: the search did not answer (' + error.message + ').';
    props.value = line.outerHTML;
  } finally { element.removeAttribute('aria-busy'); }
}
function textSearch(event) {
  const box = field('ms-query');
  if (!box) { return; }
  event.preventDefault();
  event.stopImmediatePropagation();
  search({q: box.value});
}
if (__TEXT__ && !window.musicsearchPage) {
  window.musicsearchPage = true;
  document.addEventListener('click', (event) => {
    if (event.target.closest && event.target.closest('#ms-search')) { textSearch(event); }
  }, true);
  for (const type of ['keydown', 'keypress']) {
    document.addEventListener(type, (event) => {
      if (event.key === 'Enter' && !event.shiftKey && event.target.closest
          && event.target.closest('#ms-query, #ms-not')) { textSearch(event); }
    }, true);
  }
}
element.addEventListener('click', (event) => {
  const button = event.target.closest('.ms-more');
  if (button) { search({track: button.dataset.track, title: button.dataset.title}); }
});
"""


def results_js(k_id: str = "ms-k", text_search: bool = True, any_value: str = "(any)") -> str:
    return (_RESULTS_JS.replace("__K__", k_id).replace("__ANY__", any_value)
            .replace("__TEXT__", "true" if text_search else "false"))


RESULTS_JS = results_js()

CSS = """
.ms-status { margin: 2px 0 8px 0; }
.ms-status.ms-error b { color: var(--error-text-color, #b91c1c); }
.ms-note { font-size: 0.85em; font-style: italic; color: var(--body-text-color-subdued); }
[aria-busy=true] { opacity: 0.6; }
.ms-results { display: flex; flex-direction: column; gap: 6px; }
.ms-card { display: flex; align-items: center; gap: 12px; padding: 8px 12px;
  border-radius: 10px; border: 1px solid var(--border-color-primary);
  background: var(--block-background-fill); }
.ms-card:hover { border-color: var(--color-accent); }
.ms-rank { font-size: 1.25em; font-weight: 700; color: var(--color-accent);
  min-width: 1.5em; text-align: right; align-self: flex-start; }
.ms-main { flex: 1 1 220px; min-width: 0; display: flex; flex-direction: column; gap: 3px; }
.ms-head { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.ms-title { font-weight: 600; font-size: 1.02em; }
.ms-artist { color: var(--body-text-color-subdued); font-size: 0.92em; }
.ms-tags { display: flex; flex-wrap: wrap; gap: 4px; }
.ms-chip { font-size: 0.76em; padding: 0 8px; border-radius: 999px;
  background: var(--color-accent-soft); color: var(--body-text-color); }
.ms-section { font-size: 0.8em; color: var(--color-accent); }
.ms-why { font-size: 0.8em; font-style: italic; color: var(--body-text-color-subdued); }
.ms-side { flex: 0 1 330px; display: flex; flex-direction: column; gap: 4px; }
.ms-score { align-self: flex-end; font-variant-numeric: tabular-nums; font-size: 0.8em;
  color: var(--body-text-color-subdued); display: flex; align-items: center; gap: 6px; }
.ms-bar { display: inline-block; width: 60px; height: 5px; border-radius: 3px;
  background: var(--border-color-primary); overflow: hidden; }
.ms-bar > span { display: block; height: 100%; background: var(--color-accent); }
.ms-foot { display: flex; align-items: center; gap: 8px; }
.ms-player { height: 32px; flex: 1; min-width: 180px; }
.ms-noaudio { flex: 1; font-size: 0.8em; color: var(--body-text-color-subdued); }
.ms-more { font-size: 0.78em; padding: 3px 8px; border-radius: 6px; cursor: pointer;
  white-space: nowrap; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); }
.ms-more:hover { border-color: var(--color-accent); color: var(--color-accent); }
"""
