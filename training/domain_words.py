"""A music-domain Word2Vec for the word tower (Won trains one on music text), with
phrase detection so that "string quartet" becomes one word, "string_quartet".

Corpus: a text file, one document per line, tokenized with the query tokenizer
(retrieval.query.tokenize), so the vectors' keys are spelled as queries are.
Phrases: one pass of gensim `Phrases` (bigrams; `min_count` and `threshold` in the
config), joined with `PHRASE_JOINER` ("_", word2vec's convention), which
`phrase_words` / `parse_query` look up for adjacent query words — "string quartet" in a
query or a tag finds the phrase vector. A query never looks up a phrase that begins or
ends with one of its stop words, so such pairs ("a_fiddle") are dropped here. (gensim's
`connector_words` were tried with the query's stop words: on the caption corpus they made
template fragments such as "quartet_by_haydn" and "mozart_from_the_classical".)

Reproducible from a seed: one worker and the fixed `hashfxn` of the playlist Word2Vec
(training/playlists/word2vec.py, where the reasoning is written down).

Saved without pickle: the vectors as a word2vec text file (header "count dim"), which
the word tower loads as `vectors: {source: file, path: ..., dim: ...}`; the phrases as
JSON (each detected phrase and its score, plus the config), applied by `apply_phrases`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from retrieval.query import PHRASE_JOINER, STOP_WORDS, tokenize
from retrieval.typed_config import ConfigError, from_mapping
from training.playlists.word2vec import fit_word2vec

__all__ = ["DomainWordsConfig", "DomainWords", "read_corpus", "train_domain_words",
           "apply_phrases", "save_domain_words", "load_phrases", "VECTORS_FILE",
           "PHRASES_FILE", "tag_corpus"]

VECTORS_FILE = "words.w2v.txt"
PHRASES_FILE = "phrases.json"


@dataclass
class DomainWordsConfig:
    vector_size: int = 100
    window: int = 5
    min_count: int = 2            # words (and phrases) seen fewer times get no vector
    epochs: int = 10
    sg: bool = True               # skip-gram (False: CBOW)
    negative: int = 5
    alpha: float = 0.025          # gensim's defaults
    min_alpha: float = 0.0001
    phrase_min_count: int = 5     # gensim Phrases: a bigram seen fewer times is never a phrase
    phrase_threshold: float = 10.0   # gensim Phrases' default scorer threshold
    seed: int = 0

    def problems(self) -> list[str]:
        found = [f"{name} must be at least 1" for name in
                 ("vector_size", "window", "min_count", "epochs", "negative", "phrase_min_count")
                 if getattr(self, name) < 1]
        if not 0 < self.alpha <= 1 or not 0 <= self.min_alpha <= self.alpha:
            found.append("alpha must be in (0, 1] and min_alpha in [0, alpha]")
        if not self.phrase_threshold > 0:
            found.append("phrase_threshold must be > 0")
        return found

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DomainWordsConfig":
        return from_mapping(cls, data, "domain words")


@dataclass
class DomainWords:
    words: list[str]
    vectors: np.ndarray            # (words, vector_size) float32, row i is words[i]
    phrases: dict[str, float]      # detected phrase ("string_quartet") → its Phrases score
    config: DomainWordsConfig


def read_corpus(path: str | Path) -> list[list[str]]:
    """Documents (one a line) as query-tokenized word lists; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"corpus not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            documents = [words for line in handle if (words := tokenize(line))]
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not documents:
        raise ConfigError(f"{path}: no words in the corpus")
    return documents


def tag_corpus(records, seed: int = 0) -> list[str]:
    """Demo corpus lines DERIVED FROM TAGS: each track's catalog caption and its generated
    training captions (training/captions.py). Vectors trained on it only learn how the
    tags co-occur in our own templates — a stand-in for real music text."""
    from training.caption_config import CaptionConfig
    from training.captions import CaptionMaker
    maker = CaptionMaker(CaptionConfig(seed=seed))
    return [caption.text for record in records
            for caption in maker.captions(record.track_id, list(record.tags), record.caption)]


def apply_phrases(words: list[str], phrases) -> list[str]:
    """Join adjacent words that form a detected phrase, left to right (gensim's
    FrozenPhrases does the same for bigrams)."""
    out, position = [], 0
    while position < len(words):
        pair = PHRASE_JOINER.join(words[position:position + 2])
        if position + 1 < len(words) and pair in phrases:
            out.append(pair)
            position += 2
        else:
            out.append(words[position])
            position += 1
    return out


def train_domain_words(documents: list[list[str]], config: DomainWordsConfig) -> DomainWords:
    problems = config.problems()
    if problems:
        raise ConfigError("domain words: " + "; ".join(problems))
    from gensim.models.phrases import Phrases
    detector = Phrases(documents, min_count=config.phrase_min_count,
                       threshold=config.phrase_threshold, delimiter=PHRASE_JOINER)
    # a query never looks up a phrase that begins or ends with a stop word (_joined_phrase)
    phrases = {p: float(s) for p, s in sorted(detector.export_phrases().items())
               if not {p.split(PHRASE_JOINER)[0], p.split(PHRASE_JOINER)[-1]} & STOP_WORDS}
    sentences = [apply_phrases(words, phrases) for words in documents]
    words, vectors = fit_word2vec(
        sentences, epochs=config.epochs,
        empty=f"domain words: no word occurs {config.min_count} times or more "
              "(lower min_count)",
        vector_size=config.vector_size, window=config.window, min_count=config.min_count,
        sg=int(config.sg), negative=config.negative, alpha=config.alpha,
        min_alpha=config.min_alpha, seed=config.seed)
    return DomainWords(words, vectors, phrases, config)


def save_domain_words(result: DomainWords, folder: str | Path) -> tuple[Path, Path]:
    """(vectors file, phrases file) written into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vectors_path, phrases_path = folder / VECTORS_FILE, folder / PHRASES_FILE
    with open(vectors_path, "w", encoding="utf-8") as handle:
        handle.write(f"{len(result.words)} {result.vectors.shape[1]}\n")
        for word, row in zip(result.words, result.vectors):
            # repr of float32 round-trips exactly; keys never hold spaces (tokenizer)
            handle.write(word + " " + " ".join(repr(float(v)) for v in row) + "\n")
    phrases_path.write_text(json.dumps(
        {"joiner": PHRASE_JOINER, "phrases": result.phrases, "config": result.config.to_dict()},
        ensure_ascii=False, indent=1), encoding="utf-8")
    return vectors_path, phrases_path


def load_phrases(path: str | Path) -> dict[str, float]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        phrases = {str(p): float(s) for p, s in data["phrases"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path}: not a phrases file ({error})") from None
    return phrases
