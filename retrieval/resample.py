"""Resampling with a cost that does not depend on how "odd" the sample rate is.

torchaudio's sinc resampler works on the rate ratio reduced by its gcd: its kernel has
(new / gcd) rows of (orig / gcd + filter width) taps, so a coprime pair such as 22,051 →
16,000 Hz builds a 16,000 × 22,067 kernel (1.4 GB) and spends ~22,000 multiply-adds per
output sample, against ~475 for 44,100 → 16,000. Two bounds keep every rate cheap:

- ratio: when either reduced term exceeds MAX_RATIO_TERM, the ratio is replaced by the
  nearest fraction whose terms stay within it. Common rates (8–192 kHz multiples of
  8,000 or 11,025 Hz) reduce exactly and are untouched; for any source rate from 1 to
  384 kHz (target 16 kHz) the played-back speed and pitch change by at most 0.05 %
  (0.9 cent; measured worst case 320,163 Hz), far below a mel band or an audible step.
- memory: the signal is resampled block by block as it is decoded (StreamResampler),
  each block with enough neighbouring samples for the filter, so the result equals
  resampling the whole signal while only one block and the output are ever held.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch
import torchaudio

__all__ = ["MAX_RATIO_TERM", "resampling_ratio", "StreamResampler", "resample"]

MAX_RATIO_TERM = 1000


def resampling_ratio(source_rate: int, target_rate: int) -> tuple[int, int]:
    """(source step, target step): the reduced ratio, or its nearest bounded approximation."""
    exact = Fraction(int(source_rate), int(target_rate))
    if max(exact.numerator, exact.denominator) <= MAX_RATIO_TERM:
        return exact.numerator, exact.denominator
    if target_rate >= source_rate:   # upsampling: bound the target term, the larger one
        approx = exact.limit_denominator(MAX_RATIO_TERM)
    else:                            # downsampling: bound the source term
        approx = 1 / (1 / exact).limit_denominator(MAX_RATIO_TERM)
    return max(approx.numerator, 1), max(approx.denominator, 1)


@lru_cache(maxsize=16)   # indexing a folder meets the same few rates again and again
def _transform(source_step: int, target_step: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(source_step, target_step)


class StreamResampler:
    """Resample a mono signal that arrives in blocks; `push` each block, then `finish`.

    The concatenated output equals torchaudio's resampling of the whole signal at the
    (possibly approximated) ratio: torchaudio computes output frame f (target_step
    samples) from input [f·step − width, (f+1)·step + width), so a block is resampled
    together with `width` samples of context either side and only the frames whose
    inputs are complete are kept.
    """

    def __init__(self, source_rate: int, target_rate: int):
        self.step, self.target_step = resampling_ratio(source_rate, target_rate)
        self._transform = (_transform(self.step, self.target_step)
                           if self.step != self.target_step else None)
        width = self._transform.width if self._transform is not None else 0
        self._width = width
        self._context = math.ceil(width / self.step) * self.step   # whole frames of history
        self._buffer = np.empty(0, dtype=np.float32)
        self._start = 0      # signal index of _buffer[0]; a multiple of step
        self._next = 0       # signal index where the first frame not yet produced begins
        self._seen = 0

    def _frames(self, chunk: np.ndarray, first: int, stop: int | None) -> np.ndarray:
        """Resample `chunk` (starting at self._start) and keep frames from signal
        index `first` to `stop` (None: to the end of the signal)."""
        with torch.no_grad():
            out = self._transform(torch.from_numpy(np.ascontiguousarray(chunk))).numpy()
        begin = (first - self._start) // self.step * self.target_step
        end = None if stop is None else (stop - self._start) // self.step * self.target_step
        return out[begin:end]

    def push(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32)
        self._seen += len(block)
        if self._transform is None:
            return block
        self._buffer = np.concatenate([self._buffer, block])
        ready = (self._seen - self._width) // self.step * self.step   # frames with all inputs
        if ready <= self._next:
            return np.empty(0, dtype=np.float32)
        out = self._frames(self._buffer[:ready + self._width - self._start], self._next, ready)
        self._next = ready
        keep_from = max(0, ready - self._context)
        self._buffer = self._buffer[keep_from - self._start:]
        self._start = keep_from
        return out

    def finish(self) -> np.ndarray:
        """The remaining output; the total length is ceil(len · target_step / step)."""
        if self._transform is None or self._seen == 0:
            return np.empty(0, dtype=np.float32)
        total = -(-self._seen * self.target_step // self.step)
        produced = self._next // self.step * self.target_step
        return self._frames(self._buffer, self._next, None)[:total - produced]


def resample(signal: np.ndarray, source_rate: int, target_rate: int,
             block: int = 1 << 18) -> np.ndarray:
    """A whole mono signal, resampled in blocks (bounded working memory)."""
    resampler = StreamResampler(source_rate, target_rate)
    parts = [resampler.push(signal[i:i + block]) for i in range(0, len(signal), block)]
    parts.append(resampler.finish())
    return np.concatenate(parts).astype(np.float32, copy=False)
