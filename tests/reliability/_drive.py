"""Starting the driver programs of tests/reliability/driver.py (imported by the test modules)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any, Iterator

from _procs import kill_session

HERE = os.path.dirname(os.path.abspath(__file__))


def run_driver(mode: str, *args: str, program: str = "driver.py", **popen: Any) -> subprocess.Popen:
    """Start ``tests/reliability/PROGRAM MODE ARGS`` (a separate driver program)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, os.path.join(HERE, program), mode, *args], **popen)


@contextlib.contextmanager
def driver(mode: str, *args: str, program: str = "driver.py", **popen: Any) -> Iterator[subprocess.Popen]:
    """:func:`run_driver` in a session of its own, killed with every process of that session when the block ends:
    a test that fails or times out (``communicate(timeout=...)`` raises and leaves the program running) leaves
    nothing behind.  Check what must have ended by itself inside the block."""
    proc = run_driver(mode, *args, program=program, start_new_session=True, **popen)
    try:
        yield proc
    finally:
        kill_session(proc)


def read_json_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the driver printed nothing; stderr:\n{proc.stderr.read()}")
    return json.loads(line)
