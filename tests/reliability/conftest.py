"""Fixtures of the fault and soak suite: every case runs under a deadline and must leave nothing behind.

The cases run on the backends their module names (``pytestmark = pytest.mark.backends(...)``, see
tests/_backends.py).  ``clean`` checks a case and records what it measured as test properties (``time_to_error_s``,
``leaked_*``), which ``python -m perf.reliability`` collects into perf/results/reliability.md.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from typing import Any, Iterator

import pytest

import fastparl
from _procs import descendants, memfd_segments, own_memfds, pooled_memfds, still_alive



class Clean:
    """Handed to a case: ``fails`` times an expected error; ``track`` adds pids to check at the end."""

    def __init__(self, record: Any) -> None:
        self.pids: set[int] = set()
        self.record = record

    def track(self, *pids: int) -> None:
        self.pids.update(p for p in pids if p > 0)

    @contextlib.contextmanager
    def fails(self, exc: Any, match: str | None = None, within: float = 5.0, since: float | None = None
              ) -> Iterator[Any]:
        """Like ``pytest.raises``, and the error must come within ``within`` seconds of ``since`` (the
        ``time.monotonic()`` of the fault; default: entering the block)."""
        t0 = time.monotonic() if since is None else since
        with pytest.raises(exc, match=match) as info:
            yield info
        elapsed = time.monotonic() - t0
        self.record("time_to_error_s", round(elapsed, 3))
        self.record("deadline_s", within)
        assert elapsed < within, f"{exc} came after {elapsed:.1f} s (deadline {within} s)"


def _own_segments() -> int:
    return len(memfd_segments([os.getpid()])) - pooled_memfds()


@pytest.fixture
def clean(backend, record_property):
    """The case, then the checks: 0 leaked processes, 0 leaked memfd descriptors or mappings.

    Once the case returned (its proxies are gone), every process it started must end by itself
    within 5 s, the fork server aside; after ``fastparl.disconnect()`` none may run.  This process
    may then hold no more fastparl segments than before (the descriptors kept on purpose to reuse
    ``put()`` memory are not leaks: they are bounded, see segments._Recycler).
    """
    gc.collect()
    procs0 = descendants()  # the backend's helpers (the fork server) are up already
    fds0, segs0 = own_memfds(), _own_segments()
    case = Clean(record_property)
    t0 = time.monotonic()
    yield case
    record_property("case_s", round(time.monotonic() - t0, 3))
    gc.collect()
    started = (descendants() - procs0) | case.pids
    lingering = still_alive(started, 5)
    fastparl.disconnect()
    gc.collect()
    left = still_alive(started, 10)
    fds, segs = own_memfds() - fds0, _own_segments() - segs0
    record_property("leaked_processes", len(lingering))
    record_property("leaked_memfds", max(fds, 0) + max(segs, 0))
    assert lingering == [], "processes of dropped actors still ran 5 s after the case"
    assert left == [], "processes outlived fastparl.disconnect()"
    assert fds <= 0, f"{fds} fastparl memfd descriptors leaked in the driver"
    assert segs <= 0, f"{segs} fastparl shared-memory segments still mapped in the driver"


class Bystander:
    """An actor with 200 calls in flight while a case breaks another one: none may be lost."""

    def __init__(self) -> None:
        from _actors import AsyncFaulty

        self.actor = AsyncFaulty()
        self.futures = [self.actor.sleep(0.3), *(self.actor.add() for _ in range(200))]  # queued during the case

    def check(self) -> None:
        """Every result came back, in order; then the actor is let go (the case checks it ends)."""
        assert fastparl.get(self.futures, timeout=30) == [0.3, *range(1, 201)]
        assert self.actor.add(0).result(timeout=10) == 200
        self.actor = self.futures = None


@pytest.fixture
def bystander(clean):
    return Bystander()
