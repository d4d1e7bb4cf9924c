"""What to render: music21 corpus paths per collection, ABC opus splitting, and a balanced,
seeded selection.

ABC collections (ryansMammoth, oneills1850, essenFolksong, airdsAirs) are read as text and
split at `X:` lines here, so a worker parses only the one tune it renders (parsing a whole
O'Neill's or Essen opus costs 8-40 s; one tune costs ~0.05 s). The tune's header fields
(T, M, Q, R, N, O, K) travel with it as hints for tags and tempo.

Selection: per-collection quotas from `WEIGHTS` (cheap collections get most of the budget,
see CORPUS-NOTES.md), balanced inside a collection by round-robin over forms (ryansMammoth,
palestrina mass movements) or source files (opus collections). Small builds (< 120 tracks)
use only the cheap tier. Everything is deterministic from the seed.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from .tags import form_from_title

# Collection -> (weight of the budget, cheap tier?). Quartets get two clips per movement.
WEIGHTS: dict[str, tuple[float, bool]] = {
    "ryansMammoth": (0.27, True), "oneills1850": (0.18, True), "essenFolksong": (0.15, True),
    "airdsAirs": (0.10, True), "bach": (0.11, True), "palestrina": (0.075, False),
    "monteverdi": (0.03, False), "trecento": (0.04, False), "haydn": (0.012, False),
    "mozart": (0.02, False), "beethoven": (0.015, False),
}
ABC_COLLECTIONS = frozenset({"ryansMammoth", "oneills1850", "essenFolksong", "airdsAirs"})
QUARTETS = frozenset({"haydn", "mozart", "beethoven"})
# Essen files used: German, Chinese, Irish, Luxembourg, Lorraine songs (test*/variant skipped).
ESSEN_FILES = ("altdeu10", "ballad10", "boehme10", "erk10", "fink0", "kinder0", "zuccal0",
               "han1", "han2", "irl", "lux", "lot", "dva0", "ballad50")
# Whole Beethoven quartets in one file parse for minutes: use movement files only.
BEETHOVEN_SKIP = frozenset({"opus132", "opus133", "opus18no3", "opus18no4", "opus18no5", "opus74"})
SMALL_BUILD = 120
OVERSAMPLE = 1.06  # expected skip rate margin; the builder keeps the first n successes


@dataclass
class Source:
    """One unit of work: a tune or a score file, rendered into one clip per segment."""
    collection: str
    path: str                      # corpus-relative path, e.g. "bach/bwv66.6.mxl"
    title: str
    unit: str                      # source unit for splits: the opus file, or the collection
    number: int | None = None      # ABC `X:` number inside an opus file
    abc: str | None = None         # the tune's own ABC text (ABC collections only)
    hints: dict = field(default_factory=dict)  # ABC header fields: T M Q R N O K
    segments: tuple[float, ...] = (0.0,)       # clip start as a fraction of the piece
    track_ids: tuple[str, ...] = ()


def corpus_root() -> Path:
    import music21
    return Path(music21.__file__).parent / "corpus"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "x"


def _with_ids(src: Source) -> Source:
    inner = Path(src.path).with_suffix("").as_posix().split("/", 1)[-1]
    base = f"{_slug(src.collection)}-{_slug(inner)}"
    if src.number is not None:
        base += f"-x{src.number}"
    src.track_ids = tuple(f"{base}-{i}" for i in range(len(src.segments)))
    return src


def _fix_text(text: str) -> str:
    """Essen titles were cp437 bytes re-encoded as latin-1 (u"\\x84" for "ä"): undo that."""
    if re.search("[\x80-\x9f]", text):
        try:
            return text.encode("latin-1").decode("cp437")
        except UnicodeError:
            return text
    return text


def split_abc(text: str) -> list[tuple[int, str, dict]]:
    """Split ABC text into (X number, tune text, header fields) per tune."""
    tunes: list[tuple[int, str, dict]] = []
    chunks = re.split(r"(?m)^(?=X:)", text)
    for chunk in chunks:
        match = re.match(r"X:\s*(\d+)", chunk)
        if not match:
            continue
        fields: dict[str, str] = {}
        for line in chunk.splitlines():
            head = re.match(r"([TMQRNOK]):\s*(.*)", line)
            if head and head.group(1) not in fields:
                fields[head.group(1)] = head.group(2).strip().strip('"').strip()
            elif head and head.group(1) == "N":
                fields["N"] += " " + head.group(2).strip().strip('"')
            if line.startswith("K:"):
                break
        tunes.append((int(match.group(1)), chunk, fields))
    return tunes


def _abc_sources(collection: str, files: list[Path], root: Path, per_tune_unit: bool) -> list[Source]:
    out = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        for number, text, fields in split_abc(path.read_text(encoding="utf-8", errors="replace")):
            title = _fix_text(fields.get("T") or path.stem)
            if collection == "ryansMammoth":
                title = re.sub(r"(?<=[a-z])(?=[A-Z0-9])", " ", path.stem)
            unit = f"{collection}/{path.stem}" if per_tune_unit else collection
            out.append(Source(collection, rel, title, unit, None if collection == "ryansMammoth"
                              else number, text, fields))
    return out


def enumerate_collection(collection: str) -> list[Source]:
    """All candidate sources of one collection, in a stable order."""
    root = corpus_root()
    folder = root / collection
    if collection == "ryansMammoth":
        return _abc_sources(collection, sorted(folder.glob("*.abc")), root, False)
    if collection in {"oneills1850", "airdsAirs"}:
        return _abc_sources(collection, sorted(folder.glob("*.abc")), root, True)
    if collection == "essenFolksong":
        files = [folder / f"{name}.abc" for name in ESSEN_FILES if (folder / f"{name}.abc").exists()]
        return _abc_sources(collection, files, root, True)
    if collection == "bach":
        files = sorted(folder.glob("bwv*.mxl"))
    elif collection == "palestrina":
        files = sorted(folder.glob("*.krn"))
    elif collection in {"monteverdi"}:
        files = sorted(folder.glob("madrigal*.mxl"))
    elif collection == "trecento":
        # Some pieces ship as both .mxl and .xml: keep one file per name (.mxl first).
        by_stem: dict[str, Path] = {}
        for p in sorted(folder.glob("*"), key=lambda p: (p.suffix != ".mxl", p.name)):
            if p.suffix in {".xml", ".mxl", ".krn"}:
                by_stem.setdefault(p.stem, p)
        files = sorted(by_stem.values())
    elif collection in QUARTETS:
        files = sorted(p for p in folder.rglob("*.mxl")
                       if not (collection == "beethoven" and p.stem in BEETHOVEN_SKIP))
    else:
        raise ValueError(f"unknown collection: {collection}")
    out = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        title = path.relative_to(folder).with_suffix("").as_posix()
        segments = (0.0, 0.5) if collection in QUARTETS else (0.0,)
        out.append(Source(collection, rel, title, collection, segments=segments))
    return out


def _form_key(src: Source) -> str:
    if src.collection == "palestrina":
        return src.title.split("_")[0]
    if src.collection in ABC_COLLECTIONS and src.collection != "essenFolksong":
        return form_from_title(src.title) or "other"
    return src.unit


def _round_robin(sources: list[Source], key, rng: random.Random) -> list[Source]:
    """Shuffle within each bucket, then interleave buckets so rare ones are used fully."""
    buckets: dict[str, list[Source]] = {}
    for src in sources:
        buckets.setdefault(key(src), []).append(src)
    names = sorted(buckets)
    rng.shuffle(names)
    for name in names:
        rng.shuffle(buckets[name])
    out: list[Source] = []
    while any(buckets.values()):
        for name in names:
            if buckets[name]:
                out.append(buckets[name].pop())
    return out


def quotas(n_tracks: int) -> dict[str, int]:
    """Clips per collection for a build of `n_tracks` (largest-remainder rounding)."""
    tier = {c: w for c, (w, cheap) in WEIGHTS.items() if cheap or n_tracks >= SMALL_BUILD}
    total = sum(tier.values())
    target = n_tracks * OVERSAMPLE if n_tracks >= SMALL_BUILD else n_tracks + 2
    raw = {c: target * w / total for c, w in tier.items()}
    out = {c: int(v) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - out[c], reverse=True)[: round(target) - sum(out.values())]:
        out[c] += 1
    return out


def select_sources(n_tracks: int, seed: int = 0) -> list[Source]:
    """Seeded, balanced selection, interleaved across collections in priority order so the
    first n successful clips are balanced too."""
    picked: dict[str, list[Source]] = {}
    seen: set[str] = set()
    for collection, quota in sorted(quotas(n_tracks).items()):
        rng = random.Random(f"{seed}:{collection}")
        candidates = _round_robin(enumerate_collection(collection), _form_key, rng)
        chosen, clips = [], 0
        for src in candidates:
            if clips >= quota:
                break
            if _with_ids(src).track_ids[0] in seen:  # same slug from two files: keep one
                continue
            seen.add(src.track_ids[0])
            room = quota - clips
            if len(src.segments) > room:
                src.segments = src.segments[:room]
            chosen.append(_with_ids(src))
            clips += len(src.segments)
        picked[collection] = chosen
    # Interleave: each source's priority is its position within its collection, scaled.
    order = []
    for collection, chosen in picked.items():
        for i, src in enumerate(chosen):
            order.append(((i + 0.5) / max(len(chosen), 1), collection, i, src))
    order.sort(key=lambda item: item[:3])
    return [item[3] for item in order]
