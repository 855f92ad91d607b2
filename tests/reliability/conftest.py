"""Fixtures of the fault and soak suite: every case runs under a deadline and must leave nothing behind."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

import fastparl
from _procs import descendants, memfd_segments, own_memfds, pooled_memfds, still_alive

HERE = os.path.dirname(os.path.abspath(__file__))


class Clean:
    """What a case started: pids it learnt of (actors' children...) are checked at the end too."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    def track(self, *pids: int) -> None:
        self.pids.update(p for p in pids if p > 0)


def _own_segments() -> int:
    return len(memfd_segments([os.getpid()])) - pooled_memfds()


@pytest.fixture
def clean(backend):
    """The case, then the checks: 0 leaked processes, 0 leaked memfd descriptors or mappings.

    After the case (whatever it left for garbage collection) and ``fastparl.disconnect()``, no
    process started during it may run, and this process may hold no more fastparl segments than
    before (the descriptors kept on purpose to reuse ``put()`` memory are not leaks: they are
    bounded, see segments._Recycler).
    """
    gc.collect()
    procs0 = descendants()
    fds0, segs0 = own_memfds(), _own_segments()
    case = Clean()
    yield case
    gc.collect()
    started = (descendants() - procs0) | case.pids
    fastparl.disconnect()
    gc.collect()
    assert still_alive(started, 10) == [], "processes outlived the case and fastparl.disconnect()"
    assert own_memfds() <= fds0, "fastparl memfd descriptors leaked in the driver"
    assert _own_segments() <= segs0, "fastparl shared-memory segments still mapped in the driver"


def run_driver(mode: str, *args: str, timeout: float = 60, **popen) -> subprocess.Popen:
    """Start ``tests/reliability/driver.py MODE ARGS`` (a separate driver program)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, os.path.join(HERE, "driver.py"), mode, *args], **popen)


def read_json_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the driver printed nothing; stderr:\n{proc.stderr.read()}")
    return json.loads(line)
