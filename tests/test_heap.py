"""training.heap.retained_heap: a training step's large buffers are reused without page
faults inside it, and glibc's behaviour (freed memory handed back) returns on leaving."""
from __future__ import annotations

import platform
import resource

import pytest
import torch

from training.heap import retained_heap

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

FLOATS = 16 * 2**20   # 64 MB: above glibc's largest mmap threshold (32 MB), like the demo
# audio tower's first activation (120 MB)


def _faults(steps: int = 6, warm_up: int = 3) -> int:
    """Minor page faults over `steps` steps of a training step's pattern (large buffers
    made, used and freed), after `warm_up` such steps."""
    def step():
        first = torch.ones(FLOATS)
        second = first * 2
        del first
        return float((second + 1)[0])

    for _ in range(warm_up):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_large_buffers_are_reused_without_page_faults_inside_only():
    torch.set_num_threads(1)
    pages_per_step = 3 * FLOATS * 4 / resource.getpagesize()
    outside = _faults()
    with retained_heap() as active:
        assert active
        with retained_heap():        # nesting keeps it on
            pass
        inside = _faults()
    after = _faults()
    assert outside > 6 * pages_per_step / 2   # the cost it removes: pages fault again
    assert inside < outside / 5
    assert after > outside / 5                # defaults back: freed memory is handed back


def test_it_works_as_a_decorator_and_leaves_on_errors():
    torch.set_num_threads(1)
    outside = _faults()

    @retained_heap()
    def fails():
        assert _faults() < outside / 5
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fails()
    assert _faults() > outside / 5
