"""Simulated listening sessions over a catalog: the demo's playlists are SIMULATED, not
listening data. Every rule of the simulation is here; all draws come from
`numpy.random.default_rng` streams of one seed, over the catalog sorted by track id, so
the same catalog, config and seed give the same sessions whatever the file order.

Rules
1. Facets. Each track has one value per facet, read from its tags: era (medieval,
   renaissance, baroque, classical, traditional), region (irish, scottish, german, …),
   ensemble (choir, string quartet, solo, …) and tempo (slow, moderate, fast); the first
   tag found in the facet's list (`FACETS`), else "other".
2. Popularity. Tracks are ranked in a random order, independent of their tags, and get
   weight 1 / rank^`popularity_exponent` (Zipf): a few tracks recur in many sessions.
3. Circles. Each track belongs to one of `circles` hidden groups drawn at random,
   independent of its tags (a label, a radio show, a friend's mixtape). Each listener
   follows `circles_per_listener` of them; tracks of those circles weigh
   `circle_boost` times more. This is what co-occurrence knows and the tags do not.
4. Listeners. Each has, per facet, a taste drawn from Dirichlet(`taste_concentration`)
   over the facet's values (at 1 any mix is equally likely; below 1, a few favourites),
   and a probability of a random pick, `noise` × Beta(2, 2) × 2 (mean `noise`).
   A track's appeal to a listener = the product of the listener's taste for the track's
   facet values × popularity × circle boost.
5. Sessions. A listener plays `sessions` sessions; a session's length is
   `min_length` + Poisson(`mean_extra_length`). The first track is drawn by appeal. Each
   next track is, with the listener's noise probability, a uniformly random track
   (cross-genre noise); otherwise it is drawn by appeal × `stay`^(facets shared with the
   PREVIOUS track) — so a session follows where it has got to, not where it began: it
   drifts. No track repeats within a session.
6. Splits. With `within_split` (the default) a session draws only from one split, chosen
   in proportion to the split's size, so no playlist pairs a test track with a training
   track (as the demo's earlier playlists did).

Defaults: chosen so that both signals survive into Word2Vec track vectors. On the
1600-track demo catalog (200 listeners × 10 sessions, seed 0), a track's 10 nearest
neighbours share 2.83 of 4 facets (1.61 for random pairs) and its hidden circle 37 % of
the time (chance: 10 %); with 2 circles per listener, boost 8 and concentration 0.3 the
circle share was 12 %, i.e. the tags explained nearly everything.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from retrieval.catalog import Playlist, TrackRecord
from retrieval.typed_config import ConfigError

__all__ = ["FACETS", "SessionConfig", "facet_values", "simulate_sessions", "track_circles"]

FACETS: dict[str, tuple[str, ...]] = {
    "era": ("medieval", "renaissance", "baroque", "classical", "traditional"),
    "region": ("irish", "scottish", "german", "austrian", "chinese", "hungarian", "swiss",
               "dutch", "european"),
    "ensemble": ("choir", "voices", "string quartet", "strings", "organ", "brass", "piano",
                 "solo"),
    "tempo": ("slow", "moderate", "fast"),
}
OTHER = "other"


@dataclass
class SessionConfig:
    listeners: int = 200
    sessions: int = 10                  # per listener
    min_length: int = 5
    mean_extra_length: float = 7.0
    popularity_exponent: float = 0.8
    circles: int = 10
    circles_per_listener: int = 1
    circle_boost: float = 30.0
    taste_concentration: float = 1.0
    noise: float = 0.1
    stay: float = 3.0                   # weight per facet shared with the previous track
    within_split: bool = True
    seed: int = 0

    def problems(self) -> list[str]:
        found = [f"{name} must be at least 1" for name in ("listeners", "sessions", "circles")
                 if getattr(self, name) < 1]
        if self.min_length < 2:
            found.append("min_length must be at least 2 (a session of one track pairs nothing)")
        if not 0 <= self.noise <= 0.5:
            found.append("noise must be between 0 and 0.5")
        if not 1 <= self.circles_per_listener <= self.circles:
            found.append("circles_per_listener must be between 1 and circles")
        if self.mean_extra_length < 0 or self.popularity_exponent < 0:
            found.append("mean_extra_length and popularity_exponent must be >= 0")
        if self.taste_concentration <= 0:
            found.append("taste_concentration must be positive")
        if self.stay < 1 or self.circle_boost < 1:
            found.append("stay and circle_boost must be at least 1")
        return found

    def to_dict(self) -> dict:
        return asdict(self)


def facet_values(tags: list[str]) -> dict[str, str]:
    """Rule 1: the track's value for each facet."""
    present = set(tags)
    return {facet: next((v for v in values if v in present), OTHER)
            for facet, values in FACETS.items()}


def simulate_sessions(records: list[TrackRecord], config: SessionConfig) -> list[Playlist]:
    """Playlists `sim:<listener>:<session>` of kind "simulated", by the module's rules."""
    problems = config.problems()
    if problems:
        raise ConfigError("session config: " + "; ".join(problems))
    records = sorted(records, key=lambda r: r.track_id)
    if len(records) < config.min_length:
        raise ConfigError(f"session simulation needs at least {config.min_length} tracks, "
                         f"the catalog has {len(records)}")
    n = len(records)
    # facet codes per track: (n, facets) ints indexing each facet's value list + OTHER
    codes = np.array([[(FACETS[f] + (OTHER,)).index(v) for f, v in facet_values(r.tags).items()]
                      for r in records])
    popularity = 1.0 / (np.random.default_rng([config.seed, 0]).permutation(n) + 1.0) \
        ** config.popularity_exponent                                                # rule 2
    circle = _circles(n, config)                                                     # rule 3
    rng = np.random.default_rng([config.seed, 2])
    splits = np.array([r.split for r in records])
    split_names, split_sizes = np.unique(splits, return_counts=True)
    playlists = []
    for listener in range(config.listeners):                                       # rule 4
        appeal = popularity.copy()
        for f, values in enumerate(FACETS.values()):
            taste = rng.dirichlet(np.full(len(values) + 1, config.taste_concentration))
            appeal *= taste[codes[:, f]] + 1e-6    # never exactly zero: tastes are soft
        followed = rng.choice(config.circles, config.circles_per_listener, replace=False)
        appeal *= np.where(np.isin(circle, followed), config.circle_boost, 1.0)
        noise = config.noise * 2 * rng.beta(2, 2)
        for session in range(config.sessions):                                     # rule 5
            pool = np.ones(n, bool)
            if config.within_split and len(split_names) > 1:                       # rule 6
                pool = splits == rng.choice(split_names, p=split_sizes / n)
            length = min(config.min_length + rng.poisson(config.mean_extra_length),
                         int(pool.sum()))
            tracks = [_draw(rng, appeal * pool)]
            pool[tracks[0]] = False
            while len(tracks) < length:
                if rng.random() < noise:
                    weights = pool.astype(float)
                else:
                    shared = (codes == codes[tracks[-1]]).sum(axis=1)
                    weights = appeal * config.stay ** shared * pool
                tracks.append(_draw(rng, weights))
                pool[tracks[-1]] = False
            playlists.append(Playlist(f"sim:{listener:04d}:{session:03d}",
                                      [records[i].track_id for i in tracks], "simulated"))
    return playlists


def _circles(n: int, config: SessionConfig) -> np.ndarray:
    # a stream of its own, so that it can be looked up without simulating
    return np.random.default_rng([config.seed, 1]).integers(config.circles, size=n)


def track_circles(records: list[TrackRecord], config: SessionConfig) -> dict[str, int]:
    """Rule 3's hidden circle of each track (for checks: the sessions never record it)."""
    ids = sorted(r.track_id for r in records)
    return dict(zip(ids, _circles(len(ids), config).tolist()))


def _draw(rng: np.random.Generator, weights: np.ndarray) -> int:
    return int(rng.choice(weights.size, p=weights / weights.sum()))
