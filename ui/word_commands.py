"""`musicsearch words corpus|train`: a music-domain Word2Vec for the word tower (its parser
and handlers, kept out of cli.py). Library work is in training/domain_words.py."""
from __future__ import annotations

from pathlib import Path

from .arg_types import at_least_one

__all__ = ["add_word_commands", "cmd_words"]


def add_word_commands(commands) -> None:
    words = commands.add_parser("words", help="a domain Word2Vec (with phrases) for the word tower")
    actions = words.add_subparsers(dest="words_command", required=True, metavar="ACTION")
    corpus = actions.add_parser(
        "corpus", help="write a demo corpus DERIVED FROM TAGS: the catalog's captions and "
                       "generated training captions, one a line")
    corpus.add_argument("--catalog", required=True, metavar="FILE", help="catalog JSONL")
    corpus.add_argument("--out", required=True, metavar="FILE", help="text file to write")
    corpus.add_argument("--seed", type=int, default=0)
    train = actions.add_parser(
        "train", help="train Word2Vec on a text corpus, bigram phrases joined with '_'")
    train.add_argument("--corpus", required=True, metavar="FILE", help="text, one document a line")
    train.add_argument("--out", required=True, metavar="DIR", help="output folder")
    train.add_argument("--vector-size", type=at_least_one, default=100)
    train.add_argument("--min-count", type=at_least_one, default=2,
                       help="occurrences a word needs to get a vector (default: %(default)s)")
    train.add_argument("--phrase-min-count", type=at_least_one, default=5)
    train.add_argument("--phrase-threshold", type=float, default=10.0)
    train.add_argument("--epochs", type=at_least_one, default=10)
    train.add_argument("--seed", type=int, default=0)


def cmd_words(args) -> int:
    return _corpus(args) if args.words_command == "corpus" else _train(args)


def _corpus(args) -> int:
    from retrieval.catalog import read_catalog
    from retrieval.typed_config import ConfigError
    from training.domain_words import tag_corpus
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name")
    lines = tag_corpus(read_catalog(args.catalog), seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line.replace("\n", " ") + "\n" for line in lines), encoding="utf-8")
    print(f"wrote {len(lines)} lines (derived from tags: catalog and generated captions) to {out}")
    return 0


def _train(args) -> int:
    from retrieval.typed_config import ConfigError
    from training.domain_words import (DomainWordsConfig, read_corpus, save_domain_words,
                                       train_domain_words)
    config = DomainWordsConfig(vector_size=args.vector_size, min_count=args.min_count,
                               phrase_min_count=args.phrase_min_count,
                               phrase_threshold=args.phrase_threshold, epochs=args.epochs,
                               seed=args.seed)
    problems = config.problems()
    if problems:
        raise ConfigError("domain words: " + "; ".join(problems))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    documents = read_corpus(args.corpus)
    result = train_domain_words(documents, config)
    vectors_path, phrases_path = save_domain_words(result, out)
    print(f"corpus: {len(documents)} documents; {len(result.phrases)} phrases to {phrases_path}")
    print(f"word vectors: {len(result.words)} words × {result.vectors.shape[1]} to {vectors_path}")
    print(f"word tower: vectors: {{source: file, path: {vectors_path.resolve()}, "
          f"dim: {result.vectors.shape[1]}}}")
    return 0
