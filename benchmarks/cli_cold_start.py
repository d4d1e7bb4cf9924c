"""Cold start of the `musicsearch` command line: `--help` and a text search, each in a fresh
interpreter (as a user's shell runs it), median of N runs, printed as JSON.

    python benchmarks/cli_cold_start.py [--runs 7] [--checkout DIR ...] [--qdrant DIR
        --collection NAME]

Each `--checkout` is a source tree whose `ui.cli` is run (`python -m ui.cli` with that
folder as the working directory, so its code is imported); give two (e.g. main and a
branch) to compare them side by side: their runs are interleaved, so a busy machine
slows both alike. Without `--qdrant` a small index is made first: eight generated
6-second tones indexed with the shipped model. The index and the word-vector cache live
in a temporary MUSICSEARCH_HOME (removed at the end; give --qdrant outside it to keep an
index); the first search (which may convert the word vectors
once) is timed apart from the medians. Also timed, as the floor: `python -c pass` and
`python -c "import numpy"`, and what `import torch` alone costs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QUERY = "lively irish fiddle reel"


def _timed(command: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} (in {cwd}) failed:\n{done.stderr[-2000:]}")
    return elapsed


def _make_index(home: Path, checkout: Path, env: dict) -> Path:
    import soundfile
    audio = home / "audio"
    audio.mkdir(parents=True)
    rate = 22050
    t = np.arange(6 * rate) / rate
    for i in range(8):
        tone = 0.3 * np.sin(2 * np.pi * 220.0 * (1 + i % 4) * t) * (0.5 + 0.5 * np.sin(t * (i + 1)))
        soundfile.write(audio / f"tone{i}.wav", tone.astype(np.float32), rate)
    qdrant = home / "qdrant"
    subprocess.run([sys.executable, "-m", "ui.cli", "index", str(audio), "--qdrant", str(qdrant)],
                   cwd=checkout, env=env, check=True, capture_output=True)
    return qdrant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--checkout", action="append", type=Path, default=None,
                        help="a source tree to run (repeatable; default: this one)")
    parser.add_argument("--qdrant", default=None, help="an existing embedded index folder")
    parser.add_argument("--collection", default=None, help="the collection in --qdrant "
                        "(default: the command's own)")
    parser.add_argument("--query", default=QUERY)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    home = Path(tempfile.mkdtemp(prefix="cli-cold-start-"))
    env = {**os.environ, "MUSICSEARCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    qdrant = args.qdrant or str(_make_index(home, checkouts[0], env))
    python = sys.executable
    commands = {
        "help": [python, "-m", "ui.cli", "--help"],
        "search": [python, "-m", "ui.cli", "search", args.query, "--qdrant", qdrant, "--k", "5",
                   *(["--collection", args.collection] if args.collection else [])],
    }
    floors = {"python -c pass": [python, "-c", "pass"],
              "import numpy": [python, "-c", "import numpy"],
              "import torch": [python, "-c", "import torch"]}
    first_search = {str(c): _timed(commands["search"], c, env) for c in checkouts}
    times: dict[str, dict[str, list[float]]] = {str(c): {name: [] for name in commands}
                                               for c in checkouts}
    floor_times: dict[str, list[float]] = {name: [] for name in floors}
    for _ in range(args.runs):      # interleaved: load on the machine hits every variant alike
        for checkout in checkouts:
            for name, command in commands.items():
                times[str(checkout)][name].append(_timed(command, checkout, env))
        for name, command in floors.items():
            floor_times[name].append(_timed(command, ROOT, env))
    result = {
        "runs": args.runs, "query": args.query, "index": qdrant,
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
        "first_search_s (includes any one-time word-vector conversion)": first_search,
        "median_s": {checkout: {name: round(statistics.median(v), 3) for name, v in by.items()}
                     for checkout, by in times.items()},
        "min_s": {checkout: {name: round(min(v), 3) for name, v in by.items()}
                  for checkout, by in times.items()},
        "floor_median_s": {name: round(statistics.median(v), 3) for name, v in floor_times.items()},
    }
    if len(checkouts) == 2:
        a, b = (result["median_s"][str(c)] for c in checkouts)
        result["ratio_first_to_second"] = {name: round(a[name] / b[name], 2) for name in commands}
    print(json.dumps(result, indent=2))
    shutil.rmtree(home, ignore_errors=True)   # the index and a ~90 MB word table


if __name__ == "__main__":
    main()
