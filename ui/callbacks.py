"""What the page does with a query, as plain functions of the searcher and the inputs:
testable without a browser, shared by the Gradio events and the app's `search` route."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from retrieval.frontend import AudioDecodeError, AudioTooShort
from retrieval.query import QueryError

from .errors import USER_ERRORS
from .form import describe_fields, form_fields
from .query_args import query_from_fields
from .format import ResultRow, playable_path, render_header, render_page, render_status

__all__ = ["DEFAULT_EXAMPLES", "MAX_K", "MAX_QUERY_CHARS", "run_search", "search_outputs",
           "header_text", "warm_up"]

log = logging.getLogger(__name__)

DEFAULT_EXAMPLES = ["lively irish fiddle reel", "calm choir chorale",
                    "string quartet in a minor key", "fast jig on flute", "solemn organ",
                    "something like a pub session in dublin"]
SENTENCE_WARM_UP = "something to play at a quiet evening by the sea"
MAX_K = 50
MAX_QUERY_CHARS = 500          # a description, not a document; the routes bypass the textbox


def _clean_k(k) -> int:
    try:
        return max(1, min(MAX_K, int(float(k))))
    except (TypeError, ValueError, OverflowError):   # None, "abc", NaN, ±inf
        return 10


def _describe(text: str | None, audio_path: str | None, track_label: str | None,
              fields: dict) -> str:
    parts = []
    if text:
        parts.append(f"“{text}”")
    if audio_path:
        parts.append(f"sounds like {Path(audio_path).name}")
    if track_label:
        parts.append(f"sounds like {track_label}")
    options = describe_fields(fields)
    return " + ".join(parts) + (f" ({options})" if options else "")


def _error(message: str) -> tuple[str, list[ResultRow]]:
    return render_status(message[:1].upper() + message[1:], kind="error"), []


def run_search(searcher, text: str | None, audio_path: str | None, k=10, *,
               track_id: str | None = None, track_label: str | None = None,
               fields: dict | None = None) -> tuple[str, list[ResultRow]]:
    """One query → (status HTML, ranked rows). Never raises for user errors.

    `text` and `audio_path` combine (the searcher sums their vectors); `track_id` asks
    for tracks that sound like an indexed one (`track_label`, its title, names it). A
    row's `path` is the indexed file when it exists (its card gets a player).
    `fields` are the query options (negative terms, filters, text weight, sections) by
    `ui.query_args.FIELDS` name, as `ui.form.form_fields` cleans them.
    """
    text = (text or "").strip() or None
    audio_path = audio_path or None
    track_id = track_id or None
    if text is None and audio_path is None and track_id is None:
        return render_status("Type a description (e.g. lively irish fiddle reel) or upload "
                             "an audio clip, then press Search.", kind="hint"), []
    if text is not None and len(text) > MAX_QUERY_CHARS:
        return _error(f"the description is {len(text):,} characters long; "
                      f"keep it under {MAX_QUERY_CHARS} (a few words work best)")
    try:
        fields = form_fields(**(fields or {}))
        result = searcher.search(text=text, audio=audio_path, track_id=track_id,
                                 k=_clean_k(k), **query_from_fields(fields))
    except AudioTooShort as error:
        return _error(f"the uploaded clip is too short to search with ({error}).")
    except AudioDecodeError as error:
        return _error(f"could not read the uploaded audio ({error}). "
                      "Try a WAV, FLAC, OGG or MP3 file.")
    except QueryError as error:
        message = str(error)
        if message.startswith("no known words"):
            message += ". Try words like instruments, genres, moods or tempos."
        return _error(message)
    except USER_ERRORS as error:
        return _error(str(error))
    except Exception as error:  # a bug or a broken index: log it, show one line
        log.exception("search failed")
        return _error(f"search failed ({type(error).__name__}: {error}).")
    rows = [ResultRow(rank=i, track_id=h.track_id, title=h.title, artist=h.artist,
                      score=float(h.score), tags=list(h.tags), why=h.why,
                      path=playable_path(h.path), section=h.section)
            for i, h in enumerate(result.hits, start=1)]
    label = (track_label or track_id) if track_id is not None else None
    query = _describe(text, audio_path, label, fields)
    if rows:
        status = f"{len(rows)} result{'s' if len(rows) != 1 else ''} for {query}"
    else:
        status = f"No indexed tracks matched {query}. Is the index empty?"
    return render_status(status, result.notes), rows


def search_outputs(searcher, text, audio_path, k, *, track_id=None,
                   track_label=None, fields=None) -> str:
    """`run_search` rendered for the results area: the status line and the cards."""
    status, rows = run_search(searcher, text, audio_path, k, track_id=track_id,
                              track_label=track_label, fields=fields)
    return render_page(status, rows)


def header_text(searcher, title: str = "musicsearch") -> str:
    fingerprint = getattr(searcher.model, "fingerprint", None)
    try:
        n_tracks = int(searcher.store.count())
    except Exception:  # a store that cannot count still serves searches
        n_tracks = None
    return render_header(title, fingerprint, n_tracks)


def warm_up(searcher, text: str = DEFAULT_EXAMPLES[0]) -> None:
    """Pay the one-off costs (word vectors loaded, first forward passes, decoder and
    resampler set up) at start-up instead of in the first visitor's search."""
    with tempfile.TemporaryDirectory(prefix="musicsearch-warm-up-") as folder:
        clip = Path(folder) / "warm-up.wav"
        rate = 22050    # not the model's rate: the resampler gets warmed too
        tone = 0.1 * np.sin(2 * np.pi * 440.0 * np.arange(2 * rate) / rate)
        soundfile.write(clip, tone.astype(np.float32), rate)
        queries = [{"text": text}, {"audio": clip}]
        if searcher.model.has_tower("sentence"):   # loads the text encoder (~5 s) now
            queries.append({"text": SENTENCE_WARM_UP, "mode": "sentence"})
        for query in queries:
            try:
                searcher.search(k=1, **query)
            except USER_ERRORS as error:   # e.g. an example word this model does not know
                log.info("warm-up query %s skipped: %s", query, error)
