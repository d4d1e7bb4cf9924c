"""The collection schema: one typed object that both Qdrant back ends translate.

`CollectionSchema` says which named vectors a collection has, how the `music` vector is
indexed (HNSW m / ef_construct, search ef), whether it is int8-quantized (searched with
rescoring) and kept on disk, and which payload fields get an index. `EdgeStore` turns it
into an `EdgeConfig`, `ClientStore` into `create_collection` arguments; both record it
with the collection, so later opens search with the settings it was built with.

Defaults and why (figures in docs/SCALE.md):
- `music` HNSW m=16, ef_construct=128, payload indexes without graph links of their own
  (`payload_links`): 0.32–0.34× the build's CPU time with the links at 100K
  (benchmarks/scale_levers.py);
- search ef that follows the collection's size (`HnswSettings.ef` None, `auto_search_ef`):
  without the payload links a graph needs a wider search beam as it grows (recall@10 at ef
  256: 0.995–0.998 at 100K, 0.978 at 1M), and a fixed beam wide enough for 1M would spend
  latency on small collections that do not need it;
- `on_disk`: the original vectors memory-mapped, not cached in RAM, and in the embedded
  store the int8 codes too (a one-shot `musicsearch search` of 1M songs 0.76 s instead
  of 3.1 s, most of it copying pinned codes in at open; warm search time the same);
- `payload_indexes_on_disk`: the payload indexes memory-mapped, at any storage (in RAM
  they were a quarter of the store's RSS at 100K, and kept a float32 1M collection's
  search process above 1.5 GB);
- `chunks` (per-chunk MaxSim multivector) off: no HNSW graph of its own (m=0, only for
  re-ranking), but it multiplies ingest time, disk and memory by the chunks per song;
- an index build (`optimize`) after ingest only from `OPTIMIZE_MIN_POINTS` points on:
  below that an exact scan is as fast as the graph;
- distribution over a Qdrant cluster (`Distribution`: shards, replicas, write consistency)
  left to the server's defaults unless given; the embedded store is one shard on one
  machine and ignores it (docs/SCALING.md says how to choose them).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

__all__ = ["CollectionSchema", "HnswSettings", "Quantization", "Distribution", "SchemaError",
           "MUSIC", "CHUNKS", "CULTURAL", "BACKBONE", "RESERVED_VECTORS", "PAYLOAD_INDEX_TYPES",
           "DEFAULT_PAYLOAD_INDEXES", "OPTIMIZE_MIN_POINTS", "AUTO_EF_STEPS", "auto_search_ef", "ACORN_MAX_SELECTIVITY",
           "describe_auto_ef",
           "legacy_schema"]

MUSIC = "music"            # the song vector in the joint space (cosine), HNSW-indexed
CHUNKS = "chunks"          # per-chunk joint vectors, MaxSim multivector, no graph (m=0)
CULTURAL = "cultural"      # the playlist modality (joint space): index/ingest.add_cultural
BACKBONE = "backbone"      # a pretrained backbone's song embedding (similarity by example)
RESERVED_VECTORS = (CULTURAL, BACKBONE)

PAYLOAD_INDEX_TYPES = ("keyword", "integer", "float", "bool")
# Field → index type. `meta.collection` is where catalogs keep a track's source collection.
DEFAULT_PAYLOAD_INDEXES = {"artist": "keyword", "tags": "keyword", "duration": "float",
                           "meta.collection": "keyword"}

# Below this many points an exact scan of the plain segment is as fast as the HNSW graph
# (measured: benchmarks/scale.py, docs/SCALE.md), so ingest skips the index build.
OPTIMIZE_MIN_POINTS = 20_000

# The search ef a collection of a given size gets when its schema leaves `ef` to the size:
# (fewer than this many points, ef), the last ef for anything larger. Chosen so recall@10
# stays ≥ 0.99 against exact search at each size (benchmarks/scale.py, docs/SCALE.md).
AUTO_EF_STEPS: tuple[tuple[int, int], ...] = ((200_000, 256), (500_000, 512))
AUTO_EF_LARGEST = 1024

# ACORN is used for filters up to this selectivity (share of songs passing): 1.0 = every
# filtered graph walk; the engine's default 0.4 left filters on 50-70 % of 1M songs at
# recall@10 0.85-0.95 (HnswSettings.acorn, docs/SCALE.md).
ACORN_MAX_SELECTIVITY = 1.0


def auto_search_ef(points: int) -> int:
    """The search beam (`hnsw_ef`) for a collection of `points` songs."""
    for below, ef in AUTO_EF_STEPS:
        if points < below:
            return ef
    return AUTO_EF_LARGEST


def describe_auto_ef() -> str:
    """The size rule in words, e.g. for --help: '256 below 200,000 songs, …, 1024 above'."""
    steps = [f"{ef} below {below:,} songs" if i == 0 else f"{ef} below {below:,}"
             for i, (below, ef) in enumerate(AUTO_EF_STEPS)]
    return ", ".join(steps + [f"{AUTO_EF_LARGEST} above"])


class SchemaError(ValueError):
    """A schema that cannot be used (one line, naming the field)."""


@dataclass(frozen=True)
class HnswSettings:
    m: int = 16                      # graph degree
    ef_construct: int = 128          # build-time beam
    ef: int | None = None            # search-time beam (`hnsw_ef`); None: by size
    # A filter the engine expects to pass fewer songs than this (in KB of float32 vectors:
    # 30,000 songs at 256-d) is answered by an exact scan of those songs from the payload
    # index; broader filters walk the graph. 10,000 (the engine's default) sent filters on
    # ~1 % of 1M songs (10-11K) to the graph: recall@10 0.14-0.33, 1.0 exact.
    full_scan_threshold_kb: int = 30_000
    # Filtered graph walks with ACORN (neighbours' neighbours are looked at too), at any
    # selectivity: without per-value payload links (`payload_links`), a plain walk found
    # 0.67-0.95 of the exact top 10 under filters passing 5-70 % of 1M songs, ACORN
    # 0.96-0.995 (docs/SCALE.md). A search-time setting: collections made before it get it.
    acorn: bool = True

    def problems(self) -> list[str]:
        out = []
        if not 4 <= self.m <= 128:
            out.append(f"hnsw.m must be 4–128, got {self.m}")
        if not 4 <= self.ef_construct <= 4096:
            out.append(f"hnsw.ef_construct must be 4–4096, got {self.ef_construct}")
        if self.ef is not None and not 1 <= self.ef <= 4096:
            out.append(f"hnsw.ef must be 1–4096 (or absent: by the collection's size), "
                       f"got {self.ef}")
        if self.full_scan_threshold_kb < 0:
            out.append("hnsw.full_scan_threshold_kb must be ≥ 0")
        return out


@dataclass(frozen=True)
class Quantization:
    """int8 scalar quantization of `music`; searches rescore with the original vectors."""
    quantile: float = 0.99
    rescore: bool = True
    # candidates fetched per result before rescoring: 4 found 0.9945 of the exact top 10 at
    # 1M songs and ef 1024, 2 found 0.991, for the same latency (docs/SCALE.md)
    oversampling: float = 4.0

    def problems(self) -> list[str]:
        out = []
        if not 0.5 <= self.quantile <= 1.0:
            out.append(f"quantization.quantile must be 0.5–1, got {self.quantile}")
        if not 1.0 <= self.oversampling <= 16.0:
            out.append(f"quantization.oversampling must be 1–16, got {self.oversampling}")
        return out


@dataclass(frozen=True)
class Distribution:
    """How a Qdrant server or cluster spreads the collection; None leaves a setting to the
    server (qdrant-client 1.20's API: shards "selected automatically", 1 replica by default).
    Fixed when the collection is created."""
    shard_number: int | None = None              # shards the points are hashed over
    replication_factor: int | None = None        # copies of each shard, on different nodes
    write_consistency_factor: int | None = None  # replicas that must apply a write

    def problems(self) -> list[str]:
        out = [f"distribution.{name} must be ≥ 1 (or absent), got {value}"
               for name, value in asdict(self).items() if value is not None and value < 1]
        if (self.write_consistency_factor or 1) > (self.replication_factor or 1):
            out.append(f"distribution.write_consistency_factor {self.write_consistency_factor} "
                       f"exceeds the {self.replication_factor or 1} replica(s) of each shard")
        return out

    def is_default(self) -> bool:
        return self == Distribution()

    def check(self) -> "Distribution":
        if self.problems():
            raise SchemaError("invalid collection schema: " + "; ".join(self.problems()))
        return self


@dataclass(frozen=True)
class CollectionSchema:
    dim: int                                     # joint-space dimension (`music`, `chunks`)
    chunks: bool = False                         # store the per-chunk MaxSim multivector
    cultural_dim: int | None = None              # optional named vectors: None = absent
    backbone_dim: int | None = None
    backbone: str | None = None                  # which backbone fills `backbone` ("msd", …)
    hnsw: HnswSettings = field(default_factory=HnswSettings)
    quantization: Quantization | None = None     # None: float32 only
    on_disk: bool = False                        # vectors (and int8 codes) memory-mapped
    payload_indexes: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_PAYLOAD_INDEXES))
    # per-value graph links for filtered search (the engine's payload index `enable_hnsw`);
    # False: filters above the full-scan threshold walk the main graph, checking each point
    payload_links: bool = False
    # payload indexes memory-mapped (pages read as filters use them) rather than loaded: in
    # RAM they took ~0.5 GB of the search process at 1M float32 songs (docs/SCALE.md)
    payload_indexes_on_disk: bool = True
    distribution: Distribution = field(default_factory=Distribution)   # servers only

    def vectors(self) -> dict[str, int]:
        """Named dense vectors and their sizes (`chunks` is multi: (n, dim) per point)."""
        out = {MUSIC: self.dim}
        if self.chunks:
            out[CHUNKS] = self.dim
        if self.cultural_dim:
            out[CULTURAL] = self.cultural_dim
        if self.backbone_dim:
            out[BACKBONE] = self.backbone_dim
        return out

    def problems(self) -> list[str]:
        out = [] if self.dim >= 1 else [f"dim must be ≥ 1, got {self.dim}"]
        for name in ("cultural_dim", "backbone_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                out.append(f"{name} must be ≥ 1 or absent, got {value}")
        if self.backbone is not None and not self.backbone_dim:
            out.append(f"backbone {self.backbone!r} needs a backbone_dim")
        out += self.hnsw.problems()
        out += self.quantization.problems() if self.quantization else []
        out += self.distribution.problems()
        out += [f"payload index {key!r}: unknown type {kind!r} (known: "
                f"{', '.join(PAYLOAD_INDEX_TYPES)})"
                for key, kind in self.payload_indexes.items() if kind not in PAYLOAD_INDEX_TYPES]
        return out

    def check(self) -> "CollectionSchema":
        problems = self.problems()
        if problems:
            raise SchemaError("invalid collection schema: " + "; ".join(problems))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CollectionSchema":
        """The inverse of `to_dict`; unknown keys are refused (one line naming them)."""
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SchemaError(f"unknown collection schema keys: {', '.join(unknown)}")
        try:
            if isinstance(data.get("hnsw"), dict):
                data["hnsw"] = HnswSettings(**data["hnsw"])
            if isinstance(data.get("quantization"), dict):
                data["quantization"] = Quantization(**data["quantization"])
            if isinstance(data.get("distribution"), dict):   # absent: recorded before it
                data["distribution"] = Distribution(**data["distribution"])
            data.setdefault("payload_links", True)   # recorded before it: built with links
            # recorded before it: the indexes were on disk exactly when the vectors were
            data.setdefault("payload_indexes_on_disk", bool(data.get("on_disk", False)))
            return cls(**data).check()
        except TypeError as error:
            raise SchemaError(f"invalid collection schema: {error}") from None


def legacy_schema(dim: int, chunks: bool) -> CollectionSchema:
    """What collections made before the schema existed were: m=16, ef_construct=256 (search
    ef = ef_construct, the engine default), float32 in memory, no payload indexes."""
    return CollectionSchema(dim=dim, chunks=chunks,
                            hnsw=HnswSettings(ef_construct=256, ef=256), payload_indexes={})
