"""Keep freed memory inside the process while training (glibc's malloc; a no-op elsewhere).

A training step allocates and frees the same large activations every step (the demo audio
tower's first block: 120 MB tensors). glibc serves allocations above its mmap threshold
(at most 32 MB) with fresh `mmap`s and unmaps them on free, so every step page-faults
and the kernel zeroes those pages again: about half of a CPU step's time
(benchmarks/train_epoch.py, `--heap off,on`). Inside `retained_heap()` large blocks come
from the heap and freed memory stays for the next step; on leaving, glibc's defaults come
back and the free heap is handed back to the system (`malloc_trim`).

It changes where memory comes from, not what is computed: losses are bit-identical.
"""
from __future__ import annotations

import ctypes
import platform
import threading
from contextlib import contextmanager

__all__ = ["retained_heap"]

# mallopt parameters (malloc.h) and glibc's defaults, restored on leaving
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_KEEP_UP_TO = 2**31 - 1   # mallopt takes an int: keep up to 2 GiB of free heap top

_lock = threading.Lock()
_depth = 0


def _libc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@contextmanager
def retained_heap():
    """Within: large allocations come from the heap and freed memory is kept (nestable;
    also usable as a decorator, `@retained_heap()`)."""
    global _depth
    libc = _libc()
    with _lock:
        _depth += 1
        if libc is not None and _depth == 1:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_UP_TO)
    try:
        yield libc is not None
    finally:
        with _lock:
            _depth -= 1
            if libc is not None and _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
