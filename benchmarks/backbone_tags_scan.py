"""How long a `--mode backbone-tags` query takes (it reads every payload) against a
`--vector backbone` search, on generated collections of 1,000 and 20,000 songs in the
embedded store (random vectors and tag probabilities; only the sizes matter here).

    python benchmarks/backbone_tags_scan.py
"""
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import open_store  # noqa: E402
from index.points import IndexPoint  # noqa: E402
from index.schema import CollectionSchema  # noqa: E402
from retrieval.backbone import backbone_tags, top_tags  # noqa: E402
from retrieval.search import Searcher  # noqa: E402

QUERIES = (("backbone-tags 'rock'", dict(text="rock", mode="backbone-tags")),
           ("backbone-tags 'hard rock -sad'", dict(text="hard rock -sad", mode="backbone-tags")),
           ("--vector backbone --track", dict(track_id="t1", vector="backbone")))


class _Model:
    fingerprint = "generated"


def _points(rng, start: int, n: int, tags) -> list[IndexPoint]:
    points = []
    for i in range(start, start + n):
        p = rng.random(len(tags)).astype(np.float32)
        payload = {"track_id": f"t{i}", "title": f"T{i}", "model_fingerprint": "generated",
                   "backbone": "msd", "backbone_tags": top_tags(p, tags),
                   "backbone_p": [round(float(x), 4) for x in p]}
        points.append(IndexPoint(f"t{i}", rng.standard_normal(256).astype(np.float32), None,
                                 payload, backbone=rng.standard_normal(200).astype(np.float32)))
    return points


def main() -> None:
    tags, rng = backbone_tags("msd"), np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp(prefix="backbone-scan-"))
    try:
        for n in (1000, 20000):
            store = open_store(str(folder / str(n)), "scan")
            store.create(256, "generated", schema=CollectionSchema(dim=256, backbone="msd",
                                                                   backbone_dim=200))
            for start in range(0, n, 2000):
                store.upsert(_points(rng, start, min(2000, n - start), tags))
            searcher = Searcher(_Model(), store)
            for label, query in QUERIES:
                searcher.search(k=10, **query)
                started, rounds = time.perf_counter(), 3
                for _ in range(rounds):
                    searcher.search(k=10, **query)
                elapsed = (time.perf_counter() - started) / rounds
                print(f"| {n:,} | {label} | {elapsed * 1000:.1f} ms |")
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
