"""Query latency of each text path (word, sentence, auto) in process, on the shipped model.

    OMP_NUM_THREADS=1 python benchmarks/query_paths.py

Prints the first query of each path (the word vectors open memory-mapped; the first
sentence loads MiniLM), then medians for known texts (word), new texts and repeated ones
(sentence: the query-encoding cache), and auto on sentences.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from retrieval.bundle import load_bundle
from retrieval.routing import route_query

WORDS = ["reel", "calm choir", "fast jig flute", "solemn organ", "string quartet",
         "happy piano", "sad violin", "lively fiddle"]
SENTENCES = ["something like a pub session in dublin", "music for a funeral in a cathedral",
             "a gentle melody to fall asleep to", "an energetic dance for a village wedding",
             "a quiet piece for a rainy afternoon", "a hymn sung by a church choir",
             "an old tune from the scottish highlands", "a cheerful march for a parade"]


def timed(model, texts: list[str], mode: str) -> list[float]:
    seconds = []
    for text in texts:
        started = time.perf_counter()
        route_query(model, text, mode)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    torch.set_num_threads(1)
    started = time.perf_counter()
    model = load_bundle()
    print(f"load_bundle: {time.perf_counter() - started:.2f} s")
    print(f"first word query: {1000 * timed(model, WORDS[:1], 'auto')[0]:.0f} ms")
    print(f"first sentence query (loads MiniLM): "
          f"{1000 * timed(model, SENTENCES[:1], 'auto')[0]:.0f} ms")
    print(f"word path, p50: {1000 * np.median(timed(model, WORDS * 3, 'word')):.2f} ms")
    fresh = [f"{sentence} {i}" for i in range(3) for sentence in SENTENCES]
    print(f"sentence path, new text, p50: "
          f"{1000 * np.median(timed(model, fresh, 'sentence')):.1f} ms")
    print(f"sentence path, repeated text (cached), p50: "
          f"{1000 * np.median(timed(model, fresh, 'sentence')):.2f} ms")
    again = [f"{sentence} again" for sentence in SENTENCES]
    print(f"auto path on a sentence, new text, p50: "
          f"{1000 * np.median(timed(model, again, 'auto')):.1f} ms")


if __name__ == "__main__":
    main()
