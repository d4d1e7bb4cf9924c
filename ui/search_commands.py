"""The query commands of the CLI: `search` (one query, or `--batch`) and `duplicates`,
and opening the collection they read."""
from __future__ import annotations

import sys
import time

from .query_args import query_from_args

__all__ = ["open_collection", "open_searcher", "cmd_search", "cmd_duplicates",
           "EXIT_FAILED_LINES"]

EXIT_FAILED_LINES = 3   # `search --batch`: finished, but some lines gave an error


def open_collection(args):
    """The store of an existing collection: the named one, or else 'music' or the only
    one there; closed again on any error."""
    from index.store import DEFAULT_COLLECTION, IndexNotFound, open_store
    store = open_store(args.qdrant, args.collection or DEFAULT_COLLECTION,
                       api_key=getattr(args, "api_key", None))
    try:
        if not store.exists():
            existing = store.collections()
            if args.collection is not None or len(existing) != 1:
                raise IndexNotFound(store.collection, str(store.location), existing)
            store.close()
            store = open_store(args.qdrant, existing[0], api_key=getattr(args, "api_key", None))
            print(f"musicsearch: using collection '{existing[0]}', the only one at "
                  f"{store.location}", file=sys.stderr)
        return store
    except BaseException:
        store.close()
        raise


def open_searcher(args, light: bool = False):
    """A searcher over an existing collection; the store is closed again on any error.

    `light`: open the model without torch (retrieval/light_model.py): text queries run the
    word tower in numpy, and only a query that needs more (audio) loads torch."""
    from retrieval.search import Searcher
    if light:
        from retrieval.light_model import open_light_model
        model = open_light_model(args.model)
    else:
        from retrieval.bundle import load_bundle
        model = load_bundle(args.model)
    store = open_collection(args)
    try:
        # `search --mode`; the UI and other commands route automatically
        return Searcher(model, store, mode=getattr(args, "mode", None) or "auto")
    except BaseException:
        store.close()
        raise


def _print_results(result, elapsed: float) -> None:
    for note in result.notes:
        print(f"note: {note}")
    if not result.hits:
        print("no results")
    for rank, hit in enumerate(result.hits, start=1):
        byline = f" — {hit.artist}" if hit.artist else ""
        print(f"{rank:2d}. {hit.score:.3f}  {hit.title}{byline}  [{hit.track_id}]")
        if hit.tags:
            print(f"      tags: {', '.join(hit.tags)}")
        if hit.section is not None:
            print(f"      section: {hit.section['start']:.1f}–{hit.section['end']:.1f} s")
        print(f"      why: {hit.why}")
    print(f"({len(result.hits)} results in {elapsed * 1000:.0f} ms)")


def cmd_search(args) -> int:
    from retrieval.query import QueryError
    if args.batch is not None:
        return _search_batch(args)
    if args.text is None and args.audio is None and args.track is None and args.like is None:
        raise QueryError("empty query: give TEXT, --audio FILE, --track ID or --like ID|FILE")
    options = query_from_args(args)          # bad values refused before the model loads
    examples = _examples(args)
    for attempt, (track_id, audio) in enumerate(examples, start=1):
        try:
            return _search_once(args, track_id, audio, options)
        except (KeyError, ValueError) as error:   # --like FILE not indexed: encode the file
            if attempt == len(examples) or not str(error).startswith(NOT_INDEXED):
                raise
    return 0


NOT_INDEXED = "track not in the index"   # retrieval.query_plan.TrackNotFound's message


def _examples(args) -> list[tuple[str | None, str | None]]:
    """The (track id, audio file) pairs to try in turn: `--like FILE` is first the indexed
    track of that file (a folder scan's track id is its path), else the file encoded."""
    from pathlib import Path

    from retrieval.catalog import path_to_text
    from retrieval.query import QueryError
    if args.like is None:
        # A track id typed as a path with non-UTF-8 bytes is stored as its file:// form.
        return [(path_to_text(args.track) if args.track is not None else None, args.audio)]
    if args.audio is not None or args.track is not None:
        raise QueryError("--like takes the place of --audio and --track: give one of them")
    like = Path(args.like).expanduser()
    if like.is_file():
        return [(path_to_text(like.resolve()), None), (None, str(like))]
    return [(path_to_text(args.like), None)]


def _search_once(args, track_id: str | None, audio: str | None, options: dict) -> int:
    from retrieval.strict_json import dumps
    if _search_through_app(args, track_id, audio):
        return 0
    searcher = open_searcher(args, light=True)
    try:
        started = time.perf_counter()
        result = searcher.search(text=args.text, audio=audio, track_id=track_id, k=args.k,
                                 **options)
        elapsed = time.perf_counter() - started
    finally:
        searcher.store.close()
    if args.json:
        print(dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print_results(result, elapsed)
    return 0


def _say_answered_by(advert) -> None:
    print(f"musicsearch: answered by the app at {advert.url} (pid {advert.pid}), which holds "
          f"collection '{advert.collection}'", file=sys.stderr)


def _search_through_app(args, track_id: str | None, audio: str | None) -> bool:
    """Answer through the running app that holds the collection (ui/remote.py), if one
    does; False when there is none or it did not answer (then the store is opened)."""
    from types import SimpleNamespace

    from .query_args import FIELDS
    from .remote import AppUnreachable, app_for, search_app
    advert = app_for(args)
    if advert is None:
        return False
    fields = {name: getattr(args, name) for name in FIELDS}
    try:
        body, elapsed = search_app(advert, args.text, audio, track_id, args.k, fields)
    except AppUnreachable as error:
        print(f"musicsearch: {error}; opening the collection instead", file=sys.stderr)
        return False
    _say_answered_by(advert)
    if args.json:
        from retrieval.strict_json import dumps
        print(dumps(body, ensure_ascii=False))
    else:
        hits = [SimpleNamespace(**{"section": None, **hit}) for hit in body.get("results", [])]
        _print_results(SimpleNamespace(notes=body.get("notes", []), hits=hits), elapsed)
    return True


def _search_batch(args) -> int:
    from retrieval.query import QueryError

    from .batch import read_batch, run_batch
    from .query_args import FIELDS
    if args.text is not None or args.audio is not None or args.track is not None \
            or args.like is not None:
        raise QueryError("--batch takes its queries from the file: give no TEXT, --audio, "
                         "--track or --like with it")
    if args.k < 1:
        raise QueryError("k must be at least 1")
    lines = read_batch(args.batch)
    query_from_args(args)                   # the shared options, checked once up front
    defaults = {name: getattr(args, name) for name in FIELDS
                if getattr(args, name) not in (None, False, [])}
    answer = _BatchAnswer(args)
    try:
        summary = run_batch(answer, lines, defaults, args.k, sys.stdout)
    finally:
        answer.close()
    if summary.failed:
        print(f"musicsearch search: {summary.failed} of {summary.failed + summary.answered} "
              f"queries gave an error (see their output lines), exit status "
              f"{EXIT_FAILED_LINES}", file=sys.stderr)
        return EXIT_FAILED_LINES
    return 0


class _BatchAnswer:
    """`search --batch`'s answer to each line: through the running app that holds the
    collection, one request per line, as a single `search` does; the store is opened
    here (once) when there is no app, or when it stops answering mid-batch."""

    def __init__(self, args):
        from .remote import app_for
        self.args = args
        self.advert = app_for(args)
        self.searcher = None
        self.local = None
        if self.advert is None:
            self._open()
        else:
            _say_answered_by(self.advert)

    def _open(self) -> None:
        from .batch import search_locally
        self.searcher = open_searcher(self.args, light=True)
        self.local = search_locally(self.searcher)

    def __call__(self, query: dict) -> dict:
        from .remote import AppUnreachable, search_app
        if self.local is None:
            try:
                return search_app(self.advert, query["text"], query["audio"],
                                  query["track_id"], query["k"], query["fields"])[0]
            except AppUnreachable as error:
                print(f"musicsearch: {error}; opening the collection for the rest of the "
                      "batch", file=sys.stderr)
                self._open()
        return self.local(query)

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.store.close()


def cmd_duplicates(args) -> int:
    from retrieval.strict_json import dumps
    answer = _duplicates_through_app(args)
    if answer is None:
        from index.duplicates import find_duplicates
        store = open_collection(args)
        try:
            pairs = [p.to_dict() for p in find_duplicates(store, args.threshold)]
        finally:
            store.close()
        answer = {"threshold": args.threshold, "pairs": pairs}
    if args.json:
        print(dumps(answer, ensure_ascii=False))
        return 0
    for pair in answer["pairs"]:
        first, second = (f"{t['title'] or t['track_id']} [{t['track_id']}]"
                         for t in (pair["first"], pair["second"]))
        print(f"{pair['score']:.4f}  {first}  ≈  {second}")
    print(f"({len(answer['pairs'])} pair(s) at cosine ≥ {args.threshold:g})")
    return 0


def _duplicates_through_app(args) -> dict | None:
    """The pairs from the running app that holds the collection (its `api/duplicates`),
    or None when there is none or it did not answer (then the store is opened)."""
    from .remote import AppUnreachable, app_for, duplicates_app
    advert = app_for(args)
    if advert is None:
        return None
    try:
        answer = duplicates_app(advert, args.threshold)
    except AppUnreachable as error:
        print(f"musicsearch: {error}; opening the collection instead", file=sys.stderr)
        return None
    _say_answered_by(advert)
    return answer
