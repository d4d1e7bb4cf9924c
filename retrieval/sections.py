"""Where a song's chunks lie in time: the front end's chunk offsets (`chunk_offsets`, used by
`frontend.chunk_mel`) and, from them, a stored chunk's start and end in seconds."""
from __future__ import annotations

import numpy as np

__all__ = ["chunk_offsets", "chunk_span"]


def chunk_offsets(total_frames: int, chunk_frames: int, max_chunks: int | None) -> np.ndarray:
    """Start frames of the chunks a song of `total_frames` log-mel frames is cut into:
    back to back, or `max_chunks` evenly spaced ones when more would fit. A song shorter
    than one chunk gives one chunk at 0 (padded by repetition)."""
    total = max(int(total_frames), chunk_frames)
    n_chunks = total // chunk_frames
    if max_chunks is not None and n_chunks > max_chunks:
        return np.linspace(0, total - chunk_frames, max_chunks).astype(int)
    return np.arange(n_chunks) * chunk_frames


def chunk_span(chunk: int, n_chunks: int, *, sample_rate: int, hop_length: int,
               chunk_frames: int, max_chunks: int | None, max_seconds: float,
               duration: float = 0.0) -> tuple[float, float]:
    """(start, end) seconds of stored chunk `chunk` of `n_chunks`.

    With the track's `duration` (payload; 0 = unknown) the offsets are recomputed as the
    front end chose them; without it, or when they disagree with `n_chunks`, chunks are
    taken as back to back (exact whenever fewer than `max_chunks` were stored).
    """
    seconds_per_frame = hop_length / sample_rate
    offsets = None
    if duration and duration > 0:
        frames = 1 + int(min(duration, max_seconds) * sample_rate) // hop_length
        offsets = chunk_offsets(frames, chunk_frames, max_chunks)
        if len(offsets) != n_chunks:
            offsets = None
    start = (offsets[chunk] if offsets is not None else chunk * chunk_frames)
    return (round(float(start * seconds_per_frame), 2),
            round(float((start + chunk_frames) * seconds_per_frame), 2))
