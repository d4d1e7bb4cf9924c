"""Which category (form, era, meter, mode, tempo, instrument, mood, region, composer) a
demo-corpus tag belongs to, read off the corpus tag rules so the two cannot drift apart."""
from __future__ import annotations

from functools import lru_cache
from itertools import product

from ..corpus import tags as rules

__all__ = ["CATEGORIES", "tag_category"]

CATEGORIES = ("form", "era", "meter", "mode", "tempo", "instrument", "mood", "region",
              "composer", "other")


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    modes, tempos = ("major", "minor"), ("slow", "moderate", "fast")
    moods = {m for mode, tempo in product(modes, tempos) for m in rules.mood_tags(mode, tempo)}
    moods |= set(rules.mood_tags("minor", "slow", sorted(rules.SACRED_FORMS)))
    instruments = {t for names in rules.PROGRAM_TAGS.values() for t in names}
    instruments |= {"fiddle", "solo", "vocal", "instrumental"}  # set by the rules, not programs
    forms = {form for _, form in rules._FORM_WORDS} | rules.FOLK_FORMS | rules.SACRED_FORMS
    forms |= {"tune", "hymn", "sacred", "folk song", "ballad", "love song", "song",
              "string quartet"}
    meters = {rules.meter_tag(ts) for ts in ("2/4", "3/4", "6/8")}
    composers = {rules.composer_tag(c) for c in rules.COLLECTION_ERA} | {"anonymous"}
    regions = {"irish", "scottish", "german", "chinese", "hungarian", "dutch", "swiss",
               "austrian", "european"}
    # The first category that claims a tag wins: "lively" is a mood, not a tempo word here.
    order = [("instrument", instruments), ("mode", set(modes)), ("meter", meters),
             ("tempo", set(tempos)), ("mood", moods), ("era", set(rules.COLLECTION_ERA.values())),
             ("region", regions), ("form", forms), ("composer", composers)]
    table: dict[str, str] = {}
    for category, members in order:
        for tag in members:
            table.setdefault(tag, category)
    return table


def tag_category(tag: str) -> str:
    """The category of a demo-corpus tag; "other" for a tag the rules never produce."""
    return _table().get(tag, "other")
