"""Starting the driver programs of tests/reliability/driver.py (imported by the test modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def run_driver(mode: str, *args: str, **popen: Any) -> subprocess.Popen:
    """Start ``tests/reliability/driver.py MODE ARGS`` (a separate driver program)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, os.path.join(HERE, "driver.py"), mode, *args], **popen)


def read_json_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the driver printed nothing; stderr:\n{proc.stderr.read()}")
    return json.loads(line)
