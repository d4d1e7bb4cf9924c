"""Pure formatting for the Gradio app: result rows → HTML cards, status and header text.

No Gradio import here, so everything is testable as plain strings.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

__all__ = ["ResultRow", "resolve_audio_path", "file_url", "render_results", "render_header",
           "render_status", "CSS", "RESULTS_JS"]

# Gradio serves files under allowed_paths at this route (relative to the app's root).
FILE_ROUTE = "gradio_api/file="


@dataclass
class ResultRow:
    rank: int
    track_id: str
    title: str
    artist: str
    score: float
    tags: list[str] = field(default_factory=list)
    why: str = ""
    path: str | None = None        # absolute path of a playable file, None if not servable

    def to_dict(self) -> dict:
        return {"rank": self.rank, "track_id": self.track_id, "title": self.title,
                "artist": self.artist, "score": self.score, "tags": list(self.tags),
                "why": self.why, "path": self.path}


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_audio_path(path: str, roots: list[str] | tuple[str, ...] = ()) -> str | None:
    """A hit's stored path → an absolute existing file inside one of `roots`, else None.

    Relative paths are tried against each root. With no roots, any existing file is
    accepted (the server decides what it serves; `serve` restricts it to indexed folders).
    """
    if not path:
        return None
    resolved_roots = [Path(r).expanduser().resolve() for r in roots]
    candidate = Path(path).expanduser()
    candidates = [candidate] if candidate.is_absolute() else [r / candidate for r in resolved_roots]
    for option in candidates:
        option = option.resolve()
        if option.is_file() and (not resolved_roots
                                 or any(_inside(option, r) for r in resolved_roots)):
            return str(option)
    return None


def file_url(path: str) -> str:
    return FILE_ROUTE + quote(path, safe="/")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _card(row: ResultRow) -> str:
    title = _esc(row.title or row.track_id)
    artist = f'<span class="ms-artist">{_esc(row.artist)}</span>' if row.artist else ""
    chips = "".join(f'<span class="ms-chip">{_esc(t)}</span>' for t in row.tags)
    why = f'<div class="ms-why">{_esc(row.why)}</div>' if row.why else ""
    if row.path:
        player = (f'<audio class="ms-player" controls preload="metadata" '
                  f'src="{_esc(file_url(row.path))}"></audio>')
    else:
        player = '<div class="ms-noaudio">audio file not available</div>'
    score = max(0.0, min(1.0, (row.score + 1) / 2))   # cosine in [-1, 1] → bar width
    return (
        f'<div class="ms-card" data-track-id="{_esc(row.track_id)}">'
        f'<div class="ms-rank">{row.rank}</div>'
        f'<div class="ms-main">'
        f'<div class="ms-head"><span class="ms-title">{title}</span>{artist}</div>'
        f'<div class="ms-tags">{chips}</div>{why}</div>'
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
    """Markdown for the status line: an info line or a friendly error, plus notes."""
    prefix = "**Sorry:** " if kind == "error" else ""
    lines = [f"{prefix}{message}"] + [f"*Note: {n}*" for n in notes or []]
    return "  \n".join(lines)


def render_header(title: str, fingerprint: str | None, n_tracks: int | None) -> str:
    tracks = "unknown number of" if n_tracks is None else f"{n_tracks:,}"
    model = f"`{fingerprint}`" if fingerprint else "unsaved model"
    return (f"# {title}\n"
            "Describe the music you want in a few words (instruments, genre, form, mood, "
            "tempo), or drop in an audio clip to find tracks that sound like it, or both.\n\n"
            f"<small>Model {model} · {tracks} tracks indexed</small>")


# Clicks on "More like this" become a 'click' event carrying the track id.
RESULTS_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('.ms-more');
  if (button) { trigger('click', {track_id: button.dataset.track, title: button.dataset.title}); }
});
"""

CSS = """
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
