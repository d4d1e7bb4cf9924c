"""Tag rules for the demo corpus: every tag comes from score metadata or score analysis.

Each rule is a small pure function over plain values (a title, a time-signature string, a
key mode, a tempo, a list of General MIDI programs) so it can be unit-tested on hand-built
inputs; `stream_*` helpers extract those values from a music21 stream. Tags are lowercase
words or short phrases from the GloVe 6B vocabulary, so the word model can embed them.

Rules (version `TAG_RULES_VERSION`; bump it whenever a rule changes):
- composer: lowercase surname from the collection or score metadata; folk -> "traditional".
- era: fixed per composer or collection ("medieval", "renaissance", "baroque",
  "classical"); folk collections -> "folk".
- region (folk only): from title words, the collection, or the Essen `O:` origin field.
- form: keywords in the title or file name (reel, jig, hornpipe, march, mass movements, ...),
  else the collection's default form (chorale, madrigal, string quartet, air, folk song).
- meter: from the time signature: 2/x and 4/x simple -> "duple meter", 3/x simple ->
  "triple meter", compound (6/8, 9/8, 12/8, 6/4 ...) -> "compound meter".
- mode: music21 key analysis of the rendered excerpt -> "major" / "minor".
- tempo class: tempo words first (adagio, slow, allegro, lively ...), then a metronome mark
  (quarter-note BPM < 76 slow, > 126 fast), else note density at the rendered tempo
  (distinct note onsets per second: < 2.2 slow, >= 4.5 fast, else moderate).
- instruments: from the General MIDI programs chosen for rendering (true of the audio).
- mood (HEURISTIC, flagged in meta["heuristic_tags"]): from mode x tempo class, plus
  "solemn" for sacred vocal forms.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

TAG_RULES_VERSION = "corpus-tags-1"

# Collection -> (composer tag or None when read from metadata, era tag).
COLLECTION_ERA = {
    "ryansMammoth": "folk", "oneills1850": "folk", "essenFolksong": "folk",
    "airdsAirs": "folk", "bach": "baroque", "palestrina": "renaissance",
    "monteverdi": "renaissance", "trecento": "medieval", "haydn": "classical",
    "mozart": "classical", "beethoven": "classical",
}
FOLK_COLLECTIONS = frozenset({"ryansMammoth", "oneills1850", "essenFolksong", "airdsAirs"})

# Title keyword -> form tag. Order matters: "slip jig" before "jig".
_FORM_WORDS: Sequence[tuple[str, str]] = (
    (r"slip ?jig", "slip jig"), (r"\bjigg?s?\b", "jig"), (r"\breels?\b", "reel"),
    (r"hornpipe", "hornpipe"), (r"strathspey|strathsy", "strathspey"),
    (r"\bmarch|quick ?step", "march"), (r"\bwaltz", "waltz"), (r"minuet|menuet", "minuet"),
    (r"\bpolka", "polka"), (r"\bfling\b", "fling"), (r"\bclog\b", "clog"),
    (r"\brant\b", "dance"), (r"\bplanxty", "air"), (r"lament", "lament"),
    (r"\bairs?\b", "air"), (r"\bkyrie", "kyrie"), (r"\bgloria", "gloria"),
    (r"\bcredo", "credo"), (r"\bsanctus", "sanctus"), (r"\bbenedictus", "benedictus"),
    (r"\bagnus", "agnus dei"), (r"\bmotet", "motet"), (r"\bmadrigal", "madrigal"),
    (r"\bscherzo", "scherzo"), (r"\bsonata", "sonata"),
)
MASS_MOVEMENTS = frozenset({"kyrie", "gloria", "credo", "sanctus", "benedictus", "agnus dei"})
DANCE_FORMS = frozenset({"reel", "jig", "slip jig", "hornpipe", "strathspey", "fling", "clog",
                         "waltz", "minuet", "polka"})
FOLK_FORMS = DANCE_FORMS | {"march", "air", "lament", "dance"}
SACRED_FORMS = frozenset({"mass", "motet", "chorale"}) | MASS_MOVEMENTS

# Tempo words (Italian marks and the English words of O'Neill's / Aird's notes).
_SLOW_WORDS = ("very slow", "slow", "adagio", "largo", "lento", "grave", "larghetto",
               "with expression", "plaintive", "tenderly")
_MODERATE_WORDS = ("andante", "moderato", "moderate", "allegretto", "menuetto", "minuet")
_FAST_WORDS = ("allegro", "presto", "vivace", "lively", "quick", "brisk", "spirited",
               "with spirit", "fast", "rapid")
# Quarter-note BPM implied by a tempo word, used to render pieces that only have words.
TEMPO_WORD_BPM = {"very slow": 56, "slow": 66, "adagio": 60, "largo": 52, "lento": 56,
                  "grave": 50, "larghetto": 66, "with expression": 70, "plaintive": 66,
                  "tenderly": 66, "andante": 84, "moderato": 104, "moderate": 100,
                  "allegretto": 112, "menuetto": 120, "minuet": 120, "allegro": 138,
                  "presto": 176, "vivace": 160, "lively": 150, "quick": 150, "brisk": 150,
                  "spirited": 150, "with spirit": 150, "fast": 160, "rapid": 170}

# General MIDI program (0-based) -> instrument tags that describe it.
PROGRAM_TAGS = {
    0: ("piano",), 6: ("harpsichord",), 19: ("organ",), 20: ("organ",), 21: ("accordion",),
    24: ("guitar",), 40: ("violin",), 41: ("viola",), 42: ("cello",), 43: ("bass",),
    46: ("harp",), 48: ("strings",), 52: ("choir", "voices"), 53: ("voices",),
    56: ("trumpet",), 60: ("horn",), 61: ("brass",), 68: ("oboe",), 70: ("bassoon",),
    71: ("clarinet",), 72: ("piccolo",), 73: ("flute",), 74: ("recorder",), 78: ("whistle",),
    105: ("banjo",),
}
VOCAL_PROGRAMS = frozenset({52, 53})


def composer_tag(collection: str, metadata_composer: str | None = None) -> str:
    """Lowercase composer surname: folk -> "traditional"; a named collection is its
    composer; otherwise the last word of the score's composer metadata, or "anonymous"."""
    if collection in FOLK_COLLECTIONS:
        return "traditional"
    if collection in {"bach", "palestrina", "monteverdi", "haydn", "mozart", "beethoven"}:
        return collection
    name = (metadata_composer or "").strip()
    if not name or name.lower().startswith(("anon", "unknown")):
        return "anonymous"
    words = []
    for word in name.split():
        if re.search(r"[\d\-]", word):  # manuscript sigla such as "I-Pu 684" end the name
            break
        words.append(word.lower())
    if "da" in words[1:] or "de" in words[1:]:  # "Jacopo da Bologna" -> "jacopo"
        return re.sub(r"[^a-z]", "", words[0]) or "anonymous"
    letters = [re.sub(r"[^a-z]", "", w) for w in words]
    letters = [w for w in letters if w]
    return letters[-1] if letters else "anonymous"


def era_tag(collection: str) -> str | None:
    """Era of the collection (folk collections get "folk"); None when unknown."""
    return COLLECTION_ERA.get(collection)


def region_tag(collection: str, title: str = "", origin: str = "", form: str | None = None) -> str | None:
    """Region for folk music: title words (irish/scotch/highland) win, then the collection
    (O'Neill's -> irish, Aird's -> scottish), then Scottish dance forms, then the Essen
    `O:` origin field (Deutschland -> german, China -> chinese, ...). Non-folk -> None."""
    if collection not in FOLK_COLLECTIONS:
        return None
    low = title.lower()
    if re.search(r"\birish|ireland|erin\b", low):
        return "irish"
    if re.search(r"scotch|scottish|scotland|highland", low):
        return "scottish"
    if collection == "oneills1850":
        return "irish"
    if collection == "airdsAirs":
        return "scottish"
    if form in {"strathspey", "fling"}:
        return "scottish"
    if collection == "essenFolksong":
        origin = origin.lower()
        for key, tag in (("china", "chinese"), ("irland", "irish"), ("ungarn", "hungarian"),
                         ("niederlande", "dutch"), ("schweiz", "swiss"),
                         ("oesterreich", "austrian"), ("deutschland", "german"),
                         ("luxemburg", "european"), ("lothringen", "european"),
                         ("europa", "european")):
            if key in origin:
                return tag
    return None


def form_from_title(title: str) -> str | None:
    """Form or genre named by a keyword in a title or file name ("Lads of Leith Reel" ->
    "reel", "Kyrie_01" -> "kyrie"); CamelCase file names are split first. None if absent."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", title).replace("_", " ").lower()
    for pattern, form in _FORM_WORDS:
        if re.search(pattern, spaced):
            return form
    return None


def form_tags(collection: str, title: str, tempo_text: str = "", essen_genre: str = "") -> list[str]:
    """Form/genre tags: title keyword, else the collection's default form, plus the
    family word ("dance" for dance forms, "mass" for mass movements, "sacred")."""
    form = form_from_title(title)
    if collection == "essenFolksong":
        tags = ["folk song"]
        genre = essen_genre.lower()
        if "ballade" in genre:
            tags.append("ballad")
        if "tanz" in genre:
            tags.append("dance")
        if "liebe" in genre:
            tags.append("love song")
        return tags
    if collection == "bach":
        return ["chorale", "hymn", "sacred"]
    if collection == "palestrina":
        return ["mass"] + ([form] if form in MASS_MOVEMENTS else []) + ["sacred"]
    if collection == "monteverdi":
        return ["madrigal"]
    if collection == "trecento":
        if form in MASS_MOVEMENTS:
            return ["mass", form, "sacred"]
        return ["song"]
    if collection in {"haydn", "mozart", "beethoven"}:
        if collection == "mozart" and "k545" in title.lower():
            return ["sonata"]
        extra = form_from_title(tempo_text) if tempo_text else None
        return ["string quartet"] + ([extra] if extra in {"minuet", "scherzo"} else [])
    if form not in FOLK_FORMS:
        form = None
    if form is None:
        slow = tempo_word_class(tempo_text) == "slow"
        form = "air" if collection == "airdsAirs" or slow else "tune"
    tags = [form]
    if form in DANCE_FORMS:
        tags.append("dance")
    return tags


def meter_tag(time_signature: str | None) -> str | None:
    """"duple meter" / "triple meter" / "compound meter" from a ratio string such as "6/8";
    "C" and "C|" are common and cut time. None when there is no usable time signature."""
    if not time_signature:
        return None
    ts = time_signature.strip()
    if ts in {"C", "C|", "c", "c|"}:
        return "duple meter"
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", ts)
    if not match:
        return None
    num, den = int(match.group(1)), int(match.group(2))
    if num in {6, 9, 12} and den >= 4:
        return "compound meter"
    if num % 3 == 0:
        return "triple meter"
    if num % 2 == 0:
        return "duple meter"
    return None


def mode_tag(mode: str | None) -> str | None:
    """"major" / "minor" from a music21 key mode; church modes map to the nearer of the two
    (lydian, mixolydian -> major; dorian, phrygian, aeolian -> minor)."""
    if not mode:
        return None
    mode = mode.lower()
    if mode in {"major", "ionian", "lydian", "mixolydian"}:
        return "major"
    if mode in {"minor", "aeolian", "dorian", "phrygian", "locrian"}:
        return "minor"
    return None


def tempo_word_class(text: str) -> str | None:
    """Tempo class named by a tempo word in `text` ("Very slow" -> slow, "Allegro" -> fast)."""
    low = text.lower()
    for words, cls in ((_SLOW_WORDS, "slow"), (_FAST_WORDS, "fast"), (_MODERATE_WORDS, "moderate")):
        if any(re.search(rf"\b{re.escape(w)}\b", low) for w in words):
            return cls
    return None


def tempo_word_bpm(text: str) -> float | None:
    """Quarter-note BPM implied by the first tempo word found in `text` (longest first)."""
    low = text.lower()
    for word in sorted(TEMPO_WORD_BPM, key=len, reverse=True):
        if re.search(rf"\b{re.escape(word)}\b", low):
            return float(TEMPO_WORD_BPM[word])
    return None


def tempo_class(tempo_text: str = "", marked_bpm: float | None = None,
                onsets_per_second: float | None = None) -> str | None:
    """Tempo class: a tempo word wins; else a metronome mark in quarter-note BPM (< 76 slow,
    > 126 fast); else note density at the rendered tempo (distinct onsets per second:
    < 2.2 slow, >= 4.5 fast). None when nothing is known."""
    word = tempo_word_class(tempo_text) if tempo_text else None
    if word:
        return word
    if marked_bpm:
        return "slow" if marked_bpm < 76 else "fast" if marked_bpm > 126 else "moderate"
    if onsets_per_second is not None:
        return "slow" if onsets_per_second < 2.2 else "fast" if onsets_per_second >= 4.5 else "moderate"
    return None


def instrument_tags(programs: Iterable[int]) -> list[str]:
    """Instrument and ensemble tags for the GM programs used to render: each program's
    words, plus "solo" for one melodic line, "strings" for several bowed strings, and
    "vocal" or "instrumental"."""
    programs = list(programs)
    tags: list[str] = []
    for program in programs:
        for word in PROGRAM_TAGS.get(program, ()):
            if word not in tags:
                tags.append(word)
    if len(programs) == 1:
        tags.append("solo")
    if sum(p in {40, 41, 42, 43} for p in programs) >= 2 and "strings" not in tags:
        tags.append("strings")
    tags.append("vocal" if any(p in VOCAL_PROGRAMS for p in programs) else "instrumental")
    return tags


def mood_tags(mode: str | None, tempo: str | None, forms: Sequence[str] = ()) -> list[str]:
    """HEURISTIC mood words from mode x tempo class (major+fast -> happy, lively; minor+slow
    -> sad, melancholic; ...), plus "solemn" for sacred forms. Flag these as heuristic."""
    table = {
        ("major", "fast"): ["happy", "lively"], ("major", "moderate"): ["cheerful"],
        ("major", "slow"): ["calm", "peaceful"], ("minor", "fast"): ["energetic", "dark"],
        ("minor", "moderate"): ["melancholic"], ("minor", "slow"): ["sad", "melancholic"],
    }
    moods = list(table.get((mode or "", tempo or ""), []))
    if any(f in SACRED_FORMS for f in forms) and "solemn" not in moods:
        moods.append("solemn")
    return moods


def caption(tags: dict[str, list[str]]) -> str:
    """Templated sentence from grouped tags, e.g. "A fast irish reel played on fiddle in a
    major key." Groups: tempo, region, form, instruments, mode, composer, era."""
    tempo = (tags.get("tempo") or [""])[0]
    region = (tags.get("region") or [""])[0]
    form = (tags.get("form") or ["piece"])[0]
    instruments = [t for t in tags.get("instruments", []) if t not in {"solo", "vocal", "instrumental"}]
    mode = (tags.get("mode") or [""])[0]
    composer = (tags.get("composer") or [""])[0]
    era = (tags.get("era") or [""])[0]
    head = " ".join(w for w in (tempo, region, form) if w)
    article = "An" if head[:1] in "aeiou" else "A"
    text = f"{article} {head}"
    if composer and composer not in {"traditional", "anonymous"}:
        text += f" by {composer.capitalize()}"
    if era and era != "folk" and era not in head:
        text += f" from the {era} era"
    if instruments:
        text += " played on " + (" and ".join(instruments[:2]) if len(instruments) <= 2
                                 else ", ".join(instruments[:2]) + " and " + instruments[2])
    if mode:
        text += f" in a {mode} key"
    return text + "."


def assemble(groups: dict[str, list[str]], max_tags: int = 12) -> list[str]:
    """Flatten tag groups into a de-duplicated list of at most `max_tags`, keeping the
    most descriptive groups first (mood, the heuristic group, is dropped first)."""
    order = ("composer", "era", "region", "form", "instruments", "meter", "mode", "tempo", "mood")
    out: list[str] = []
    for key in order:
        for tag in groups.get(key, []):
            if tag and tag not in out:
                out.append(tag)
    return out[:max_tags]
