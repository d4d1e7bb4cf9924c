"""Build the demo corpus: select sources, render them in a process pool, tag, split, and
write OUT/audio/*.wav, catalog.jsonl, playlists.jsonl and corpus.json.

The playlists are SIMULATED listening sessions over the catalog (rules and defaults:
training.playlists.sessions), not groups by collection, composer or form, which were the
tags in another shape. corpus.json records how they were made; a finished corpus whose
playlists were made otherwise (an older build) gets new ones from its catalog, in
seconds, without rendering anything again.

Resumable: each finished source leaves OUT/.parts/<track_id>.json (its record or skip
cause, stamped with a hash of the settings that shape a clip: SoundFont sha256, seed, clip
length, tag and split rule versions, sample rate). A rerun re-renders whatever has no
usable part file: missing, unparsable (torn), stamped with other settings, or whose WAV is
missing. Part files are written atomically. A build whose corpus.json matches (seed,
n_tracks, soundfont, clip length, rules) returns at once; any other build first removes
corpus.json, catalog.jsonl and playlists.jsonl and writes corpus.json last, so an
interrupted build never looks complete.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import numbers
import os
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from retrieval.catalog import Playlist, TrackRecord, read_catalog, write_catalog, write_playlists

from ..config import ConfigError
from ..playlists.sessions import SessionConfig, simulate_sessions
from .render import SAMPLE_RATE, process_source
from .sources import Source, select_sources
from .splits import SPLIT_RULES_VERSION, assign_splits, group_key, tag_overlap
from .tags import TAG_RULES_VERSION

PIECE_TIMEOUT_S = 20.0
PART_FORMAT = 1  # bump when the part-file layout or the clip pipeline changes
PLAYLIST_RULES = "simulated-sessions-1"   # bump when training.playlists.sessions changes
ALBUMS = {
    "ryansMammoth": "Ryan's Mammoth Collection", "oneills1850": "O'Neill's Music of Ireland",
    "essenFolksong": "Essen Folksong Collection", "airdsAirs": "Aird's Airs",
    "bach": "Bach Chorales", "palestrina": "Palestrina Masses",
    "monteverdi": "Monteverdi Madrigals", "trecento": "Trecento",
    "haydn": "Haydn String Quartets", "mozart": "Mozart Quartets and Sonata",
    "beethoven": "Beethoven String Quartets",
}


@dataclass
class CorpusSummary:
    n_tracks: int
    n_skipped: int
    skipped_by_cause: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    out_dir: str = ""


def default_soundfont() -> Path:
    """TimGM6mb.sf2, the General MIDI SoundFont shipped inside the pretty_midi package."""
    import pretty_midi
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_soundfont(sf2: Path) -> None:
    """ConfigError unless `sf2` is a readable SoundFont 2 file (RIFF form type 'sfbk')."""
    try:
        with open(sf2, "rb") as handle:
            head = handle.read(12)
    except FileNotFoundError:
        raise ConfigError(f"soundfont {sf2}: no such file") from None
    except OSError as error:
        raise ConfigError(f"soundfont {sf2}: cannot be read ({error.strerror or error})") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ConfigError(f"soundfont {sf2}: not a SoundFont 2 (.sf2) file")


def _settings(n_tracks: int, seed: int, clip_seconds: float, sf2: Path, sha: str) -> dict:
    return {"seed": seed, "n_tracks_requested": n_tracks, "clip_seconds": clip_seconds,
            "soundfont": {"name": sf2.name, "sha256": sha}, "tag_rules": TAG_RULES_VERSION,
            "split_rules": SPLIT_RULES_VERSION}


def _parts_key(settings: dict) -> str:
    """Hash of the settings a rendered clip and its part record depend on (not n_tracks
    or the SoundFont's file name: a larger or smaller build reuses the same clips)."""
    shaping = {k: v for k, v in settings.items() if k != "n_tracks_requested"}
    shaping["soundfont"] = settings["soundfont"]["sha256"]  # content, not file name
    shaping.update(sample_rate=SAMPLE_RATE, part_format=PART_FORMAT)
    blob = json.dumps(shaping, sort_keys=True, ensure_ascii=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _load_part(part: Path, key: str) -> dict | None:
    """A part file's result if it parses and was made with the current settings."""
    try:
        result = json.loads(part.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(result, dict) or result.get("settings") != key or "ok" not in result:
        return None
    return result


def _write_part(parts_dir: Path, result: dict) -> None:
    """Write one part file atomically (temporary file in the same folder, then replace)."""
    fd, tmp = tempfile.mkstemp(dir=parts_dir, prefix=f".{result['track_id']}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(result, ensure_ascii=False))
        os.replace(tmp, parts_dir / f"{result['track_id']}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _drop_stale_parts(out: Path, key: str) -> None:
    """Remove leftover temporary files, and every part file (with its WAV) that is torn or
    was made with other settings, so no clip of another build is ever reused."""
    parts_dir = out / ".parts"
    for tmp in parts_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    for part in parts_dir.glob("*.json"):
        if _load_part(part, key) is None:
            (out / "audio" / f"{part.stem}.wav").unlink(missing_ok=True)
            part.unlink(missing_ok=True)


def _is_complete(out: Path, settings: dict) -> dict | None:
    try:
        summary = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if (out / "catalog.jsonl").is_file() and all(summary.get(k) == v for k, v in settings.items()):
        return summary
    return None


def _cached(out: Path, src: Source, key: str) -> list[dict] | None:
    """Results of a source finished by an earlier (interrupted) run with the same settings,
    if all are on disk and readable."""
    results = []
    for track_id in src.track_ids:
        result = _load_part(out / ".parts" / f"{track_id}.json", key)
        if result is None:
            return None
        if result["ok"] and not (out / "audio" / f"{track_id}.wav").is_file():
            return None
        results.append(result)
    return results


def _run_pool(jobs: list[tuple], workers: int, progress: bool, total: int):
    """Yield each source's results as workers finish them (inline when workers <= 1)."""
    from tqdm import tqdm
    bar = tqdm(total=total, desc="render", unit="clip", disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                results = process_source(job)
                bar.update(len(results))
                yield results
            return
        # spawn: safe with threads or CUDA in the parent; the worker is a top-level function.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, maxtasksperchild=200) as pool:
            for results in pool.imap_unordered(process_source, jobs, chunksize=1):
                bar.update(len(results))
                yield results
    finally:
        bar.close()


def _artist(composer: str) -> str:
    return {"traditional": "Traditional", "anonymous": "Anonymous"}.get(composer, composer.capitalize())


def _title(src: Source, title: str) -> str:
    if src.collection == "bach" and title.lower().startswith("bwv"):
        return "BWV " + title[3:]
    return title.replace("_", " ")


def _session_config(n_tracks: int) -> SessionConfig:
    """The default sessions; a corpus of fewer tracks than a session's minimum length (a
    trial build of a few tracks) gets sessions as long as the corpus."""
    config = SessionConfig()
    return replace(config, min_length=max(2, min(config.min_length, n_tracks)))


def _playlists(records: list[TrackRecord]) -> tuple[list[Playlist], dict]:
    """Simulated listening sessions over the whole catalog (each within one split), and
    the settings that made them, for corpus.json (none for a corpus of one track)."""
    config = _session_config(len(records))
    playlists = simulate_sessions(records, config) if len(records) >= 2 else []
    return playlists, {"rules": PLAYLIST_RULES, **config.to_dict()}


def _write_playlists(out: Path, records: list[TrackRecord]) -> dict:
    playlists, settings = _playlists(records)
    write_playlists(playlists, out / "playlists.jsonl")
    return dict(settings, n_playlists=len(playlists))


def _refresh_playlists(out: Path, summary: dict) -> dict:
    """A finished corpus with playlists of other rules gets simulated sessions (atomic:
    playlists.jsonl first, then corpus.json saying how they were made)."""
    current = summary.get("playlists") or {}
    records = read_catalog(out / "catalog.jsonl")
    if current.get("rules") == PLAYLIST_RULES and all(
            current.get(k) == v for k, v in _session_config(len(records)).to_dict().items()):
        return summary
    summary = dict(summary, playlists=_write_playlists(out, records))
    _write_summary(out, summary)
    return summary


def _write_summary(out: Path, summary: dict) -> None:
    tmp = out / "corpus.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out / "corpus.json")


def build_corpus(out_dir: str | Path, n_tracks: int = 1600, soundfont: str | Path | None = None,
                 seed: int = 0, clip_seconds: float = 25.0, workers: int = 2,
                 progress: bool = True) -> CorpusSummary:
    """Render `n_tracks` clips from the music21 corpus into `out_dir` (see module doc)."""
    start = time.time()
    if isinstance(n_tracks, bool) or not isinstance(n_tracks, numbers.Integral) or n_tracks <= 0:
        raise ConfigError(f"corpus: the number of tracks must be a positive integer, not {n_tracks!r}")
    n_tracks = int(n_tracks)
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers <= 0:
        raise ConfigError(f"corpus: --workers must be a positive integer, not {workers!r}")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"corpus: --out {out} exists and is not a folder")
    sf2 = Path(soundfont) if soundfont else default_soundfont()
    _check_soundfont(sf2)
    settings = _settings(n_tracks, seed, float(clip_seconds), sf2, _sha256(sf2))
    done = _is_complete(out, settings)
    if done is not None:
        done = _refresh_playlists(out, done)
        return CorpusSummary(done["n_tracks"], done["n_skipped"], done["skipped_by_cause"],
                             done["elapsed_s"], str(out))
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / ".parts").mkdir(exist_ok=True)
    # Until corpus.json is written again the folder must not look like a finished corpus.
    for name in ("corpus.json", "catalog.jsonl", "playlists.jsonl"):
        (out / name).unlink(missing_ok=True)
    key = _parts_key(settings)
    _drop_stale_parts(out, key)

    sources = select_sources(n_tracks, seed)
    by_track: dict[str, dict] = {}
    jobs = []
    for src in sources:
        cached = _cached(out, src, key)
        if cached is None:
            jobs.append((src, str(out), float(clip_seconds), seed, str(sf2), PIECE_TIMEOUT_S))
        else:
            by_track.update({r["track_id"]: r for r in cached})
    total = sum(len(job[0].segments) for job in jobs)
    for results in _run_pool(jobs, workers, progress, total):
        for result in results:
            result["settings"] = key
            by_track[result["track_id"]] = result
            _write_part(out / ".parts", result)

    # Keep the first n successes in priority order; count skips among what was tried.
    kept: list[tuple[Source, dict]] = []
    skipped: Counter[str] = Counter()
    for src in sources:
        for track_id in src.track_ids:
            result = by_track[track_id]
            if not result["ok"]:
                skipped[result["cause"]] += 1
                # A timeout can strike after a clip was written: drop such orphans.
                (out / "audio" / f"{track_id}.wav").unlink(missing_ok=True)
            elif len(kept) < n_tracks:
                kept.append((src, result))
            else:
                (out / "audio" / f"{track_id}.wav").unlink(missing_ok=True)

    if not kept:
        # Forget the skips, so a retry (after fixing the cause) renders again.
        for src in sources:
            for track_id in src.track_ids:
                (out / ".parts" / f"{track_id}.json").unlink(missing_ok=True)
        causes = ", ".join(f"{cause} x{n}" for cause, n in sorted(skipped.items())) or "nothing tried"
        raise ConfigError(f"corpus: no clips could be rendered with soundfont {sf2}: "
                          f"{sum(skipped.values())} skipped ({causes})")

    groups = [group_key(r["composer"], s.unit) for s, r in kept]
    split_of = assign_splits([(g, r["tags"]) for g, (_, r) in zip(groups, kept)], seed)
    records = []
    for group, (src, result) in zip(groups, kept):
        meta = dict(result["meta"], group=group, form=result.get("form"))
        records.append(TrackRecord(
            track_id=result["track_id"], path=f"audio/{result['track_id']}.wav",
            title=_title(src, result["title"]), artist=_artist(result["composer"]),
            album=ALBUMS.get(src.collection, src.collection), duration=result["duration"],
            tags=result["tags"], split=split_of[group], caption=result["caption"], meta=meta))
    write_catalog(records, out / "catalog.jsonl")
    playlists = _write_playlists(out, records)

    per_split = tag_overlap([(r.split, r.tags) for r in records])
    both = set(per_split.get("train", {})) & set(per_split.get("test", {}))
    elapsed = round(time.time() - start, 1)
    summary = dict(settings, n_tracks=len(records), n_skipped=sum(skipped.values()),
                   skipped_by_cause=dict(sorted(skipped.items())),
                   per_collection=dict(sorted(Counter(r.meta["collection"] for r in records).items())),
                   per_split=dict(sorted(Counter(r.split for r in records).items())),
                   tag_counts={s: dict(c.most_common()) for s, c in sorted(per_split.items())},
                   tags_in_train_and_test=len(both),
                   groups={s: sorted({g for g, sp in split_of.items() if sp == s})
                           for s in ("train", "valid", "test")},
                   sample_rate=SAMPLE_RATE, renderer="midirenderer", elapsed_s=elapsed,
                   cpu_count=os.cpu_count(), workers=workers, playlists=playlists)
    _write_summary(out, summary)
    if progress:
        print(f"corpus: {len(records)} clips in {elapsed:.0f} s, {sum(skipped.values())} skipped "
              f"{dict(skipped)} -> {out}")
    return CorpusSummary(len(records), sum(skipped.values()), dict(skipped), elapsed, str(out))
