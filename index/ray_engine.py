"""`musicsearch index --engine ray`: the encoding of an index run on a Ray cluster.

The tracks to encode become a Ray Dataset. Decoding and log-mel features run in Ray tasks
(`ingest.read_features`, one CPU each); the model runs in a pool of actors that each load
it once (`ingest.make_point`). These are the local engine's own per-track steps, so the
vectors, ids and payloads are the same. The rest of the run (what to encode, skip or
refresh, counting, listing failures, removing gone files, the index build) is
`ingest.index_tracks`, shared with the local engine.

Where the points are written:
- an embedded collection (a folder) is held by one process (the engine's WAL lock), so the
  points come back to the process that runs `index`, which writes them in batches of
  `ingest.UPSERT_BATCH` as the local engine does: one writer;
- a Qdrant server or cluster (`--qdrant http(s)://…`): every embedding actor opens its own
  client and writes the points of each batch it encodes; only track ids and failures
  come back.

The model reaches the actors as the bytes of its bundle folder (a few MB), checked by
fingerprint on arrival, so nodes need no shared folder for it. The audio files and the
feature cache folder must be at the same paths on every node (a shared mount): a file a
worker cannot read is listed as unreadable, like any other.

Ray is imported only here, and this module only for `--engine ray`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.bundle import BundleError, load_bundle
from retrieval.catalog import TrackRecord
from retrieval.feature_cache import FeatureCache
from retrieval.model import MusicSearchModel

from .ingest import (TRACK_ERRORS, IndexFailure, Result, StoredPoint, make_point, read_features,
                     track_failure)
from .points import IndexPoint
from .store import QdrantStore, open_store

__all__ = ["RayEngineConfig", "RayEncoder", "EngineError", "INSTALL_HINT", "import_ray",
           "bundle_files"]

INSTALL_HINT = 'pip install -e ".[ray]"'
# A decode holds a whole file's samples (10 min of 44.1 kHz stereo float32 is 212 MB) and
# its resampling; the request also keeps Ray from fusing decoding into the model actors
# (operators with different resource requests are not fused), so both scale apart.
DECODE_MEMORY = 512 << 20
SERVER_BATCH = 256
_ADDRESS = re.compile(r"^(auto|ray://[^\s/:]+(:\d+)?|[^\s/:]+:\d+)$")


class EngineError(RuntimeError):
    """The engine cannot run: Ray is missing, the address is wrong, the cluster is gone."""


@dataclass
class RayEngineConfig:
    """How `--engine ray` runs. `address` None starts a local Ray instance of `num_cpus`
    CPUs (None: all) and `object_store_mb`; "auto" joins the cluster this machine belongs
    to; "ray://HOST:PORT" reaches one through Ray Client; "HOST:PORT" is a cluster's GCS."""
    address: str | None = None
    num_cpus: int | None = None
    object_store_mb: int = 200
    actors: int | None = None        # model actors; None: half the cluster's CPUs, at least 1
    decode_batch: int = 8            # tracks per decode call
    # tracks per actor call; None: 32 for an embedded collection (this process gathers
    # them into writes of ingest.UPSERT_BATCH), SERVER_BATCH for a server, where each call
    # is also one upsert: fewer, larger requests
    embed_batch: int | None = None
    actor_threads: int = 1           # torch threads per actor (one CPU each)

    def problems(self) -> list[str]:
        found = []
        if self.address is not None and not _ADDRESS.match(self.address):
            found.append(f"--address {self.address!r}: give auto, ray://HOST:PORT or HOST:PORT")
        for name in ("num_cpus", "actors", "embed_batch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                found.append(f"{name} must be at least 1, got {value}")
        for name in ("object_store_mb", "decode_batch", "actor_threads"):
            if getattr(self, name) < 1:
                found.append(f"{name} must be at least 1, got {getattr(self, name)}")
        return found

    def check(self) -> "RayEngineConfig":
        problems = self.problems()
        if problems:
            raise EngineError("; ".join(problems))
        return self


def import_ray():
    """The `ray` module with Ray Data, or EngineError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data comes with the [ray] extra)
    except ImportError:
        raise EngineError(f"--engine ray needs Ray: {INSTALL_HINT}") from None
    return ray


def bundle_files(folder: str | os.PathLike) -> dict[str, bytes]:
    """Every file of a bundle folder, by relative path: what the actors rebuild it from."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _load_shipped(files: dict[str, bytes], into: Path, fingerprint: str) -> MusicSearchModel:
    for name, data in files.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    model = load_bundle(into)
    if model.fingerprint != fingerprint:   # another version of the code read it otherwise
        raise BundleError(f"the model rebuilt on a Ray worker has fingerprint "
                          f"{model.fingerprint}, not {fingerprint}: install the same "
                          "musicsearch on every node")
    return model


def _objects(values: list) -> np.ndarray:
    array = np.empty(len(values), dtype=object)   # never broadcast into a 2-D array
    array[:] = values
    return array


_NO_MEL = np.zeros((0, 0), dtype=np.float16)


def _decode(batch: dict[str, np.ndarray], cache: FeatureCache) -> dict:
    """Ray task: each track's log-mel and its file state, or its failure in place of both.
    (Never None in a column: Ray Data turns a column of only None into NaN.)"""
    outcomes, mels = [], []
    for record in batch["record"]:
        try:
            state, mel = read_features(record, cache)
        except TRACK_ERRORS as error:
            outcomes.append(track_failure(record, error))
            mels.append(_NO_MEL)
        else:
            outcomes.append(state)
            # float16 halves the object store traffic and is exact: the cache holds float16
            mels.append(mel.astype(np.float16))
    return {"record": batch["record"], "outcome": _objects(outcomes), "mel": mels}


class _Embedder:
    """Ray actor: the model, loaded once; with `server` (location, collection, api key)
    it also writes the points of each batch itself."""

    def __init__(self, bundle: dict[str, bytes], fingerprint: str,
                 server: tuple[str, str, str | None] | None, threads: int | None):
        if threads is not None:
            import torch
            torch.set_num_threads(threads)
        self._folder = tempfile.TemporaryDirectory(prefix="musicsearch-bundle-")
        self.model = _load_shipped(bundle, Path(self._folder.name), fingerprint)
        self.fingerprint = fingerprint
        self.store = open_store(*server) if server is not None else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        results: list[Result] = []
        for record, outcome, mel in zip(batch["record"], batch["outcome"], batch["mel"]):
            if isinstance(outcome, IndexFailure):
                results.append(outcome)
                continue
            try:
                mel = np.asarray(mel, dtype=np.float32)
                results.append(make_point(self.model, record, outcome, mel, self.fingerprint))
            except TRACK_ERRORS as error:
                results.append(track_failure(record, error))
        if self.store is not None:   # a server: this worker writes, only ids go back
            self.store.upsert([r for r in results if isinstance(r, IndexPoint)])
            results = [StoredPoint(r.track_id) if isinstance(r, IndexPoint) else r
                       for r in results]
        return {"result": _objects(results)}


def server_address(store: QdrantStore) -> tuple[str, str, str | None] | None:
    """(URL, collection, API key) when `store` is a Qdrant server every worker can reach;
    None for an embedded store (this process writes). The key travels to the actors in
    their constructor arguments, inside the Ray cluster."""
    if not store.location.startswith(("http://", "https://")):
        return None
    api_key = getattr(store, "api_key", None) or os.environ.get("QDRANT_API_KEY") or None
    return store.location, store.collection, api_key


class RayEncoder:
    """An `ingest.Encoder` that runs on Ray: `index_tracks(..., encoder=RayEncoder())`.
    Uses the Ray instance this process is already connected to, if any; otherwise
    connects (or starts a local one) as `config` says, and shuts it down at the end."""

    def __init__(self, config: RayEngineConfig | None = None):
        self.config = (config or RayEngineConfig()).check()
        self._ray = import_ray()   # before any long work: a missing Ray is one line
        self.last_stats = ""       # Ray Data's execution summary of the last run (tests)

    def __call__(self, model: MusicSearchModel, records: list[TrackRecord],
                 cache: FeatureCache, batch_size: int,
                 store: QdrantStore) -> Iterator[list[Result]]:
        if not records:
            return                 # nothing to encode: Ray is not even started
        bundle = getattr(model, "bundle_path", None)
        if bundle is None:
            raise EngineError("--engine ray ships the model to its workers as a bundle "
                              "folder: load it with retrieval.bundle.load_bundle")
        started = self._connect()
        try:
            yield from self._run(model, bundle_files(bundle), records, cache, store)
        finally:
            if started:
                self._ray.shutdown()

    def _connect(self) -> bool:
        ray, config = self._ray, self.config
        if ray.is_initialized():
            return False
        try:
            if config.address is None:   # "local": never a cluster named by $RAY_ADDRESS
                ray.init(address="local", num_cpus=config.num_cpus,
                         object_store_memory=config.object_store_mb << 20,
                         include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=config.address, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as error:
            where = config.address or "a local instance"
            lines = str(error).strip().splitlines() or [type(error).__name__]
            raise EngineError(f"cannot start or reach Ray at {where}: {lines[0]}") from None
        return True

    def _run(self, model: MusicSearchModel, bundle: dict[str, bytes],
             records: list[TrackRecord], cache: FeatureCache,
             store: QdrantStore) -> Iterator[list[Result]]:
        ray, config = self._ray, self.config
        from ray.data import ActorPoolStrategy
        self.last_stats = ""
        actors = config.actors or max(1, int(ray.cluster_resources().get("CPU", 2)) // 2)
        server = server_address(store)
        embed_batch = config.embed_batch or (SERVER_BATCH if server else 32)
        with _quiet_data_context(ray):
            dataset = ray.data.from_items([{"record": r} for r in records])
            decoded = dataset.map_batches(_decode, fn_kwargs={"cache": cache},
                                          batch_size=config.decode_batch, num_cpus=1,
                                          memory=DECODE_MEMORY)
            embedded = decoded.map_batches(
                _Embedder, batch_size=embed_batch, num_cpus=1,
                compute=ActorPoolStrategy(size=actors),
                fn_constructor_kwargs={"bundle": bundle, "fingerprint": model.fingerprint,
                                       "server": server,
                                       "threads": config.actor_threads})
            for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                yield list(batch["result"])
            self.last_stats = embedded.stats()


@contextlib.contextmanager
def _quiet_data_context(ray):
    """Ray Data settings for one run, restored after: results in track order (the same
    failure list as the local engine), no Ray progress bars (ours is drawn), records kept
    as Python objects without a warning."""
    context = ray.data.DataContext.get_current()
    wanted = {"enable_progress_bars": False, "enable_fallback_to_arrow_object_ext_type": True}
    saved = {name: getattr(context, name) for name in wanted}
    order = context.execution_options.preserve_order
    logger = logging.getLogger("ray.data")
    level = logger.level
    try:
        for name, value in wanted.items():
            setattr(context, name, value)
        context.execution_options.preserve_order = True
        logger.setLevel(logging.ERROR)   # not "progress bars disabled": ours is drawn
        yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        context.execution_options.preserve_order = order
        logger.setLevel(level)
