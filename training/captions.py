"""Training captions from a track's tags: several different sentences per clip.

A sentence tower trained on one template ("A fast reel played on fiddle in a major key.")
learns that template, not the words. Each caption here picks a random subset of the
track's tags (1 to `max_tags`, as TTMR's stochastic text does), says each tag with one of
several phrasings for its category (tempo and mood synonyms, "from scotland" or
"scottish", "by bach" or "bach"), orders the phrases at random and puts them into one of
several sentence shapes; a share of captions are TTMR's bare shuffled tag lists. Every
caption records the tags it says, so a trainer can tell which tracks it is true of.

Synonyms never use a word that is itself a tag of the demo corpus (so a caption never
names a tag the track lacks), and the wording is our own: the evaluation's sentence
queries (configs/queries/sentences.yaml) are never used. Deterministic from a seed and
the track id.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from .caption_config import CaptionConfig
from .evaluation.categories import tag_category

__all__ = ["Caption", "CaptionMaker", "phrase_variants", "mentioned_tags"]


@dataclass(frozen=True)
class Caption:
    text: str
    tags: tuple[str, ...]            # the track's tags this caption says


# Words said instead of a tag. Roles: "adj" goes before the head noun, "noun" is the head
# noun (forms), "post" follows it ("from ireland", "in a minor key", "by bach").
_TEMPO = {"fast": ["fast", "quick", "brisk", "up-tempo", "rapid"],
          "moderate": ["moderate", "mid-tempo", "medium-paced", "moderately paced"],
          "slow": ["slow", "leisurely", "slow-paced", "slow-moving"]}
_MOOD = {"happy": ["happy", "joyful", "glad"], "lively": ["lively", "spirited", "bouncy"],
         "cheerful": ["cheerful", "bright", "sunny"], "solemn": ["solemn", "grave", "stately"],
         "calm": ["calm", "tranquil", "still"], "peaceful": ["peaceful", "serene", "restful"],
         "sad": ["sad", "downcast", "unhappy"],
         "melancholic": ["melancholic", "melancholy", "wistful"],
         "energetic": ["energetic", "vigorous", "driving"], "dark": ["dark", "sombre", "shadowy"]}
_MODE = {"major": ["in a major key", "in major", "in the major mode"],
         "minor": ["in a minor key", "in minor", "in the minor mode"]}
_METER = {"duple meter": ["in duple meter", "in duple time", "in two"],
          "triple meter": ["in triple meter", "in triple time", "in three"],
          "compound meter": ["in compound meter", "in compound time"]}
_REGION = {"irish": "ireland", "scottish": "scotland", "german": "germany", "chinese": "china",
           "swiss": "switzerland", "austrian": "austria", "hungarian": "hungary",
           "dutch": "the netherlands", "european": "europe"}
_FORM_NOUNS = {"fling": ["fling", "highland fling"], "clog": ["clog", "clog dance"],
               "kyrie": ["kyrie", "kyrie eleison"], "gloria": ["gloria", "gloria in excelsis"],
               "mass": ["mass", "mass setting"], "string quartet": ["string quartet",
                                                                   "quartet movement"],
               "chorale": ["chorale", "chorale setting"], "dance": ["dance", "dance number"]}
_FORM_ADJ = {"sacred": ["sacred", "religious", "church"]}
_INSTRUMENTS = {"whistle": ["whistle", "penny whistle"], "voices": ["voices", "singers"],
                "choir": ["choir", "chorus"], "organ": ["organ", "pipe organ"],
                "accordion": ["accordion", "squeezebox"], "brass": ["brass", "brass band"]}
_PLAYING_ADJ = {"solo": ["solo", "unaccompanied"], "instrumental": ["instrumental"],
                "vocal": ["vocal", "sung"]}
_COMPOSER_ADJ = {"traditional": ["traditional", "age-old"],
                 "anonymous": ["anonymous", "unattributed"]}
_NOUNS = ["piece", "melody", "track", "recording", "composition", "number"]
_INSTRUMENT_LEADS = ["played on", "on", "for", "featuring", "performed on", "with"]
_SINGER_LEADS = ["sung by", "for", "performed by", "with"]
_SINGERS = frozenset({"voices", "choir"})
_OPENERS = ["", "", "", "play ", "find me ", "looking for ", "i would like ", "put on ",
            "recommend "]


def phrase_variants(tag: str) -> tuple[str, list[str]]:
    """(role, ways to say it) for one tag; unknown tags are said as they are, before the noun."""
    category = tag_category(tag)
    table = {"tempo": ("quality", _TEMPO), "mood": ("quality", _MOOD), "mode": ("post", _MODE),
             "meter": ("post", _METER)}
    if category in table and tag in table[category][1]:
        role, variants = table[category]
        return role, variants[tag]
    if category == "region" and tag in _REGION:
        return "adj|post", [tag, f"from {_REGION[tag]}"]
    if category == "era" and tag == "folk":
        return "adj", ["folk", "folk-style"]
    if category == "era":
        return "adj|post", [tag, f"from the {tag} era", f"of the {tag} period"]
    if category == "composer":
        if tag in _COMPOSER_ADJ:
            return "adj", _COMPOSER_ADJ[tag]
        return "adj|post", [tag, f"by {tag}", f"composed by {tag}"]
    if category == "form":
        if tag in _FORM_ADJ:
            return "adj", _FORM_ADJ[tag]
        return "noun", _FORM_NOUNS.get(tag, [tag])
    if category == "instrument":
        if tag in _PLAYING_ADJ:
            return "adj", _PLAYING_ADJ[tag]
        return "instrument", _INSTRUMENTS.get(tag, [tag])
    return "adj", [tag]


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.casefold())


def mentioned_tags(text: str, tags: list[str]) -> tuple[str, ...]:
    """The tags among `tags` whose words appear, in order and adjacent, in `text`."""
    words = " " + " ".join(_words(text)) + " "
    return tuple(sorted(t for t in tags if f" {' '.join(_words(t))} " in words))


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class CaptionMaker:
    """Captions for tracks, deterministic from (config.seed, track id)."""

    def __init__(self, config: CaptionConfig | None = None):
        self.config = config or CaptionConfig()

    def _rng(self, track_id: str) -> np.random.Generator:
        key = int.from_bytes(hashlib.blake2b(track_id.encode(), digest_size=8).digest(), "big")
        return np.random.default_rng([self.config.seed, key])

    def captions(self, track_id: str, tags: list[str], catalog_caption: str | None = None
                 ) -> list[Caption]:
        """Up to `per_track` distinct captions for one track (fewer if it has few tags)."""
        tags = sorted(set(tags))
        if not tags:
            return []
        rng = self._rng(track_id)
        found: dict[str, Caption] = {}
        if self.config.catalog_caption and catalog_caption:
            said = mentioned_tags(catalog_caption, tags)
            if said:
                found[catalog_caption] = Caption(catalog_caption, said)
        for _ in range(self.config.per_track * 6):   # duplicates are likely for few tags
            if len(found) >= self.config.per_track:
                break
            caption = self.one(tags, rng)
            found.setdefault(caption.text, caption)
        return list(found.values())

    def one(self, tags: list[str], rng: np.random.Generator) -> Caption:
        """One caption saying a random subset of `tags`."""
        count = int(rng.integers(1, min(len(tags), self.config.max_tags) + 1))
        chosen = [tags[i] for i in rng.permutation(len(tags))[:count]]
        if rng.random() < self.config.tag_list_share:   # TTMR's stochastic tag list
            return Caption(rng.choice([", ", " "]).join(chosen), tuple(sorted(chosen)))
        return Caption(self._sentence(chosen, rng), tuple(sorted(chosen)))

    def _sentence(self, chosen: list[str], rng: np.random.Generator) -> str:
        qualities, adjectives, nouns, posts, instruments = [], [], [], [], []
        for tag in chosen:
            role, variants = phrase_variants(tag)
            phrase = str(rng.choice(variants))
            if role == "adj|post":   # "scottish reel" or "reel from scotland"
                role = "adj" if phrase == tag else "post"
            {"quality": qualities, "adj": adjectives, "noun": nouns, "post": posts,
             "instrument": instruments}[role].append(phrase)
        if instruments:
            sung = all(t in _SINGERS for t in chosen if phrase_variants(t)[0] == "instrument")
            lead = rng.choice(_SINGER_LEADS if sung else _INSTRUMENT_LEADS)
            posts.append(f"{lead} {_join(instruments)}")
        noun = _join(nouns) if nouns else str(rng.choice(_NOUNS))
        posts = [posts[i] for i in rng.permutation(len(posts))]
        shape = int(rng.integers(3))
        if shape == 2 and qualities:   # "a scottish reel on fiddle that sounds quick and bright"
            head = [*[adjectives[i] for i in rng.permutation(len(adjectives))], noun]
            words = [_article(head[0]), *head, *posts, "that sounds", _join(qualities)]
            return str(rng.choice(_OPENERS)) + " ".join(words)
        adjectives += qualities
        adjectives = [adjectives[i] for i in rng.permutation(len(adjectives))]
        if shape == 1 and not nouns:   # "spirited music from ireland"
            words = [*adjectives, "music", *posts]
        else:   # "a quick scottish reel in two"
            head = [*adjectives, noun]
            words = [_article(head[0]), *head, *posts]
        return str(rng.choice(_OPENERS)) + " ".join(words)
