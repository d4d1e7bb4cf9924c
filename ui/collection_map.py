"""A 2-D map of a collection: its song vectors projected on their first two principal
components (numpy SVD; no new dependency), drawn as an SVG whose points carry their track
id, so the page can play a clicked point through the `audio/<track id>` route.

PCA rather than UMAP: UMAP is not installed here, and PCA is a linear map, so a query
vector lands on the same map by the same projection (UMAP would need its transform, and
its layout changes with every refit).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CollectionMap", "MAX_MAP_POINTS", "MAP_SEED", "WIDTH", "HEIGHT"]

MAX_MAP_POINTS = 2000        # an SVG of more points is slow to draw and no easier to read
MAP_SEED = 0                 # the sample of a bigger collection: the same map on every fit
WIDTH, HEIGHT, PAD = 640, 440, 16
TAGGED, OTHER = "#e4572e", "#8a97a8"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class CollectionMap:
    track_ids: list[str]
    labels: list[str]                  # "title — artist"
    tags: list[list[str]]
    xy: np.ndarray                     # (n, 2) in [0, 1]
    mean: np.ndarray = field(repr=False)
    components: np.ndarray = field(repr=False)   # (2, d)
    low: np.ndarray = field(repr=False)          # projected minimum and span, for scaling
    span: np.ndarray = field(repr=False)
    total: int = 0                     # tracks in the collection (the map may show fewer)

    @classmethod
    def fit(cls, store, max_points: int = MAX_MAP_POINTS, seed: int = MAP_SEED) -> "CollectionMap":
        """The songs of the store and their PCA: all of them, or when there are more than
        `max_points` a random sample of that many, the same for the same seed and store
        (the store's first ones would be one folder or one album of a big library)."""
        total = int(store.count())
        keep = None
        if total > max_points:
            picked = np.random.default_rng(seed).choice(total, size=max_points, replace=False)
            keep = np.zeros(total, dtype=bool)
            keep[picked] = True
        ids, labels, tags, vectors = [], [], [], []
        for position, (payload, vector) in enumerate(store.iter_vectors("music")):
            if len(ids) >= max_points or position >= total:   # all picked (or new tracks)
                break
            if keep is not None and not keep[position]:
                continue
            ids.append(str(payload.get("track_id")))
            title = payload.get("title") or ids[-1]
            labels.append(f"{title} — {payload['artist']}" if payload.get("artist") else title)
            tags.append([str(t) for t in payload.get("tags") or []])
            vectors.append(np.asarray(vector, dtype=np.float64).ravel())
        if not vectors:
            zero = np.zeros((0, 2))
            return cls(ids, labels, tags, zero, np.zeros(1), np.zeros((2, 1)), np.zeros(2),
                       np.ones(2), total=total)
        matrix = np.stack(vectors)
        mean = matrix.mean(axis=0)
        # principal axes: right singular vectors of the centred matrix (2 at most needed)
        _, _, vt = np.linalg.svd(matrix - mean, full_matrices=False)
        components = np.zeros((2, matrix.shape[1]))
        components[:min(2, len(vt))] = vt[:2]
        projected = (matrix - mean) @ components.T
        low = projected.min(axis=0)
        span = np.maximum(projected.max(axis=0) - low, 1e-9)
        return cls(ids, labels, tags, (projected - low) / span, mean, components, low, span,
                   total=total)

    def project(self, vector: np.ndarray) -> tuple[float, float, bool]:
        """A vector's place on the map: (x, y, inside); outside points are clipped to the
        edge (a text query can lie away from every song)."""
        point = (np.asarray(vector, dtype=np.float64).ravel() - self.mean) @ self.components.T
        point = (point - self.low) / self.span
        inside = bool(np.all((point >= -1e-9) & (point <= 1 + 1e-9)))   # rounding at the edges
        x, y = np.clip(point, 0, 1)
        return float(x), float(y), inside

    def tag_counts(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for tags in self.tags:
            for tag in tags:
                counts[tag] = counts.get(tag, 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @staticmethod
    def _pixel(x: float, y: float) -> tuple[float, float]:
        return PAD + x * (WIDTH - 2 * PAD), HEIGHT - PAD - y * (HEIGHT - 2 * PAD)

    def svg(self, tag: str | None = None,
            query: tuple[float, float, str] | None = None) -> str:
        """The map: points tagged `tag` coloured, the others grey; `query` = (x, y, label)
        marked with a cross. Each point is a `circle.ms-point` with data-track/data-title."""
        points = []
        order = sorted(range(len(self.track_ids)), key=lambda i: tag in self.tags[i])
        for i in order:          # tagged points last, so they are drawn on top
            cx, cy = self._pixel(*self.xy[i])
            tagged = tag is not None and tag in self.tags[i]
            tip = self.labels[i] + (f" · {', '.join(self.tags[i])}" if self.tags[i] else "")
            points.append(
                f'<circle class="ms-point{" ms-tagged" if tagged else ""}" cx="{cx:.1f}" '
                f'cy="{cy:.1f}" r="{5 if tagged else 4}" fill="{TAGGED if tagged else OTHER}" '
                f'data-track="{_esc(self.track_ids[i])}" data-title="{_esc(self.labels[i])}">'
                f"<title>{_esc(tip)}</title></circle>")
        mark = ""
        if query is not None:
            qx, qy = self._pixel(query[0], query[1])
            anchor = "end" if qx > WIDTH / 2 else "start"
            dx = -10 if anchor == "end" else 10
            mark = (f'<g id="ms-map-query" data-x="{query[0]:.4f}" data-y="{query[1]:.4f}">'
                    f'<path d="M{qx - 9:.1f},{qy - 9:.1f}L{qx + 9:.1f},{qy + 9:.1f}'
                    f'M{qx - 9:.1f},{qy + 9:.1f}L{qx + 9:.1f},{qy - 9:.1f}" stroke="#111" '
                    f'stroke-width="3"/><text x="{qx + dx:.1f}" y="{qy - 10:.1f}" '
                    f'text-anchor="{anchor}" font-size="13" font-weight="600">'
                    f"{_esc(query[2])}</text></g>")
        return (f'<svg class="ms-map-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
                f'aria-label="map of the collection" xmlns="http://www.w3.org/2000/svg">'
                f'<rect width="{WIDTH}" height="{HEIGHT}" fill="none"/>'
                + "".join(points) + mark + "</svg>")
