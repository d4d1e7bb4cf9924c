"""The query commands as a user runs them: `search` with negative terms, filters, weights,
sections and diversity; `search --batch`; `duplicates` on real re-encoded copies."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from ui.cli import main

from test_cli import indexed  # noqa: F401  (the tiny catalog indexed through the CLI)


def _search(capsys, *argv):
    capsys.readouterr()
    assert main(["search", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_negative_terms_and_filters(indexed, tiny_audio, capsys):
    tags = {r.track_id: r.tags for r in tiny_audio[1]}
    artists = {r.track_id: r.artist for r in tiny_audio[1]}
    typed = _search(capsys, "happy -piano", "--k", "8", *indexed)
    flagged = _search(capsys, "happy", "--not", "piano", "--k", "8", *indexed)
    assert [r["track_id"] for r in typed["results"]] == \
        [r["track_id"] for r in flagged["results"]]
    assert typed["results"] and all("piano" not in tags[r["track_id"]] for r in typed["results"])
    filtered = _search(capsys, "happy", "--artist", "Artist 1", "--tag", "fast", "--k", "8",
                       *indexed)
    assert filtered["results"] and all(
        artists[r["track_id"]] == "Artist 1" and "fast" in tags[r["track_id"]]
        for r in filtered["results"])
    assert filtered["query"]["filter"] == {"artists": ["Artist 1"], "tags": ["fast"]}
    short = _search(capsys, "happy", "--max-duration", "5", *indexed)   # every clip is 6 s
    assert short["results"] == []
    seed = _search(capsys, "--track", "t1", "--exclude-artist", "--k", "7", *indexed)
    assert seed["results"] and all(artists[r["track_id"]] != artists["t1"]
                                   for r in seed["results"])


def test_weights_sections_and_diversity(indexed, tiny_audio, capsys):
    folder, records = tiny_audio
    mixed = _search(capsys, "sad", "--track", "t3", "--text-weight", "0.3", *indexed)
    assert mixed["query"]["text_weight"] == 0.3 and "t3" not in \
        [r["track_id"] for r in mixed["results"]]
    clip = str(folder / records[2].path)
    partial = _search(capsys, "--audio", clip, "--sections", "--k", "3", *indexed)
    first = partial["results"][0]
    assert first["track_id"] == "t2" and first["section"]["chunk"] == 0
    assert 0 <= first["section"]["start"] < first["section"]["end"]
    varied = _search(capsys, "fast violin", "--diverse", "0.5", "--k", "3", *indexed)
    assert len(varied["results"]) == 3
    capsys.readouterr()
    assert main(["search", "--audio", clip, "--sections", "--k", "2", *indexed]) == 0
    assert "section: 0.0–" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["search", "-piano -violin"], "nothing to look for"),
    (["search", "piano", "--exclude-artist"], "needs a track query"),
    (["search", "piano", "--min-duration", "9", "--max-duration", "3"], "min duration"),
    (["search", "piano", "--track", "t1", "--text-weight", "2"], "text weight"),
    (["search", "piano", "--diverse", "-1"], "diversity"),
    (["search", "piano", "--batch", "x.txt"], "--batch takes its queries from the file"),
    (["search", "--batch", "/no/such/file.txt"], "cannot read batch file"),
])
def test_bad_options_are_one_line(indexed, capsys, argv, message):
    capsys.readouterr()
    assert main([*argv, *indexed]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_batch_gives_one_line_per_query(indexed, tmp_path, capsys):
    batch = tmp_path / "queries.txt"
    batch.write_text("\n".join([
        "# a comment, then an empty line",
        "",
        "happy piano",
        '{"text": "sad violin", "k": 2, "id": "q2", "tag": "slow"}',
        "qqqzx vvvbnm",
        '{"track": "t1", "exclude_artist": true}',
        '{"text": "piano", "k": "many"}',
        '{"text": "piano", "colour": "red"}',
        "{not json",
        '{"track": "nope"}',
        "happy -piano",
    ]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["search", "--batch", str(batch), "--k", "3", *indexed]) == 3
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["line"] for line in lines] == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    ok = {line["line"]: line for line in lines if "results" in line}
    errors = {line["line"]: line["error"] for line in lines if "error" in line}
    assert set(ok) == {3, 4, 6, 11}
    assert len(ok[3]["results"]) == 3 and ok[4]["id"] == "q2" and len(ok[4]["results"]) <= 2
    assert all("slow" in r["tags"] for r in ok[4]["results"])
    assert "t1" not in [r["track_id"] for r in ok[6]["results"]]
    assert "no known words" in errors[5] and "'k'" in errors[7] and "colour" in errors[8]
    assert "not valid JSON" in errors[9] and "track not in the index" in errors[10]
    assert all("\n" not in e for e in errors.values())
    assert "5 of 9 queries gave an error" in captured.err
    # the same single query as `search` gives the same results
    single = _search(capsys, "happy piano", "--k", "3", *indexed)
    assert single["results"] == ok[3]["results"]
    # command-line options apply to every line
    (tmp_path / "one.txt").write_text("happy\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["search", "--batch", str(tmp_path / "one.txt"), "--not", "piano",
                 *indexed]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["query"]["negatives"] == ["piano"]


def _melody(seed: int, seconds: float, rate: int) -> np.ndarray:
    """A synthesised tune: random notes of a random harmonic timbre, decaying envelopes."""
    rng = np.random.default_rng(seed)
    note = 60 / rng.uniform(70, 180) / rng.choice([1, 2])
    base, harmonics = rng.integers(48, 72), rng.uniform(0.1, 0.9, 6)
    notes = []
    while len(notes) * note < seconds:
        t = np.arange(int(note * rate)) / rate
        frequency = 440 * 2 ** ((base + rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) - 69) / 12)
        envelope = np.exp(-t * rng.uniform(1, 8))
        notes.append(envelope * sum(h * np.sin(2 * np.pi * frequency * (n + 1) * t)
                                    for n, h in enumerate(harmonics)))
    wave = np.concatenate(notes)[:int(seconds * rate)]
    return (0.25 * wave / np.abs(wave).max()).astype(np.float32)


def test_duplicates_finds_the_reencoded_copy(tmp_path, monkeypatch, capsys):
    """Five tunes as WAV, and the first again resampled to 44.1 kHz, 1.4 dB quieter, as
    FLAC: the shipped model's song vectors pair exactly the copy with its original."""
    monkeypatch.setenv("MUSICSEARCH_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    music.mkdir()
    rate = 22050
    tunes = [_melody(seed, 8.0, rate) for seed in range(5)]
    for seed, tune in enumerate(tunes):
        soundfile.write(music / f"tune{seed}.wav", tune, rate)
    copy = resample_poly(tunes[0] * 0.85, 2, 1).astype(np.float32)
    soundfile.write(music / "tune0-remaster.flac", copy, 44100)
    where = ["--qdrant", str(tmp_path / "qdrant")]
    assert main(["index", str(music), *where]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--threshold", "0.998", "--json", *where]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["threshold"] == 0.998
    [pair] = output["pairs"]
    assert {pair["first"]["title"], pair["second"]["title"]} == {"tune0", "tune0-remaster"}
    assert 0.998 <= pair["score"] <= 1.0
    # the score is the cosine of the stored song vectors
    from index import open_store
    with open_store(where[1], "music") as store:
        vectors = store.get_vectors([pair["first"]["track_id"], pair["second"]["track_id"]])
    a, b = (v / np.linalg.norm(v) for v in vectors.values())
    assert pair["score"] == pytest.approx(float(a @ b), abs=1e-4)
    # a lower threshold lists more pairs, best first; the table says how many
    assert main(["duplicates", "--threshold", "0.5", "--json", *where]) == 0
    scores = [p["score"] for p in json.loads(capsys.readouterr().out)["pairs"]]
    assert len(scores) > 1 and scores == sorted(scores, reverse=True) and scores[0] == pair["score"]
    assert main(["duplicates", "--threshold", "0.998", *where]) == 0
    table = capsys.readouterr().out
    assert "tune0" in table and "(1 pair(s) at cosine ≥ 0.998)" in table
    with pytest.raises(SystemExit) as stopped:     # argparse refuses it, one line
        main(["duplicates", "--threshold", "1.5", *where])
    assert stopped.value.code == 2 and "cosine from -1 to 1" in capsys.readouterr().err
    assert main(["duplicates", "--collection", "nope", *where]) == 2
    assert "no index 'nope'" in capsys.readouterr().err
