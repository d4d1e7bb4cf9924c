"""Demo corpus builder: tag rules on hand-built streams, splits, and one small real build."""
from __future__ import annotations

import json
import random

import pytest

music21 = pytest.importorskip("music21")
pytest.importorskip("midirenderer")
soundfile = pytest.importorskip("soundfile")

from music21 import key, meter, note, stream  # noqa: E402

from training.corpus import CorpusSummary, build_corpus  # noqa: E402
from training.corpus import tags as T  # noqa: E402
from training.corpus.render import analyze_excerpt, choose_programs, part_program  # noqa: E402
from training.corpus.splits import assign_splits, group_key  # noqa: E402


def _melody(ts: str, pitches: list[str], ql: float = 1.0) -> stream.Part:
    part = stream.Part()
    part.append(meter.TimeSignature(ts))
    for name in pitches:
        part.append(note.Note(name, quarterLength=ql))
    return part.makeMeasures()


def test_meter_from_stream_time_signature():
    for ts, want in (("2/4", "duple meter"), ("4/4", "duple meter"), ("3/4", "triple meter"),
                     ("6/8", "compound meter"), ("9/8", "compound meter"), ("12/8", "compound meter")):
        info = analyze_excerpt(_melody(ts, ["C4", "D4", "E4", "F4"], 0.5), 0.5, 25.0)
        assert T.meter_tag(info["time_signature"]) == want, ts
    assert T.meter_tag("C|") == "duple meter"
    assert T.meter_tag(None) is None and T.meter_tag("none") is None


def test_mode_from_key_analysis():
    major = _melody("4/4", ["C4", "E4", "G4", "C5", "G4", "E4", "F4", "D4", "B3", "C4", "E4", "C4"])
    minor = _melody("4/4", ["A3", "C4", "E4", "A4", "E4", "C4", "D4", "B3", "G#3", "A3", "C4", "A3"])
    assert T.mode_tag(analyze_excerpt(major, 0.5, 25.0)["mode"]) == "major"
    assert T.mode_tag(analyze_excerpt(minor, 0.5, 25.0)["mode"]) == "minor"
    assert T.mode_tag("dorian") == "minor" and T.mode_tag("mixolydian") == "major"
    assert T.mode_tag(key.Key("g").mode) == "minor"


def test_form_from_title_and_collection_defaults():
    assert T.form_from_title("LadsOfLeithReel") == "reel"
    assert T.form_from_title("Drop Of Whiskey Slipjig") == "slip jig"
    assert T.form_from_title("The Rakes Jig") == "jig"
    assert T.form_from_title("Fisher's Hornpipe (1st Setting)") == "hornpipe"
    assert T.form_from_title("Lady Madelina Sinclair's Strathsy.") == "strathspey"
    assert T.form_from_title("Quick Step. 25th Regt.") == "march"
    assert T.form_from_title("Credo_03") == "credo"
    assert T.form_from_title("The Enchanted Valley") is None
    assert T.form_tags("ryansMammoth", "Cuckoo Hornpipe") == ["hornpipe", "dance"]
    assert T.form_tags("airdsAirs", "The Madrigal.") == ["air"]  # no art-music forms in folk
    assert T.form_tags("oneills1850", "Fare You Well", "Slow") == ["air"]
    assert T.form_tags("palestrina", "Agnus_02") == ["mass", "agnus dei", "sacred"]
    assert T.form_tags("bach", "bwv66.6")[0] == "chorale"
    assert T.form_tags("haydn", "opus74no1/movement3", "Menuetto")[:2] == ["string quartet", "minuet"]


def test_tempo_class_rules():
    assert T.tempo_class("Very slow") == "slow"
    assert T.tempo_class("Allegro con brio") == "fast"
    assert T.tempo_class("Andante") == "moderate"
    assert T.tempo_class("", marked_bpm=60) == "slow"
    assert T.tempo_class("", marked_bpm=168) == "fast"
    assert T.tempo_class("", onsets_per_second=7.0) == "fast"
    assert T.tempo_class("", onsets_per_second=1.5) == "slow"
    assert T.tempo_class("") is None
    # Note density is measured at the rendered tempo: eighths at 120 BPM = 4 onsets/s.
    info = analyze_excerpt(_melody("4/4", ["C4", "D4"] * 16, 0.5), 0.5, 25.0)
    assert info["onsets_per_second"] == pytest.approx(4.0, rel=0.05)
    assert T.tempo_class("", onsets_per_second=info["onsets_per_second"]) == "moderate"


def test_instrument_mapping_and_moods():
    assert part_program("Violin I", 0, 4) == 40 and part_program("Viola", 2, 4) == 41
    assert part_program("Violoncello", 3, 4) == 42 and part_program("", 2, 4) == 41
    assert T.instrument_tags([40, 40, 41, 42]) == ["violin", "viola", "cello", "strings", "instrumental"]
    assert T.instrument_tags([52] * 4) == ["choir", "voices", "vocal"]
    assert T.instrument_tags([73]) == ["flute", "solo", "instrumental"]
    picks = {tuple(choose_programs("ryansMammoth", [""], random.Random(i))) for i in range(50)}
    assert len(picks) > 2 and all(len(p) == 1 and p[0] in T.PROGRAM_TAGS for p in picks)
    assert choose_programs("bach", ["S", "A", "T", "B"], random.Random(1)) == \
        choose_programs("bach", ["S", "A", "T", "B"], random.Random(1))
    assert T.mood_tags("major", "fast") == ["happy", "lively"]
    assert "solemn" in T.mood_tags("minor", "slow", ["mass"])


def test_region_composer_caption():
    assert T.region_tag("oneills1850", "The Foxhunter") == "irish"
    assert T.region_tag("ryansMammoth", "Highland Laddie") == "scottish"
    assert T.region_tag("essenFolksong", "x", "China, Shanxi") == "chinese"
    assert T.region_tag("bach", "bwv1") is None
    assert T.composer_tag("trecento", "Jacopo da Bologna") == "jacopo"
    assert T.composer_tag("trecento", "Anonymous I-Rvat 1419") == "anonymous"
    assert T.composer_tag("ryansMammoth") == "traditional"
    text = T.caption({"tempo": ["fast"], "region": ["irish"], "form": ["reel"],
                      "instruments": ["fiddle", "solo"], "mode": ["major"]})
    assert text == "A fast irish reel played on fiddle in a major key."


def test_splits_group_disjoint_and_deterministic():
    rng = random.Random(0)
    items = []
    for g in range(30):
        group = group_key("traditional", f"oneills1850/file{g}") if g % 3 else group_key(f"c{g}", "x")
        for _ in range(rng.randint(2, 20)):
            items.append((group, rng.sample(["a", "b", "c", "d", "e", "f", "g"], 3) + [f"t{g % 5}"]))
    first = assign_splits(items, seed=3)
    assert first == assign_splits(items, seed=3)
    assert set(first.values()) == {"train", "valid", "test"}
    sizes = {s: sum(1 for g, _ in items if first[g] == s) for s in ("train", "valid", "test")}
    assert sizes["train"] > sizes["test"] > 0 and sizes["valid"] > 0
    train_tags = {t for g, tags in items if first[g] == "train" for t in tags}
    test_tags = {t for g, tags in items if first[g] == "test" for t in tags}
    assert len(train_tags & test_tags) >= 6
    assert group_key("bach", "bach") == "composer:bach"


def test_small_real_build(tmp_path):
    from retrieval.catalog import read_catalog, read_playlists
    out = tmp_path / "corpus"
    summary = build_corpus(out, n_tracks=12, seed=0, workers=2, progress=False)
    assert isinstance(summary, CorpusSummary) and summary.n_tracks == 12
    records = read_catalog(out / "catalog.jsonl")
    assert len(records) == 12 and len({r.track_id for r in records}) == 12
    assert len({r.meta["collection"] for r in records}) >= 4
    assert len({t for r in records for t in r.tags}) >= 20
    for record in records:
        audio, rate = soundfile.read(record.path)
        assert audio.ndim == 1 and rate == 22050
        assert 20.0 <= len(audio) / rate <= 30.0 and abs(record.duration - len(audio) / rate) < 0.01
        assert 4 <= len(record.tags) <= 12 and record.caption and record.split in {"train", "valid", "test"}
        assert record.meta["group"] and record.meta["programs"]
        assert set(record.meta["heuristic_tags"]) <= set(record.tags)
    splits_of_group: dict[str, set[str]] = {}
    for record in records:
        splits_of_group.setdefault(record.meta["group"], set()).add(record.split)
    assert all(len(s) == 1 for s in splits_of_group.values())
    # the playlists are simulated listening sessions, each within one split
    playlists = read_playlists(out / "playlists.jsonl")
    split_of = {r.track_id: r.split for r in records}
    assert playlists and {p.kind for p in playlists} == {"simulated"}
    assert all(len({split_of[t] for t in p.tracks}) == 1 for p in playlists)
    info = json.loads((out / "corpus.json").read_text())
    assert info["seed"] == 0 and info["soundfont"]["sha256"] and info["n_tracks"] == 12
    # Second call: a no-op that returns the same summary and leaves the files untouched.
    stamp = (out / "catalog.jsonl").stat().st_mtime_ns
    again = build_corpus(out, n_tracks=12, seed=0, workers=2, progress=False)
    assert again.n_tracks == 12 and (out / "catalog.jsonl").stat().st_mtime_ns == stamp
    listed = (out / "playlists.jsonl").read_text()
    assert json.loads((out / "corpus.json").read_text())["playlists"]["n_playlists"] == len(playlists)
    # A corpus built before the sessions (grouped playlists, nothing about them in
    # corpus.json) gets the sessions from its catalog without rendering again.
    del info["playlists"]
    (out / "corpus.json").write_text(json.dumps(info))
    (out / "playlists.jsonl").write_text('{"playlist_id": "form:reel:train", "tracks": '
                                         f'["{records[0].track_id}"], "kind": "form"}}\n')
    wavs = {path: path.stat().st_mtime_ns for path in (out / "audio").glob("*.wav")}
    build_corpus(out, n_tracks=12, seed=0, workers=2, progress=False)
    assert (out / "playlists.jsonl").read_text() == listed
    assert json.loads((out / "corpus.json").read_text())["playlists"]["rules"]
    assert (out / "catalog.jsonl").stat().st_mtime_ns == stamp
    assert {path: path.stat().st_mtime_ns for path in (out / "audio").glob("*.wav")} == wavs


def test_bad_arguments_fail_before_any_work(tmp_path):
    from training.config import ConfigError
    out = tmp_path / "corpus"
    for n in (0, -3):
        with pytest.raises(ConfigError, match="number of tracks"):
            build_corpus(out, n_tracks=n, progress=False)
    with pytest.raises(ConfigError, match="no such file"):
        build_corpus(out, n_tracks=4, soundfont=tmp_path / "missing.sf2", progress=False)
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x04\x00\x00\x00WAVEjunk")
    with pytest.raises(ConfigError, match="not a SoundFont"):
        build_corpus(out, n_tracks=4, soundfont=fake, progress=False)
    with pytest.raises(ConfigError):
        build_corpus(out, n_tracks=4, soundfont=tmp_path, progress=False)  # a folder
    for workers in (0, -1):
        with pytest.raises(ConfigError, match="--workers"):
            build_corpus(out, n_tracks=4, workers=workers, progress=False)
    assert not out.exists()
    a_file = tmp_path / "taken"
    a_file.write_text("keep me")
    with pytest.raises(ConfigError, match="not a folder"):
        build_corpus(a_file, n_tracks=4, progress=False)
    assert a_file.read_text() == "keep me"


def test_parts_key_tracks_clip_shaping_settings():
    from training.corpus.builder import _parts_key, _settings
    from pathlib import Path
    base = _settings(8, 0, 25.0, Path("a.sf2"), "aa")
    assert _parts_key(base) == _parts_key(_settings(20, 0, 25.0, Path("a.sf2"), "aa"))
    for other in (_settings(8, 1, 25.0, Path("a.sf2"), "aa"), _settings(8, 0, 20.0, Path("a.sf2"), "aa"),
                  _settings(8, 0, 25.0, Path("a.sf2"), "bb")):
        assert _parts_key(other) != _parts_key(base)


def test_rebuild_with_other_settings_rerenders_and_resumes_torn_parts(tmp_path):
    from retrieval.catalog import read_catalog
    out = tmp_path / "corpus"
    build_corpus(out, n_tracks=4, seed=0, clip_seconds=20.0, workers=1, progress=False)
    first = {r.track_id: r for r in read_catalog(out / "catalog.jsonl")}
    assert len(first) == 4 and all(abs(r.duration - 20.0) < 0.05 for r in first.values())
    stamps = {t: (out / "audio" / f"{t}.wav").stat().st_mtime_ns for t in first}

    # Same folder, another clip length: every clip is rendered again, none reused.
    build_corpus(out, n_tracks=4, seed=0, clip_seconds=22.0, workers=1, progress=False)
    second = {r.track_id: r for r in read_catalog(out / "catalog.jsonl")}
    assert len(second) == 4 and len(set(second) & set(first)) >= 3
    for track_id, record in second.items():
        audio, rate = soundfile.read(record.path)
        assert abs(len(audio) / rate - 22.0) < 0.05 and abs(record.duration - 22.0) < 0.05
        if track_id in stamps:
            assert (out / "audio" / f"{track_id}.wav").stat().st_mtime_ns != stamps[track_id]
    info = json.loads((out / "corpus.json").read_text())
    assert info["clip_seconds"] == 22.0 and info["n_tracks"] == 4
    wavs = {p.stem for p in (out / "audio").glob("*.wav")}
    assert set(second) <= wavs

    # Interrupted resume: a torn part file is re-rendered; intact parts are reused.
    (out / "corpus.json").unlink()
    torn, kept = sorted(second)[:2]
    part = out / ".parts" / f"{torn}.json"
    part.write_text(part.read_text()[:40])
    stamps = {t: (out / "audio" / f"{t}.wav").stat().st_mtime_ns for t in (torn, kept)}
    build_corpus(out, n_tracks=4, seed=0, clip_seconds=22.0, workers=1, progress=False)
    assert json.loads(part.read_text())["track_id"] == torn
    assert (out / "audio" / f"{torn}.wav").stat().st_mtime_ns != stamps[torn]
    assert (out / "audio" / f"{kept}.wav").stat().st_mtime_ns == stamps[kept]
    assert len(read_catalog(out / "catalog.jsonl")) == 4
    assert not list((out / ".parts").glob("*.tmp")) and not list((out / ".parts").glob(".*"))


def test_zero_rendered_clips_is_an_error(tmp_path, monkeypatch):
    from training.config import ConfigError
    from training.corpus import builder

    def fail_all(job):
        return [{"track_id": t, "ok": False, "cause": "render_error"} for t in job[0].track_ids]

    monkeypatch.setattr(builder, "process_source", fail_all)
    out = tmp_path / "corpus"
    with pytest.raises(ConfigError, match="no clips could be rendered.*render_error"):
        build_corpus(out, n_tracks=4, workers=1, progress=False)
    assert not (out / "corpus.json").exists() and not (out / "catalog.jsonl").exists()
    assert not list((out / ".parts").glob("*.json"))


def test_a_corpus_smaller_than_a_session_still_gets_simulated_playlists():
    from retrieval.catalog import TrackRecord
    from training.corpus.builder import _playlists
    records = [TrackRecord(track_id=f"t{i}", path=f"audio/t{i}.wav", tags=["baroque", "organ"],
                           split="train") for i in range(3)]
    playlists, settings = _playlists(records)
    assert playlists and settings["min_length"] == 3
    assert all(sorted(p.tracks) == ["t0", "t1", "t2"] for p in playlists)
    assert _playlists(records[:1])[0] == []
