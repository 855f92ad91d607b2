"""The reliability report's soak: calls on one actor while the memory and descriptors of the driver and
the actor, and the shared memory both map, are sampled; growth after warm-up must stay within :data:`BOUNDS`.

Used by ``python -m perf.reliability`` (:mod:`perf.reliability.report`) and by
``tests/reliability/test_soak.py``.  The actor's class, :class:`Echo`, is shipped by reference, so this
module imports only what the soak needs.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import numpy as np
import psutil

import fastparl

__all__ = ["BOUNDS", "BOUND_TEXT", "Echo", "growth", "over_bounds", "soak"]

MEMFD = "memfd:fastparl"

# Growth allowed from the sample after warm-up to any later one (the soak fails beyond it).
BOUNDS = {"driver_rss_mb": 16.0, "actor_rss_mb": 16.0, "driver_fds": 0, "actor_fds": 0, "shm_mb": 0.0}
BOUND_TEXT = ("resident memory of the driver and of the actor +16 MB at most each; open descriptors +0; "
              "shared memory +0 (the arenas reach their size during warm-up and are reused from then on)")


class Echo:
    """The soak's actor: answers at once."""

    def noop(self, i: int) -> int:
        return i

    def trip(self, arr: np.ndarray) -> np.ndarray:
        return arr

    def pid(self) -> int:
        return os.getpid()


RemoteEcho = fastparl.remote_class(Echo)


# ------------------------------------------------------------------ probes
def shared_bytes(pids: list[int]) -> int:
    """Bytes of fastparl segments that ``pids`` map or hold open, each segment counted once."""
    segs: dict[str, int] = {}
    for pid in set(pids):
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    if MEMFD in line:
                        parts = line.split()
                        lo, hi = (int(x, 16) for x in parts[0].split("-"))
                        segs[parts[4]] = max(segs.get(parts[4], 0), hi - lo)
            for name in os.listdir(f"/proc/{pid}/fd"):
                path = f"/proc/{pid}/fd/{name}"
                try:
                    if MEMFD in os.readlink(path):
                        st = os.stat(path)
                        segs[str(st.st_ino)] = max(segs.get(str(st.st_ino), 0), st.st_size)
                except OSError:
                    pass
        except OSError:
            continue
    return sum(segs.values())


def sample(done: int, driver: psutil.Process, actor: psutil.Process) -> dict[str, float]:
    return {"done": done, "driver_rss_mb": driver.memory_info().rss / 2**20, "actor_rss_mb": actor.memory_info().rss / 2**20,
            "driver_fds": driver.num_fds(), "actor_fds": actor.num_fds(),
            "shm_mb": shared_bytes([driver.pid, actor.pid]) / 2**20}


# ------------------------------------------------------------------ soak
def soak(calls: int, trips: int, samples: int = 40, trip_bytes: int = 1 << 20) -> dict[str, Any]:
    """``calls`` no-op calls, then ``trips`` round trips of a ``trip_bytes`` array, on one actor of
    the connected backend (local unless told otherwise); every result is checked.

    Returns ``{"calls": [samples], "trips": [samples], "seconds": {...}, "lost": n}``.
    """
    a = RemoteEcho()
    driver, actor = psutil.Process(), psutil.Process(a.pid())
    out: dict[str, Any] = {"calls": [], "trips": [], "seconds": {}, "lost": 0}
    every = max(1, calls // samples)
    t0 = time.monotonic()
    noop = a.noop
    for i in range(calls):
        if noop(i) != i:
            out["lost"] += 1
        if i % every == 0 or i == calls - 1:
            out["calls"].append(sample(i + 1, driver, actor))
    out["seconds"]["calls"] = time.monotonic() - t0
    every = max(1, trips // samples)
    arr = np.zeros(trip_bytes // 8)
    t0 = time.monotonic()
    for i in range(trips):
        arr[0] = arr[-1] = i
        back = a.trip(arr)
        if back[0] != i or back[-1] != i:
            out["lost"] += 1
        del back
        if i % every == 0 or i == trips - 1:
            out["trips"].append(sample(i + 1, driver, actor))
    out["seconds"]["trips"] = time.monotonic() - t0
    del a
    gc.collect()
    return out


def growth(series: list[dict[str, float]]) -> dict[str, float]:
    """Largest increase of each measure over its value after warm-up (the first 10 % of the run)."""
    if len(series) < 2:
        return {k: 0.0 for k in BOUNDS}
    base = next(s for s in series if s["done"] >= 0.1 * series[-1]["done"])
    return {k: max(s[k] for s in series if s["done"] >= base["done"]) - base[k] for k in BOUNDS}


def over_bounds(result: dict[str, Any]) -> list[str]:
    """The measures that grew beyond :data:`BOUNDS` (empty: the soak passed)."""
    bad = []
    for phase in ("calls", "trips"):
        for k, v in growth(result[phase]).items():
            if v > BOUNDS[k] + 1e-9:
                bad.append(f"{phase}: {k} grew by {v:g} (bound {BOUNDS[k]:g})")
    return bad
