"""Shared memory: what kept arrays pin (the arena bound of fastparl/remote/local/arena.py), and
running out of it (a clear ResourceError, never a crashed driver)."""

from __future__ import annotations


import numpy as np
import pytest
from _drive import driver

import fastparl
from _actors import Keeper
from _procs import memfd_segments
from fastparl.errors import ResourceError

pytestmark = [pytest.mark.backends("local", "serial"), pytest.mark.timeout(60)]

SEGMENT = 4 << 20  # the arena's smallest segment (Arena.MIN_SEGMENT)


def _held(pid: int) -> int:
    """Bytes of shared memory that the link to actor ``pid`` keeps alive: the segments the actor maps
    or holds (both arenas: the driver's, which it maps, and its own).  Not the driver's own list: other
    tests of the session may have left it segments (e.g. put() memory kept for reuse)."""
    return sum(memfd_segments([pid]).values())


def _sizes(kind: str, n: int) -> list[int]:
    if kind == "equal":
        return [130 << 10] * n  # just above the out-of-band threshold (128 KiB): each one in the arena
    return list(np.random.default_rng(0).integers(128 << 10, 512 << 10, n))


@pytest.mark.requires("processes", "zero_copy")
@pytest.mark.parametrize("sizes,batch", [("equal", 1), ("mixed", 30)])
def test_arrays_an_actor_keeps_pin_only_their_regions(clean, sizes, batch):
    """The arena's bound: held <= 2 x (kept + peak in flight) + one segment.  The old runtime
    held 384 MB here for 6.3 MB kept (one live view pinned a whole block)."""
    k = fastparl.remote_class(wait=False)(Keeper)()
    pid = k.pid().result(timeout=10)
    futs = []
    peak_in_flight = 0
    for n in _sizes(sizes, 6000):
        futs.append(k.take(np.ones(n, np.uint8)))
        if len(futs) == batch:
            fastparl.get(futs)
            futs = []
        peak_in_flight = max(peak_in_flight, (batch + 1) * n)  # and the one whose release is on its way
    kept = k.kept_bytes().result(timeout=10)
    held = _held(pid)
    assert kept >= 100 * (128 << 10)
    assert held <= 2 * (kept + peak_in_flight) + SEGMENT, f"{held / 2**20:.0f} MB held for {kept / 2**20:.1f} MB kept"


@pytest.mark.requires("processes", "zero_copy")
def test_arrays_the_driver_keeps_pin_only_their_regions(clean):
    k = fastparl.remote_class(Keeper)()
    pid = k.pid()
    kept = [a for i, a in enumerate(k.make(33 << 10) for _ in range(6000)) if i % 60 == 0]  # 132 KB float32
    nbytes = sum(a.nbytes for a in kept)
    held = _held(pid)
    assert held <= 2 * (nbytes + 2 * (132 << 10)) + SEGMENT, f"{held / 2**20:.0f} MB held for {nbytes / 2**20:.1f} MB"
    assert all(a[-1] == (33 << 10) - 1 for a in kept)  # and the kept ones were never overwritten


@pytest.mark.requires("shared_memory")
def test_a_huge_shared_array_is_refused_with_a_clear_error(clean):
    with pytest.raises(ResourceError, match=r"1024\.0 GB of shared memory.*Use smaller arrays"):
        fastparl.shared_array(1 << 40, np.uint8)  # a memfd takes it; filling it would take the machine down
    with pytest.raises(ResourceError):
        fastparl.shared_array((1 << 30, 1 << 20), np.float64)
    assert fastparl.shared_array(10, fill=1.0).sum() == 10


@pytest.mark.timeout(60)
def test_shared_memory_running_out_gives_clear_errors_and_the_driver_goes_on():
    with driver("low-memory") as proc:
        out, err = proc.communicate(timeout=50)
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("ResourceError after") and "could not map 64.0 MB" in lines[0], out
    assert "out of memory or address space" in lines[1], out
    assert lines[2].startswith("ResourceError for a message:"), out
    assert lines[3] == f"still works: {float(1 << 17)} {float(5 << 17)}", out
