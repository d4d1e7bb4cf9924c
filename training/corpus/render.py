"""Score -> excerpt -> General MIDI -> WAV, and the per-source worker the pool runs.

Only the measures that cover the clip are rendered (`score.measures`), at one tempo we set
(the score's own metronome mark, else its tempo word, else a running-note rate typical of
the form), through `midirenderer` with a SoundFont. The audio is downmixed to mono,
resampled to 22,050 Hz, looped when the piece is short, trimmed, faded and peak-normalised.
Instruments are a rendering choice made here (from collection, part names and a seeded
draw), so the instrument tags are true of the audio.
"""
from __future__ import annotations

import contextlib
import io
import random
import signal
import statistics
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import tags as T
from .sources import Source

SAMPLE_RATE = 22050
MIN_SOURCE_SECONDS = 5.0   # shorter pieces are skipped, longer short ones are looped
_SF2_CACHE: dict[str, bytes] = {}

# Seeded instrument plans per collection: (weight, program or per-part rule name).
PLANS: dict[str, list[tuple[float, int | str]]] = {
    "ryansMammoth": [(0.4, 40), (0.2, 73), (0.2, 21), (0.1, 78), (0.1, 105)],
    "oneills1850": [(0.35, 40), (0.2, 73), (0.15, 78), (0.15, 21), (0.15, 46)],
    "airdsAirs": [(0.35, 73), (0.35, 40), (0.15, 72), (0.15, 46)],
    "essenFolksong": [(0.3, 53), (0.2, 74), (0.15, 21), (0.15, 0), (0.1, 71), (0.1, 24)],
    "bach": [(0.35, 52), (0.35, 19), (0.15, 48), (0.15, 61)],
    "palestrina": [(0.6, 52), (0.2, 53), (0.2, 19)],
    "monteverdi": [(0.5, 52), (0.2, 53), (0.3, 48)],
    "trecento": [(0.4, 53), (0.3, 74), (0.3, 19)],
    "haydn": [(1.0, "quartet")], "mozart": [(1.0, "quartet")], "beethoven": [(1.0, "quartet")],
}
# Running-note rate (notes per second) per form, used to pick a tempo for unmarked scores.
RUNNING_RATE = {"reel": 7.0, "hornpipe": 6.0, "jig": 6.5, "slip jig": 6.5, "strathspey": 4.5,
                "clog": 6.0, "fling": 6.0, "march": 5.0, "waltz": 4.5, "polka": 5.0,
                "minuet": 3.5, "dance": 5.5, "air": 2.6, "lament": 2.2, "tune": 4.5,
                "folk song": 3.0, "chorale": 1.5, "mass": 1.3, "madrigal": 2.0, "song": 2.4,
                "string quartet": 3.0, "sonata": 4.0}

# Collections whose running note says little about tempo get a fixed unmarked tempo.
FIXED_BPM = {"bach": 80.0, "haydn": 100.0, "mozart": 100.0, "beethoven": 100.0}


class PieceTimeout(Exception):
    """A piece exceeded its parse+render time bound."""


class SkipPiece(Exception):
    """A piece is skipped for a counted cause (the message is the cause)."""


def _alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise PieceTimeout()


def part_program(name: str, index: int, n_parts: int) -> int:
    """GM program for a string-quartet part from its name (violin, viola, cello), falling
    back to the standard order violin, violin, viola, cello; piano parts get piano."""
    low = name.lower()
    if "piano" in low or "keyboard" in low:
        return 0
    if "viola" in low:
        return 41
    if "cello" in low or "bass" in low:
        return 42
    if "violin" in low:
        return 40
    return (40, 40, 41, 42)[min(index, 3)] if n_parts > 1 else 40


def choose_programs(collection: str, part_names: list[str], rng: random.Random) -> list[int]:
    """One GM program per part: a seeded weighted draw from the collection's plan (same
    program for every part, an ensemble), or per-part names for quartets and the piano."""
    plan = PLANS[collection]
    pick = rng.choices([p for _, p in plan], weights=[w for w, _ in plan])[0]
    if pick == "quartet":
        return [part_program(n, i, len(part_names)) for i, n in enumerate(part_names)]
    return [int(pick)] * len(part_names)


def load_soundfont(path: str) -> bytes:
    if path not in _SF2_CACHE:
        _SF2_CACHE[path] = Path(path).read_bytes()
    return _SF2_CACHE[path]


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited FFT resampling of a mono signal (no extra dependency). The input is
    zero-padded to whole seconds so both FFT sizes factor into small primes (fast)."""
    if rate == target:
        return audio
    n_out = int(round(len(audio) * target / rate))
    padded = np.zeros(int(np.ceil(len(audio) / rate)) * rate, dtype=np.float64)
    padded[: len(audio)] = audio
    m_out = len(padded) // rate * target
    spectrum = np.fft.rfft(padded)[: m_out // 2 + 1]
    return (np.fft.irfft(spectrum, n=m_out) * (m_out / len(padded)))[:n_out]


def finish_clip(audio: np.ndarray, clip_seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Trim silence, loop short pieces to the clip length, trim, fade and normalise."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 1e-6:
        raise SkipPiece("silent")
    loud = np.flatnonzero(np.abs(audio) > peak * 1e-3)
    audio = audio[max(0, loud[0] - rate // 50): loud[-1] + rate // 4]
    want = int(clip_seconds * rate)
    if len(audio) < want:
        if len(audio) < MIN_SOURCE_SECONDS * rate:
            raise SkipPiece("too_short")
        audio = np.tile(audio, int(np.ceil(want / len(audio))))
    audio = audio[:want].copy()
    fade_in, fade_out = rate // 50, rate // 2
    audio[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    audio[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)
    return (audio * (0.89 / float(np.max(np.abs(audio))))).astype(np.float32)


@contextlib.contextmanager
def _no_beaming():
    """The ABC reader beams every measure (half its cost); beams do not change MIDI, so the
    worker skips them while parsing one tune."""
    from music21 import stream
    original = stream.Stream.makeBeams
    stream.Stream.makeBeams = lambda self, *args, **kwargs: self  # type: ignore[assignment]
    try:
        yield
    finally:
        stream.Stream.makeBeams = original  # type: ignore[assignment]


def _parse(src: Source):
    from music21 import converter, corpus, stream
    try:
        if src.abc is not None:
            with _no_beaming():
                parsed = converter.parse(src.abc, format="abc")
        else:
            parsed = corpus.parse(src.path)
    except PieceTimeout:
        raise
    except Exception as error:  # music21 raises many types on bad input
        raise SkipPiece("parse_error") from error
    if isinstance(parsed, stream.Opus):
        parsed = parsed.scores[0] if parsed.scores else None
    if parsed is None or not parsed.recurse().notes:
        raise SkipPiece("empty_score")
    return parsed


def _tempo_info(score, hints: dict) -> tuple[float | None, str]:
    """(marked quarter BPM, tempo words) from metronome marks, tempo texts and ABC notes."""
    from music21 import expressions, tempo
    marked, words = None, [hints.get("N", "")]
    for mark in score.recurse().getElementsByClass(tempo.TempoIndication):
        if isinstance(mark, tempo.MetronomeMark):
            if mark.number is not None and not mark.numberImplicit and marked is None:
                marked = float(mark.getQuarterBPM())
            if mark.text:
                words.append(str(mark.text))
        elif isinstance(mark, tempo.TempoText):
            words.append(str(mark.text))
    for text in list(score.recurse().getElementsByClass(expressions.TextExpression))[:4]:
        words.append(str(text.content))
    return marked, " ".join(w for w in words if w)


def _excerpt(score, start_fraction: float, seconds: float, bpm: float):
    """The measures covering `seconds` (plus a margin) from `start_fraction` of the piece."""
    from music21 import stream
    parts = list(score.parts) or [score]
    measures = list(parts[0].getElementsByClass(stream.Measure))
    if not measures:
        return score
    need_ql = seconds * 1.1 * bpm / 60.0
    start = int(start_fraction * len(measures))
    lengths = [float(m.duration.quarterLength) or 1.0 for m in measures]
    while start > 0 and sum(lengths[start:]) < need_ql:
        start -= 1
    end, total = start, 0.0
    while end < len(measures) and total < need_ql:
        total += lengths[end]
        end += 1
    return score.measures(start, end - 1, indicesNotNumbers=True)


def excerpt_to_midi(excerpt, bpm: float, programs: list[int]) -> bytes:
    """MIDI bytes for the excerpt at one constant tempo, one GM program per part.

    Written with pretty_midi from note offsets (music21's own export deep-copies the score
    to expand repeats, which costs more than the render and fails on half repeats; clips
    are looped instead). Tied notes are merged; grace notes (no duration) are dropped."""
    import pretty_midi
    seconds = 60.0 / bpm
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    parts = list(excerpt.parts) or [excerpt]
    for part, program in zip(parts, programs):
        track = pretty_midi.Instrument(program=program, name=part.partName or "")
        sounding: dict[int, pretty_midi.Note] = {}
        for element in part.flatten().notes:
            if element.quarterLength <= 0:
                continue
            start = float(element.offset) * seconds
            end = start + float(element.quarterLength) * seconds
            velocity = int(element.volume.velocity or 88) if element.volume.velocity else 88
            for pitch in element.pitches:
                midi_pitch = int(pitch.midi)
                tie = element.tie.type if element.tie is not None else None
                previous = sounding.get(midi_pitch)
                if tie in {"continue", "stop"} and previous is not None and abs(previous.end - start) < 1e-3:
                    previous.end = end
                    continue
                note = pretty_midi.Note(velocity=velocity, pitch=midi_pitch, start=start, end=end)
                track.notes.append(note)
                sounding[midi_pitch] = note
        pm.instruments.append(track)
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def analyze_excerpt(excerpt, seconds_per_ql: float, clip_seconds: float) -> dict[str, Any]:
    """Values the tag rules need: time signature, key (music21 Krumhansl analysis) and
    distinct note onsets per second within the clip at the rendered tempo."""
    from music21 import meter
    ts = excerpt.recurse().getElementsByClass(meter.TimeSignature).first()
    try:
        key = excerpt.analyze("key")
        key_name, mode = f"{key.tonic.name} {key.mode}", key.mode
    except Exception:  # analysis fails on scores without pitches
        key_name, mode = None, None
    onsets = sorted({float(n.getOffsetInHierarchy(excerpt)) for n in excerpt.recurse().notes})
    window = clip_seconds / seconds_per_ql
    n_onsets = sum(1 for o in onsets if o < window)
    span = min(window, (onsets[-1] + 1.0) if onsets else window) * seconds_per_ql
    return {"time_signature": ts.ratioString if ts is not None else None, "key": key_name,
            "mode": mode, "onsets_per_second": n_onsets / max(span, 1e-6)}


def _running_ql(score) -> float:
    """Most common note length (quarter lengths) of the top part: the running note."""
    parts = list(score.parts) or [score]
    lengths = [float(n.quarterLength) for n in parts[0].recurse().notes if n.quarterLength > 0]
    return statistics.mode(lengths) if lengths else 1.0


def render_wav(midi_bytes: bytes, soundfont: bytes) -> tuple[np.ndarray, int]:
    """MIDI bytes -> midirenderer -> (mono float audio, sample rate)."""
    import midirenderer
    import soundfile
    try:
        wav = midirenderer.render_wave_from(soundfont, midi_bytes)
        audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    except Exception as error:
        raise SkipPiece("render_error") from error
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return audio, rate


def piece_forms(src: Source, tempo_text: str) -> list[str]:
    """Form tags of a piece (main form first); computed once per piece and used both to
    choose the unmarked tempo and to tag its clips, so the two always agree."""
    return T.form_tags(src.collection, src.title, tempo_text, src.hints.get("R", ""))


def build_tags(src: Source, info: dict, programs: list[int], tempo_text: str,
               marked_bpm: float | None, composer_meta: str | None,
               forms: list[str]) -> tuple[list[str], list[str], str, str | None]:
    """Tags, heuristic tags, caption and main form for one clip, by the rules in `tags`;
    `forms` is the piece's `piece_forms`."""
    primary = forms[0] if forms else None  # rules list the main form first
    mode = T.mode_tag(info["mode"])
    tempo = T.tempo_class(tempo_text, marked_bpm, info["onsets_per_second"])
    instruments = T.instrument_tags(programs)
    if src.collection in T.FOLK_COLLECTIONS:
        instruments = ["fiddle" if t == "violin" else t for t in instruments]
    groups = {
        "composer": [T.composer_tag(src.collection, composer_meta)],
        "era": [T.era_tag(src.collection) or ""],
        "region": [T.region_tag(src.collection, src.title, src.hints.get("O", ""), primary) or ""],
        "form": forms, "instruments": instruments,
        "meter": [T.meter_tag(info["time_signature"]) or ""], "mode": [mode or ""],
        "tempo": [tempo or ""], "mood": T.mood_tags(mode, tempo, forms),
    }
    tag_list = T.assemble(groups)
    heuristic = [t for t in groups["mood"] if t in tag_list]
    return tag_list, heuristic, T.caption(groups), primary


def process_source(job: tuple[Source, str, float, int, str, float]) -> list[dict]:
    """Pool worker: parse one source and render each of its segments to OUT/audio.

    Returns one dict per segment: {"track_id", "ok", "cause"} plus the record fields when
    ok. Never raises: every failure becomes a counted cause."""
    src, out_dir, clip_seconds, seed, soundfont_path, timeout = job
    warnings.filterwarnings("ignore")
    audio_dir = Path(out_dir) / "audio"
    results: list[dict] = []
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, int(timeout * (1 + 0.5 * (len(src.segments) - 1)))))
    try:
        score = _parse(src)
        composer_meta = score.metadata.composer if score.metadata is not None else None
        title = src.title
        if src.abc is None and score.metadata is not None and score.metadata.title \
                and not str(score.metadata.title).endswith((".krn", ".mxl", ".xml")):
            title = str(score.metadata.title)
        marked_bpm, tempo_text = _tempo_info(score, src.hints)
        forms = piece_forms(src, tempo_text)
        primary = next((f for f in forms if f in RUNNING_RATE), forms[0] if forms else "tune")
        bpm = marked_bpm or (T.tempo_word_bpm(tempo_text) if tempo_text else None)
        if not bpm:
            bpm = FIXED_BPM.get(src.collection) or RUNNING_RATE.get(primary, 3.0) * 60.0 * _running_ql(score)
        bpm = float(min(max(bpm, 44.0), 240.0))
        part_names = [p.partName or "" for p in (list(score.parts) or [score])]
        rng = random.Random(f"{seed}:{src.track_ids[0]}")
        programs = choose_programs(src.collection, part_names, rng)
        for frac, track_id in zip(src.segments, src.track_ids):
            try:
                excerpt = _excerpt(score, frac, clip_seconds, bpm)
                info = analyze_excerpt(excerpt, 60.0 / bpm, clip_seconds)
                try:
                    midi_bytes = excerpt_to_midi(excerpt, bpm, programs)
                except PieceTimeout:
                    raise
                except Exception as error:
                    raise SkipPiece("midi_error") from error
                audio, rate = render_wav(midi_bytes, load_soundfont(soundfont_path))
                # Only the clip (plus a margin) is resampled; short pieces are looped later.
                audio = audio[: int((clip_seconds + 2.0) * rate)]
                clip = finish_clip(resample(audio, rate), clip_seconds)
            except SkipPiece as skip:
                results.append({"track_id": track_id, "ok": False, "cause": str(skip)})
                continue
            except PieceTimeout:
                raise
            except Exception as error:  # anything else in expansion/analysis: counted
                results.append({"track_id": track_id, "ok": False,
                                "cause": f"error_{type(error).__name__}"})
                continue
            import soundfile
            soundfile.write(audio_dir / f"{track_id}.wav", clip, SAMPLE_RATE, subtype="PCM_16")
            tag_list, heuristic, text, form = build_tags(src, info, programs, tempo_text, marked_bpm,
                                                         composer_meta, forms)
            results.append({
                "track_id": track_id, "ok": True, "cause": None, "tags": tag_list,
                "caption": text, "duration": round(len(clip) / SAMPLE_RATE, 3),
                "title": title, "form": form, "composer": T.composer_tag(src.collection, composer_meta),
                "meta": {"collection": src.collection, "source": src.path, "number": src.number,
                         "segment": frac, "programs": programs, "heuristic_tags": heuristic,
                         "tempo_bpm": round(bpm, 1), "key": info["key"],
                         "time_signature": info["time_signature"],
                         "onsets_per_second": round(info["onsets_per_second"], 2)},
            })
    except PieceTimeout:
        done = {r["track_id"] for r in results}
        results += [{"track_id": t, "ok": False, "cause": "timeout"} for t in src.track_ids if t not in done]
    except SkipPiece as skip:
        results = [{"track_id": t, "ok": False, "cause": str(skip)} for t in src.track_ids]
    except Exception as error:  # never fatal: count by exception type
        results = [{"track_id": t, "ok": False, "cause": f"error_{type(error).__name__}"}
                   for t in src.track_ids]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return results
